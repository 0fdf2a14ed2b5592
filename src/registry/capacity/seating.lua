-- seating.lua: the capacity rules, step for step as registry/domain/seating.py (the spec).
-- Needs state.lua. Every check comes before the first write, so a refused command changes
-- nothing; each function returns nil when it succeeds (its facts are in CHANGES) or an error
-- table ({kind = ..., ...}) that wire.py turns into the domain error of the same name.

local release -- forward: release and fill call each other (the bounded cascade)

-- The seats a promotion of `p` into `sid` would release, earliest first (Seating.fallbacks).
-- `named` is the entry's `replaces`, read before the entry is consumed.
local function fallbacks(p, sid, named)
  local target = session(sid)
  local out = {}
  for _, s in ipairs(seats_of(p)) do
    if s.id ~= sid and (overlaps(s, target) or s.id == named) then out[#out + 1] = s.id end
  end
  return out
end

-- Seating._fill: while the session is open with a free seat and a queue, promote the head and
-- release its fallback seats, each release filling its own session in turn (depth first).
local function fill(sid)
  local s = session(sid)
  while s.state == 'open' and has_free_seat(s) do
    local head = queue_head(sid)
    if not head then return end
    if is_busy(head) or counter(sid, 'held_q') > 0 then
      -- Their last decision is not in the log yet, or one that took someone out of this queue
      -- is not (Seating._fill): the session waits until it is settled.
      redis.call('SADD', key('stalled'), sid)
      return
    end
    local released = fallbacks(head, sid, named_by(head, sid))
    local ticket = wait_ticket(head, sid)
    drop_entry(head, sid)
    give_seat(head, sid, ticket)
    record({k = 'Promoted', p = head, s = sid, t = ticket})
    for _, fallback in ipairs(released) do
      -- A deeper promotion of the same person may have released this seat already (a chain
      -- that comes back to them). seating.py raises KeyError there (reported with a failing
      -- example in tests/contract/test_capacity_gate.py); the gate skips the seat it no
      -- longer holds, which is what the rules mean: nobody holds two overlapping seats.
      if seat_ticket(head, fallback) then release(head, fallback, 'promoted') end
    end
  end
end

release = function(p, sid, reason)
  local ticket, seq = drop_seat(p, sid)
  record({k = 'Released', p = p, s = sid, why = reason}, {t = ticket, q = seq})
  fill(sid)
end

local function dequeue(p, sid, reason)
  local ticket, named = drop_entry(p, sid)
  record({k = 'Dequeued', p = p, s = sid, why = reason}, {t = ticket, r = named})
end

-- The 422 checks of a sign-up, in seating.py's order (unknown session, then `replaces` not
-- held); API.md puts both before every 409, the registration state included.
local function sign_up_ids(p, sid, replaces)
  local target = session(sid)
  if not target then
    return {kind = 'UnknownId', what = 'session', id = sid, field = 'session_id'}
  end
  if replaces and not (session(replaces) and seat_ticket(p, replaces)) then
    return {kind = 'InvalidCommand', field = 'replaces',
      detail = 'participant ' .. p .. ' holds no seat in ' .. replaces .. ' to replace'}
  end
  return nil, target
end

-- The checks after the registration state (API.md order: session-cancelled,
-- already-signed-up, time-conflict, session-full), then the decision.
local function sign_up_decide(p, target, replaces)
  local sid = target.id
  if target.state ~= 'open' then
    return {kind = 'SessionCancelled', session = sid, merged_into = target.merged}
  end
  if seat_ticket(p, sid) or wait_ticket(p, sid) then
    return {kind = 'AlreadySignedUp', participant = p, session = sid}
  end
  local overlapping = {}
  for _, s in ipairs(seats_of(p)) do
    if overlaps(s, target) and s.id ~= replaces then overlapping[#overlapping + 1] = s.id end
  end
  if has_free_seat(target) and not has_queue(sid) then
    if #overlapping > 0 then
      return {kind = 'TimeConflict', participant = p, session = sid, conflicting = overlapping[1]}
    end
    local ticket = take_ticket(sid)
    give_seat(p, sid, ticket)
    record({k = 'Seated', p = p, s = sid, t = ticket, r = replaces})
    if replaces then release(p, replaces, 'switched') end
    return nil
  end
  if not target.wl then return {kind = 'SessionFull', session = sid} end
  local ticket = take_ticket(sid)
  put_entry(p, sid, ticket, replaces)
  raise_counter(sid, 'max_queue', ticket)
  record({k = 'Queued', p = p, s = sid, t = ticket, r = replaces,
    f = none_if_empty(fallbacks(p, sid, replaces))})
  return nil
end

local function leave(p, sid, reason)
  if not session(sid) then
    return {kind = 'UnknownId', what = 'session', id = sid, field = 'session_id'}
  end
  if seat_ticket(p, sid) then
    release(p, sid, reason)
    return nil
  end
  if wait_ticket(p, sid) then
    dequeue(p, sid, reason)
    return nil
  end
  return {kind = 'NotSignedUp', participant = p, session = sid}
end

-- Seating.fill_free_seats: fill every free seat beside a queue, earliest session first.
-- Which sessions can have one: after a load ("1", or no mark) any, so all are walked; else
-- only those that hand_over found with a free seat beside a queue (`fill_from`) and those whose
-- filling stopped at a busy head (`stalled`): every other way a seat comes free (a release, a
-- switch, a promotion's fallback) fills its session in the same script, and a seat held back or
-- a queue entry taken out until a confirmation comes back through hand_over (state.lua,
-- fill_due). The same fills in the same order as Seating.fill_free_seats, which walks all
-- (tests/contract/test_capacity_gate_differential.py runs both on the same commands).
local function fill_free_seats()
  local due = redis.call('GET', key('fill_due'))
  local ids
  if due == '2' or due == '0' then
    ids = redis.call('SUNION', key('fill_from'), key('stalled'))
  else
    ids = redis.call('SMEMBERS', key('sessions'))
  end
  redis.call('DEL', key('stalled'), key('fill_from'))
  redis.call('SET', key('fill_due'), '0')
  local all = {}
  for _, sid in ipairs(ids) do
    -- Only a session with a queue can be filled, and none gains one here (promotions and
    -- releases only take people out of queues; Redis drops an empty sorted set), so the rest
    -- are skipped: the same fills in the same order as Seating.fill_free_seats. Loading all of
    -- them made one `promote` of an event of 10,000 sessions take 150 - 420 ms of Redis, every
    -- other decision waiting behind it (bench/README.md, growth); walking the 10,000 ids
    -- for their queues still took 20 - 90 ms (decide.lua), hence the index above.
    if redis.call('EXISTS', key('wait', sid)) == 1 then all[#all + 1] = session(sid) end
  end
  table.sort(all, chronological)
  for _, s in ipairs(all) do fill(s.id) end
  return nil
end

-- Seating.leave_all: every waitlist entry first (so none is promoted), then every seat,
-- earliest first. The seat list is taken once, before the first release, as in seating.py.
local function leave_all(p)
  for _, s in ipairs(waits_of(p)) do dequeue(p, s.id, 'registration-cancelled') end
  for _, s in ipairs(seats_of(p)) do
    if seat_ticket(p, s.id) then release(p, s.id, 'registration-cancelled') end
  end
  return nil
end
