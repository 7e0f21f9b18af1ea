-- A failed poll: count it, and append `source.failing` once when the count reaches the
-- threshold (the `failing` flag makes it once per failing period, across every process).
--
-- KEYS[1]  the source hash   KEYS[2]  the events stream   KEYS[3]  the set of source ids
-- ARGV[1]  source id         ARGV[2]  threshold           ARGV[3]  stream MAXLEN (approximate)
-- ARGV[4]  event type        ARGV[5]  event id prefix ("{source}:{type}:"; n is appended)
-- ARGV[6]  k, the number of state field/value pairs that follow, stored in the hash
-- then k state pairs, then the event's own field/value pairs
-- Reply: {consecutive_failures} or {consecutive_failures, event_id, stream_id}
local k = tonumber(ARGV[6])
local state, event = {}, {}
for i = 7, 6 + 2 * k do state[#state + 1] = ARGV[i] end
for i = 7 + 2 * k, #ARGV do event[#event + 1] = ARGV[i] end

redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'polls', 1)
local failures = redis.call('HINCRBY', KEYS[1], 'consecutive_failures', 1)
if k > 0 then redis.call('HSET', KEYS[1], unpack(state)) end
if failures < tonumber(ARGV[2]) or redis.call('HGET', KEYS[1], 'failing') == '1' then
  return {failures}
end

redis.call('HSET', KEYS[1], 'failing', '1')
local event_id = ARGV[5] .. redis.call('HINCRBY', KEYS[1], 'event_seq', 1)
local stream_id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'type', ARGV[4],
  'event_id', event_id, 'consecutive_failures', failures, unpack(event))
return {failures, event_id, stream_id}
