package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"keyward/internal/testenv"
)

// harness is a limiter under test with a clock that tests can move.
type harness struct {
	l Limiter
	// now is the time passed to Allow.
	now func() time.Time
	// advance moves the limiter's time forward.
	advance func(tb testing.TB, d time.Duration)
	// slack is how close to an edge a test may go: 1ns for an injected
	// clock, more when the clock also runs by itself.
	slack time.Duration
}

// allow calls Allow and returns the result with the bounds of the
// limiter's clock around the call, to check reset times against.
func (h *harness) allow(tb testing.TB, reqs ...Request) (res Result, before, after time.Time) {
	tb.Helper()
	// Redis's clock has microseconds.
	before = h.now().Truncate(time.Microsecond)
	res, err := h.l.Allow(context.Background(), h.now(), reqs)
	if err != nil {
		tb.Fatal(err)
	}
	return res, before, h.now()
}

// refund gives back what took, an allowed answer for reqs, spent.
func (h *harness) refund(tb testing.TB, took Result, reqs ...Request) {
	tb.Helper()
	if err := h.l.Refund(context.Background(), h.now(), reqs, took); err != nil {
		tb.Fatal(err)
	}
}

func newLocalHarness(tb testing.TB) *harness {
	tb.Helper()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	return &harness{
		l:       NewLocal(),
		now:     func() time.Time { return now },
		advance: func(_ testing.TB, d time.Duration) { now = now.Add(d) },
		slack:   time.Nanosecond,
	}
}

// newRedisClient connects to the Redis that KEYWARD_TEST_REDIS names and
// returns a key prefix unique to the test; the test's keys are deleted
// after it.
func newRedisClient(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	opts, err := redis.ParseURL(testenv.Redis.URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	client := redis.NewClient(opts)
	prefix := fmt.Sprintf("keyward:test:%s:%d:", tb.Name(), time.Now().UnixNano())
	tb.Cleanup(func() {
		defer client.Close()
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Error(err)
		}
	})
	return client, prefix
}

// newRedisHarness moves time by shifting the stored TATs back, since
// Redis's clock cannot be injected.
func newRedisHarness(tb testing.TB) *harness {
	tb.Helper()
	client, prefix := newRedisClient(tb)
	return &harness{
		l:     NewRedis(client, prefix),
		now:   time.Now,
		slack: 100 * time.Millisecond,
		advance: func(tb testing.TB, d time.Duration) {
			tb.Helper()
			ctx := context.Background()
			iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
			for iter.Next(ctx) {
				v, err := client.Get(ctx, iter.Val()).Result()
				if err != nil {
					tb.Fatal(err)
				}
				sec, nsec, _ := strings.Cut(v, ":")
				s, _ := strconv.ParseInt(sec, 10, 64)
				n, _ := strconv.ParseInt(nsec, 10, 64)
				tat := time.Unix(s, n).Add(-d)
				v = fmt.Sprintf("%d:%d", tat.Unix(), tat.Nanosecond())
				if err := client.Set(ctx, iter.Val(), v, redis.KeepTTL).Err(); err != nil {
					tb.Fatal(err)
				}
			}
			if err := iter.Err(); err != nil {
				tb.Fatal(err)
			}
		},
	}
}

func TestLocal(t *testing.T) { runLimiterTests(t, newLocalHarness) }

func TestRedis(t *testing.T) { runLimiterTests(t, newRedisHarness) }

// The interval between returned units rounds up, so that no window admits
// more than the limit. It needs a clock that stands still, which Redis's is
// not.
func TestLocal_IntervalRoundsUp(t *testing.T) {
	h := newLocalHarness(t)
	// 7 per minute: one every 8.571428572s.
	r := Request{Key: "a", Limit: 7, Window: time.Minute, Cost: 7}
	if res, _, _ := h.allow(t, r); !res.Allowed {
		t.Fatal("a burst of the whole limit was denied")
	}
	r.Cost = 1
	h.advance(t, 8571428571*time.Nanosecond)
	if res, _, _ := h.allow(t, r); res.Allowed {
		t.Fatal("allowed 1ns before the rounded-up interval")
	}
	h.advance(t, time.Nanosecond)
	if res, _, _ := h.allow(t, r); !res.Allowed {
		t.Fatal("denied at the rounded-up interval")
	}
}

