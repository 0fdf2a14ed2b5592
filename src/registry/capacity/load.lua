-- load.lua: replace everything the gate holds for one event (the rebuild from the log), in
-- steps: `begin`, `clear` until nothing of the old state is left, `part` for each slice of the
-- new state, `finish`. Each step is its own short script, so that a big event's load never
-- holds Redis (and every other event's decisions on it) for long: one script for an event of
-- 10,000 sessions held it for 0.4 - 0.5 s, for one of 50,000 participants 1.7 - 2.2 s
-- (bench/README.md; load_steps.py drives the steps). Runs after state.lua. KEYS as decide.lua
-- (the event's own).
-- ARGV: step, the load's token (unique to one call of RedisGate.load), the lease (ms), then the
-- step's own:
--   begin                    (none): the sentinel goes first, so from here every decision
--                            and admission answers "not ready"; holds and what they held back,
--                            kept answers, the dirty mark and the roster go with it
--   clear   budget           old sessions (their keys and their people's agendas), a big one
--                            across several steps, until about `budget` entries were deleted;
--                            returns how many sessions are left
--   part    JSON             {sessions = [{id, start, stop, cap, wl, state, merged?, next,
--                            seated = [{p, t}, ...] in seat order, waiting = [{p, t, r?}, ...],
--                            cont?}], registered = [participant, ...], cancelled = [...]}
--                            (wire.py); `cont`: more seats and queue of the session the part
--                            before began (a session larger than a part)
--   finish  registration, epoch   the sentinel last, holding the epoch (the store's gate fence
--                            epoch of this rebuild), which every decision reports
-- `loading` holds the token of the load under way, for the lease (renewed by every step): a
-- step of any other load answers 'STALE' and changes nothing (a later rebuild began, or Redis
-- lost the data), and RedisGate.is_ready waits while a load is under way instead of starting
-- another.
--
-- A claim covers the rebuild before its load (the fold from the log, which takes seconds for a
-- big event): without it two processes that found the event not ready folded it both, the
-- second's load replacing the first's (load_steps.py, `claimed`):
--   claim   (none)   'READY' if the event is ready; else `loading` set to the token unless
--                    held ('CLAIMED'), or 'BUSY' (another claim or load: is_ready waits)
--   renew   (none)   the claim's lease again (every step renews it; this one does only that)
--   drop    (none)   `loading` deleted if it still holds the token (a load's `begin` replaces
--                    it; `finish` deletes it); never 'STALE'

local step, token, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])

-- `call(slice)` for slices of `members`: unpack() of a long list overflows Lua's C stack
-- (LUAI_MAXCSTACK, 8000).
local function in_slices(members, call)
  local n = #members
  for first = 1, n, 4000 do call({unpack(members, first, math.min(first + 3999, n))}) end
end

if step == 'claim' then
  if redis.call('EXISTS', key('sentinel')) == 1 and redis.call('EXISTS', key('dirty')) == 0 then
    return 'READY'
  end
  if redis.call('SET', key('loading'), token, 'NX', 'PX', lease) then return 'CLAIMED' end
  return 'BUSY'
end

if step == 'drop' then
  if redis.call('GET', key('loading')) == token then redis.call('DEL', key('loading')) end
  return 'OK'
end

if step == 'begin' then
  redis.call('DEL', key('sentinel'))
  -- UNLINK: the roster, answers and versions of a big event are large; Redis frees them
  -- off the main thread (https://redis.io/docs/latest/commands/unlink/).
  redis.call('UNLINK', key('holds'), key('hold_expiry'), key('answers'), key('version'),
    key('dirty'), key('registration'), key('busy'), key('busy_by'), key('stalled'),
    key('fill_due'), key('fill_from'), key('registered'), key('cancelled'))
  redis.call('SET', key('loading'), token, 'PX', lease)
  return redis.call('SCARD', key('sessions'))
end

if redis.call('GET', key('loading')) ~= token then return 'STALE' end
redis.call('PEXPIRE', key('loading'), lease)

if step == 'renew' then return 'OK' end

if step == 'clear' then
  -- A slice at a time, a big session across several steps: its seated people (any of them),
  -- then its queue, each with their agenda; the session's own keys once it is empty.
  local budget, spent = tonumber(ARGV[4]), 0
  while spent < budget do
    local sid = redis.call('SRANDMEMBER', key('sessions'))
    if not sid then break end
    local people = redis.call('HRANDFIELD', key('seated', sid), budget - spent)
    if #people > 0 then
      in_slices(people, function(slice)
        redis.call('HDEL', key('seated', sid), unpack(slice))
        redis.call('ZREM', key('seat_order', sid), unpack(slice))
      end)
    else
      people = redis.call('ZRANGE', key('wait', sid), 0, budget - spent - 1)
      if #people > 0 then
        in_slices(people, function(slice) redis.call('ZREM', key('wait', sid), unpack(slice)) end)
      else
        redis.call('UNLINK', key('session', sid), key('seated', sid), key('seat_order', sid),
          key('wait', sid), key('replaces', sid))
        redis.call('SREM', key('sessions'), sid)
        spent = spent + 1
      end
    end
    for _, p in ipairs(people) do redis.call('DEL', key('agenda', p)) end
    spent = spent + #people
  end
  return redis.call('SCARD', key('sessions'))
end

if step == 'part' then
  local data = cjson.decode(ARGV[4])
  for _, roster in ipairs({'registered', 'cancelled'}) do
    in_slices(data[roster] or {}, function(slice)
      redis.call('SADD', key(roster), unpack(slice))
    end)
  end
  for _, s in ipairs(data.sessions or {}) do
    local sid = s.id
    local seq, max_seat, max_queue = 0, 0, 0
    if s.cont then  -- more of the session the part before began (wire.load_parts)
      local meta = redis.call('HMGET', key('session', sid), 'seat_seq', 'max_seat', 'max_queue')
      seq, max_seat, max_queue = tonumber(meta[1]), tonumber(meta[2]), tonumber(meta[3])
    else
      -- Keys the old state's `sessions` did not name (a state written half-way) go too.
      redis.call('DEL', key('session', sid), key('seated', sid), key('seat_order', sid),
        key('wait', sid), key('replaces', sid))
    end
    for _, seat in ipairs(s.seated or {}) do
      local p, ticket = seat.p, seat.t
      seq = seq + 1
      redis.call('HSET', key('seated', sid), p, int(ticket))
      redis.call('ZADD', key('seat_order', sid), seq, p)
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
    if s.cont then
      redis.call('HSET', key('session', sid), 'seat_seq', int(seq), 'max_seat', int(max_seat),
        'max_queue', int(max_queue))
    else
      redis.call('HSET', key('session', sid), 'start', int(s.start), 'stop', int(s.stop),
        'cap', int(s.cap), 'wl', s.wl and '1' or '0', 'state', s.state,
        'merged', s.merged or '', 'next_ticket', int(s.next), 'seat_seq', int(seq),
        'max_seat', int(max_seat), 'max_queue', int(max_queue))
      -- Named at once, so that a `clear` after a load that stopped half-way finds it.
      redis.call('SADD', key('sessions'), sid)
    end
  end
  return 'OK'
end

if step == 'finish' then
  redis.call('SET', key('registration'), ARGV[4])
  -- A rebuild can find a free seat beside a queue anywhere: the next fill walks every session.
  redis.call('SET', key('fill_due'), '1')
  redis.call('SET', key('sentinel'), int(tonumber(ARGV[5])))
  redis.call('DEL', key('loading'))
  return 'OK'
end

return redis.error_reply('unknown load step ' .. tostring(step))
