-- Extend a poll lease only if `owner` still holds it (a long poll keeps its lease alive).
-- KEYS[1] the lease   ARGV[1] owner   ARGV[2] ttl in ms   Reply: 1 renewed, 0 not held
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
