-- batch.lua: decisions and settlements of one event that arrived together, one after another
-- in one round trip (redis_gate.py gathers the calls made in the same turn of the event loop).
-- Runs after state.lua, seating.lua, holds.lua, decide.lua, settle.lua and admit.lua.
-- KEYS: the event's own (as decide.lua).
-- ARGV[1]: the calls as one JSON array of strings: each call's kind ('d': decide, 's': settle,
--       'a': admit), its number of arguments n, then the n arguments of decide.lua, settle.lua
--       or admit.lua. One
--       argument, not hundreds: redis-py packs every argument in Python, and that was 11 % of
--       the sign-up path's time in process (redis_gate.py, _run_batch).
-- Returns one reply per call, in order, each what decide(), settle() or admit() returns. Running them in
-- turn within one script is the same as running each in its own script in that order: nothing
-- else runs on the server in between, so each call still sees every write of the one before.

local CALLS = cjson.decode(ARGV[1])
local replies = {}
local i = 1
while i <= #CALLS do
  local kind, n = CALLS[i], tonumber(CALLS[i + 1])
  local A = {}
  for j = 1, n do A[j] = CALLS[i + 1 + j] end
  if kind == 'd' then
    replies[#replies + 1] = decide(A)
  elseif kind == 's' then
    replies[#replies + 1] = settle(A)
  elseif kind == 'a' then
    replies[#replies + 1] = admit(A)
  else
    return redis.error_reply('unknown call ' .. tostring(kind))
  end
  i = i + 2 + n
end
return replies
