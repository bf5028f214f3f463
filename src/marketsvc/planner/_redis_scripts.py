"""The Lua scripts of :class:`~marketsvc.planner.redis_limiter.RedisLimiter`: each runs
atomically inside Redis on Redis' own clock (``TIME``)."""

_LUA_COMMON = """
local function weight_of(member)
  return tonumber(string.match(member, ':(%d+)$'))
end

-- Drop calls that left the window (score <= edge); return the units still inside and keep
-- the running total in step. A missing total (first use) is rebuilt from the set.
local function prune(zkey, skey, edge, ttl)
  local raw = redis.call('GET', skey)
  local used = 0
  if raw then
    used = tonumber(raw)
    local gone = redis.call('ZRANGEBYSCORE', zkey, '-inf', edge)
    for _, m in ipairs(gone) do used = used - weight_of(m) end
    if #gone == 0 then return used end
  else
    local kept = redis.call('ZRANGEBYSCORE', zkey, string.format('(%.17g', edge), '+inf')
    for _, m in ipairs(kept) do used = used + weight_of(m) end
  end
  redis.call('ZREMRANGEBYSCORE', zkey, '-inf', edge)
  if redis.call('EXISTS', zkey) == 1 then
    redis.call('SET', skey, used, 'PX', ttl)
  else
    redis.call('DEL', skey)
  end
  return used
end

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: blocked-until, sequence, then (sorted set, total) per window.
# ARGV: weight, then (limit, window seconds, ttl ms) per window. Returns the wait as a string
# (Redis would truncate a Lua number to an integer), then the units in each window after the
# decision: the replica keeps them in case it must switch to its local share.
RESERVE_LUA = (
    _LUA_COMMON
    + """
local weight = tonumber(ARGV[1])
local blocked = tonumber(redis.call('GET', KEYS[1]) or '0')
if blocked > now then return {tostring(blocked - now)} end
local n = (#KEYS - 2) / 2
local used = {}
local wait = 0
for i = 1, n do
  local zkey, skey = KEYS[2 * i + 1], KEYS[2 * i + 2]
  local limit, window, ttl = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), ARGV[3 * i + 1]
  used[i] = prune(zkey, skey, now - window, ttl)
  local excess = used[i] + weight - limit
  local start, freed = 0, 0
  while excess > 0 do
    -- Oldest first, until enough units will have left the window.
    local chunk = redis.call('ZRANGE', zkey, start, start + 99, 'WITHSCORES')
    if #chunk == 0 then break end
    for j = 1, #chunk, 2 do
      freed = freed + weight_of(chunk[j])
      if freed >= excess then
        wait = math.max(wait, tonumber(chunk[j + 1]) + window - now)
        excess = 0
        break
      end
    end
    start = start + 100
  end
end
local out = {tostring(wait)}
if wait > 0 then
  for i = 1, n do out[i + 1] = tostring(used[i]) end
  return out
end
local member = redis.call('INCR', KEYS[2]) .. ':' .. weight
for i = 1, n do
  local zkey, skey, ttl = KEYS[2 * i + 1], KEYS[2 * i + 2], ARGV[3 * i + 1]
  redis.call('ZADD', zkey, now, member)
  redis.call('PEXPIRE', zkey, ttl)
  redis.call('SET', skey, used[i] + weight, 'PX', ttl)
  out[i + 1] = tostring(used[i] + weight)
end
return out
"""
)

# KEYS: (sorted set, total) per window. ARGV: (window seconds, ttl ms) per window.
USAGE_LUA = (
    _LUA_COMMON
    + """
local out = {}
for i = 1, #KEYS / 2 do
  local edge = now - tonumber(ARGV[2 * i - 1])
  out[i] = tostring(prune(KEYS[2 * i - 1], KEYS[2 * i], edge, ARGV[2 * i]))
end
return out
"""
)

# KEYS: sequence, then (sorted set, total) per window. ARGV: (units, window seconds, ttl ms) per
# window. Counts units granted without Redis (local shares during an outage) at Redis' now.
RECORD_LUA = (
    _LUA_COMMON
    + """
local seq = redis.call('INCR', KEYS[1])
for i = 1, (#KEYS - 1) / 2 do
  local zkey, skey = KEYS[2 * i], KEYS[2 * i + 1]
  local units, window, ttl = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), ARGV[3 * i]
  if units > 0 then
    local used = prune(zkey, skey, now - window, ttl)
    redis.call('ZADD', zkey, now, seq .. ':' .. units)
    redis.call('PEXPIRE', zkey, ttl)
    redis.call('SET', skey, used + units, 'PX', ttl)
  end
end
return 'ok'
"""
)

# KEYS: blocked-until. ARGV: seconds. Never shortens an existing block.
BLOCK_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local seconds = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + seconds > current then
  local ttl = math.ceil(seconds * 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%.17g', now + seconds), 'PX', ttl)
end
return tostring(math.max(now + seconds, current) - now)
"""
