-- Compare-and-emit of one advisory: the only place a version is bumped or an event appended.
--
-- KEYS[1]  the advisory hash        KEYS[2]  the events stream        KEYS[3]  the expiry index
-- ARGV[1]  expected current version (0: the caller believes the advisory is new)
-- ARGV[2]  fingerprint (material fields)        ARGV[3]  content hash (all text)
-- ARGV[4]  now, ISO UTC                         ARGV[5]  stream MAXLEN (approximate)
-- ARGV[6]  the snapshot JSON, stored in the hash and also the event's last value
-- ARGV[7]  the event's fields as a JSON array [name, value, ..., name], built by the caller for
--          version ARGV[1] + 1; the last name's value is the snapshot. One argument instead of
--          fifteen: packing arguments is most of a client's cost per call.
-- ARGV[8]  the advisory id (its member in KEYS[3])
-- ARGV[9]  its expires in unix ms; "" when it has none or is a cancel (nothing left to expire)
-- ARGV[10] now in unix ms
--
-- Replies: {'unchanged', v} | {'editorial', v} | {'emitted', v, stream_id}
--        | {'conflict', v, snapshot_or_nil}: the stored version is not the expected one; the
--          caller diffs against the returned snapshot and calls again expecting v.
-- A fingerprint equal to the stored one is never an event, whatever the caller expected,
-- so a racing poller that lost sees 'unchanged' and a version is never emitted twice.
--
-- The expiry index follows every stored version and editorial update (never an unchanged or
-- conflicting call): an expires still ahead is armed, unless the sweep already announced that
-- very expires (a poller whose clock runs behind the sweeper's must not arm it again); an
-- expires already past moves an armed entry (still due: the sweep announces it) but never arms
-- one, so an advisory first seen after its expiry, or after its expiry was announced, gets no
-- advisory.expired; no expires, or a cancel, disarms it.
local function index_expiry()
  if ARGV[9] == '' then
    redis.call('ZREM', KEYS[3], ARGV[8])
  elseif tonumber(ARGV[9]) > tonumber(ARGV[10]) then
    if tonumber(redis.call('HGET', KEYS[1], 'expired_for')) ~= tonumber(ARGV[9]) then
      redis.call('ZADD', KEYS[3], ARGV[9], ARGV[8])
    end
  else
    redis.call('ZADD', KEYS[3], 'XX', ARGV[9], ARGV[8])
  end
end

local current = redis.call('HMGET', KEYS[1], 'version', 'fingerprint', 'content_hash')
local version = tonumber(current[1]) or 0

if version > 0 and current[2] == ARGV[2] then
  if current[3] == ARGV[3] then
    redis.call('HSET', KEYS[1], 'last_seen', ARGV[4])
    return {'unchanged', version}
  end
  redis.call('HSET', KEYS[1], 'content_hash', ARGV[3], 'snapshot', ARGV[6], 'last_seen', ARGV[4])
  index_expiry()
  return {'editorial', version}
end

if version ~= tonumber(ARGV[1]) then
  return {'conflict', version, redis.call('HGET', KEYS[1], 'snapshot')}
end

version = version + 1
if version == 1 then
  redis.call('HSET', KEYS[1], 'version', version, 'fingerprint', ARGV[2], 'content_hash', ARGV[3],
    'snapshot', ARGV[6], 'first_seen', ARGV[4], 'last_seen', ARGV[4])
else
  redis.call('HSET', KEYS[1], 'version', version, 'fingerprint', ARGV[2], 'content_hash', ARGV[3],
    'snapshot', ARGV[6], 'last_seen', ARGV[4])
end
index_expiry()
local fields = cjson.decode(ARGV[7])
fields[#fields + 1] = ARGV[6]
local stream_id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', unpack(fields))
return {'emitted', version, stream_id}