// GCRA is a rate with a burst, not a fixed window: a greedy client gets
// the burst of 10 and then one unit a second, 19 within the first 10s, as
// the package doc says.
func TestLocal_WindowAdmitsTwiceTheLimitLessOne(t *testing.T) {
	h := newLocalHarness(t)
	r := Request{Key: "a", Limit: 10, Window: 10 * time.Second, Cost: 1}
	allowed := 0
	for range 100 {
		if res, _, _ := h.allow(t, r); res.Allowed {
			allowed++
		}
		h.advance(t, 100*time.Millisecond)
	}
	if allowed != 19 {
		t.Errorf("a client every 100ms for one window got %d allowed, want 2*10-1 = 19", allowed)
	}
}

func TestLocal_RefundDropsWholeCounters(t *testing.T) {
	h := newLocalHarness(t)
	l := h.l.(*Local)
	r := Request{Key: "a", Limit: 3, Window: time.Hour, Cost: 2}
	took, _, _ := h.allow(t, r)
	h.refund(t, took, r)
	if got := l.Len(); got != 0 {
		t.Errorf("after refunding all it took: %d counters held, want 0", got)
	}
}

func TestRedis_RefundKeepsTheTTL(t *testing.T) {
	client, prefix := newRedisClient(t)
	l := NewRedis(client, prefix)
	ctx := context.Background()
	r := Request{Key: "a", Limit: 3, Window: time.Hour, Cost: 3}
	took, err := l.Allow(ctx, time.Time{}, []Request{r})
	if err != nil || !took.Allowed {
		t.Fatalf("Allow() = %+v, %v", took, err)
	}
	r.Cost = 2
	if err := l.Refund(ctx, time.Time{}, []Request{r}, took); err != nil {
		t.Fatal(err)
	}
	// One unit of a 3/hour limit is left spent: it expires in 20 minutes.
	ttl, err := client.PTTL(ctx, prefix+"a").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl > 20*time.Minute || ttl < 20*time.Minute-10*time.Second {
		t.Errorf("TTL after the refund: got %v, want just under 20m", ttl)
	}
	r.Cost = 1
	if err := l.Refund(ctx, time.Time{}, []Request{r}, took); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Exists(ctx, prefix+"a").Result(); err != nil || n != 0 {
		t.Errorf("after refunding all: EXISTS = %d, %v; want the counter deleted", n, err)
	}
	// A refund of a counter that is not there creates none.
	if err := l.Refund(ctx, time.Time{}, []Request{{Key: "b", Limit: 3, Window: time.Hour, Cost: 1}}, took); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Exists(ctx, prefix+"b").Result(); err != nil || n != 0 {
		t.Errorf("refund of a missing counter: EXISTS = %d, %v; want none", n, err)
	}
}

func TestStateRefunded(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	l := NewLocal()
	r := Request{Key: "a", Limit: 10, Window: time.Minute, Cost: 3}
	before, err := l.Allow(context.Background(), now, []Request{r})
	if err != nil {
		t.Fatal(err)
	}
	took, err := l.Allow(context.Background(), now, []Request{r})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := took.States[0].Refunded(r), before.States[0]; got != want {
		t.Errorf("got %+v, want the state before the spend, %+v", got, want)
	}
}

