-- Delete the consumers of a group that hold nothing and were idle longer than ARGV[2] ms,
-- except ARGV[3] (the caller). Each process reads under a consumer name of its own, so
-- without this every restart would leave one more name behind.
--
-- KEYS[1]  the events stream        ARGV[1]  the group        ARGV[2]  idle ms
-- ARGV[3]  a consumer to keep
--
-- In a script, so that no read can hand the consumer an entry between the look and the
-- delete (XGROUP DELCONSUMER drops a consumer's pending entries with it).
-- Reply: the names deleted.
local deleted = {}
local consumers = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
for _, consumer in ipairs(consumers) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info['name'] ~= ARGV[3] and tonumber(info['pending']) == 0
      and tonumber(info['idle']) > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    deleted[#deleted + 1] = info['name']
  end
end
return deleted
