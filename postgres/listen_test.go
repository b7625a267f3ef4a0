package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keyward"
	"keyward/internal/pgtest"
	"keyward/postgres"
	"keyward/storetest"
)

// feedWait bounds the wait for a change or a state of the feed; notices
// and reconnects take milliseconds.
const feedWait = 5 * time.Second

func TestChangeFeed(t *testing.T) {
	storetest.RunChangeFeed(t, func(t *testing.T) (keyward.Store, keyward.Store) {
		u := newSchema(t)
		return mustOpen(t, u), mustOpen(t, u)
	})
}

// startListen runs db.Listen until the test ends and returns the changes
// it hears.
func startListen(t *testing.T, db *postgres.DB) <-chan keyward.Change {
	t.Helper()
	changes := make(chan keyward.Change, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- db.Listen(ctx, func(c keyward.Change) { changes <- c })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Listen() = %v, want context.Canceled", err)
			}
		case <-time.After(feedWait):
			t.Errorf("Listen did not return within %v of its context's end", feedWait)
		}
	})
	return changes
}

func nextChange(t *testing.T, changes <-chan keyward.Change) keyward.Change {
	t.Helper()
	select {
	case c := <-changes:
		return c
	case <-time.After(feedWait):
		t.Fatalf("no change heard within %v", feedWait)
		return keyward.Change{}
	}
}

func wantChange(t *testing.T, changes <-chan keyward.Change, want keyward.Change) {
	t.Helper()
	if got := nextChange(t, changes); got.Kind != want.Kind || got.OrgID != want.OrgID || got.OwnerID != want.OwnerID || !bytes.Equal(got.KeyHash, want.KeyHash) {
		t.Errorf("change = %+v, want %+v", got, want)
	}
}

