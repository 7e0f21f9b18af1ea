-- A source silent for longer than its cadence: append `source.silent` once per silence
-- period. The period is named by the source's `last_new` value; `silent_reported` remembers
-- the period already announced, and a new item (a new `last_new`) starts a new period.
--
-- KEYS[1]  the source hash   KEYS[2]  the events stream   KEYS[3]  the set of source ids
-- ARGV[1]  source id         ARGV[2]  stream MAXLEN       ARGV[3]  event type
-- ARGV[4]  event id prefix
-- ARGV[5]  the `last_new` the caller judged silent ('' for never): if it changed meanwhile,
--          something new arrived and the source is not silent after all
-- ARGV[6..] the event's own field/value pairs
-- Reply: {consecutive_failures} or {consecutive_failures, event_id, stream_id}
local seen = redis.call('HMGET', KEYS[1], 'last_new', 'silent_reported', 'consecutive_failures')
local period = seen[1] or ''
local failures = tonumber(seen[3]) or 0
if period ~= ARGV[5] or seen[2] == period then
  return {failures}
end

redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], 'silent_reported', period)
local event_id = ARGV[4] .. redis.call('HINCRBY', KEYS[1], 'event_seq', 1)
local stream_id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'type', ARGV[3],
  'event_id', event_id, unpack(ARGV, 6))
return {failures, event_id, stream_id}
