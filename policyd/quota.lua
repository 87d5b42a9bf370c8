-- quota.lua - the quota limiter as one Redis script: the twin of
-- lib/limiter.c, run by policyd/quota_redis.c with EVALSHA (SCRIPT LOAD once
-- per connection, EVAL after NOSCRIPT).
--
-- Build: policyd/CMakeLists.txt turns this file, byte for byte, into the C
-- array quota_redis_script (quota_lua.cmake); what Redis runs, comments
-- included, is this text, and its SHA1 is the one SCRIPT LOAD answers.
--
-- Calling convention (numbers in struct's little-endian binary: no number
-- is printed or parsed on either side):
--   KEYS[1]    the principal's state   <prefix>:v3:q:p:{P}
--   KEYS[2]    the done key            <prefix>:v3:q:d:{P}:<instance>
--   KEYS[2+w]  window w's bucket chain <prefix>:v3:q:w:<m|r>:<len_ms>:<g_ms>:{P}
--   ARGV[1]    '<Bddddddd': op (1 check, 2 commit, 3 release), txid, a
--              transaction to release first, reservation TTL (ms), instance
--              TTL (ms; 0 = no dedup), cost in messages, cost in recipients,
--              recipients wanted (check: the grant asked for, at least the
--              cost); txids are below 2^53, 0 = none
--   ARGV[2]    per window '<Bddd': kind (0 messages, 1 recipients), max,
--              len_ms, g_ms
-- Returns {0, granted} ok (check), {0} ok (commit, release),
-- {1, window (0-based), used} exceeded, {2} duplicate.
-- A check reserves a grant: the cost in recipients plus at most half of
-- what each recipient window has left beyond it, and at most the recipients
-- wanted (without a recipient window: as many as wanted), as
-- limiter_check_grant does.
-- All of one principal's keys share the {P} hash tag, so one call is legal in
-- Redis Cluster. P's bytes are in the keys as they are.
--
-- The principal's state is one string, read with GET and written with one
-- SET ... PXAT (when the last of its series and reservations ends):
--   '<BBB'          version (3), number of series, of reservations
--   per series      '<Bdddddd' kind, len_ms, g_ms, the total of its
--                   buckets, the oldest and the newest bucket index, the
--                   count of the newest
--   per reservation '<dddd' txid, expires, messages, recipients
-- So a check costs TIME, GET and SET; a commit TIME, SET NX (the done key),
-- GET and SET. Rarely more: a series' closed buckets (all but the newest)
-- live in its chain key, <index> = "count:next", next = the next newer
-- bucket. When a new bucket starts, the newest is closed into it (once per
-- g); when the oldest leaves the window, the chain is walked from it and
-- what leaves is subtracted from the total (each bucket is closed once and
-- dropped once). The chain key expires when its newest closed bucket leaves
-- the window: a chain key that is gone holds nothing that still counts.
-- At most MAX_PENDING reservations and MAX_SERIES series per principal, as
-- in the limiter: a new reservation then takes the place of the one that
-- expires first (ties: the lower txid); a new series the place of one whose
-- newest bucket has left its window, else of the one whose newest bucket is
-- oldest (its counts are forgotten). A series whose newest bucket has left
-- its window is not written back. Numbers below 2^53 are exact in Lua's
-- doubles (times in ms, bucket indexes, counts, txids).
-- (v2 kept a hash of printed numbers, v1 bucket -> count only; the layouts
-- differ, so the version is part of the key.)
--
-- The time comes from Redis, so every host shares one clock. The line that
-- reads it is the only one that calls TIME: tests/quota/test_quota_redis.c
-- replaces that line with a fake clock and compares this script with
-- lib/limiter.c.
local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)
-- LIMITER_MAX_PENDING and LIMITER_MAX_SERIES in lib/limiter.h; the build
-- checks that they agree.
local MAX_PENDING = 32
local MAX_SERIES = 16
-- (The helpers below take what they use as arguments: a function that
-- captures the chunk's locals costs an allocation per local per call.)
local P, sunpack = KEYS[1], struct.unpack
local op, tx, rel, rttl, ittl, cm, cr, want = sunpack('<Bddddddd', ARGV[1])

-- The windows: W[w] = {kind, max, len, g}.
local W, nw, wa = {}, #ARGV[2] / 25, ARGV[2]
for w = 1, nw do
  local k, m, l, g = sunpack('<Bddd', wa, w * 25 - 24)
  W[w] = {k, m, l, g}
end

-- The state: S[i] = {kind, len, g, total, oldest, newest, count};
-- R[j] = {txid, expires, messages, recipients}.
local S, R, ns, np = {}, {}, 0, 0
local blob = redis.call('GET', P)
if blob then
  local v
  v, ns, np = sunpack('<BBB', blob)
  if v ~= 3 then return redis.error_reply('ERR portreeve quota state of another version') end
  local f = {sunpack('<' .. string.rep('Bdddddd', ns) .. string.rep('dddd', np), blob, 4)}
  for i = 1, ns do
    local b = i * 7 - 7
    S[i] = {f[b + 1], f[b + 2], f[b + 3], f[b + 4], f[b + 5], f[b + 6], f[b + 7]}
  end
  for j = 1, np do
    local b = ns * 7 + j * 4 - 4
    R[j] = {f[b + 1], f[b + 2], f[b + 3], f[b + 4]}
  end
end

-- The series (in S, of ns) of window a, or nil.
local function find(S, ns, a)
  for i = 1, ns do
    local s = S[i]
    if s[1] == a[1] and s[2] == a[3] and s[3] == a[4] then return s end
  end
  return nil
end

-- Drop what left the window at now from series s (its chain key key);
-- returns its count.
local function advance(s, now, key)
  local lo = math.floor((now - s[2]) / s[3])
  if s[5] >= lo then return s[4] end
  -- All gone; the chain key expired with its newest closed bucket.
  if s[6] < lo then s[4], s[5], s[7] = 0, s[6], 0 return 0 end
  local dead = {}
  while s[5] < lo do
    local c, nx = string.match(redis.call('HGET', key, s[5]) or '', '^(%d+):(%d+)$')
    -- Gone: its key expired, so every closed bucket has left the window.
    if nx == nil then s[4], s[5] = s[7], s[6] break end
    dead[#dead + 1] = s[5]
    s[4], s[5] = s[4] - c, tonumber(nx)
  end
  if #dead > 0 then redis.call('HDEL', key, unpack(dead)) end
  return s[4]
end

-- The index in R (of np) of transaction id's reservation, or nil.
local function reservation(R, np, id)
  if id == 0 then return nil end
  for j = 1, np do if R[j][1] == id then return j end end
  return nil
end

-- Write the state back to key P with its expiry, or delete it when nothing
-- in it still counts at now (blob: what GET read).
local function save(P, S, ns, R, np, now, blob)
  local f, fmt, n, e, keep = {3, 0, np}, {'<BBB'}, 3, 0, 0
  for i = 1, ns do
    local s = S[i]
    local ends = (s[6] + 1) * s[3] + s[2]
    if ends > now then
      keep = keep + 1
      fmt[keep + 1] = 'Bdddddd'
      f[n + 1], f[n + 2], f[n + 3], f[n + 4], f[n + 5], f[n + 6], f[n + 7] =
        s[1], s[2], s[3], s[4], s[5], s[6], s[7]
      n = n + 7
      if ends > e then e = ends end
    end
  end
  f[2] = keep
  if np > 0 then fmt[keep + 2] = string.rep('dddd', np) end
  for j = 1, np do
    local r = R[j]
    f[n + 1], f[n + 2], f[n + 3], f[n + 4] = r[1], r[2], r[3], r[4]
    n = n + 4
    if r[2] > e then e = r[2] end
  end
  if e <= now then
    if blob then redis.call('DEL', P) end
    return
  end
  redis.call('SET', P, struct.pack(table.concat(fmt), unpack(f, 1, n)), 'PXAT', e)
end

-- Release: drop the transaction's reservation, if it still has one.
if op == 3 then
  local j = reservation(R, np, tx)
  if j then
    R[j] = R[np] R[np] = nil np = np - 1
    save(P, S, ns, R, np, now, blob)
  end
  return {0}
end

-- Check (RCPT): would this transaction's cost, on top of what every window
-- counts and the other transactions have reserved, exceed a limit? If not,
-- reserve it (replacing the transaction's own reservation).
if op == 1 then
  local dirty, j = false, 1
  -- Expired reservations go.
  while j <= np do
    if R[j][2] <= now then
      R[j] = R[np] R[np] = nil np = np - 1
      dirty = true
    else
      j = j + 1
    end
  end
  -- The session's previous transaction, still open, is over.
  if rel ~= tx then
    local k = reservation(R, np, rel)
    if k then
      R[k] = R[np] R[np] = nil np = np - 1
      dirty = true
    end
  end
  local ownj = reservation(R, np, tx)
  local om, orr = 0, 0
  for k = 1, np do
    if k ~= ownj then om, orr = om + R[k][3], orr + R[k][4] end
  end
  local grant = want
  if grant < cr then grant = cr end
  for w = 1, nw do
    local a = W[w]
    local s = find(S, ns, a)
    local used, cost = orr, cr
    if a[1] == 0 then used, cost = om, cm end
    if s then
      -- Buckets that left the window are gone for good, also for a clock
      -- that steps back later (as in the limiter): save the drop.
      local o, total = s[5], s[4]
      used = used + advance(s, now, KEYS[2 + w])
      if s[5] ~= o or s[4] ~= total then dirty = true end
    end
    if used + cost > a[2] then
      if dirty then save(P, S, ns, R, np, now, blob) end
      return {1, w - 1, used}
    end
    if a[1] == 1 then
      -- Half of the room beyond what is asked for, at most.
      local g = cr + math.floor((a[2] - used - cr) / 2)
      if g < grant then grant = g end
    end
  end
  if tx == 0 then
    if dirty then save(P, S, ns, R, np, now, blob) end
    return {0, grant}
  end
  local e = now + rttl
  if ownj then
    local r = R[ownj]
    r[2], r[3], r[4] = e, cm, grant
  elseif np >= MAX_PENDING then
    -- At the cap: the reservation that expires first gives way.
    local old = R[1]
    for k = 2, np do
      local r = R[k]
      if r[2] < old[2] or (r[2] == old[2] and r[1] < old[1]) then old = r end
    end
    old[1], old[2], old[3], old[4] = tx, e, cm, grant
  else
    np = np + 1
    R[np] = {tx, e, cm, grant}
  end
  save(P, S, ns, R, np, now, blob)
  return {0, grant}
end

-- Commit (END-OF-MESSAGE): count the cost in every window, once per Postfix
-- instance, and drop the transaction's reservation.
if ittl > 0 and not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ittl) then
  return {2}
end
for w = 1, nw do
  local a = W[w]
  local s = find(S, ns, a)
  local g, cost = a[4], cr
  local cur = math.floor(now / g)
  if a[1] == 0 then cost = cm end
  if s then advance(s, now, KEYS[2 + w]) end
  if s == nil then
    s = {a[1], a[3], g, cost, cur, cur, cost}
    if ns < MAX_SERIES then
      ns = ns + 1
      S[ns] = s
    else
      -- At the cap: a series whose newest bucket has left its window gives
      -- way, else the one whose newest bucket is oldest.
      local vi, victim
      for i = 1, ns do
        local o = S[i]
        if (o[6] + 1) * o[3] + o[2] <= now then vi = i break end
        if victim == nil or o[6] * o[3] < victim[6] * victim[3] then vi, victim = i, o end
      end
      S[vi] = s
    end
  elseif cur > s[6] then
    -- Close the newest bucket into the chain; the first one cleans up.
    local key = KEYS[2 + w]
    if s[5] == s[6] then redis.call('DEL', key) end
    redis.call('HSET', key, s[6], s[7] .. ':' .. cur)
    redis.call('PEXPIREAT', key, (s[6] + 1) * g + s[2])
    s[4], s[6], s[7] = s[4] + cost, cur, cost
  else
    -- The newest bucket, also for a clock that stepped back.
    s[4], s[7] = s[4] + cost, s[7] + cost
  end
end
local j = reservation(R, np, tx)
if j then R[j] = R[np] R[np] = nil np = np - 1 end
save(P, S, ns, R, np, now, blob)
return {0}
