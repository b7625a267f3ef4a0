package ratelimit

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// countingScripter counts the script calls that reach its Scripter.
type countingScripter struct {
	redis.Scripter
	calls atomic.Int64
}

func (s *countingScripter) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	s.calls.Add(1)
	return s.Scripter.EvalSha(ctx, sha1, keys, args...)
}

func (s *countingScripter) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	s.calls.Add(1)
	return s.Scripter.Eval(ctx, script, keys, args...)
}

// unreachableClient points at a port where nothing listens.
func unreachableClient(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	tb.Cleanup(func() { c.Close() })
	return c
}

type fallbackFixture struct {
	f        *Fallback
	scripter *countingScripter
	reg      *prometheus.Registry
	logs     *bytes.Buffer
	now      time.Time
}

func newFallbackFixture(tb testing.TB, client redis.Scripter, prefix string) *fallbackFixture {
	tb.Helper()
	x := &fallbackFixture{
		scripter: &countingScripter{Scripter: client},
		reg:      prometheus.NewRegistry(),
		logs:     &bytes.Buffer{},
		now:      time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
	}
	var err error
	x.f, err = NewFallback(FallbackConfig{
		Redis:      NewRedis(x.scripter, prefix),
		Registerer: x.reg,
		Logger:     slog.New(slog.NewTextHandler(x.logs, nil)),
		RetryAfter: 5 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return x
}

func (x *fallbackFixture) allow(tb testing.TB, r Request) Result {
	tb.Helper()
	res, err := x.f.Allow(context.Background(), x.now, []Request{r})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// metric returns the value of a gauge or counter without labels.
func (x *fallbackFixture) metric(tb testing.TB, name string) float64 {
	tb.Helper()
	mfs, err := x.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	tb.Fatalf("no metric %s", name)
	return 0
}

func TestFallbackCountsLocallyWhenRedisIsUnreachable(t *testing.T) {
	x := newFallbackFixture(t, unreachableClient(t), "")
	if got := x.metric(t, "keyward_ratelimit_redis_up"); got != 1 {
		t.Fatalf("redis_up before any call: got %v, want 1", got)
	}
	r := Request{Key: "a", Limit: 3, Window: time.Hour, Cost: 1}
	for i := range 3 {
		if res := x.allow(t, r); !res.Allowed {
			t.Fatalf("call %d denied, want allowed", i+1)
		}
	}
	// Never allow-all: the local count denies the fourth.
	if res := x.allow(t, r); res.Allowed {
		t.Fatal("call 4 allowed, want denied by the local count")
	}
	if got := x.metric(t, "keyward_ratelimit_redis_up"); got != 0 {
		t.Errorf("redis_up: got %v, want 0", got)
	}
	if got := x.metric(t, "keyward_ratelimit_fallback_total"); got != 4 {
		t.Errorf("fallback_total: got %v, want 4", got)
	}
	// Only the first call waited for Redis; the back-off spares the rest.
	if got := x.scripter.calls.Load(); got != 1 {
		t.Errorf("redis tried %d times, want 1", got)
	}
	x.now = x.now.Add(5 * time.Second)
	x.allow(t, r)
	if got := x.scripter.calls.Load(); got != 2 {
		t.Errorf("after the back-off: redis tried %d times, want 2", got)
	}
	if got := strings.Count(x.logs.String(), "redis is unreachable"); got != 1 {
		t.Errorf("logged the outage %d times, want once:\n%s", got, x.logs)
	}
}

func TestFallbackRecovers(t *testing.T) {
	client, prefix := newRedisClient(t)
	x := newFallbackFixture(t, unreachableClient(t), prefix)
	r := Request{Key: "a", Limit: 3, Window: time.Hour, Cost: 1}
	x.allow(t, r)
	if got := x.metric(t, "keyward_ratelimit_redis_up"); got != 0 {
		t.Fatalf("redis_up while unreachable: got %v, want 0", got)
	}
	x.scripter.Scripter = client
	// Within the back-off the node keeps counting locally.
	x.now = x.now.Add(time.Second)
	if res := x.allow(t, r); res.States[0].Remaining != 1 {
		t.Fatalf("within the back-off: %d remaining, want 1 from the local count", res.States[0].Remaining)
	}
	x.now = x.now.Add(5 * time.Second)
	// Redis has its own count, which starts whole.
	if res := x.allow(t, r); res.States[0].Remaining != 2 {
		t.Fatalf("after the back-off: %d remaining, want 2 from Redis", res.States[0].Remaining)
	}
	if got := x.metric(t, "keyward_ratelimit_redis_up"); got != 1 {
		t.Errorf("redis_up after recovery: got %v, want 1", got)
	}
	x.allow(t, r)
	logs := x.logs.String()
	if strings.Count(logs, "redis is unreachable") != 1 || strings.Count(logs, "redis is reachable again") != 1 {
		t.Errorf("want one outage and one recovery line, got:\n%s", logs)
	}
}

func TestFallbackReturnsRedisErrors(t *testing.T) {
	client, prefix := newRedisClient(t)
	// A counter key of the wrong type makes the script fail: that is a bug
	// to report, not an outage to count around.
	if err := client.RPush(context.Background(), prefix+"a", "x").Err(); err != nil {
		t.Fatal(err)
	}
	x := newFallbackFixture(t, client, prefix)
	_, err := x.f.Allow(context.Background(), x.now, []Request{{Key: "a", Limit: 3, Window: time.Hour, Cost: 1}})
	if err == nil {
		t.Fatal("no error")
	}
	if got := x.metric(t, "keyward_ratelimit_fallback_total"); got != 0 {
		t.Errorf("fallback_total: got %v, want 0", got)
	}
	if got := x.metric(t, "keyward_ratelimit_redis_up"); got != 1 {
		t.Errorf("redis_up: got %v, want 1", got)
	}
}

// refusingRedis starts a stand-in Redis on 127.0.0.1:0 that answers every
// script call with the error reply refusal and every other command (the
// client's handshake) with an error of its own, which clients tolerate.
func refusingRedis(tb testing.TB, refusal string) *redis.Client {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveRefusals(conn, refusal)
		}
	}()
	c := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, DisableIdentity: true})
	tb.Cleanup(func() { c.Close() })
	return c
}

