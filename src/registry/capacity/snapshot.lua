-- snapshot.lua: everything the gate holds for one event, read at one moment (tests and the
-- verification compare it with the reference). Runs after state.lua. KEYS as decide.lua (the
-- event's own). Returns JSON {sentinel, dirty, registration, sessions = [...]} in load.lua's
-- shape, seats in seat order and the queue in ticket order.

local out = {
  sentinel = redis.call('EXISTS', key('sentinel')) == 1,
  dirty = redis.call('EXISTS', key('dirty')) == 1,
  registration = redis.call('GET', key('registration')) or nil,
}
local sessions = {}
for _, sid in ipairs(redis.call('SMEMBERS', key('sessions'))) do
  local v = redis.call('HMGET', key('session', sid), 'start', 'stop', 'cap', 'wl', 'state',
    'merged', 'next_ticket')
  local s = {
    id = sid, start = tonumber(v[1]), stop = tonumber(v[2]), cap = tonumber(v[3]),
    wl = v[4] == '1', state = v[5], next = tonumber(v[7]),
  }
  if v[6] and v[6] ~= '' then s.merged = v[6] end
  local seated = {}
  for _, p in ipairs(redis.call('ZRANGE', key('seat_order', sid), 0, -1)) do
    seated[#seated + 1] = {p = p, t = tonumber(redis.call('HGET', key('seated', sid), p))}
  end
  s.seated = none_if_empty(seated)
  local waiting = {}
  local queue = redis.call('ZRANGE', key('wait', sid), 0, -1, 'WITHSCORES')
  for i = 1, #queue, 2 do
    local p = queue[i]
    waiting[#waiting + 1] = {p = p, t = tonumber(queue[i + 1]), r = named_by(p, sid)}
  end
  s.waiting = none_if_empty(waiting)
  s.held = counter(sid, 'held')
  s.held_q = counter(sid, 'held_q')
  sessions[#sessions + 1] = s
end
out.sessions = none_if_empty(sessions)
local busy = redis.call('HGETALL', key('busy'))
local pairs_out = {}
for i = 1, #busy, 2 do pairs_out[#pairs_out + 1] = {p = busy[i], n = tonumber(busy[i + 1])} end
out.busy = none_if_empty(pairs_out)
out.stalled = none_if_empty(redis.call('SMEMBERS', key('stalled')))
return cjson.encode(out)
