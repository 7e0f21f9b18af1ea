-- Announce that an advisory's expires passed: the only place advisory.expired is appended.
--
-- KEYS[1]  the advisory hash        KEYS[2]  the expiry index        KEYS[3]  the events stream
-- ARGV[1]  the advisory id (its member in KEYS[2])
-- ARGV[2]  the version the caller read; the event is built for ARGV[2] + 1
-- ARGV[3]  now in unix ms                       ARGV[4]  now, ISO UTC
-- ARGV[5]  stream MAXLEN (approximate)
-- ARGV[6]  the event's fields as a JSON array [name, value, ..., name], as for emit.lua; the
--          script appends the stored snapshot as the last name's value, so the event carries
--          exactly the version it checked.
--
-- Replies: {'expired', v, stream_id}: version v records the expiry and its event was appended
--        | {'not_due', 0}: not in the index, or not due yet (another process announced it, or
--          a newer version moved its expires ahead): nothing to do
--        | {'gone', 0}: the index named an advisory whose hash is gone; the entry was dropped
--        | {'conflict', v}: the stored version is v, not the one expected; read again.
-- An expiry is a version of its own, so its event id is {advisory_id}:{v} like any other. The
-- fingerprint, content hash and snapshot stay: the same item seen again is 'unchanged' to
-- emit.lua, and a real change later diffs against this snapshot (its expires included).
local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[3]) then
  return {'not_due', 0}
end

local current = redis.call('HMGET', KEYS[1], 'version', 'snapshot')
local version = tonumber(current[1]) or 0
if version == 0 or not current[2] then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {'gone', 0}
end
if version ~= tonumber(ARGV[2]) then
  return {'conflict', version}
end

version = version + 1
redis.call('HSET', KEYS[1], 'version', version, 'expired_at', ARGV[4], 'expired_for', due)
redis.call('ZREM', KEYS[2], ARGV[1])
local fields = cjson.decode(ARGV[6])
fields[#fields + 1] = current[2]
local stream_id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', unpack(fields))
return {'expired', version, stream_id}
