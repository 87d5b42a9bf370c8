-- seed-history.lua - give every quota series in Redis a full window of
-- history, as a principal that has sent all along would have: the state a
-- benchmark should measure (a fresh Redis holds one or two buckets per
-- series, so a script that reads whole series looks cheap).
--
-- redis-cli --eval seed-history.lua , PREFIX LAYOUT COUNT
--   PREFIX  redis_key_prefix of the daemon ("pp")
--   LAYOUT  v1: series keys <PREFIX>:v1:q:w:<k>:<len>:<g>:{P}, bucket ->
--               count (portreeve before 2026-11);
--           v2: the principal's hash <PREFIX>:v2:q:p:{P} holds per series
--               "<k><len>:<g>" = "total:oldest:newest:count"; the series
--               key <PREFIX>:v2:q:w:... holds the closed buckets as
--               "count:next"
--           v3: the principal's state <PREFIX>:v3:q:p:{P} is a string in
--               struct's binary (per series kind, len, g, total, oldest,
--               newest, count of the newest); series keys as in v2
--               (policyd/quota.lua)
--   COUNT   units per bucket (keep COUNT * buckets far below the limits)
-- Rewrites each series it finds with buckets floor((now - len) / g) + 1 ..
-- floor(now / g), COUNT each, and the TTLs the daemon would give them.
-- Returns the number of series rewritten. Benchmark tool only.
local prefix, layout, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local done = 0

-- Buckets lo..cur as field/value pairs; v2 leaves out the newest (cur).
local function buckets(lo, cur, chained)
  local f = {}
  for i = lo, cur do
    if chained then
      if i < cur then f[#f + 1] = i f[#f + 1] = count .. ':' .. (i + 1) end
    else
      f[#f + 1] = i f[#f + 1] = count
    end
  end
  return f
end

local function each(pattern, fn)
  local cursor = '0'
  repeat
    local r = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = r[1]
    for _, key in ipairs(r[2]) do fn(key) end
  until cursor == '0'
end

if layout == 'v1' then
  each(prefix .. ':v1:q:w:*', function(key)
    local len, g = string.match(key, ':q:w:[mr]:(%d+):(%d+):')
    len, g = tonumber(len), tonumber(g)
    local lo, cur = math.floor((now - len) / g) + 1, math.floor(now / g)
    redis.call('DEL', key)
    redis.call('HSET', key, unpack(buckets(lo, cur, false)))
    redis.call('PEXPIREAT', key, (cur + 1) * g + len)
    done = done + 1
  end)
elseif layout == 'v2' then
  each(prefix .. ':v2:q:p:*', function(pkey)
    local tag = string.match(pkey, ':q:p:(%b{})$')
    local all, e = redis.call('HGETALL', pkey), 0
    for i = 1, #all, 2 do
      local k, len, g = string.match(all[i], '^([mr])(%d+):(%d+)$')
      if k then
        len, g = tonumber(len), tonumber(g)
        local lo, cur = math.floor((now - len) / g) + 1, math.floor(now / g)
        local skey = prefix .. ':v2:q:w:' .. k .. ':' .. len .. ':' .. g .. ':' .. tag
        redis.call('DEL', skey)
        redis.call('HSET', skey, unpack(buckets(lo, cur, true)))
        redis.call('PEXPIREAT', skey, cur * g + len)
        redis.call('HSET', pkey, all[i], count * (cur - lo + 1) .. ':' .. lo .. ':' .. cur .. ':' .. count)
        if (cur + 1) * g + len > e then e = (cur + 1) * g + len end
        done = done + 1
      end
    end
    if e > 0 then
      redis.call('HSET', pkey, 'e', e)
      redis.call('PEXPIREAT', pkey, e)
    end
  end)
else
  each(prefix .. ':v3:q:p:*', function(pkey)
    local tag = string.match(pkey, ':q:p:(%b{})$')
    local b = redis.call('GET', pkey)
    local v, ns, np, pos = struct.unpack('<BBB', b)
    local out, e = {struct.pack('<BBB', v, ns, np)}, 0
    for i = 1, ns do
      local k, len, g, t0, o0, h0, c0
      k, len, g, t0, o0, h0, c0, pos = struct.unpack('<Bdddddd', b, pos)
      local lo, cur = math.floor((now - len) / g) + 1, math.floor(now / g)
      local skey = prefix .. ':v3:q:w:' .. (k == 0 and 'm' or 'r') .. ':' .. len .. ':' .. g .. ':' .. tag
      redis.call('DEL', skey)
      redis.call('HSET', skey, unpack(buckets(lo, cur, true)))
      redis.call('PEXPIREAT', skey, cur * g + len)
      out[#out + 1] = struct.pack('<Bdddddd', k, len, g, count * (cur - lo + 1), lo, cur, count)
      if (cur + 1) * g + len > e then e = (cur + 1) * g + len end
      done = done + 1
    end
    out[#out + 1] = string.sub(b, pos)
    if e > 0 then redis.call('SET', pkey, table.concat(out), 'PXAT', e) end
  end)
end
return done
