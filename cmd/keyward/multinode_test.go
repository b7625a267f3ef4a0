package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"keyward"
	"keyward/internal/pgtest"
)

// propagationTimeout is how long a change may take to reach another node
// before a test gives up. The target is well under a second; the slack is
// for a loaded test machine.
const propagationTimeout = 10 * time.Second

// cluster is three nodes on one database, as behind a load balancer.
type cluster struct {
	nodes []*testServer
	// dbURL is the database, for the tests' own connections.
	dbURL string
	// proxy stands between node 1 and PostgreSQL, so that a test can cut
	// node 1 off.
	proxy *pgtest.Proxy
}

// startCluster starts three nodes at once on a fresh database, the way the
// nodes of a new deployment start together: one of them creates the
// default org and prints its root key, which every node then accepts.
// Node i names its connections "nodei" in pg_stat_activity. Caches keep
// entries for an hour, so that only change notices explain a node reading
// a key, owner or policy again. opts adjust the config of every node.
func startCluster(tb testing.TB, opts ...func(*Config)) *cluster {
	tb.Helper()
	c := &cluster{dbURL: testDatabase(tb)}
	c.proxy = pgtest.NewProxy(tb, parseURL(tb, c.dbURL).Host)
	urls := make([]string, 3)
	for i := range urls {
		urls[i] = withApplicationName(tb, c.dbURL, fmt.Sprintf("node%d", i+1))
	}
	proxied := parseURL(tb, urls[0])
	proxied.Host = c.proxy.Addr()
	urls[0] = proxied.String()

	c.nodes = make([]*testServer, len(urls))
	errs := make([]error, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() {
			c.nodes[i], errs[i] = startTestServer(tb, append([]func(*Config){withDatabase(u), withLongCache}, opts...)...)
		})
	}
	wg.Wait()
	var root string
	printed := 0
	for i, n := range c.nodes {
		if errs[i] != nil {
			tb.Fatalf("start node %d: %v", i+1, errs[i])
		}
		printed += len(printedKey.FindAllString(n.Stdout.String(), -1))
		if n.RootKey != "" {
			root = n.RootKey
		}
	}
	if printed != 1 || root == "" {
		tb.Fatalf("the nodes printed %d root keys, want exactly 1", printed)
	}
	for _, n := range c.nodes {
		n.RootKey = root
		waitReady(tb, n.URL, propagationTimeout)
	}
	return c
}

