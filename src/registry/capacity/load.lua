-- load.lua: replace everything the gate holds for one event (the rebuild from the log).
-- Runs after state.lua. KEYS as decide.lua (the event's own).
-- ARGV: JSON {registration, epoch, sessions = [{id, start, stop, cap, wl, state, merged?,
--       next, seated = [{p, t}, ...] in seat order, waiting = [{p, t, r?}, ...]}],
--       registered = [participant, ...], cancelled = [...]} (the roster).
-- Clears holds (and what they held back), confirmed answers and the dirty mark; sets the
-- sentinel last, holding the epoch of the rebuild (the store's gate fence), which every
-- decision reports.

local data = cjson.decode(ARGV[1])

-- What the previous state names: its sessions' keys and the agendas of everyone in them.
for _, sid in ipairs(redis.call('SMEMBERS', key('sessions'))) do
  for _, p in ipairs(redis.call('HKEYS', key('seated', sid))) do
    redis.call('DEL', key('agenda', p))
  end
  for _, p in ipairs(redis.call('ZRANGE', key('wait', sid), 0, -1)) do
    redis.call('DEL', key('agenda', p))
  end
  redis.call('DEL', key('session', sid), key('seated', sid), key('seat_order', sid),
    key('wait', sid), key('replaces', sid))
end
redis.call('DEL', key('sessions'), key('holds'), key('hold_expiry'), key('answers'),
  key('version'), key('dirty'), key('registration'), key('sentinel'), key('busy'),
  key('busy_by'), key('stalled'), key('fill_from'), key('registered'), key('cancelled'))

-- SADD in slices: unpack() of a long list overflows Lua's C stack (LUAI_MAXCSTACK, 8000).
local function add_all(set, members)
  local n = #members
  for first = 1, n, 4000 do
    redis.call('SADD', set, unpack(members, first, math.min(first + 3999, n)))
  end
end
add_all(key('registered'), data.registered or {})
add_all(key('cancelled'), data.cancelled or {})

for _, s in ipairs(data.sessions or {}) do
  local sid = s.id
  redis.call('DEL', key('session', sid), key('seated', sid), key('seat_order', sid),
    key('wait', sid), key('replaces', sid))
  local max_seat, max_queue = 0, 0
  for i, seat in ipairs(s.seated or {}) do
    local p, ticket = seat.p, seat.t
    redis.call('HSET', key('seated', sid), p, int(ticket))
    redis.call('ZADD', key('seat_order', sid), i, p)
    redis.call('HSET', key('agenda', p), sid, 's')
    max_seat = math.max(max_seat, ticket)
  end
  for _, entry in ipairs(s.waiting or {}) do
    local p, ticket, named = entry.p, entry.t, entry.r
    redis.call('ZADD', key('wait', sid), int(ticket), p)
    if named then redis.call('HSET', key('replaces', sid), p, named) end
    redis.call('HSET', key('agenda', p), sid, 'w')
    max_queue = math.max(max_queue, ticket)
  end
  redis.call('HSET', key('session', sid), 'start', int(s.start), 'stop', int(s.stop),
    'cap', int(s.cap), 'wl', s.wl and '1' or '0', 'state', s.state, 'merged', s.merged or '',
    'next_ticket', int(s.next), 'seat_seq', int(#(s.seated or {})), 'max_seat', int(max_seat),
    'max_queue', int(max_queue))
  redis.call('SADD', key('sessions'), sid)
end
redis.call('SET', key('registration'), data.registration)
-- A rebuild can find a free seat beside a queue anywhere: the next fill walks every session.
redis.call('SET', key('fill_due'), '1')
redis.call('SET', key('sentinel'), int(data.epoch))
return 'OK'
