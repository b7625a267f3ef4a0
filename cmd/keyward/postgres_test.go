package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
	"keyward/internal/pgtest"
)

// testPassword is put into database URLs that the tests' PostgreSQL
// (trust authentication) accepts whatever the password, so that a leak
// into an error, a log or an answer is easy to find.
const testPassword = "hunter2-pg-password"

// testDatabase returns the URL of a fresh PostgreSQL database, dropped
// when the test ends, with testPassword in it; it skips the test unless
// KEYWARD_TEST_POSTGRES is set.
func testDatabase(tb testing.TB) string {
	tb.Helper()
	u := parseURL(tb, pgtest.NewDatabase(tb))
	u.User = url.UserPassword(u.User.Username(), testPassword)
	return u.String()
}

// withApplicationName returns dbURL naming its connections name in
// pg_stat_activity; the node's change feed listens as name+"/listener".
func withApplicationName(tb testing.TB, dbURL, name string) string {
	tb.Helper()
	u := parseURL(tb, dbURL)
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func parseURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		tb.Fatalf("database URL: want postgres://user@host/db, got one that does not parse as such")
	}
	return u
}

// withDatabase points the server at PostgreSQL.
func withDatabase(dbURL string) func(*Config) {
	return func(c *Config) { c.DatabaseURL = dbURL }
}

// withLongCache makes cached entries outlive any test, so that only a
// change notice explains a node reading a key, owner or policy again.
func withLongCache(c *Config) { c.CacheTTL = time.Hour }

// A database URL that does not work fails with an error that names the
// flag and what is wrong, never the password, from serve and init alike.
func TestDatabaseURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		want string // in the error, besides the flag
	}{
		{"unreachable", "postgres://keyward:" + testPassword + "@127.0.0.1:1/keyward?connect_timeout=2", "127.0.0.1:1/keyward"},
		{"malformed", "postgres://keyward:" + testPassword + "@127.0.0.1:port/keyward", "postgres://"},
		{"not postgres", "mysql://keyward:" + testPassword + "@127.0.0.1/keyward", "postgres://"},
		// pgx's own words, without the URL that its wrapper quotes.
		{"missing CA file", "postgres://keyward:" + testPassword + "@127.0.0.1:1/keyward?sslmode=verify-full&sslrootcert=/nonexistent",
			"--database-url: unable to read CA file: open /nonexistent: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			m := NewMain()
			m.Config = Config{Addr: "127.0.0.1:0", DatabaseURL: tt.url, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			err := m.Run(context.Background())
			m.Close()
			if err == nil || !strings.Contains(err.Error(), "--database-url") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("serve: got error %v, want one naming --database-url and %s", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error()+logs.String(), testPassword) {
				t.Errorf("serve: the error or log shows the password: %v", err)
			}

			code, stdout, stderr := runInit(t, "--database-url", tt.url)
			if code != 1 || stdout != "" || !strings.Contains(stderr, "--database-url") {
				t.Errorf("init: exit code %d, stdout %q, stderr %q; want 1, nothing and an error naming --database-url", code, stdout, stderr)
			}
			if strings.Contains(stderr, testPassword) {
				t.Errorf("init: stderr shows the password: %s", stderr)
			}
		})
	}
}

// TestServePostgres runs `keyward serve --database-url` and `keyward init
// --database-url` on one database: serve bootstraps it, says which store it
// uses without the password, and reports the database and its change feed
// as ready; init adds an org that the running server serves.
func TestServePostgres(t *testing.T) {
	t.Parallel()
	dbURL := testDatabase(t)
	srv := runServe(t, "--database-url", dbURL)
	var started struct{ Store, Database string }
	if err := json.Unmarshal([]byte(srv.StartLog), &started); err != nil {
		t.Fatalf("start log line %s: %v", srv.StartLog, err)
	}
	u := parseURL(t, dbURL)
	if started.Store != "postgres" || started.Database != u.Host+u.Path {
		t.Errorf("start log: store %q, database %q; want postgres and %s", started.Store, started.Database, u.Host+u.Path)
	}
	srv.rootKey(t) // printed exactly once

	// The feed starts listening in the background; until it does, the node
	// is not ready.
	res := waitReady(t, srv.URL, 10*time.Second)
	if diff := cmp.Diff(map[string]any{"status": "ok", "checks": map[string]any{"database": "ok", "change_feed": "ok"}}, res); diff != "" {
		t.Errorf("readyz (-want +got):\n%s", diff)
	}

	code, out, errOut := runInit(t, "--database-url", dbURL, "--org", "acme", "--json")
	if code != 0 {
		t.Fatalf("init: exit code %d; stderr: %s", code, errOut)
	}
	var acme map[string]string
	if err := json.Unmarshal([]byte(out), &acme); err != nil {
		t.Fatalf("init --json: %v", err)
	}
	who := mustDo(t, http.StatusOK, http.MethodGet, srv.URL+"/v1/whoami", acme["key"], nil)
	if str(who, "org_id") != acme["org_id"] {
		t.Errorf("whoami with the key of init: org %q, want %q", str(who, "org_id"), acme["org_id"])
	}

	if code := srv.stop(t); code != 0 {
		t.Errorf("serve: exit code %d after its context ended, want 0; stderr: %s", code, srv.Stderr.String())
	}
	if all := srv.Stdout.String() + srv.Stderr.String() + out + errOut; strings.Contains(all, testPassword) {
		t.Errorf("serve or init shows the database password")
	}
}

