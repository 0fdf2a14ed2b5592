-- decide.lua: one decision (sign_up, leave, leave_all, promote, promote_if_due) as a hold:
-- `decide(ARGV)`.
-- Runs after state.lua, seating.lua and holds.lua; batch.lua calls it.
-- KEYS: the event's own (sentinel, dirty, registration, sessions, holds, hold_expiry, answers,
--       version, busy, busy_by, stalled, fill_due, fill_from, registered, cancelled, loading:
--       redis_gate._EVENT_KEYS); the keys of the sessions and the agenda it touches are derived
--       from KEYS[1] (state.lua).
-- ARGV (a table of the call's arguments): operation, command id, now (ms), hold ttl (ms), participant, session, replaces ('' for
--       none), on_roster ('1': the participant must be on the roster, capacity/roster.py).
-- Returns JSON: {c = changes, e = epoch, w = waitlist position?, replayed = true?} or
-- {err = {kind = ..., ...}} (wire.py).

local function decide(A)
  CHANGES, EXTRA = {}, {}  -- this decision's facts only (batch.lua runs several)
  local op, command, now, ttl = A[1], A[2], tonumber(A[3]), tonumber(A[4])
  -- The reconciler's promote: the same decision, but none at all unless a fill may be due
  -- (fill_due, state.lua). Walking every session of an event of 10,000 took 20 - 90 ms of
  -- Redis, twice every 5 s, every decision of the event waiting behind it (bench/README.md,
  -- "2026-12-06, afternoon").
  local if_due = op == 'promote_if_due'
  if if_due then op = 'promote' end
  local p, sid, replaces, on_roster = A[5], A[6], A[7], A[8] == '1'
  if replaces == '' then replaces = nil end

  -- Never a guess: a gate that lost its data or could not undo a release answers "not ready",
  -- and the caller rebuilds the event from the log (or answers 503).
  if not ready() then return cjson.encode({err = {kind = 'GateNotReady'}}) end

  local fingerprint = table.concat({op, p, sid, A[7]}, '\n')
  local replay = replayed(command, fingerprint)
  if replay then return replay end
  -- '0' only: a gate written before the mark existed (no key) is looked at once.
  if if_due and redis.call('GET', key('fill_due')) == '0' then return answer(nil, nil) end
  forget_answers(now)

  local err
  if op ~= 'promote' then
    err = busy_error(p, command)
    if err then return cjson.encode({err = err}) end
  end
  -- After the busy check: a cancellation still in flight keeps its participant busy (holds.lua,
  -- held_people), and may yet be undone; once settled, the roster says what it did.
  if on_roster and op ~= 'promote' then
    err = roster_error(p)
    if err then return cjson.encode({err = err}) end
  end
  if op == 'sign_up' then
    local target
    err, target = sign_up_ids(p, sid, replaces)
    if not err then
      -- API.md: event-cancelled, then registration-closed, before every other 409.
      local registration = redis.call('GET', key('registration'))
      if registration == 'cancelled' then
        err = {kind = 'EventCancelled'}
      elseif registration ~= 'open' then
        err = {kind = 'RegistrationClosed'}
      else
        err = sign_up_decide(p, target, replaces)
      end
    end
  elseif op == 'leave' then
    -- Leaving stays possible while registration is closed, and after the event was cancelled.
    err = leave(p, sid, 'cancelled')
  elseif op == 'leave_all' then
    err = leave_all(p)
  elseif op == 'promote' then
    -- Whatever the registration state, as the cascade of a leave; nothing held when nothing moved.
    err = fill_free_seats()
    if #CHANGES == 0 then return answer(nil, nil) end
  else
    return redis.error_reply('unknown operation ' .. op)
  end
  if err then return cjson.encode({err = err}) end

  -- A cancelled registration leaves the roster in the same step (release puts it back if exact).
  hold(command, fingerprint, p, now + ttl, op == 'leave_all')
  return answer(none_if_empty(CHANGES), nil)
end