// waitListening polls db.Listening until it reports want. The feed is
// down for at least its first retry delay (100 ms) after a lost
// connection, so a poll every 2 ms sees it.
func waitListening(t *testing.T, db *postgres.DB, want bool) {
	t.Helper()
	deadline := time.Now().Add(feedWait)
	for db.Listening() != want {
		if time.Now().After(deadline) {
			t.Fatalf("Listening() = %v for %v, want %v", !want, feedWait, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// createOrg creates an org with its root key in db.
func createOrg(t *testing.T, db *postgres.DB) (*keyward.Organization, *keyward.Key) {
	t.Helper()
	org, root, ev := newOrg("acme")
	if err := db.CreateOrg(t.Context(), org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	return org, root
}

// revoke revokes k in db.
func revoke(t *testing.T, db *postgres.DB, k *keyward.Key) {
	t.Helper()
	if _, err := db.UpdateKey(t.Context(), k.OrgID, k.ID, func(cur *keyward.Key) error {
		cur.RevokedAt = new(now())
		return nil
	}, nil); err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
}

func keyChange(k *keyward.Key) keyward.Change {
	return keyward.Change{Kind: keyward.ChangeKey, OrgID: k.OrgID, KeyHash: k.Hash}
}

var changeAll = keyward.Change{Kind: keyward.ChangeAll}

// TestListenTerminated terminates the listener's session, which an
// operator finds by its application_name: the feed goes down, comes back
// with a ChangeAll, and hears what is committed after.
func TestListenTerminated(t *testing.T) {
	name := "feedtest-" + strings.ToLower(rand.Text()[:8])
	db := mustOpen(t, withParam(t, newSchema(t), "application_name", name))
	_, root := createOrg(t, db)
	changes := startListen(t, db)
	wantChange(t, changes, changeAll)

	var killed int
	if err := pgtest.Connect(t, testDB).QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		name+"/listener").Scan(&killed); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d sessions named %q, want 1", killed, name+"/listener")
	}
	waitListening(t, db, false)
	wantChange(t, changes, changeAll)
	if !db.Listening() {
		t.Errorf("Listening() = false after the ChangeAll of the reconnect")
	}
	revoke(t, db, root)
	wantChange(t, changes, keyChange(root))
}

// listenerPID returns the server process of the listener of the store
// named application, failing unless there is exactly one.
func listenerPID(t *testing.T, application string) int {
	t.Helper()
	rows, err := pgtest.Connect(t, testDB).Query(t.Context(), `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, application+"/listener")
	if err != nil {
		t.Fatalf("pg_stat_activity: %v", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatalf("pg_stat_activity: %v", err)
	}
	if len(pids) != 1 {
		t.Fatalf("%d listener sessions of %s, want 1", len(pids), application)
	}
	return pids[0]
}

// wantQuiet checks that the feed heard nothing, and is listening.
func wantQuiet(t *testing.T, db *postgres.DB, changes <-chan keyward.Change) {
	t.Helper()
	select {
	case c := <-changes:
		t.Errorf("heard %+v, want nothing", c)
	default:
	}
	if !db.Listening() {
		t.Errorf("Listening() = false, want true")
	}
}

// TestListenKeepsSession idles the listener through many idle periods,
// each ended by a ping, and through an idle_session_timeout shorter than
// its idle period, as a role or database setting may give the store's
// sessions: it keeps its session, the caches are not flushed again, and a
// change after is heard.
func TestListenKeepsSession(t *testing.T) {
	tests := []struct {
		name string
		// idle, when set, replaces the listener's idle period.
		idle time.Duration
		// timeout, when set, is the sessions' idle_session_timeout.
		timeout string
		wait    time.Duration
	}{
		{name: "idle cycles", idle: 20 * time.Millisecond, wait: 200 * time.Millisecond},
		{name: "idle_session_timeout", timeout: "100ms", wait: 400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "feedtest-" + strings.ToLower(rand.Text()[:8])
			u := newSchema(t)
			listenURL := withParam(t, u, "application_name", name)
			if tt.timeout != "" {
				listenURL = withParam(t, listenURL, "idle_session_timeout", tt.timeout)
			}
			db := mustOpen(t, listenURL)
			if tt.idle != 0 {
				db.SetListenTimes(tt.idle, time.Second)
			}
			writer := mustOpen(t, u)
			_, root := createOrg(t, writer)
			changes := startListen(t, db)
			wantChange(t, changes, changeAll)
			pid := listenerPID(t, name)
			time.Sleep(tt.wait)
			wantQuiet(t, db, changes)
			if got := listenerPID(t, name); got != pid {
				t.Errorf("listener session %d after %v idle, want %d: it reconnected", got, tt.wait, pid)
			}
			revoke(t, writer, root)
			wantChange(t, changes, keyChange(root))
		})
	}
}

// TestListenBackoff ends the listener's session each time it connects, as
// a server or a proxy that drops idle or listening sessions at once does:
// the feed reconnects with a growing delay rather than every 100 ms, each
// reconnect flushing the node's caches, and hears changes once the drops
// stop.
func TestListenBackoff(t *testing.T) {
	name := "feedtest-" + strings.ToLower(rand.Text()[:8])
	db := mustOpen(t, withParam(t, newSchema(t), "application_name", name))
	_, root := createOrg(t, db)
	changes := startListen(t, db)
	wantChange(t, changes, changeAll)

	// Attempts at about 0.1, 0.3, 0.7 and 1.5 s, where a delay that starts
	// again at each connection would make about 15.
	const flapping = 1600 * time.Millisecond
	killer := pgtest.Connect(t, testDB)
	for end := time.Now().Add(flapping); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		// Only sessions that listen: one that dies while it connects is a
		// failed attempt, which backs off anyway.
		if _, err := killer.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'idle' AND starts_with(query, 'LISTEN')`, name+"/listener"); err != nil {
			t.Fatalf("terminate: %v", err)
		}
	}
	flushes := 0
	for len(changes) > 0 {
		if c := <-changes; c.Kind != keyward.ChangeAll {
			t.Errorf("heard %+v while the listener was dropped, want ChangeAll alone", c)
		}
		flushes++
	}
	if flushes > 6 {
		t.Errorf("%d reconnects in %v of dropped sessions, want at most 6", flushes, flapping)
	}
	waitListening(t, db, true)
	revoke(t, db, root)
	// The ChangeAll of the last reconnect may come after the count above.
	c := nextChange(t, changes)
	for c.Kind == keyward.ChangeAll {
		c = nextChange(t, changes)
	}
	if want := keyChange(root); c.Kind != want.Kind || !bytes.Equal(c.KeyHash, want.KeyHash) {
		t.Errorf("change = %+v, want %+v", c, want)
	}
}

// TestListenOutage cuts the network to the server for a while: the feed
// retries, logs the outage once however many attempts fail and its end
// once, without the URL, and then hears what is committed after.
func TestListenOutage(t *testing.T) {
	p, u := startProxy(t, newSchema(t))
	db := mustOpen(t, u)
	var logs lockedBuffer
	db.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, root := createOrg(t, db)
	changes := startListen(t, db)
	wantChange(t, changes, changeAll)

	p.Cut()
	waitListening(t, db, false)
	// Long enough for attempts at 100, 300 and 700 ms.
	time.Sleep(time.Second)
	if n := p.Refused(); n < 2 {
		t.Errorf("%d attempts to reconnect during the outage, want at least 2", n)
	}
	p.Restore()
	wantChange(t, changes, changeAll)
	revoke(t, db, root)
	wantChange(t, changes, keyChange(root))

	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Errorf("%d warnings for one outage, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "level=INFO"); n != 1 {
		t.Errorf("%d infos for one recovery, want 1:\n%s", n, out)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatalf("parse URL: %v", err)
	}
	if password, ok := parsed.User.Password(); strings.Contains(out, "://") || ok && strings.Contains(out, password) {
		t.Errorf("logs hold the URL:\n%s", out)
	}
}

// TestListenStops checks that Listen returns its context's error promptly
// however it waits.
func TestListenStops(t *testing.T) {
	tests := []struct {
		name string
		// deadline ends the context at a deadline rather than by cancel.
		deadline bool
		// down cuts the network first, so that Listen waits to retry.
		down bool
		want error
	}{
		{"cancelled while listening", false, false, context.Canceled},
		{"deadline while listening", true, false, context.DeadlineExceeded},
		{"cancelled while retrying", false, true, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, u := startProxy(t, newSchema(t))
			db := mustOpen(t, u)
			ctx, cancel := context.WithCancel(context.Background())
			if tt.deadline {
				ctx, cancel = context.WithTimeout(context.Background(), time.Second)
			}
			defer cancel()
			heard := make(chan keyward.Change, 10)
			done := make(chan error, 1)
			go func() { done <- db.Listen(ctx, func(c keyward.Change) { heard <- c }) }()
			wantChange(t, heard, changeAll)
			if tt.down {
				p.Cut()
				waitListening(t, db, false)
			}
			if tt.deadline {
				<-ctx.Done()
			}
			end := time.Now()
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, tt.want) {
					t.Errorf("Listen() = %v, want %v", err, tt.want)
				}
				if d := time.Since(end); d > time.Second {
					t.Errorf("Listen returned %v after its context ended, want at most 1 s", d)
				}
			case <-time.After(feedWait):
				t.Fatalf("Listen did not return within %v of its context's end", feedWait)
			}
			if db.Listening() {
				t.Errorf("Listening() = true after Listen returned")
			}
		})
	}
}

