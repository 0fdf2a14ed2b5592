-- holds.lua: every decision is a hold tied to its command id (DESIGN.md section 2, "Capacity
-- gate" and "When an append fails"). Needs state.lua.
--
-- A record in `holds` (command id -> JSON):
--   op     the command's fingerprint: the same id with another command is refused
--   st     'held' until confirm (the append committed), then 'done'
--   c      the changes, returned again to a repeat of the command (idempotent retries, twins)
--   p, v   the participant and their agenda version right after the decision
--   exact  true when release can undo the decision exactly; u: the undo steps
--   ro     leave_all: the participant's roster place before it, 'r' (registered), 'c'
--          (cancelled) or 'n' (neither); an exact release restores it
--   b      leave_all: the participant, kept busy by the hold even when it changed nothing
-- A held record is listed in `hold_expiry` (the reconciler settles those that expire); a done
-- one in `answers`, until it is forgotten (forget_answers) and a repeat is decided anew.
--
-- What release can undo exactly: a decision without a promotion (a seat, a queue entry, a left
-- seat or entry, a switch, a registration cancelled without promoting anyone), provided that
-- nothing decided since relied on it. The participant's agenda must be as the decision left it
-- (their version unchanged), and per fact:
--   Seated     nobody queued in that session since (max_queue below the ticket): a later
--              sign-up that queued would have been seated without this seat
--   Queued     the entry is still there: behind it nobody's fate depended on it
--   Released   the holder has no place there again (the seat was held back and they were
--              busy, withhold below: nobody can have taken it)
--   Dequeued   no seat given since to a later ticket (max_seat below the ticket) and no free
--              seat now: with the entry back, the queue is what it would have been
-- Until a decision is confirmed or undone, nothing may be decided on top of it (Seating.withhold,
-- whose docstring says why): the seats it gave back count in the session's `held`, the queue
-- entries it took out in its `held_q` (that queue promotes nobody meanwhile), and the people it
-- touched are `busy` (their next command is refused for a moment, a cascade stops at them and
-- the session is `stalled` until `promote`).
-- Anything else (a promotion cascade above all) marks the event dirty: the caller rebuilds its
-- keys from the log before admitting more sign-ups. max_queue, max_seat and seat_seq are
-- high-water marks, never lowered: a stale one can only turn an undo into a rebuild.

local function ready()
  return redis.call('EXISTS', key('sentinel')) == 1 and redis.call('EXISTS', key('dirty')) == 0
end

-- The reply to a decision: its changes, the epoch of the load it was made on (the append is
-- fenced on it, eventstore/store.py gate_fence) and, when it queued the participant, their
-- place in that queue now (API.md: waitlist_position is the rank at the moment of the answer).
local function answer(changes, replay)
  local reply = {c = changes, e = tonumber(redis.call('GET', key('sentinel'))), replayed = replay}
  local first = changes and changes[1]
  if first and first.k == 'Queued' then
    local rank = redis.call('ZRANK', key('wait', first.s), first.p)
    if rank then reply.w = rank + 1 end
  end
  return cjson.encode(reply)
end

-- The stored answer of a command id seen before, as a reply; nil for a new command.
local function replayed(command, fingerprint)
  local raw = redis.call('HGET', key('holds'), command)
  if not raw then return nil end
  local rec = cjson.decode(raw)
  if rec.op ~= fingerprint then
    return cjson.encode({err = {kind = 'CommandIdConflict', command = command}})
  end
  return answer(rec.c, true)
end

-- Confirmed answers are kept `keep` ms for a late twin; forget a few expired ones per call.
local function forget_answers(now)
  local old = redis.call('ZRANGEBYSCORE', key('answers'), '-inf', now, 'LIMIT', 0, 16)
  for _, command in ipairs(old) do
    redis.call('HDEL', key('holds'), command)
    redis.call('ZREM', key('answers'), command)
  end
end

local function version(p)
  return tonumber(redis.call('HGET', key('version'), p) or '0')
end

-- Entries a decision took out of a queue, per session (seating.left_queues).
local function left_queues(changes)
  local left = {}
  for _, c in ipairs(changes or {}) do
    if c.k == 'Promoted' or c.k == 'Dequeued' or c.k == 'Requeued' then
      left[c.s] = (left[c.s] or 0) + 1
    end
  end
  return left
end

-- Seats a decision gave back and did not give again, per session (seating.freed_seats).
local function freed_seats(changes)
  local freed = {}
  for _, c in ipairs(changes or {}) do
    if c.k == 'Released' then
      freed[c.s] = (freed[c.s] or 0) + 1
    elseif c.k == 'Seated' or c.k == 'Promoted' then
      freed[c.s] = (freed[c.s] or 0) - 1
    end
  end
  return freed
end

-- The participants the changes are about, each once (seating.touched).
local function touched(changes)
  local seen, out = {}, {}
  for _, c in ipairs(changes or {}) do
    if not seen[c.p] then seen[c.p] = true; out[#out + 1] = c.p end
  end
  return out
end

-- Holds of one command share a group: the command id up to '#' (gate.hold_group).
local function hold_group(command) return string.match(command, '^[^#]*') end

-- The people a hold keeps busy: those its changes touch and `also` (a cancelled registration's
-- participant, whatever they held: until it is in the log, a decision about them must wait, for
-- the cancellation may yet be undone).
local function held_people(changes, also)
  local people = touched(changes)
  if also then
    for _, p in ipairs(people) do
      if p == also then return people end
    end
    people[#people + 1] = also
  end
  return people
end

-- Seating.withhold: a decision not yet in the log keeps what it freed from everyone else and
-- makes the people it touched busy.
local function withhold(changes, command, also)
  for sid, seats in pairs(freed_seats(changes)) do
    if seats > 0 then redis.call('HINCRBY', key('session', sid), 'held', seats) end
  end
  for sid, entries in pairs(left_queues(changes)) do
    redis.call('HINCRBY', key('session', sid), 'held_q', entries)
  end
  for _, p in ipairs(held_people(changes, also)) do
    redis.call('HINCRBY', key('busy'), p, 1)
    redis.call('HSET', key('busy_by'), p, hold_group(command))
  end
end

-- Seating.hand_over: the decision was confirmed (or is being undone); give back what it kept.
-- True when `promote` is due (a seat it gave back is free beside a queue, or a session stalled).
local function hand_over(changes, also)
  local fill = false
  for sid, seats in pairs(freed_seats(changes)) do
    if seats > 0 then
      redis.call('HSET', key('session', sid), 'held', int(math.max(0, counter(sid, 'held') - seats)))
      local s = session(sid)
      if s.state == 'open' and has_free_seat(s) and has_queue(sid) then
        fill = true
        redis.call('SADD', key('fill_from'), sid)
      end
    end
  end
  for sid, entries in pairs(left_queues(changes)) do
    redis.call('HSET', key('session', sid), 'held_q',
      int(math.max(0, counter(sid, 'held_q') - entries)))
  end
  for _, p in ipairs(held_people(changes, also)) do
    if redis.call('HINCRBY', key('busy'), p, -1) <= 0 then
      redis.call('HDEL', key('busy'), p)
      redis.call('HDEL', key('busy_by'), p)
    end
  end
  fill = fill or redis.call('SCARD', key('stalled')) > 0
  -- Kept in Redis, not only returned: should the caller die before it fills, the reconciler
  -- still knows a fill is due (decide.lua, promote_if_due). "2": due in `fill_from` and
  -- `stalled` only; never over a "1" (a load's, or a process of the version before the index,
  -- which sets "1" and keeps no `fill_from`), which only the full walk clears (state.lua).
  if fill and redis.call('GET', key('fill_due')) ~= '1' then
    redis.call('SET', key('fill_due'), '2')
  end
  return fill
end

-- NotOnRoster for a decision about `p` unless the roster names them registered (roster.py).
local function roster_error(p)
  if redis.call('SISMEMBER', key('cancelled'), p) == 1 then
    return {kind = 'NotOnRoster', participant = p, cancelled = true}
  end
  if redis.call('SISMEMBER', key('registered'), p) == 0 then
    return {kind = 'NotOnRoster', participant = p, cancelled = false}
  end
  return nil
end

-- The participant's place on the roster: 'r' registered, 'c' cancelled, 'n' neither.
local function roster_place(p)
  if redis.call('SISMEMBER', key('cancelled'), p) == 1 then return 'c' end
  if redis.call('SISMEMBER', key('registered'), p) == 1 then return 'r' end
  return 'n'
end

-- ParticipantBusy for a command about `p` while a hold of another group touched them.
local function busy_error(p, command)
  if is_busy(p) and redis.call('HGET', key('busy_by'), p) ~= hold_group(command) then
    return {kind = 'ParticipantBusy', participant = p}
  end
  return nil
end

-- The undo steps of this decision's CHANGES, or nil when a promotion makes it inexact.
local function undo_steps()
  local steps = {}
  for i, c in ipairs(CHANGES) do
    if c.k == 'Promoted' then return nil end
    local x = EXTRA[i] or {}
    local step = {k = c.k, s = c.s, t = c.t or x.t}
    if c.k == 'Released' then
      step.q = x.q
    elseif c.k == 'Dequeued' then
      step.r = x.r
    end
    steps[#steps + 1] = step
  end
  return steps
end

-- `cancels`: the decision cancels p's registration (leave_all): p leaves the roster.
local function hold(command, fingerprint, p, expires, cancels)
  local steps = undo_steps()
  local rec = {
    op = fingerprint, st = 'held', p = p, v = version(p), c = none_if_empty(CHANGES),
    exact = steps ~= nil, u = steps and none_if_empty(steps),
  }
  if cancels then
    rec.ro, rec.b = roster_place(p), p
    redis.call('SREM', key('registered'), p)
    redis.call('SADD', key('cancelled'), p)
  end
  redis.call('HSET', key('holds'), command, cjson.encode(rec))
  redis.call('ZADD', key('hold_expiry'), int(expires), command)
  withhold(CHANGES, command, rec.b)
end

local function undoable(p, step)
  local s = session(step.s)
  if step.k == 'Seated' then
    return seat_ticket(p, step.s) == step.t and counter(step.s, 'max_queue') < step.t
  elseif step.k == 'Queued' then
    return wait_ticket(p, step.s) == step.t
  elseif step.k == 'Released' then
    return not seat_ticket(p, step.s) and not wait_ticket(p, step.s)
  end -- Dequeued
  return s.state == 'open' and not seat_ticket(p, step.s) and not wait_ticket(p, step.s)
    and counter(step.s, 'max_seat') < step.t and not has_free_seat(s)
end

-- Give a session's last ticket back, so its next_ticket is what the log would rebuild.
local function give_back(sid, ticket)
  if counter(sid, 'next_ticket') == ticket + 1 then
    redis.call('HSET', key('session', sid), 'next_ticket', int(ticket))
  end
end

-- Undo a held record's decision if that is exact (see the top); true when done.
local function undo(rec)
  if not rec.exact or version(rec.p) ~= rec.v then return false end
  local steps = rec.u or {}
  for _, step in ipairs(steps) do
    if not undoable(rec.p, step) then return false end
  end
  hand_over(rec.c, rec.b)
  for i = #steps, 1, -1 do
    local step = steps[i]
    if step.k == 'Seated' then
      drop_seat(rec.p, step.s)
      give_back(step.s, step.t)
    elseif step.k == 'Queued' then
      drop_entry(rec.p, step.s)
      give_back(step.s, step.t)
    elseif step.k == 'Released' then
      put_seat(rec.p, step.s, step.t, step.q)
    else
      put_entry(rec.p, step.s, step.t, step.r)
    end
  end
  if rec.ro and rec.ro ~= 'c' then
    redis.call('SREM', key('cancelled'), rec.p)
    if rec.ro == 'r' then redis.call('SADD', key('registered'), rec.p) end
  end
  return true
end