// waitReady polls baseURL's /readyz until it answers 200, and returns that
// answer; it fails after timeout.
func waitReady(tb testing.TB, baseURL string, timeout time.Duration) map[string]any {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		status, _, res := do(tb, http.MethodGet, baseURL+"/readyz", "", nil)
		if status == http.StatusOK {
			return res
		}
		if time.Now().After(deadline) {
			tb.Fatalf("GET /readyz: status %d for %v, want 200; last answer %v", status, timeout, res)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// `keyward org policy reset --database-url` writes to the database, and a
// running node drops its cached policy as soon as it hears of it: with a
// cache TTL of an hour, nothing else would let the locked-out admin in.
func TestOrgPolicyResetPostgres(t *testing.T) {
	t.Parallel()
	dbURL := testDatabase(t)
	ts := runTestServer(t, withDatabase(withApplicationName(t, dbURL, "reset-node")), withLongCache)
	me := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", ts.RootKey, nil)
	ctx := keyward.NewContextWithPrincipal(context.Background(),
		&keyward.Principal{OrgID: str(me, "org_id"), KeyID: str(me, "id"), Permissions: []string{keyward.PermRoot}})
	if _, err := ts.Service.UpdateOrgPolicy(ctx, keyward.OrgPolicyUpdate{AllowedIPs: []string{"10.0.0.0/8"}}); err != nil {
		t.Fatal(err)
	}
	mustDo(t, http.StatusForbidden, http.MethodGet, ts.URL+"/v1/whoami", ts.RootKey, nil)

	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"org", "policy", "reset", "--database-url", dbURL}, &stdout, &stderr); code != 0 {
		t.Fatalf("org policy reset: exit code %d, want 0; stderr: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"default"`) {
		t.Errorf("org policy reset printed %q, want the org named", stdout.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, _ := do(t, http.MethodGet, ts.URL+"/v1/whoami", ts.RootKey, nil)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("whoami after the reset: status %d for 10s, want 200 once the node hears of the reset", status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(ts.Logs.String()+stdout.String()+stderr.String(), testPassword) {
		t.Errorf("the node or the reset shows the database password")
	}
}

// orgsUncounted hides the orgs of a store from CountOrgs, as they are
// hidden from a node that counted before another node created one.
type orgsUncounted struct{ keyward.Store }

func (orgsUncounted) CountOrgs(context.Context) (int, error) { return 0, nil }

// A node that finds no org, and then loses the race to create the default
// org to another node that starts at the same time, starts without a root
// key of its own and says why, on either store.
func TestBootstrapLosesRace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		store func(t *testing.T) func(*Config)
	}{
		{"sqlite", func(t *testing.T) func(*Config) { return withDataDir(t.TempDir()) }},
		{"postgres", func(t *testing.T) func(*Config) { return withDatabase(testDatabase(t)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := tt.store(t)
			winner := runTestServer(t, store)
			if winner.RootKey == "" {
				t.Fatal("the first node created no root key")
			}

			var logs, stdout lockedBuffer
			m := NewMain()
			m.Config.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			m.Config.Stdout = &stdout
			store(&m.Config)
			if err := m.open(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			m.DB = orgsUncounted{m.DB}
			if err := m.bootstrap(context.Background()); err != nil {
				t.Fatalf("bootstrap that loses the race: %v, want no error", err)
			}
			if m.RootKey != "" || stdout.String() != "" {
				t.Errorf("the losing node has a root key or printed %q", printedKey.ReplaceAllString(stdout.String(), "<key>"))
			}
			if !strings.Contains(logs.String(), "another node created the default organization") {
				t.Errorf("the log does not say that another node created the org:\n%s", logs.String())
			}
		})
	}
}

// TestServeWaitsForDatabase starts a node while PostgreSQL cannot be
// reached, as when the nodes and the database start together: the node
// waits, says so once, and serves as soon as the database answers. init,
// which a person runs, fails at once instead.
func TestServeWaitsForDatabase(t *testing.T) {
	t.Parallel()
	dbURL := testDatabase(t)
	proxy := pgtest.NewProxy(t, parseURL(t, dbURL).Host)
	proxy.Cut()
	proxied := parseURL(t, dbURL)
	proxied.Host = proxy.Addr()

	if _, err := (StoreFlags{DatabaseURL: proxied.String()}).open(context.Background()); err == nil {
		t.Fatal("init's open while the database is unreachable: got nil error, want one at once")
	}
	refusedByInit := proxy.Refused()

	type started struct {
		ts  *testServer
		err error
	}
	done := make(chan started, 1)
	go func() {
		ts, err := startTestServer(t, withDatabase(proxied.String()), func(c *Config) { c.WaitForDatabase = true })
		done <- started{ts, err}
	}()
	// The node keeps trying while the proxy refuses it: twice at least,
	// on top of init's attempts.
	deadline := time.Now().Add(15 * time.Second)
	for want := refusedByInit + 2; proxy.Refused() < want; {
		if time.Now().After(deadline) {
			t.Fatalf("the node tried %d times in 15 s, want it to keep trying", proxy.Refused()-refusedByInit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case s := <-done:
		t.Fatalf("serve returned while the database was unreachable: %v", s.err)
	default:
	}
	proxy.Restore()
	var s started
	select {
	case s = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start within 30 s of the database coming back")
	}
	if s.err != nil {
		t.Fatalf("serve after the database came back: %v", s.err)
	}
	if s.ts.RootKey == "" {
		t.Error("the node that waited created no root key on the empty database")
	}
	waitReady(t, s.ts.URL, 15*time.Second)
	if n := strings.Count(s.ts.Logs.String(), "database unreachable: waiting for it"); n != 1 {
		t.Errorf("logged the wait %d times, want once", n)
	}
	if strings.Contains(s.ts.Logs.String(), testPassword) {
		t.Error("the log holds the database password")
	}
}

// TestServeWaitStopsWithContext checks that a node waiting for its
// database stops when asked to, with the reason.
func TestServeWaitStopsWithContext(t *testing.T) {
	t.Parallel()
	dbURL := testDatabase(t)
	proxy := pgtest.NewProxy(t, parseURL(t, dbURL).Host)
	proxy.Cut()
	proxied := parseURL(t, dbURL)
	proxied.Host = proxy.Addr()
	m := NewMain()
	m.Config.DatabaseURL = proxied.String()
	m.Config.WaitForDatabase = true
	m.Config.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err := m.Run(ctx)
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "--database-url") {
		t.Errorf("Run cancelled while waiting: got %v, want the open error naming --database-url", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Run took %v to stop after its context ended", took)
	}
}

// TestMissedNoticeExpires shows the bound on a notice that never arrives:
// a key revoked behind the change feed's back (raw SQL, no notice, no
// flush) stops verifying once its cache entry expires, after --cache-ttl.
func TestMissedNoticeExpires(t *testing.T) {
	t.Parallel()
	dbURL := testDatabase(t)
	ts := runTestServer(t, withDatabase(dbURL), func(c *Config) { c.CacheTTL = 300 * time.Millisecond })
	waitReady(t, ts.URL, 15*time.Second)
	rec := createKey(t, ts, ts.RootKey, map[string]any{"name": "missed notice"})
	req := map[string]any{"key": str(rec, "key")}
	mustVerify(t, ts, req, keyward.CodeValid)
	const flushes = `keyward_change_feed_changes_total{kind="all"}`
	before := metricValue(t, ts, flushes)

	conn := pgtest.Connect(t, dbURL)
	if tag, err := conn.Exec(context.Background(), `UPDATE keys SET revoked_at = now() WHERE id = $1`, str(rec, "id")); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("revoke without a notice: %v, %d rows", err, tag.RowsAffected())
	}
	waitCode(t, ts, req, keyward.CodeRevoked)
	if after := metricValue(t, ts, flushes); after != before {
		t.Errorf("%s went from %v to %v: a flush, not the expiry, answered", flushes, before, after)
	}
}
