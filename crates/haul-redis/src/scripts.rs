//! The Lua scripts: GCRA with the arrival time kept in Redis.
//!
//! One script runs per call, atomically; Redis `TIME` is the only clock, so
//! workers on machines with skewed clocks share one schedule. All times are
//! integer microseconds (Redis time, since the Unix epoch: about 1.8e15, well
//! inside the 2^53 that Lua numbers hold exactly); they are written with
//! `%.0f` because Lua's default number format (`%.14g`) would round them.
//!
//! The key holds the theoretical arrival time (TAT) of the next request. A
//! request of cost `n` moves it by `n * interval`, and may be sent at
//! `tat + n * interval - capacity` (or now, if that is past), where
//! `capacity = burst * interval`. The key expires a second after the TAT
//! passes: an expired key and a TAT in the past mean the same (a full
//! bucket), so idle budgets leave nothing behind.

/// Reserve: `KEYS[1]` the budget key; `ARGV` interval µs, capacity µs,
/// cost, maximum wait µs. Returns `{1, wait_us, slot_us, new_tat_us}` when a
/// slot was taken, `{0, wait_us, now_us, tat_us}` when the wait is longer
/// than the maximum (nothing taken).
pub(crate) const RESERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local new_tat = tat + interval * cost
local slot = new_tat - capacity
if slot < now then slot = now end
local wait = slot - now
if wait > max_wait then
  return {0, wait, now, tat}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
  'PX', math.floor((new_tat - now) / 1000) + 1000)
return {1, wait, slot, new_tat}
";

/// Penalty: `KEYS[1]` the budget key; `ARGV` interval µs, capacity µs,
/// pause µs (from now, Redis time). Moves the TAT (never back) so that no
/// slot is handed out before `now + pause`; after it, requests are paced at
/// the rate again (no burst right at the reset). Returns
/// `{reset_us, tat_us}`.
pub(crate) const PENALTY: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local pause = tonumber(ARGV[3])
local reset = now + pause
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
local floor = reset + capacity - interval
if floor > tat then tat = floor end
redis.call('SET', KEYS[1], string.format('%.0f', tat),
  'PX', math.floor((tat - now) / 1000) + 1000)
return {reset, tat}
";

/// Cancel: `KEYS[1]` the budget key; `ARGV` the TAT a reservation left,
/// the µs it added. Rewinds the TAT when no later reservation was made
/// (else the slot is lost: the rate dips, the law holds). Returns 1 when
/// rewound.
pub(crate) const CANCEL: &str = r"
local tat = redis.call('GET', KEYS[1])
if tat and tonumber(tat) == tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], string.format('%.0f', tonumber(ARGV[1]) - tonumber(ARGV[2])), 'KEEPTTL')
  return 1
end
return 0
";
