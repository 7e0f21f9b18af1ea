-- Take the due retries of one consumer group, each leased to the caller until ARGV[2].
--
-- KEYS[1]  the group's retry sorted set (member: stream id, score: due time, unix ms)
-- KEYS[2]  the events stream        KEYS[3]  the group's attempts hash
-- KEYS[4]  the group's replay hash (stream id -> the entry's fields as a JSON object)
-- ARGV[1]  now (unix ms)            ARGV[2]  lease end (unix ms)     ARGV[3]  at most this many
--
-- Leasing (moving the score to the lease end) instead of removing makes a taken retry safe:
-- if the taker dies, the member comes due again when the lease ends and another engine takes
-- it; an engine that finishes removes it (or schedules the next attempt) in its settle step.
-- Two engines never take the same member in one lease period, since this runs atomically.
--
-- Reply: {next_due, entry, entry, ...}; next_due is the earliest score left after the lease
-- moves ('' when the set is empty); each entry is {stream_id, attempts, replay_json, fields}
-- with fields the stream entry's flat name/value list ({} when trimmed: then replay_json, a
-- replayed dead letter's copy, is what is delivered; both empty means the entry is lost).
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {''}
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
  local found = redis.call('XRANGE', KEYS[2], id, id)
  local fields = {}
  if found[1] then fields = found[1][2] end
  local attempts = redis.call('HGET', KEYS[3], id) or '0'
  local replay = redis.call('HGET', KEYS[4], id) or ''
  out[#out + 1] = {id, attempts, replay, fields}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then out[1] = first[2] end
return out