// serveRefusals reads RESP commands (arrays of bulk strings) from conn
// until it closes.
func serveRefusals(conn net.Conn, refusal string) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "*") {
			return
		}
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		var args []string
		for range n {
			line, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "$") {
				return
			}
			size, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
			buf := make([]byte, size+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			args = append(args, string(buf[:size]))
		}
		reply := "-ERR unknown command\r\n"
		if len(args) > 0 && (strings.EqualFold(args[0], "EVALSHA") || strings.EqualFold(args[0], "EVAL")) {
			reply = "-" + refusal + "\r\n"
		}
		if _, err := io.WriteString(conn, reply); err != nil {
			return
		}
	}
}

// A Redis that answers but cannot count now is an outage like an
// unreachable one; an error that a retry would meet again is not.
func TestFallbackCountsLocallyWhenRedisCannotServe(t *testing.T) {
	for _, tt := range []struct {
		reply    string
		fallback bool
	}{
		{"OOM command not allowed when used memory > 'maxmemory'.", true},
		{"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.", true},
		{"NOPERM User default has no permissions to run the 'evalsha' command", true},
		{"LOADING Redis is loading the dataset in memory", true},
		{"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", true},
		{"CLUSTERDOWN The cluster is down", true},
		{"TRYAGAIN Multiple keys request during rehashing of slot", true},
		{"READONLY You can't write against a read only replica.", true},
		{"ERR Error running script (call to f_0123): @user_script:9: user_script:9: bad argument", false},
		{"WRONGTYPE Operation against a key holding the wrong kind of value", false},
		{"BUSYKEY Target key name already exists.", false},
	} {
		code, _, _ := strings.Cut(tt.reply, " ")
		t.Run(code, func(t *testing.T) {
			x := newFallbackFixture(t, refusingRedis(t, tt.reply), "")
			r := Request{Key: "a", Limit: 2, Window: time.Hour, Cost: 1}
			res, err := x.f.Allow(context.Background(), x.now, []Request{r})
			if !tt.fallback {
				if err == nil || !strings.Contains(err.Error(), code) {
					t.Fatalf("got %+v, %v; want the %s error", res, err, code)
				}
				if got := x.metric(t, "keyward_ratelimit_fallback_total"); got != 0 {
					t.Errorf("fallback_total: got %v, want 0", got)
				}
				return
			}
			if err != nil || !res.Allowed {
				t.Fatalf("got %+v, %v; want allowed by the local count", res, err)
			}
			x.allow(t, r)
			if res := x.allow(t, r); res.Allowed {
				t.Fatal("call 3 allowed, want denied by the local count")
			}
			if got := x.metric(t, "keyward_ratelimit_redis_up"); got != 0 {
				t.Errorf("redis_up: got %v, want 0", got)
			}
			if got := x.metric(t, "keyward_ratelimit_fallback_total"); got != 3 {
				t.Errorf("fallback_total: got %v, want 3", got)
			}
			if logs := x.logs.String(); strings.Count(logs, "redis is unreachable") != 1 || !strings.Contains(logs, code) {
				t.Errorf("want the outage logged once, with its %s, got:\n%s", code, logs)
			}
		})
	}
}

