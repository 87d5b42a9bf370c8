-- quota.lua - the quota limiter as one Redis script: the twin of
-- lib/limiter.c, run by policyd/quota_redis.c with EVALSHA (SCRIPT LOAD once
-- per connection, EVAL after NOSCRIPT).
--
-- Build: policyd/CMakeLists.txt turns this file, byte for byte, into the C
-- array quota_redis_script (quota_lua.cmake); what Redis runs, comments
-- included, is this text, and its SHA1 is the one SCRIPT LOAD answers.
--
-- Calling convention:
--   KEYS[1]    the principal's hash    <prefix>:v2:q:p:{P}
--   KEYS[2]    the done key            <prefix>:v2:q:d:{P}:<instance>
--   KEYS[2+w]  window w's series key   <prefix>:v2:q:w:<m|r>:<len_ms>:<g_ms>:{P}
--   ARGV[1] op: 'c' check, 'm' commit, 'r' release
--   ARGV[2] txid ('' = none), ARGV[3] a transaction to release first ('' = none)
--   ARGV[4] reservation TTL (ms), ARGV[5] instance TTL (ms; 0 = no dedup)
--   ARGV[6] cost in messages, ARGV[7] cost in recipients
--   then per window w, from ARGV[4 + 4w]: kind ('m' or 'r'), max, len_ms, g_ms
-- Returns {0} ok, {1, window (0-based), used} exceeded, {2} duplicate.
-- All of one principal's keys share the {P} hash tag, so one call is legal in
-- Redis Cluster. P's bytes are in the keys as they are.
--
-- A call costs a fixed number of commands whatever the windows: a check
-- TIME, HMGET, HSET; a commit TIME, SET, HMGET, HSET, HDEL. Rarely more:
--   principal hash: per series "<kind><len>:<g>" = "t:o:h:c" (total of its
--     buckets, oldest and newest bucket index, count of the newest); the
--     reservations <txid> = "expires:msgs:rcpts", their count and sums n,
--     m, r and x <= the earliest expiry; e = the key's expiry as set. It
--     lives until the last of its series and reservations has expired.
--   series key: the closed buckets (all but the newest), <index> =
--     "count:next", next = the next newer bucket. When a new bucket
--     starts, the newest is closed into it (once per g); when the oldest
--     leaves the window, the chain is walked from o and what leaves is
--     subtracted from t (each bucket is closed once and dropped once). The
--     key expires when its newest closed bucket leaves the window: a
--     series key that is gone holds nothing that still counts.
--   Only when x has passed, or at the cap, is the principal's hash read
--     whole (expired reservations dropped, x made exact again).
-- At most MAX_PENDING reservations per principal, as in the limiter: a new
-- one then takes the place of the one that expires first (ties: the lower
-- txid). Numbers below 2^53 survive Lua's doubles and its "%.14g"
-- conversion exactly (times in ms, bucket indexes, counts).
-- (v1 keys, before 2026-11, kept bucket -> count only and read whole hashes
-- on every call; the layouts differ, so the version is part of the key.)
--
-- The time comes from Redis, so every host shares one clock. The line that
-- reads it is the only one that calls TIME: tests/quota/test_quota_redis.c
-- replaces that line with a fake clock and compares this script with
-- lib/limiter.c.
local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)
local op, tx, rel, P = ARGV[1], ARGV[2], ARGV[3], KEYS[1]
local nw = (#ARGV - 7) / 4
-- LIMITER_MAX_PENDING in lib/limiter.h; the build checks that they agree.
local MAX_PENDING = 32

-- A reservation's value "expires:msgs:rcpts" as numbers; 0, 0, 0 if absent.
local function res(v)
  local e, m, r = string.match(v, '^(%d+):(%d+):(%d+)$')
  if e == nil then return 0, 0, 0 end
  return tonumber(e), tonumber(m), tonumber(r)
end

-- Read the principal: the fields asked for, then per window its series.
local ids, f = {}, {tx, rel, 'n', 'm', 'r', 'x', 'e'}
for w = 1, nw do
  local a = 4 + 4 * w
  ids[w] = ARGV[a] .. ARGV[a + 2] .. ':' .. ARGV[a + 3]
  f[7 + w] = ids[w]
end
local v = redis.call('HMGET', P, unpack(f))
local own, rv = v[1], v[2]
local n, pm, pr, x, ke = tonumber(v[3]) or 0, tonumber(v[4]) or 0, tonumber(v[5]) or 0, tonumber(v[6]), tonumber(v[7]) or 0
-- st[id]: {total, oldest, newest, count of the newest}, or false (empty);
-- out[id]: series changed, to be written back; need: the hash's expiry.
local st, out, need = {}, {}, now
for w = 1, nw do
  local id = ids[w]
  if st[id] == nil then
    local T, o, h, c = string.match(v[7 + w] or '', '^(%d+):(%d+):(%d+):(%d+)$')
    if h then st[id] = {tonumber(T), tonumber(o), tonumber(h), tonumber(c)} else st[id] = false end
  end
end

-- Drop what left the window from window w's series; returns its count.
local function advance(w)
  local a, id = 4 + 4 * w, ids[w]
  local s = st[id]
  if not s then return 0 end
  local len, g, key = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), KEYS[2 + w]
  local lo = math.floor((now - len) / g)
  if s[2] >= lo then return s[1] end
  out[id] = true
  -- All gone; the series key expired with its newest closed bucket.
  if s[3] < lo then st[id] = false return 0 end
  local dead = {}
  while s[2] < lo do
    local c, nx = string.match(redis.call('HGET', key, s[2]) or '', '^(%d+):(%d+)$')
    -- Gone: its key expired, so every closed bucket has left the window.
    if nx == nil then s[1], s[2] = s[4], s[3] break end
    dead[#dead + 1] = s[2]
    s[1], s[2] = s[1] - c, tonumber(nx)
  end
  if #dead > 0 then redis.call('HDEL', key, unpack(dead)) end
  return s[1]
end

-- The principal's hash, whole: drop expired reservations, recount, and
-- find the one that expires first (ties: the lower txid).
local function scan()
  local all = redis.call('HGETALL', P)
  local c, m, r, xx, old, olde, dead = 0, 0, 0, nil, nil, 0, {}
  for i = 1, #all, 2 do
    local fi = all[i]
    if string.find(fi, '^%d+$') then
      local e, em, er = res(all[i + 1])
      if e <= now then dead[#dead + 1] = fi
      else
        c, m, r = c + 1, m + em, r + er
        if xx == nil or e < xx then xx = e end
        if old == nil or e < olde or (e == olde and (#fi < #old or (#fi == #old and fi < old))) then
          old, olde = fi, e
        end
      end
    end
  end
  if #dead > 0 then redis.call('HDEL', P, unpack(dead)) end
  return c, m, r, xx, old
end

-- Write back: reservations, changed series, the key's expiry.
local function save(extra)
  local h = extra or {}
  h[#h + 1] = 'n' h[#h + 1] = n h[#h + 1] = 'm' h[#h + 1] = pm h[#h + 1] = 'r' h[#h + 1] = pr
  h[#h + 1] = 'x' h[#h + 1] = x or 0
  for id in pairs(out) do
    local s = st[id]
    h[#h + 1] = id
    if s then h[#h + 1] = s[1] .. ':' .. s[2] .. ':' .. s[3] .. ':' .. s[4] else h[#h + 1] = '' end
  end
  if need > ke then
    ke = need + tonumber(ARGV[4])
    h[#h + 1] = 'e' h[#h + 1] = ke
  end
  redis.call('HSET', P, unpack(h))
  if h[#h - 1] == 'e' then redis.call('PEXPIREAT', P, ke) end
end

-- Release: drop the transaction's reservation, if it still has one.
if op == 'r' then
  if own then
    local _, m, r = res(own)
    n, pm, pr = n - 1, pm - m, pr - r
    redis.call('HDEL', P, tx)
    save()
  end
  return {0}
end

-- Check (RCPT): would this transaction's cost, on top of what every window
-- counts and the other transactions have reserved, exceed a limit? If not,
-- reserve it (replacing the transaction's own reservation).
if op == 'c' then
  local dirty = false
  -- A reservation may have expired: recount from the whole hash.
  if n > 0 and (x == nil or x <= now) then
    n, pm, pr, x = scan()
    dirty = true
    local p = redis.call('HMGET', P, tx, rel)
    own, rv = p[1], p[2]
  end
  -- The session's previous transaction, still open, is over.
  if rv and rel ~= tx then
    local _, m, r = res(rv)
    n, pm, pr, dirty = n - 1, pm - m, pr - r, true
    redis.call('HDEL', P, rel)
  end
  local om, orr = 0, 0
  if own then local _ _, om, orr = res(own) end
  for w = 1, nw do
    local a = 4 + 4 * w
    local used, cost = pr - orr, tonumber(ARGV[7])
    if ARGV[a] == 'm' then used, cost = pm - om, tonumber(ARGV[6]) end
    used = used + advance(w)
    if used + cost > tonumber(ARGV[a + 1]) then
      if dirty or next(out) then save() end
      return {1, w - 1, used}
    end
  end
  if tx == '' then
    if dirty or next(out) then save() end
    return {0}
  end
  local cm, cr, e = tonumber(ARGV[6]), tonumber(ARGV[7]), now + tonumber(ARGV[4])
  if own then
    pm, pr = pm - om + cm, pr - orr + cr
  else
    -- At the cap: the reservation that expires first gives way.
    if n >= MAX_PENDING then
      local old
      n, pm, pr, x, old = scan()
      if old then
        local _, m, r = res(redis.call('HGET', P, old))
        n, pm, pr = n - 1, pm - m, pr - r
        redis.call('HDEL', P, old)
      end
    end
    n, pm, pr = n + 1, pm + cm, pr + cr
  end
  if n == 1 or x == nil or e < x then x = e end
  need = e
  save({tx, e .. ':' .. cm .. ':' .. cr})
  return {0}
end

-- Commit (END-OF-MESSAGE): count the cost in every window, once per Postfix
-- instance, and drop the transaction's reservation.
if tonumber(ARGV[5]) > 0 and not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[5]) then
  return {2}
end
for w = 1, nw do
  local a, id = 4 + 4 * w, ids[w]
  local len, g, key = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), KEYS[2 + w]
  local cost, cur = tonumber(ARGV[7]), math.floor(now / g)
  if ARGV[a] == 'm' then cost = tonumber(ARGV[6]) end
  advance(w)
  local s = st[id]
  if not s then
    s = {cost, cur, cur, cost}
    st[id] = s
  elseif cur > s[3] then
    -- Close the newest bucket into the chain; the first one cleans up.
    if s[2] == s[3] then redis.call('DEL', key) end
    redis.call('HSET', key, s[3], s[4] .. ':' .. cur)
    redis.call('PEXPIREAT', key, (s[3] + 1) * g + len)
    s[1], s[3], s[4] = s[1] + cost, cur, cost
  else
    -- The newest bucket, also for a clock that stepped back.
    s[1], s[4] = s[1] + cost, s[4] + cost
  end
  out[id] = true
  if (s[3] + 1) * g + len > need then need = (s[3] + 1) * g + len end
end
if own then
  local _, m, r = res(own)
  n, pm, pr = n - 1, pm - m, pr - r
  redis.call('HDEL', P, tx)
end
save()
return {0}
