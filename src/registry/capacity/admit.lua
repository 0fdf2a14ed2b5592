-- admit.lua: put a participant the log says is registered on the roster (capacity/roster.py):
-- `admit(ARGV)`. Runs after state.lua, seating.lua and holds.lua; batch.lua calls it, so that
-- the registrations of one event that arrive together are admitted in one round trip, as their
-- sign-ups are decided. KEYS as decide.lua (the event's own).
-- ARGV (a table of the call's arguments): participant.
-- Returns 'admitted', 'cancelled' (the gate knows their registration was cancelled: a log read
-- from before the cancellation must not put them back) or 'not ready'.

local function admit(A)
  if not ready() then return 'not ready' end
  if redis.call('SISMEMBER', key('cancelled'), A[1]) == 1 then return 'cancelled' end
  redis.call('SADD', key('registered'), A[1])
  return 'admitted'
end