// Units counted locally while Redis was down go back to the local count.
func TestFallbackRefundsLocally(t *testing.T) {
	x := newFallbackFixture(t, unreachableClient(t), "")
	r := Request{Key: "a", Limit: 1, Window: time.Hour, Cost: 1}
	took := x.allow(t, r)
	if err := x.f.Refund(context.Background(), x.now, []Request{r}, took); err != nil {
		t.Fatal(err)
	}
	if res := x.allow(t, r); !res.Allowed {
		t.Fatal("after the refund: denied, want the unit back")
	}
	if got := x.scripter.calls.Load(); got != 1 {
		t.Errorf("redis tried %d times, want once (the refund stays local)", got)
	}
}

// Units taken in Redis go back to Redis; when it cannot be reached for the
// refund, the refund is logged and dropped, and Redis is marked down.
func TestFallbackRefundsInRedis(t *testing.T) {
	client, prefix := newRedisClient(t)
	x := newFallbackFixture(t, client, prefix)
	r := Request{Key: "a", Limit: 1, Window: time.Hour, Cost: 1}
	took := x.allow(t, r)
	if err := x.f.Refund(context.Background(), x.now, []Request{r}, took); err != nil {
		t.Fatal(err)
	}
	took = x.allow(t, r)
	if !took.Allowed {
		t.Fatal("after the refund: denied, want the unit back")
	}
	x.scripter.Scripter = unreachableClient(t)
	if err := x.f.Refund(context.Background(), x.now, []Request{r}, took); err != nil {
		t.Fatalf("refund with redis unreachable: got %v, want it dropped", err)
	}
	if !strings.Contains(x.logs.String(), "could not refund") {
		t.Errorf("the lost refund is not logged:\n%s", x.logs)
	}
	if got := x.metric(t, "keyward_ratelimit_redis_up"); got != 0 {
		t.Errorf("redis_up: got %v, want 0", got)
	}
	// A script error is still the caller's to see.
	if err := client.RPush(context.Background(), prefix+"b", "x").Err(); err != nil {
		t.Fatal(err)
	}
	x.scripter.Scripter = client
	err := x.f.Refund(context.Background(), x.now, []Request{{Key: "b", Limit: 1, Window: time.Hour, Cost: 1}}, took)
	if err == nil {
		t.Errorf("refund of a counter of the wrong type: got %v, want the script error", err)
	}
}
