-- admit.lua: put a participant the log says is registered on the roster (capacity/roster.py).
-- Runs after state.lua, seating.lua and holds.lua. KEYS as decide.lua (the event's own).
-- ARGV: participant. Returns 'admitted', 'cancelled' (the gate knows their registration was
-- cancelled: a log read from before the cancellation must not put them back) or 'not ready'.

if not ready() then return 'not ready' end
if redis.call('SISMEMBER', key('cancelled'), ARGV[1]) == 1 then return 'cancelled' end
redis.call('SADD', key('registered'), ARGV[1])
return 'admitted'
