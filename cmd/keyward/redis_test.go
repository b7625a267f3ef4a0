package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
	"keyward/internal/testenv"
)

// testRedisURL returns the Redis of KEYWARD_TEST_REDIS, or skips the test.
func testRedisURL(tb testing.TB) string {
	tb.Helper()
	return testenv.Redis.URL(tb)
}

// withRedis points the server's rate limits at Redis.
func withRedis(url string) func(*Config) {
	return func(c *Config) { c.RedisURL = url }
}

// withDataDir opens dir instead of a fresh data dir.
func withDataDir(dir string) func(*Config) {
	return func(c *Config) { c.DataDir = dir }
}

// metricValue returns the value of an unlabelled metric on ts's /metrics,
// or -1 when it is absent.
func metricValue(tb testing.TB, ts *testServer, name string) float64 {
	tb.Helper()
	status, _, raw := send(tb, newRequest(tb, http.MethodGet, ts.URL+"/metrics", "", nil))
	if status != http.StatusOK {
		tb.Fatalf("GET /metrics: got status %d, want 200", status)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(raw)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		tb.Fatalf("metric %s: %q is not a number", name, m[1])
	}
	return v
}

// TestRateLimitsSurviveRestart shows where counts live. With --redis-url
// they are in Redis, shared by every node: a node started afresh on the
// same store (as another node of the cluster would be) finds a used-up
// limit used up. Without it each node counts in its own memory, and a
// restart starts the counts over.
func TestRateLimitsSurviveRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		redis bool
		after string // the code after the restart
	}{
		{"with redis", true, keyward.CodeRateLimited},
		{"without redis", false, keyward.CodeValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []func(*Config)
			if tt.redis {
				opts = append(opts, withRedis(testRedisURL(t)))
			}
			first := runTestServer(t, opts...)
			secret := str(createKey(t, first, first.RootKey, map[string]any{"name": "limited",
				"rate_limits": []any{map[string]any{"name": "default", "limit": 2, "window": 3600}}}), "key")
			for i, want := range []string{keyward.CodeValid, keyward.CodeValid, keyward.CodeRateLimited} {
				if got := verifyCode(t, first, secret); got != want {
					t.Fatalf("verify #%d: got %s, want %s", i+1, got, want)
				}
			}
			if err := first.Close(); err != nil {
				t.Fatalf("close the first server: %v", err)
			}

			second := runTestServer(t, append(opts, withDataDir(first.DataDir))...)
			res := verifyKey(t, second, first.RootKey, map[string]any{"key": secret})
			if got := str(res, "code"); got != tt.after {
				t.Errorf("verify after the restart: got %s, want %s", got, tt.after)
			}
		})
	}
}

// TestRedisCountsExactly runs the concurrency check of TestRateLimits and
// TestCredits against Redis: many verifications of one key at once take
// the credits exactly once each, and the limit exactly once for each valid
// answer, since a USAGE_EXCEEDED answer gives its unit back.
func TestRedisCountsExactly(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t, withRedis(testRedisURL(t)))
	const limit, balance, callers = 7, 5, 40
	rec := createKey(t, ts, ts.RootKey, map[string]any{"name": "contended",
		"rate_limits": []any{map[string]any{"name": "default", "limit": limit, "window": 3600}},
		"credits":     map[string]any{"remaining": balance}})
	got := verifyAll(t, ts, callers, map[string]any{"key": str(rec, "key")})
	// How many callers find the limit's spare units held by another
	// caller's refund-to-be depends on timing; the first limit callers
	// all reach the credits, so at least limit-balance are refused there.
	if got[keyward.CodeValid] != balance || got[keyward.CodeUsageExceeded] < limit-balance ||
		got[keyward.CodeValid]+got[keyward.CodeUsageExceeded]+got[keyward.CodeRateLimited] != callers {
		t.Errorf("answers: got %v, want %d VALID, at least %d USAGE_EXCEEDED and the rest RATE_LIMITED", got, balance, limit-balance)
	}
	// Only the valid answers kept their units: a read of the limit finds
	// the rest.
	res := verifyKey(t, ts, ts.RootKey, map[string]any{"key": str(rec, "key"), "cost": 0,
		"rate_limits": []any{map[string]any{"name": "default", "cost": 0}}})
	limits, _ := res["rate_limits"].([]any)
	if len(limits) != 1 {
		t.Fatalf("read of the limit: got rate_limits %v, want one", res["rate_limits"])
	}
	if left, _ := limits[0].(map[string]any)["remaining"].(float64); left != limit-balance {
		t.Errorf("after the rush: the limit has %v remaining, want %d", left, limit-balance)
	}
	if up := metricValue(t, ts, "keyward_ratelimit_redis_up"); up != 1 {
		t.Errorf("keyward_ratelimit_redis_up: got %v, want 1", up)
	}
	if n := metricValue(t, ts, "keyward_ratelimit_fallback_total"); n != 0 {
		t.Errorf("keyward_ratelimit_fallback_total: got %v, want 0", n)
	}
	want := map[string]any{"status": "ok", "checks": map[string]any{"database": "ok", "redis": "ok"}}
	if diff := cmp.Diff(want, mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/readyz", "", nil)); diff != "" {
		t.Errorf("readyz (-want +got):\n%s", diff)
	}
}

// TestRedisUnreachable starts a server whose Redis does not answer: it
// serves, still limits (counting on its own), and says so in its log and
// metrics, without the URL's password.
func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	const password = "hunter2-redis-password"
	ts := runTestServer(t, withRedis("redis://default:"+password+"@127.0.0.1:1/0"))
	secret := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "limited",
		"rate_limits": []any{map[string]any{"name": "default", "limit": 2, "window": 3600}}}), "key")
	for i, want := range []string{keyward.CodeValid, keyward.CodeValid, keyward.CodeRateLimited} {
		if got := verifyCode(t, ts, secret); got != want {
			t.Errorf("verify #%d: got %s, want %s", i+1, got, want)
		}
	}
	logs := ts.Logs.String()
	if !strings.Contains(logs, "redis is unreachable") {
		t.Errorf("the log does not say that redis is unreachable:\n%s", logs)
	}
	if strings.Contains(logs, password) {
		t.Errorf("the log shows the redis password")
	}
	if up := metricValue(t, ts, "keyward_ratelimit_redis_up"); up != 0 {
		t.Errorf("keyward_ratelimit_redis_up: got %v, want 0", up)
	}
	if n := metricValue(t, ts, "keyward_ratelimit_fallback_total"); n < 3 {
		t.Errorf("keyward_ratelimit_fallback_total: got %v, want at least the 3 verifications", n)
	}
	// The node serves without Redis, so it stays ready, degraded.
	want := map[string]any{"status": "degraded", "checks": map[string]any{"database": "ok", "redis": "unreachable"}}
	if diff := cmp.Diff(want, mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/readyz", "", nil)); diff != "" {
		t.Errorf("readyz (-want +got):\n%s", diff)
	}
}

func TestBadRedisURL(t *testing.T) {
	t.Parallel()
	const password = "hunter2-redis-password"
	var logs bytes.Buffer
	m := NewMain()
	m.Config = Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), RedisURL: "http://user:" + password + "@127.0.0.1:6379",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "--redis-url") {
		t.Fatalf("got %v, want an error naming --redis-url", err)
	}
	if strings.Contains(err.Error(), password) || strings.Contains(logs.String(), password) {
		t.Errorf("the error or log shows the password: %v", err)
	}
}
