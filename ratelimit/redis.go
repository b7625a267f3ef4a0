package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix namespaces the counters in Redis.
const DefaultPrefix = "keyward:rl:"

// tatPrelude reads Redis's clock into sec and nsec and defines the two
// scripts' TAT codec. A counter holds its TAT as "seconds:nanoseconds",
// read and written relative to that clock as a debt in nanoseconds, and
// expires when it would hold nothing. debt_of returns nil for a missing
// counter or one it cannot parse; set_debt needs a positive debt.
const tatPrelude = `
local t = redis.call('TIME')
local sec, nsec = tonumber(t[1]), tonumber(t[2]) * 1000
local function debt_of(key)
  local v = redis.call('GET', key)
  if v then
    local s, n = string.match(v, '^(%d+):(%d+)$')
    if s then
      return (tonumber(s) - sec) * 1e9 + tonumber(n) - nsec
    end
  end
end
local function set_debt(key, debt)
  local at = nsec + debt
  redis.call('SET', key, string.format('%d:%d', sec + math.floor(at / 1e9), at % 1e9),
    'PX', math.ceil(debt / 1e6))
end
`

// gcraScript runs GCRA over all counters of one call atomically: it checks
// them all and spends them only if all fit. It reads Redis's own clock, so
// nodes with skewed clocks agree. KEYS are the counters; ARGV holds four
// numbers per counter (interval, tolerance, need, inc; see cell), all in
// nanoseconds and below 2^53, so Lua's doubles are exact. The answer is
// {allowed, seconds, microseconds, debt...}.
const gcraScript = tatPrelude + `
local pre, cur, last = {}, {}, {}
local ok = 1
for i, key in ipairs(KEYS) do
  local need = tonumber(ARGV[4*i-1])
  local j = last[key]
  if j then
    pre[i], cur[i] = pre[j], cur[j] + tonumber(ARGV[4*j])
  else
    local debt = math.max(0, debt_of(key) or 0)
    pre[i], cur[i] = debt, debt
  end
  last[key] = i
  if cur[i] + need > tonumber(ARGV[4*i-2]) then
    ok = 0
  end
end
local out = {ok, tonumber(t[1]), tonumber(t[2])}
for i, key in ipairs(KEYS) do
  local debt = pre[i]
  if ok == 1 then
    local inc = tonumber(ARGV[4*i])
    debt = cur[i] + inc
    if inc > 0 then
      set_debt(key, debt)
    end
  end
  out[i + 3] = debt
end
return out
`

// refundScriptSource moves each counter's TAT back by its ARGV (nanoseconds,
// below 2^53) on Redis's clock, in one call. A missing counter holds
// nothing to give back; one that the refund makes whole is deleted, and
// the others expire when they would hold nothing, as gcraScript sets them.
const refundScriptSource = tatPrelude + `
for i, key in ipairs(KEYS) do
  local debt = debt_of(key)
  if debt then
    debt = debt - tonumber(ARGV[i])
    if debt > 0 then
      set_debt(key, debt)
    else
      redis.call('DEL', key)
    end
  end
end
return 0
`

var (
	script       = redis.NewScript(gcraScript)
	refundScript = redis.NewScript(refundScriptSource)
)

// Redis counts in Redis, so that every node shares the counters. It needs
// Redis 5 or later (scripts that write after reading TIME). In a Redis
// Cluster all counters of one call must hash to one slot, which these
// counter names do not promise: use a single primary.
type Redis struct {
	client redis.Scripter
	prefix string
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a Redis limiter over client whose counters are named
// prefix + Request.Key; an empty prefix is DefaultPrefix.
func NewRedis(client redis.Scripter, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Redis{client: client, prefix: prefix}
}

// Allow implements Limiter with one script call. It ignores now: Redis's
// clock counts, and the states' reset times are in it.
func (r *Redis) Allow(ctx context.Context, _ time.Time, reqs []Request) (Result, error) {
	cells, err := newCells(reqs)
	if err != nil {
		return Result{}, err
	}
	keys := make([]string, len(reqs))
	args := make([]any, 0, 4*len(reqs))
	for i, req := range reqs {
		keys[i] = r.prefix + req.Key
		c := cells[i]
		args = append(args, c.interval, c.tolerance, c.need, c.inc)
	}
	out, err := script.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(out) != 3+len(reqs) {
		return Result{}, fmt.Errorf("ratelimit: redis: script answered %d numbers for %d counters", len(out), len(reqs))
	}
	now := time.Unix(out[1], out[2]*1000)
	res := Result{Allowed: out[0] == 1, States: make([]State, len(reqs))}
	for i, c := range cells {
		res.States[i] = c.state(now, out[3+i])
	}
	return res, nil
}

// Refund implements Limiter with one script call. It ignores now and res.
func (r *Redis) Refund(ctx context.Context, _ time.Time, reqs []Request, _ Result) error {
	cells, err := newCells(reqs)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(reqs))
	args := make([]any, 0, len(reqs))
	for i, req := range reqs {
		if cells[i].inc > 0 {
			keys, args = append(keys, r.prefix+req.Key), append(args, cells[i].inc)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if err := refundScript.Run(ctx, r.client, keys, args...).Err(); err != nil {
		return fmt.Errorf("ratelimit: redis: refund: %w", err)
	}
	return nil
}
