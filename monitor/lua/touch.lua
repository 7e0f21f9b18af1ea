-- Keep a batch in flight from looking abandoned, without taking back what is no longer ours.
--
-- KEYS[1]  the events stream        KEYS[2]  the group's retry sorted set
-- ARGV[1]  the group                ARGV[2]  this consumer
-- ARGV[3]  the new lease end of the retries (unix ms)
-- ARGV[4]  how many pending ids follow; then those ids; then (id, lease end we last set) pairs
--
-- A pending entry's idle time is reset (XCLAIM ... 0 JUSTID to ourselves) only while this
-- consumer still owns it: a process that stalled past the claim time and was taken over must
-- not pull its entries back, or both would deliver them. A retry's lease is extended only
-- while its score is still the lease this consumer set: another engine that took it after the
-- lease lapsed has moved the score to its own lease.
--
-- Reply: {pending ids still ours, retry ids whose lease was extended}
local count = tonumber(ARGV[4])
local ours = {}
for i = 5, 4 + count do
  local id = ARGV[i]
  local owner = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if owner[1] and owner[1][2] == ARGV[2] then
    ours[#ours + 1] = id
  end
end
if #ours > 0 then
  local args = {KEYS[1], ARGV[1], ARGV[2], 0}
  for _, id in ipairs(ours) do args[#args + 1] = id end
  args[#args + 1] = 'JUSTID'
  redis.call('XCLAIM', unpack(args))
end
local extended = {}
for i = 5 + count, #ARGV, 2 do
  local id, mine = ARGV[i], ARGV[i + 1]
  local score = redis.call('ZSCORE', KEYS[2], id)
  if score and tonumber(score) == tonumber(mine) then
    redis.call('ZADD', KEYS[2], ARGV[3], id)
    extended[#extended + 1] = id
  end
end
return {ours, extended}
