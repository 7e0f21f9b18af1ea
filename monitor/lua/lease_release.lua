-- Delete a poll lease only if `owner` still holds it: a holder whose lease expired and was
-- taken over must not release the new holder's lease.
-- KEYS[1] the lease   ARGV[1] owner   Reply: 1 released, 0 not held by owner
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