// waitCode verifies req on ts until the answer is want, and fails after
// propagationTimeout. req holds a secret, so it is never printed.
func waitCode(tb testing.TB, ts *testServer, req map[string]any, want string) {
	tb.Helper()
	deadline := time.Now().Add(propagationTimeout)
	for {
		got := str(verifyKey(tb, ts, ts.RootKey, req), "code")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("verify on %s: still %s after %v, want %s", ts.URL, got, propagationTimeout, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// mustVerify fails unless verifying req on ts answers want now.
func mustVerify(tb testing.TB, ts *testServer, req map[string]any, want string) {
	tb.Helper()
	if got := str(verifyKey(tb, ts, ts.RootKey, req), "code"); got != want {
		tb.Fatalf("verify on %s: got %s, want %s", ts.URL, got, want)
	}
}

// revokeTrial creates a key, caches it on nodes 1 and 3 by verifying it
// there, revokes it on node 2, and returns how long nodes 1 and 3 took to
// answer REVOKED, from just before the revoke was sent.
func revokeTrial(tb testing.TB, c *cluster) time.Duration {
	tb.Helper()
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	rec := createKey(tb, n1, n1.RootKey, map[string]any{"name": "propagation"})
	req := map[string]any{"key": str(rec, "key")}
	mustVerify(tb, n1, req, keyward.CodeValid)
	mustVerify(tb, n3, req, keyward.CodeValid)
	start := time.Now()
	mustDo(tb, http.StatusOK, http.MethodPost, keyURL(n2, str(rec, "id"))+"/revoke", n2.RootKey, nil)
	waitCode(tb, n1, req, keyward.CodeRevoked)
	waitCode(tb, n3, req, keyward.CodeRevoked)
	return time.Since(start)
}

// percentile returns the p-th percentile (0 < p <= 1) of sorted durations,
// by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(math.Ceil(p*float64(len(sorted))))-1]
}

// withFlushByHand keeps last use and usage counts in memory until a test
// calls Engine.Flush, so that the test decides the order of the writes of
// several nodes.
func withFlushByHand(c *Config) { c.FlushInterval = time.Hour }

func TestMultiNode(t *testing.T) {
	t.Parallel()
	c := startCluster(t, withFlushByHand)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]

	t.Run("a key created on one node verifies on the others", func(t *testing.T) {
		req := map[string]any{"key": str(createKey(t, n1, n1.RootKey, map[string]any{"name": "shared"}), "key")}
		mustVerify(t, n2, req, keyward.CodeValid)
		mustVerify(t, n3, req, keyward.CodeValid)
	})

	t.Run("revocation reaches the caches of the other nodes", func(t *testing.T) {
		const trials = 30
		durations := make([]time.Duration, trials)
		for i := range durations {
			durations[i] = revokeTrial(t, c)
		}
		slices.Sort(durations)
		// Too few trials for a p99: BenchmarkRevokePropagation gives it.
		t.Logf("revoke propagation over %d trials: p50 %v, max %v", trials, percentile(durations, 0.5), durations[trials-1])
	})

	t.Run("update", func(t *testing.T) {
		rec := createKey(t, n1, n1.RootKey, map[string]any{"name": "to disable"})
		req := map[string]any{"key": str(rec, "key")}
		mustVerify(t, n1, req, keyward.CodeValid)
		mustDo(t, http.StatusOK, http.MethodPatch, keyURL(n2, str(rec, "id")), n2.RootKey, map[string]any{"enabled": false})
		waitCode(t, n1, req, keyward.CodeDisabled)
	})

	t.Run("owner limits", func(t *testing.T) {
		req := map[string]any{"key": str(createKey(t, n1, n1.RootKey, map[string]any{"name": "owned", "owner_id": "owner-propagation"}), "key")}
		mustVerify(t, n1, req, keyward.CodeValid)
		mustDo(t, http.StatusOK, http.MethodPut, n2.URL+"/v1/owners/owner-propagation", n2.RootKey,
			map[string]any{"rate_limits": []any{map[string]any{"name": "default", "limit": 1, "window": 3600}}})
		// Node 1 counts alone (no Redis): once it has the limit, its next
		// verification takes the one unit and the one after is refused.
		waitCode(t, n1, req, keyward.CodeRateLimited)
	})

	t.Run("org policy", func(t *testing.T) {
		req := map[string]any{"key": str(createKey(t, n1, n1.RootKey, map[string]any{"name": "fenced"}), "key"), "ip": "203.0.113.9"}
		mustVerify(t, n1, req, keyward.CodeValid)
		// Even when the test fails half-way, the subtests after it find
		// the default policy on every node.
		t.Cleanup(func() {
			mustDo(t, http.StatusOK, http.MethodPut, n2.URL+"/v1/org/policy", n2.RootKey, map[string]any{})
			waitCode(t, n1, req, keyward.CodeValid)
		})
		// The list must admit the caller of the API, 127.0.0.1.
		mustDo(t, http.StatusOK, http.MethodPut, n2.URL+"/v1/org/policy", n2.RootKey, map[string]any{"allowed_ips": []string{"127.0.0.0/8"}})
		waitCode(t, n1, req, keyward.CodeIPNotAllowed)
	})

	t.Run("credits are spent exactly once across nodes", func(t *testing.T) {
		const credits, callers = 100, 300
		rec := createKey(t, n1, n1.RootKey, map[string]any{"name": "metered", "credits": map[string]any{"remaining": credits}})
		got := verifyOnAll(c.nodes, callers, map[string]any{"key": str(rec, "key")})
		want := map[string]int{keyward.CodeValid: credits, keyward.CodeUsageExceeded: callers - credits}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("answers of %d verifications through 3 nodes (-want +got):\n%s", callers, diff)
		}
		if left := creditsLeft(t, mustDo(t, http.StatusOK, http.MethodGet, keyURL(n3, str(rec, "id")), n3.RootKey, nil)); left != 0 {
			t.Errorf("credits left: got %d, want 0", left)
		}
	})

	t.Run("a node that loses its listener flushes its cache when it listens again", func(t *testing.T) {
		rec := createKey(t, n1, n1.RootKey, map[string]any{"name": "missed"})
		req := map[string]any{"key": str(rec, "key")}
		mustVerify(t, n1, req, keyward.CodeValid)
		conn := pgtest.Connect(t, c.dbURL)
		// A revocation whose notice nobody hears.
		if tag, err := conn.Exec(context.Background(), `UPDATE keys SET revoked_at = now() WHERE id = $1`, str(rec, "id")); err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("revoke without a notice: %v, %d rows", err, tag.RowsAffected())
		}
		// Only the cache can answer this.
		mustVerify(t, n1, req, keyward.CodeValid)
		const flushes = `keyward_change_feed_changes_total{kind="all"}`
		before := metricValue(t, n1, flushes)
		rows, _ := conn.Query(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'node1/listener'`)
		killed, err := pgx.CollectRows(rows, pgx.RowTo[bool])
		if err != nil || !slices.Equal(killed, []bool{true}) {
			t.Fatalf("terminate node1/listener: %v; terminated %v, want one backend", err, killed)
		}
		waitCode(t, n1, req, keyward.CodeRevoked)
		waitMetric(t, n1, "keyward_change_feed_up", 1)
		if after := metricValue(t, n1, flushes); before < 1 || after != before+1 {
			t.Errorf("%s: %v before the listener was killed, %v after; want one more flush", flushes, before, after)
		}
	})

	t.Run("a node cut off from the database is not ready until it is back", func(t *testing.T) {
		c.proxy.Cut()
		deadline := time.Now().Add(propagationTimeout)
		for {
			status, _, res := do(t, http.MethodGet, n1.URL+"/readyz", "", nil)
			checks, _ := res["checks"].(map[string]any)
			if status == http.StatusServiceUnavailable && str(res, "code") == keyward.EUNAVAILABLE &&
				checks["database"] == "unreachable" && checks["change_feed"] == "unreachable" &&
				str(res, "detail") == "Not ready: database unreachable, change_feed unreachable." {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz while cut off: got status %d, body %v; want 503 with database and change_feed unreachable, and named so in the detail", status, res)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if up := metricValue(t, n1, "keyward_change_feed_up"); up != 0 {
			t.Errorf("keyward_change_feed_up while cut off: got %v, want 0", up)
		}
		if s, _, _ := do(t, http.MethodGet, n2.URL+"/readyz", "", nil); s != http.StatusOK {
			t.Errorf("readyz of node 2, which is not cut off: got %d, want 200", s)
		}
		// A request that needs the database while it is cut off answers
		// 503, not 500: a key node 1 never cached, and a list.
		unseen := createKey(t, n2, n2.RootKey, map[string]any{"name": "never cached on node 1"})
		if s, _, res := do(t, http.MethodPost, n1.URL+"/v1/verify", n1.RootKey, map[string]any{"key": str(unseen, "key")}); s != http.StatusServiceUnavailable || str(res, "code") != keyward.EUNAVAILABLE {
			t.Errorf("verify of an uncached key while cut off: got %d %v, want 503 unavailable", s, res)
		}
		if s, _, res := do(t, http.MethodGet, n1.URL+"/v1/keys", n1.RootKey, nil); s != http.StatusServiceUnavailable || str(res, "code") != keyward.EUNAVAILABLE {
			t.Errorf("list while cut off: got %d %v, want 503 unavailable", s, res)
		}

		c.proxy.Restore()
		waitReady(t, n1.URL, 15*time.Second)
		rec := createKey(t, n2, n2.RootKey, map[string]any{"name": "after the outage"})
		req := map[string]any{"key": str(rec, "key")}
		mustVerify(t, n1, req, keyward.CodeValid)
		mustDo(t, http.StatusOK, http.MethodPost, keyURL(n2, str(rec, "id"))+"/revoke", n2.RootKey, nil)
		waitCode(t, n1, req, keyward.CodeRevoked)
	})

	t.Run("last use never moves backwards", func(t *testing.T) {
		rec := createKey(t, n2, n2.RootKey, map[string]any{"name": "used everywhere"})
		// Node 1 uses the key, then node 3; the nodes keep their uses
		// until flushed by hand.
		useOn := func(n *testServer, ip string) (before, after time.Time) {
			before = time.Now()
			mustVerify(t, n, map[string]any{"key": str(rec, "key"), "ip": ip}, keyward.CodeValid)
			return before, time.Now()
		}
		_, older := useOn(n1, "203.0.113.1")
		time.Sleep(5 * time.Millisecond)
		before, after := useOn(n3, "203.0.113.3")
		// The newer use is written first; the older one, written after it,
		// must not replace it.
		n3.Engine.Flush(context.Background())
		n1.Engine.Flush(context.Background())
		got := mustDo(t, http.StatusOK, http.MethodGet, keyURL(n1, str(rec, "id")), n1.RootKey, nil)
		usedAt := timeField(t, got, "last_used_at")
		if usedAt == nil || !usedAt.After(older) || usedAt.Before(before.Truncate(time.Millisecond)) || usedAt.After(after) ||
			got["last_used_ip"] != "203.0.113.3" {
			t.Errorf("last use: at %v from %v; want node 3's, between %v and %v from 203.0.113.3 (node 1's was before %v)",
				usedAt, got["last_used_ip"], before, after, older)
		}
	})

	t.Run("rate limits are cluster-wide with --redis-url", func(t *testing.T) {
		rc := startCluster(t, withRedis(testRedisURL(t)))
		r1 := rc.nodes[0]
		// Counters are named after the key's id, a new UUID, so no other
		// test or run shares them, in the same Redis database or not.
		const limit = 30
		rec := createKey(t, r1, r1.RootKey, map[string]any{"name": "limited everywhere",
			"rate_limits": []any{map[string]any{"name": "default", "limit": limit, "window": 3600}}})
		got := verifyOnAll(rc.nodes, 3*limit, map[string]any{"key": str(rec, "key")})
		want := map[string]int{keyward.CodeValid: limit, keyward.CodeRateLimited: 2 * limit}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("answers of %d verifications through 3 nodes (-want +got):\n%s", 3*limit, diff)
		}
		// A node that counted alone would explain too many VALIDs.
		for i, n := range rc.nodes {
			if fell := metricValue(t, n, "keyward_ratelimit_fallback_total"); fell != 0 {
				t.Errorf("node %d: keyward_ratelimit_fallback_total %v, want 0", i+1, fell)
			}
		}
	})
}

// BenchmarkRevokePropagation measures how long a revocation on node 2 takes
// to reach the caches of nodes 1 and 3, one trial per iteration:
//
//	go test ./cmd/keyward -run XXX -bench RevokePropagation -benchtime 100x
func BenchmarkRevokePropagation(b *testing.B) {
	c := startCluster(b)
	var durations []time.Duration
	for b.Loop() {
		durations = append(durations, revokeTrial(b, c))
	}
	slices.Sort(durations)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(durations, 0.5)), "p50_ms")
	b.ReportMetric(ms(percentile(durations, 0.99)), "p99_ms")
}

// verifyOnAll verifies req n times at once, spread over nodes, and counts
// the answer codes; a failed request counts as its error.
func verifyOnAll(nodes []*testServer, n int, req map[string]any) map[string]int {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		codes = make(map[string]int)
	)
	start := make(chan struct{})
	for i := range n {
		ts := nodes[i%len(nodes)]
		wg.Go(func() {
			<-start
			code := verifyOnce(ts, req)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return codes
}

// verifyOnce returns the code of one verification, or what went wrong.
// It reports rather than fails, for it runs off the test's goroutine.
func verifyOnce(ts *testServer, req map[string]any) string {
	body, err := json.Marshal(req)
	if err != nil {
		return "error: " + err.Error()
	}
	r, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/verify", bytes.NewReader(body))
	if err != nil {
		return "error: " + err.Error()
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+ts.RootKey)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		return "error: " + err.Error()
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return fmt.Sprintf("status %d", res.StatusCode)
	}
	return str(decodeObject(raw), "code")
}

// waitMetric polls an unlabelled metric of ts until it has the value want,
// and fails after propagationTimeout.
func waitMetric(tb testing.TB, ts *testServer, name string, want float64) {
	tb.Helper()
	deadline := time.Now().Add(propagationTimeout)
	for {
		got := metricValue(tb, ts, name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: got %v for %v, want %v", name, got, propagationTimeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
