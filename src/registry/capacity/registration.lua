-- registration.lua: registration opened or closed, or the event cancelled. Runs after
-- state.lua, seating.lua and holds.lua. KEYS as decide.lua (the event's own).
-- ARGV: open | closed | cancelled. Returns 'OK', or 'NOTREADY' (the gate must be rebuilt; the
-- rebuild reads the registration state from the log).

if not ready() then return 'NOTREADY' end
redis.call('SET', key('registration'), ARGV[1])
return 'OK'
