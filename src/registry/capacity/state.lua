-- state.lua: the gate's keys for one event, reads of them, and the five facts that change them.
--
-- Shared by every script of the gate: redis_gate.py prepends this file (and seating.lua,
-- holds.lua) to each entry script, because EVAL scripts cannot load one another.
--
-- Every key is BASE .. suffix, with BASE = "<prefix>:{<org>:<event>}:" taken from KEYS[1]
-- ("<BASE>sentinel"). Keys of one session or one participant are derived here, not declared,
-- because a promotion cascade reaches sessions and people nobody can name before it runs. That
-- is cluster-safe: every derived key carries the same hash tag as KEYS[1], so it hashes to the
-- same slot and lives on the same node; a node refuses only keys of other slots (EVAL docs,
-- https://redis.io/docs/latest/commands/eval/; redis/redis#10615). These scripts carry no
-- shebang flags, so the legacy EVAL rules apply. KEYS are the event's own keys (redis_gate.py,
-- _EVENT_KEYS), which route the call; the sessions' and participants' keys a call names are
-- derived like a cascade's, not declared: each declared key was one more argument for the client
-- to pack, hundreds per batch (bench/README.md, "2026-12-07, late morning"). tests/cluster/ runs
-- the gate on a cluster, through a failover, this way.
--
-- Layout (suffixes):
--   sentinel                 string: the epoch of the last load; gone after a loss of data
--   loading                  string: the token of a load, or of a claimed rebuild, under way
--                            (load.lua), for its lease
--   dirty                    string: a release could not be undone exactly; rebuild first
--   registration             string: open | closed | cancelled
--   sessions                 set of session ids
--   session:<sid>            hash: start, stop (epoch ms), cap (-1: unlimited), wl (1/0),
--                            state, merged, next_ticket, and the gate's own counters seat_seq,
--                            max_seat, max_queue (see holds.lua), and held: seats given back
--                            by decisions not yet confirmed (Seating.held_back); held_q:
--                            queue entries such decisions took out (Seating.held_queue)
--   seated:<sid>             hash participant -> ticket
--   seat_order:<sid>         zset participant -> seat_seq when seated (the order seats were given)
--   wait:<sid>               zset participant -> ticket (the queue)
--   replaces:<sid>           hash participant -> session the entry's `replaces` names
--   agenda:<participant>     hash session -> "s" (a seat) | "w" (a waitlist entry)
--   busy                     hash participant -> count of unconfirmed decisions about them
--   busy_by                  hash participant -> the hold group that made them busy
--   stalled                  set of sessions whose filling stopped at a busy queue head
--   fill_due                 from when a fill may be due until the next fill, which sets
--                            "0": "1" after a load (any session may be fillable: the fill
--                            walks all), "2" when hand_over said so (only `fill_from` and
--                            `stalled` may be: the fill walks those; never written over a
--                            "1"). The reconciler's `promote_if_due` is a no-op on "0"
--                            (decide.lua); no key (a gate written before it existed) counts
--                            as "1"
--   fill_from                set of sessions hand_over found with a free seat beside a queue
--                            since the last fill (seating.lua, fill_free_seats)
--   version                  hash participant -> count of changes to their agenda
--   holds                    hash command id -> JSON record (holds.lua)
--   hold_expiry              zset command id -> expiry (ms) of holds not yet settled
--   answers                  zset command id -> expiry (ms) of confirmed answers kept for replay
--   registered, cancelled    sets of participants: the roster (capacity/roster.py)