// TestListenOtherSchema checks that a store does not hear the writes of a
// store in another schema of the same database: each drops its own
// caches only.
func TestListenOtherSchema(t *testing.T) {
	db := mustOpen(t, newSchema(t))
	other := mustOpen(t, newSchema(t))
	_, root := createOrg(t, db)
	_, otherRoot := createOrg(t, other)
	changes := startListen(t, db)
	wantChange(t, changes, changeAll)
	revoke(t, other, otherRoot)
	// Notices arrive in commit order, so the first one heard after the
	// other store's write shows whether that write was heard.
	revoke(t, db, root)
	wantChange(t, changes, keyChange(root))
}

// TestListenBadInput needs no server.
func TestListenBadInput(t *testing.T) {
	apply := func(keyward.Change) {}
	if err := postgres.NewDB("postgres://127.0.0.1:1/none").Listen(t.Context(), apply); err == nil {
		t.Errorf("Listen() before Open = nil, want an error")
	}
	if err := postgres.NewDB("postgres://127.0.0.1:1/none").Listen(t.Context(), nil); err == nil {
		t.Errorf("Listen(nil) = nil, want an error")
	}
}

// startProxy starts a proxy to the server of rawURL, stopped when t ends,
// and returns it with rawURL through it.
func startProxy(t *testing.T, rawURL string) (*pgtest.Proxy, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse URL: %v", err)
	}
	p := pgtest.NewProxy(t, u.Host)
	u.Host = p.Addr()
	return p, u.String()
}

// lockedBuffer is a buffer that the feed's goroutine writes while the test
// reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
