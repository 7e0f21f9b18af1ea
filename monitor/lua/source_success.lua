-- A successful poll: reset the failure count, and append `source.recovered` once if the
-- source was failing (clearing the flag in the same step, so only one process announces it).
--
-- KEYS[1]  the source hash   KEYS[2]  the events stream   KEYS[3]  the set of source ids
-- ARGV[1]  source id         ARGV[2]  stream MAXLEN       ARGV[3]  event type
-- ARGV[4]  event id prefix   ARGV[5]  k, the number of state pairs that follow
-- then k state pairs, then the event's own field/value pairs
-- Reply: {0} or {failures_before, event_id, stream_id}
local k = tonumber(ARGV[5])
local state, event = {}, {}
for i = 6, 5 + 2 * k do state[#state + 1] = ARGV[i] end
for i = 6 + 2 * k, #ARGV do event[#event + 1] = ARGV[i] end

redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'polls', 1)
local before = redis.call('HMGET', KEYS[1], 'consecutive_failures', 'failing')
redis.call('HSET', KEYS[1], 'consecutive_failures', 0)
if k > 0 then redis.call('HSET', KEYS[1], unpack(state)) end
if before[2] ~= '1' then
  return {0}
end

redis.call('HSET', KEYS[1], 'failing', '0')
local failures = tonumber(before[1]) or 0
local event_id = ARGV[4] .. redis.call('HINCRBY', KEYS[1], 'event_seq', 1)
local stream_id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'type', ARGV[3],
  'event_id', event_id, 'consecutive_failures', failures, unpack(event))
return {failures, event_id, stream_id}
