package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// DefaultRetryAfter is how long Fallback counts locally before it tries
// Redis again.
const DefaultRetryAfter = 5 * time.Second

// FallbackConfig configures a Fallback. Redis is required.
type FallbackConfig struct {
	Redis *Redis
	// Local counts while Redis is down; nil for a new one.
	Local *Local
	// Registerer gets the metrics keyward_ratelimit_redis_up and
	// keyward_ratelimit_fallback_total; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// RetryAfter is the back-off while Redis is down: calls in between
	// count locally without waiting for Redis to time out again.
	RetryAfter time.Duration
}

// Fallback counts in Redis while Redis answers and in this node's memory
// when it cannot be reached or answers that it cannot count now (loading,
// out of memory, busy, read-only, denied by an ACL and the like), so that
// an outage degrades cluster-wide limits to per-node ones, never to no
// limits and never to failed verifications. A script or reply error that
// a retry would meet again is returned, not counted around.
type Fallback struct {
	redis      *Redis
	local      *Local
	logger     *slog.Logger
	retryAfter time.Duration
	up         prometheus.Gauge
	fallbacks  prometheus.Counter

	// down is read without the lock on every call; mu guards the
	// transitions and retryAt.
	down    atomic.Bool
	mu      sync.Mutex
	retryAt time.Time
}

var _ Limiter = (*Fallback)(nil)

// NewFallback returns a Fallback that starts with Redis. It fails only
// when the metrics cannot be registered.
func NewFallback(cfg FallbackConfig) (*Fallback, error) {
	if cfg.Local == nil {
		cfg.Local = NewLocal()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	f := &Fallback{
		redis:      cfg.Redis,
		local:      cfg.Local,
		logger:     cfg.Logger,
		retryAfter: cfg.RetryAfter,
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keyward_ratelimit_redis_up",
			Help: "1 while rate limits are counted in Redis, 0 while this node counts them locally because Redis is unreachable or cannot serve.",
		}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyward_ratelimit_fallback_total",
			Help: "Rate limit checks counted locally because Redis was unreachable or could not serve (such as OOM, BUSY, LOADING).",
		}),
	}
	f.up.Set(1)
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{f.up, f.fallbacks} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return f, nil
}

// Allow implements Limiter.
func (f *Fallback) Allow(ctx context.Context, now time.Time, reqs []Request) (Result, error) {
	if f.tryRedis(now) {
		res, err := f.redis.Allow(ctx, now, reqs)
		if err == nil {
			f.markUp()
			return res, nil
		}
		if ctx.Err() != nil || !cannotCount(err) {
			return Result{}, err
		}
		f.markDown(now, err)
	}
	f.fallbacks.Inc()
	res, err := f.local.Allow(ctx, now, reqs)
	res.local = true
	return res, err
}

// Refund implements Limiter: it gives the units back where res took
// them. A refund that Redis cannot take is logged and dropped, since the
// caller's answer does not depend on it; the units then come back with
// time, as spent ones do.
func (f *Fallback) Refund(ctx context.Context, now time.Time, reqs []Request, res Result) error {
	if res.local {
		return f.local.Refund(ctx, now, reqs, res)
	}
	err := f.redis.Refund(ctx, now, reqs, res)
	if err == nil || ctx.Err() != nil || !cannotCount(err) {
		return err
	}
	f.logger.Warn("could not refund rate limit units in redis", "err", err, "counters", len(reqs))
	f.markDown(now, err)
	return nil
}

// tryRedis reports whether this call should use Redis: always while it is
// up, and once per back-off while it is down.
func (f *Fallback) tryRedis(now time.Time) bool {
	if !f.down.Load() {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Before(f.retryAt) {
		return false
	}
	// This call probes; the others keep counting locally until it is back.
	f.retryAt = now.Add(f.retryAfter)
	return true
}

func (f *Fallback) markUp() {
	if !f.down.Load() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down.Load() {
		f.down.Store(false)
		f.up.Set(1)
		f.logger.Warn("redis is reachable again: rate limits are counted cluster-wide")
	}
}

func (f *Fallback) markDown(now time.Time, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retryAt = now.Add(f.retryAfter)
	if !f.down.Load() {
		f.down.Store(true)
		f.up.Set(0)
		f.logger.Warn("redis is unreachable: rate limits are counted on this node only", "err", err, "retry_after", f.retryAfter)
	}
}

// cannotCount reports whether err means that Redis cannot count now, as
// opposed to answering with an error that a retry would meet again (a
// script error is a bug to report, not an outage to count around).
func cannotCount(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		// Dial, I/O, timeout, pool and closed-client errors.
		return true
	}
	// Replies of a server that is up but cannot serve: loading, a replica
	// cut off from its primary or read-only, a cluster in trouble, out of
	// memory under noeviction, busy with a long script, or an ACL that
	// denies the scripts. The error code is the reply's first word.
	code, _, _ := strings.Cut(rerr.Error(), " ")
	switch code {
	case "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "OOM", "BUSY", "NOPERM":
		return true
	}
	return false
}
