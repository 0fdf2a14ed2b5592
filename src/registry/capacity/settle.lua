-- settle.lua: confirm or release a hold (holds.lua): `settle(ARGV)`. Runs after state.lua,
-- seating.lua and holds.lua; batch.lua calls it. KEYS as decide.lua (the event's own).
-- ARGV (a table of the call's arguments): 'confirm' | 'release', command id, now (ms), how long
-- a confirmed answer is kept (ms).
-- Returns confirm: 'confirmed' | 'fill' (confirmed, and promote is due: holds.lua hand_over) |
--                  'settled' (already confirmed) | 'unknown';
--         release: 'undone' | 'dirty' | 'confirmed' (already; nothing undone) | 'unknown'.

local function settle(A)
  local op, command, now, keep = A[1], A[2], tonumber(A[3]), tonumber(A[4])
  local raw = redis.call('HGET', key('holds'), command)
  if not raw then return 'unknown' end
  local rec = cjson.decode(raw)

  if op == 'confirm' then
    if rec.st == 'done' then return 'settled' end
    rec.st, rec.u = 'done', nil
    local fill = hand_over(rec.c, rec.b)
    redis.call('HSET', key('holds'), command, cjson.encode(rec))
    redis.call('ZREM', key('hold_expiry'), command)
    redis.call('ZADD', key('answers'), int(now + keep), command)
    if fill then return 'fill' end
    return 'confirmed'
  end

  if op ~= 'release' then return redis.error_reply('unknown operation ' .. op) end
  -- The append committed: the decision stands, whatever the caller believes.
  if rec.st == 'done' then return 'confirmed' end
  redis.call('HDEL', key('holds'), command)
  redis.call('ZREM', key('hold_expiry'), command)
  if not ready() then return 'dirty' end -- a rebuild is due anyway
  if undo(rec) then return 'undone' end
  redis.call('SET', key('dirty'), command)
  return 'dirty'
end