local BASE = string.sub(KEYS[1], 1, #KEYS[1] - #'sentinel')

local function key(kind, id)
  if id == nil then return BASE .. kind end
  return BASE .. kind .. ':' .. id
end

-- Numbers are written as integers ("%d"): HINCRBY refuses a field that holds "1e+15".
local function int(n) return string.format('%d', n) end

-- Python orders strings by code point; Lua's `<` uses strcoll, which follows the server's
-- locale. UTF-8 byte order equals code point order, so compare bytes.
local function bytes_lt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- Static facts of each session, read once per script run.
local SESSIONS = {}

local function session(sid)
  local s = SESSIONS[sid]
  if s == nil then
    local v = redis.call('HMGET', key('session', sid), 'start', 'stop', 'cap', 'wl', 'state', 'merged')
    if not v[1] then
      s = false
    else
      s = {
        id = sid, start = tonumber(v[1]), stop = tonumber(v[2]), cap = tonumber(v[3]),
        wl = v[4] == '1', state = v[5], merged = (v[6] and v[6] ~= '') and v[6] or nil,
      }
    end
    SESSIONS[sid] = s
  end
  return s or nil
end

-- Half-open ranges: 10:00-11:00 does not overlap 11:00-12:00 (API.md).
local function overlaps(a, b) return a.start < b.stop and b.start < a.stop end

-- Chronological: by (start, session id), as seating.chronological.
local function chronological(a, b)
  if a.start ~= b.start then return a.start < b.start end
  return bytes_lt(a.id, b.id)
end

local function seat_ticket(p, sid)
  local t = redis.call('HGET', key('seated', sid), p)
  return t and tonumber(t) or nil
end

local function wait_ticket(p, sid)
  local t = redis.call('ZSCORE', key('wait', sid), p)
  return t and tonumber(t) or nil
end

local function named_by(p, sid)
  return redis.call('HGET', key('replaces', sid), p) or nil
end

local function counter(sid, name)
  return tonumber(redis.call('HGET', key('session', sid), name) or '0')
end

-- Seats held back for unconfirmed decisions are not free (Seating.has_free_seat).
local function has_free_seat(s)
  return s.cap < 0 or redis.call('HLEN', key('seated', s.id)) + counter(s.id, 'held') < s.cap
end

local function has_queue(sid) return redis.call('ZCARD', key('wait', sid)) > 0 end

local function queue_head(sid) return redis.call('ZRANGE', key('wait', sid), 0, 0)[1] end

-- The sessions of `p`'s agenda marked `mark`, earliest first.
local function agenda_of(p, mark)
  local agenda = redis.call('HGETALL', key('agenda', p))
  local found = {}
  for i = 1, #agenda, 2 do
    if agenda[i + 1] == mark then found[#found + 1] = session(agenda[i]) end
  end
  table.sort(found, chronological)
  return found
end

-- The sessions in which `p` holds a seat, earliest first (Seating.seats_of).
local function seats_of(p) return agenda_of(p, 's') end

-- The sessions in whose queue `p` waits, earliest first (Seating.waits_of).
local function waits_of(p) return agenda_of(p, 'w') end

local function is_busy(p) return redis.call('HEXISTS', key('busy'), p) == 1 end

local function take_ticket(sid)
  return redis.call('HINCRBY', key('session', sid), 'next_ticket', 1) - 1
end

local function raise_counter(sid, name, value)
  if value > counter(sid, name) then redis.call('HSET', key('session', sid), name, int(value)) end
end

-- -- the facts (Seating.apply), each also counted in the participant's version ----------------

local function bump(p) redis.call('HINCRBY', key('version'), p, 1) end

local function put_seat(p, sid, ticket, seq)
  redis.call('HSET', key('seated', sid), p, int(ticket))
  redis.call('ZADD', key('seat_order', sid), int(seq), p)
  redis.call('HSET', key('agenda', p), sid, 's')
  bump(p)
end

local function give_seat(p, sid, ticket)
  put_seat(p, sid, ticket, redis.call('HINCRBY', key('session', sid), 'seat_seq', 1))
  raise_counter(sid, 'max_seat', ticket)
end

-- Returns the seat's ticket and place in the seat order (kept by holds.lua for an undo).
local function drop_seat(p, sid)
  local ticket = seat_ticket(p, sid)
  local seq = tonumber(redis.call('ZSCORE', key('seat_order', sid), p))
  redis.call('HDEL', key('seated', sid), p)
  redis.call('ZREM', key('seat_order', sid), p)
  redis.call('HDEL', key('agenda', p), sid)
  bump(p)
  return ticket, seq
end

local function put_entry(p, sid, ticket, replaces)
  redis.call('ZADD', key('wait', sid), int(ticket), p)
  if replaces then redis.call('HSET', key('replaces', sid), p, replaces) end
  redis.call('HSET', key('agenda', p), sid, 'w')
  bump(p)
end

-- Returns the entry's ticket and `replaces` (kept by holds.lua for an undo).
local function drop_entry(p, sid)
  local ticket, named = wait_ticket(p, sid), named_by(p, sid)
  redis.call('ZREM', key('wait', sid), p)
  redis.call('HDEL', key('replaces', sid), p)
  redis.call('HDEL', key('agenda', p), sid)
  bump(p)
  return ticket, named
end

-- What a decision returns, in order: one table per fact, encoded as in wire.py. EXTRA keeps,
-- beside a Released or Dequeued, what the fact no longer shows (ticket, seat order, replaces).
local CHANGES = {}
local EXTRA = {}

local function record(change, extra)
  CHANGES[#CHANGES + 1] = change
  EXTRA[#CHANGES] = extra
end

local function none_if_empty(list)
  if #list == 0 then return nil end -- cjson writes an empty table as {}, not []
  return list
end