func runLimiterTests(t *testing.T, newHarness func(tb testing.TB) *harness) {
	t.Run("burst of limit, then one per interval", func(t *testing.T) {
		h := newHarness(t)
		r := Request{Key: "a", Limit: 10, Window: time.Minute, Cost: 1}
		for i := range 10 {
			if res, _, _ := h.allow(t, r); !res.Allowed || res.States[0].Remaining != int64(9-i) {
				t.Fatalf("call %d: got %+v, want allowed with %d remaining", i+1, res, 9-i)
			}
		}
		if res, _, _ := h.allow(t, r); res.Allowed {
			t.Fatalf("call 11: allowed, want denied")
		}
		// One unit comes back every 6s, not earlier.
		h.advance(t, 6*time.Second-h.slack)
		if res, _, _ := h.allow(t, r); res.Allowed {
			t.Fatalf("before the interval: allowed, want denied")
		}
		h.advance(t, h.slack)
		if res, _, _ := h.allow(t, r); !res.Allowed || res.States[0].Remaining != 0 {
			t.Fatalf("after the interval: got %+v, want allowed with 0 remaining", res)
		}
		if res, _, _ := h.allow(t, r); res.Allowed {
			t.Fatalf("second call after the interval: allowed, want denied")
		}
		// After a whole window the limit is whole again.
		h.advance(t, time.Minute)
		if res, _, _ := h.allow(t, r); !res.Allowed || res.States[0].Remaining != 9 {
			t.Fatalf("after a window: got %+v, want allowed with 9 remaining", res)
		}
	})

	t.Run("remaining and reset", func(t *testing.T) {
		h := newHarness(t)
		r := Request{Key: "a", Limit: 10, Window: time.Minute, Cost: 3}
		res, before, after := h.allow(t, r)
		st := res.States[0]
		if !res.Allowed || st.Remaining != 7 || st.Reset.Before(before.Add(18*time.Second)) || st.Reset.After(after.Add(18*time.Second)) {
			t.Fatalf("got %+v, want allowed, 7 remaining, reset 18s after %v", res, before)
		}
		// A denied call reports the counter as it is.
		r.Cost = 8
		res, _, _ = h.allow(t, r)
		if res.Allowed || res.States[0].Remaining != 7 || !res.States[0].Reset.Equal(st.Reset) {
			t.Fatalf("denied: got %+v, want 7 remaining, reset %v", res, st.Reset)
		}
	})

	t.Run("all or nothing", func(t *testing.T) {
		h := newHarness(t)
		wide := Request{Key: "wide", Limit: 5, Window: time.Hour, Cost: 1}
		narrow := Request{Key: "narrow", Limit: 2, Window: time.Hour, Cost: 1}
		for range 2 {
			if res, _, _ := h.allow(t, wide, narrow); !res.Allowed {
				t.Fatalf("got %+v, want allowed", res)
			}
		}
		res, _, _ := h.allow(t, wide, narrow)
		got := []int64{res.States[0].Remaining, res.States[1].Remaining}
		if res.Allowed || !cmp.Equal(got, []int64{3, 0}) {
			t.Fatalf("third call: allowed %v, remaining %v, want denied with [3 0]", res.Allowed, got)
		}
		// The denied call took nothing from the wide limit.
		res, _, _ = h.allow(t, wide)
		if !res.Allowed || res.States[0].Remaining != 2 {
			t.Fatalf("wide alone: got %+v, want allowed with 2 remaining", res)
		}
	})

	t.Run("one counter twice in a call", func(t *testing.T) {
		h := newHarness(t)
		r := Request{Key: "a", Limit: 3, Window: time.Hour, Cost: 2}
		if res, _, _ := h.allow(t, r, r); res.Allowed {
			t.Fatal("two spends of 2 from a limit of 3 were allowed")
		}
		r.Cost = 1
		res, _, _ := h.allow(t, r, r)
		got := []int64{res.States[0].Remaining, res.States[1].Remaining}
		if !res.Allowed || !cmp.Equal(got, []int64{2, 1}) {
			t.Fatalf("got allowed %v, remaining %v, want allowed with [2 1]", res.Allowed, got)
		}
	})

	t.Run("costs", func(t *testing.T) {
		h := newHarness(t)
		r := func(cost int64) Request { return Request{Key: "a", Limit: 10, Window: time.Hour, Cost: cost} }
		for _, tt := range []struct {
			cost          int64
			wantAllowed   bool
			wantRemaining int64
		}{
			{11, false, 10}, // more than the limit never fits
			{0, true, 10},   // a read spends nothing
			{4, true, 6},
			{0, true, 6},
			{7, false, 6},
			{6, true, 0},
			{0, false, 0}, // a read of a drained limit is denied
		} {
			res, _, _ := h.allow(t, r(tt.cost))
			if res.Allowed != tt.wantAllowed || res.States[0].Remaining != tt.wantRemaining {
				t.Fatalf("cost %d: got allowed %v, remaining %d; want %v, %d", tt.cost, res.Allowed, res.States[0].Remaining, tt.wantAllowed, tt.wantRemaining)
			}
		}
	})

	t.Run("concurrent calls spend exactly the limit", func(t *testing.T) {
		h := newHarness(t)
		r := Request{Key: "a", Limit: 37, Window: time.Hour, Cost: 1}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				res, err := h.l.Allow(context.Background(), h.now(), []Request{r})
				if err != nil {
					t.Error(err)
					return
				}
				if res.Allowed {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if got := allowed.Load(); got != 37 {
			t.Errorf("got %d allowed, want 37", got)
		}
	})

	t.Run("refund", func(t *testing.T) {
		h := newHarness(t)
		r := Request{Key: "a", Limit: 3, Window: time.Hour, Cost: 1}
		var took Result
		for range 3 {
			took, _, _ = h.allow(t, r)
		}
		h.refund(t, took, r)
		res, _, _ := h.allow(t, r)
		if !res.Allowed || res.States[0].Remaining != 0 {
			t.Fatalf("after a refund of 1: got %+v, want allowed with 0 remaining", res)
		}
		// A refund of a call that took one counter twice gives back both.
		h.refund(t, took, r, r)
		two := Request{Key: "a", Limit: 3, Window: time.Hour, Cost: 2}
		if res, _, _ := h.allow(t, two); !res.Allowed || res.States[0].Remaining != 0 {
			t.Fatalf("after a refund of 2: got %+v, want 2 allowed with 0 remaining", res)
		}
		// Reads add nothing, so they give nothing back.
		h.refund(t, took, Request{Key: "a", Limit: 3, Window: time.Hour})
		if res, _, _ := h.allow(t, r); res.Allowed {
			t.Fatal("after a refund of a read: allowed, want denied")
		}
	})

	t.Run("refund never leaves more than the limit", func(t *testing.T) {
		h := newHarness(t)
		r := Request{Key: "a", Limit: 3, Window: time.Hour, Cost: 1}
		took, _, _ := h.allow(t, r)
		// Half the unit has come back by itself; the refund makes the
		// counter whole, not more than whole.
		h.advance(t, 10*time.Minute)
		h.refund(t, took, r)
		// A counter that was never spent has nothing to give back.
		h.refund(t, took, Request{Key: "b", Limit: 3, Window: time.Hour, Cost: 2})
		for _, key := range []string{"a", "b"} {
			all := Request{Key: key, Limit: 3, Window: time.Hour, Cost: 3}
			if res, _, _ := h.allow(t, all); !res.Allowed || res.States[0].Remaining != 0 {
				t.Fatalf("%s: got %+v, want the whole limit of 3 and no more", key, res)
			}
			if res, _, _ := h.allow(t, r); res.Allowed {
				t.Fatalf("%s: a fourth unit was allowed", key)
			}
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		h := newHarness(t)
		for _, r := range []Request{
			{Key: "a", Limit: 0, Window: time.Minute, Cost: 1},
			{Key: "a", Limit: MaxLimit + 1, Window: time.Minute, Cost: 1},
			{Key: "a", Limit: 1, Window: 0, Cost: 1},
			{Key: "a", Limit: 1, Window: MaxWindow + 1, Cost: 1},
			{Key: "a", Limit: 1, Window: time.Minute, Cost: -1},
		} {
			if _, err := h.l.Allow(context.Background(), h.now(), []Request{r}); err == nil {
				t.Errorf("%+v: no error", r)
			}
		}
	})
}

func TestLocalDropsWholeCounters(t *testing.T) {
	l := newLocal(4, time.Minute)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i := range 100 {
		r := Request{Key: strconv.Itoa(i), Limit: 10, Window: 30 * time.Second, Cost: 1}
		if _, err := l.Allow(context.Background(), now, []Request{r}); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Len(); got != 100 {
		t.Fatalf("got %d counters, want 100", got)
	}
	// Reads store nothing; 200 of them touch every shard, which sweeps.
	now = now.Add(time.Minute)
	for i := range 200 {
		r := Request{Key: fmt.Sprintf("read%d", i), Limit: 10, Window: time.Second}
		if _, err := l.Allow(context.Background(), now, []Request{r}); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Len(); got != 0 {
		t.Errorf("after a window: got %d counters, want 0", got)
	}
}

func BenchmarkLocalAllow(b *testing.B) {
	l := NewLocal()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	reqs := []Request{{Key: "k:0197f0e4-7f3a-7c2e-9d41-3b1e2a5c6d70:default", Limit: 1 << 40, Window: time.Minute, Cost: 1}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Allow(ctx, now, reqs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLocalAllowParallel compares one lock for every counter with
// sharded locks, on one hot counter and on a counter per goroutine.
func BenchmarkLocalAllowParallel(b *testing.B) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, shards := range []int{1, DefaultShards} {
		for _, hot := range []bool{true, false} {
			b.Run(fmt.Sprintf("shards=%d/hot=%v", shards, hot), func(b *testing.B) {
				l := newLocal(shards, DefaultSweepInterval)
				var n atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					key := "hot"
					if !hot {
						key = strconv.FormatInt(n.Add(1), 10)
					}
					reqs := []Request{{Key: key, Limit: 1 << 40, Window: time.Minute, Cost: 1}}
					for pb.Next() {
						if _, err := l.Allow(context.Background(), now, reqs); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		}
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	client, prefix := newRedisClient(b)
	l := NewRedis(client, prefix)
	reqs := []Request{{Key: "a", Limit: 1 << 40, Window: time.Minute, Cost: 1}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Allow(ctx, time.Time{}, reqs); err != nil {
			b.Fatal(err)
		}
	}
}
