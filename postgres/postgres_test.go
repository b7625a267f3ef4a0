package postgres_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	mathrand "math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"keyward"
	"keyward/internal/pgtest"
	"keyward/postgres"
	"keyward/storetest"
)

// testDB is the URL of the database of this run, created by TestMain;
// empty when pgtest.EnvVar is unset.
var testDB string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	base := os.Getenv(pgtest.EnvVar)
	if base == "" {
		return m.Run()
	}
	u, drop, err := pgtest.CreateDatabase(base)
	if err != nil {
		fmt.Fprintln(os.Stderr, "postgres tests:", err)
		return 1
	}
	defer func() {
		if err := drop(); err != nil {
			fmt.Fprintln(os.Stderr, "postgres tests:", err)
		}
	}()
	testDB = u
	return m.Run()
}

// newSchema returns the URL of a fresh schema of the run's database,
// dropped when tb ends, and skips tb without a database.
func newSchema(tb testing.TB) string {
	tb.Helper()
	if testDB == "" {
		tb.Skipf("%s is not set: the PostgreSQL tests need a server", pgtest.EnvVar)
	}
	return pgtest.NewSchema(tb, testDB)
}

// MustOpenDB returns a store on a fresh schema of the run's database,
// closed when tb ends. It skips tb when pgtest.EnvVar is unset.
func MustOpenDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	return mustOpen(tb, newSchema(tb))
}

func mustOpen(tb testing.TB, url string) *postgres.DB {
	tb.Helper()
	db := postgres.NewDB(url)
	if err := db.Open(); err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

// connect opens a connection of the test's own to url, closed when tb
// ends.
func connect(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), url)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(tb.Context()) })
	return conn
}

// withParam returns rawURL with the query parameter key set to value.
func withParam(tb testing.TB, rawURL, key, value string) string {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("parse URL: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store { return MustOpenDB(t) })
}

// TestJSONExact checks what the conformance suite, which compares JSON by
// meaning, does not: metadata and audit details read back byte for byte,
// and nil lists stay nil while empty ones stay empty.
func TestJSONExact(t *testing.T) {
	ctx := t.Context()
	db := MustOpenDB(t)
	org, root, ev := newOrg("acme")
	if err := db.CreateOrg(ctx, org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	tests := []struct {
		name        string
		metadata    json.RawMessage
		permissions []string
		allowedIPs  []string
	}{
		{"order, spacing and escapes", json.RawMessage(`{"z": 1,  "a":"\u00e9\n", "n":[1.50, 2e3]}`), []string{}, nil},
		{"no metadata", nil, nil, []string{}},
		{"empty object", json.RawMessage(`{}`), []string{"b", "a", "a"}, []string{"10.0.0.0/8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(org)
			k.Metadata, k.Permissions, k.AllowedIPs = tt.metadata, tt.permissions, tt.allowedIPs
			kev := &keyward.AuditEvent{ID: newID(), OrgID: org.ID, Time: now(), Action: keyward.ActionKeyCreate,
				TargetType: "key", TargetID: k.ID, Details: tt.metadata}
			if err := db.CreateKey(ctx, k, kev); err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
			got, err := db.FindKeyByID(ctx, org.ID, k.ID)
			if err != nil {
				t.Fatalf("FindKeyByID: %v", err)
			}
			if string(got.Metadata) != string(tt.metadata) || (got.Metadata == nil) != (tt.metadata == nil) {
				t.Errorf("metadata = %q, want %q", got.Metadata, tt.metadata)
			}
			if diff := cmp.Diff(tt.permissions, got.Permissions); diff != "" || (got.Permissions == nil) != (tt.permissions == nil) {
				t.Errorf("permissions = %#v, want %#v", got.Permissions, tt.permissions)
			}
			if diff := cmp.Diff(tt.allowedIPs, got.AllowedIPs); diff != "" || (got.AllowedIPs == nil) != (tt.allowedIPs == nil) {
				t.Errorf("allowed IPs = %#v, want %#v", got.AllowedIPs, tt.allowedIPs)
			}
			events, err := db.FindAuditEvents(ctx, org.ID, keyward.AuditFilter{TargetID: k.ID})
			if err != nil {
				t.Fatalf("FindAuditEvents: %v", err)
			}
			if len(events.Data) != 1 || string(events.Data[0].Details) != string(tt.metadata) {
				t.Errorf("audit events = %+v, want one with details %q", events.Data, tt.metadata)
			}
			if got.CreatedAt.Location() != time.UTC {
				t.Errorf("created_at in %v, want UTC", got.CreatedAt.Location())
			}
		})
	}
}

// TestBadText checks that text PostgreSQL cannot hold is bad input, not a
// server error.
func TestBadText(t *testing.T) {
	ctx := t.Context()
	db := MustOpenDB(t)
	org, root, ev := newOrg("acme")
	if err := db.CreateOrg(ctx, org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	for _, f := range []keyward.KeyFilter{{OwnerID: "a\x00b"}, {Prefix: "kw_\xff"}} {
		_, err := db.FindKeys(ctx, org.ID, f)
		if got := keyward.ErrorCode(err); got != keyward.EINVALID {
			t.Errorf("FindKeys(%+v) error code = %q (%v), want %q", f, got, err, keyward.EINVALID)
		}
	}
	// A cursor of bytes that no id can hold is malformed.
	_, err := db.FindKeys(ctx, org.ID, keyward.KeyFilter{Cursor: "_w"})
	if fields := keyward.ErrorFields(err); len(fields) != 1 || fields[0].Field != "cursor" {
		t.Errorf("FindKeys(cursor of 0xff) = %v, want a cursor error", err)
	}
}

// TestTwoNodesSpendCredits spends a balance through two stores on one
// database, as two nodes do, all through the first key of a line that the
// second store rotates three times meanwhile: every spend succeeds, exactly
// the balance is spent, and the spends that race with a rotation follow
// the balance to the successor.
func TestTwoNodesSpendCredits(t *testing.T) {
	ctx := t.Context()
	u := newSchema(t)
	nodes := []*postgres.DB{mustOpen(t, u), mustOpen(t, u)}
	const workers, spends, rotations = 8, 40, 3
	const balance = workers * spends
	org, root, ev := newOrg("acme")
	root.Credits = &keyward.Credits{Remaining: balance}
	if err := nodes[0].CreateOrg(ctx, org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}

	var (
		spent atomic.Int64
		mu    sync.Mutex
		line  = []*keyward.Key{root}
		wg    sync.WaitGroup
	)
	rotate := func() {
		mu.Lock()
		defer mu.Unlock()
		next := newKey(org)
		if _, err := nodes[1].RotateKey(ctx, org.ID, line[len(line)-1].ID, next, func(*keyward.Key) error { return nil }, nil); err != nil {
			t.Errorf("RotateKey: %v", err)
		}
		line = append(line, next)
	}
	for w := range workers {
		node := nodes[w%len(nodes)]
		wg.Go(func() {
			for range spends {
				_, ok, err := node.SpendCredits(ctx, org.ID, root.ID, 1, time.Now())
				if err != nil || !ok {
					t.Errorf("SpendCredits() = %v, %v; want ok with %d of %d spent", ok, err, spent.Load(), balance)
					return
				}
				if n := spent.Add(1); n%(balance/(rotations+1)) == 0 && n < balance {
					rotate()
				}
			}
		})
	}
	wg.Wait()
	if len(line) != rotations+1 {
		t.Fatalf("line of %d keys, want %d", len(line), rotations+1)
	}

	for _, node := range nodes {
		for _, k := range line {
			if remaining, ok, err := node.SpendCredits(ctx, org.ID, k.ID, 1, time.Now()); err != nil || ok || remaining != 0 {
				t.Errorf("SpendCredits(spent out) = %d, %v, %v; want 0, false, nil", remaining, ok, err)
			}
		}
	}
	for _, k := range line {
		got, err := nodes[0].FindKeyByID(ctx, org.ID, k.ID)
		if err != nil {
			t.Fatalf("FindKeyByID: %v", err)
		}
		if got.Credits == nil || got.Credits.Remaining != 0 {
			t.Errorf("key %s credits = %+v, want a balance of 0", k.ID, got.Credits)
		}
	}
}

// TestTwoNodesTouchKeys sends last uses, in shuffled batches, through two
// stores on one database at once: each key ends with its latest use,
// whatever order the batches landed in.
func TestTwoNodesTouchKeys(t *testing.T) {
	ctx := t.Context()
	u := newSchema(t)
	nodes := []*postgres.DB{mustOpen(t, u), mustOpen(t, u)}
	org, root, ev := newOrg("acme")
	if err := nodes[0].CreateOrg(ctx, org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	keys := []*keyward.Key{root}
	for range 3 {
		k := newKey(org)
		if err := nodes[0].CreateKey(ctx, k, nil); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		keys = append(keys, k)
	}

	// Every use has a time of its own, so that each key has one latest.
	const workers, batches = 4, 10
	base := now()
	var uses []keyward.KeyUse
	latest := map[string]keyward.KeyUse{}
	for i := range workers * batches * len(keys) {
		k := keys[i%len(keys)]
		u := keyward.KeyUse{OrgID: org.ID, KeyID: k.ID, At: base.Add(time.Duration(i) * time.Millisecond), IP: fmt.Sprintf("10.0.%d.%d", i/256, i%256)}
		uses = append(uses, u)
		latest[k.ID] = u
	}
	mathrand.Shuffle(len(uses), func(i, j int) { uses[i], uses[j] = uses[j], uses[i] })

	var wg sync.WaitGroup
	per := len(uses) / workers
	for w := range workers {
		node, mine := nodes[w%len(nodes)], uses[w*per:(w+1)*per]
		wg.Go(func() {
			for b := range batches {
				batch := mine[b*len(mine)/batches : (b+1)*len(mine)/batches]
				if err := node.TouchKeys(ctx, batch); err != nil {
					t.Errorf("TouchKeys: %v", err)
				}
			}
		})
	}
	wg.Wait()

	for _, k := range keys {
		got, err := nodes[1].FindKeyByID(ctx, org.ID, k.ID)
		if err != nil {
			t.Fatalf("FindKeyByID: %v", err)
		}
		want := latest[k.ID]
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(want.At) || got.LastUsedIP != want.IP {
			t.Errorf("key %s last use = %v from %q, want %v from %q", k.ID, got.LastUsedAt, got.LastUsedIP, want.At, want.IP)
		}
	}
}

// TestTwoNodesDeleteServiceAccount deletes service accounts through one
// store while the other adds keys to them, by creation and by rotation:
// no key ever outlives its account unrevoked.
func TestTwoNodesDeleteServiceAccount(t *testing.T) {
	ctx := t.Context()
	u := newSchema(t)
	deleter, adder := mustOpen(t, u), mustOpen(t, u)
	org, root, ev := newOrg("acme")
	if err := deleter.CreateOrg(ctx, org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	for range 20 {
		sa := &keyward.ServiceAccount{ID: newID(), OrgID: org.ID, Name: "deploy-bot", CreatedAt: now()}
		if err := deleter.CreateServiceAccount(ctx, sa, nil); err != nil {
			t.Fatalf("CreateServiceAccount: %v", err)
		}
		rotated := newKey(org)
		rotated.ServiceAccountID = sa.ID
		if err := adder.CreateKey(ctx, rotated, nil); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := deleter.DeleteServiceAccount(ctx, org.ID, sa.ID, now(), nil, nil); err != nil {
				t.Errorf("DeleteServiceAccount: %v", err)
			}
		})
		wg.Go(func() {
			k := newKey(org)
			k.ServiceAccountID = sa.ID
			if err := adder.CreateKey(ctx, k, nil); err != nil && keyward.ErrorCode(err) != keyward.EINVALID {
				t.Errorf("CreateKey: %v", err)
			}
		})
		wg.Go(func() {
			// As the service does, refuse to rotate a revoked key.
			_, err := adder.RotateKey(ctx, org.ID, rotated.ID, newKey(org), func(old *keyward.Key) error {
				if old.RevokedAt != nil {
					return keyward.Errorf(keyward.ECONFLICT, "The key is revoked.")
				}
				return nil
			}, nil)
			if err != nil && keyward.ErrorCode(err) != keyward.ECONFLICT {
				t.Errorf("RotateKey: %v", err)
			}
		})
		wg.Wait()
		live, err := adder.FindKeys(ctx, org.ID, keyward.KeyFilter{ServiceAccountID: sa.ID, Revoked: new(false)})
		if err != nil {
			t.Fatalf("FindKeys: %v", err)
		}
		for _, k := range live.Data {
			t.Errorf("key %s of deleted service account %s is not revoked", k.ID, sa.ID)
		}
	}
}

// TestOpenConcurrent starts five stores on a new database at once, as
// nodes that start together do: all open, and the migrations run once, in
// the default schema.
func TestOpenConcurrent(t *testing.T) {
	u := pgtest.NewDatabase(t)
	const n = 5
	dbs := make([]*postgres.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			dbs[i] = postgres.NewDB(u)
			errs[i] = dbs[i].Open()
		})
	}
	wg.Wait()
	for i, db := range dbs {
		t.Cleanup(func() { db.Close() })
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		if err := db.Ping(t.Context()); err != nil {
			t.Errorf("Ping %d: %v", i, err)
		}
	}
	var applied int
	if err := connect(t, u).QueryRow(t.Context(), `SELECT count(*) FROM goose_db_version WHERE version_id = 1`).Scan(&applied); err != nil {
		t.Fatalf("count migrations: %v", err)
	}
	if applied != 1 {
		t.Errorf("migration 1 recorded %d times, want 1", applied)
	}
}

// TestReconnect terminates every session of a store's pool: the store
// answers again by itself, and its sessions carry its application_name.
func TestReconnect(t *testing.T) {
	ctx := t.Context()
	name := "keyward-test-" + strings.ToLower(rand.Text()[:8])
	db := mustOpen(t, withParam(t, newSchema(t), "application_name", name))
	org, root, ev := newOrg("acme")
	if err := db.CreateOrg(ctx, org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}

	var killed int
	if err := connect(t, testDB).QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, name).
		Scan(&killed); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	if killed == 0 {
		t.Fatalf("no session named %q to terminate", name)
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := db.FindKeyByHash(ctx, root.Hash)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FindKeyByHash 5 s after the sessions were terminated: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestApplicationName checks that a store's sessions are named "keyward"
// when the URL names none, so that operators can tell them apart.
func TestApplicationName(t *testing.T) {
	u := newSchema(t)
	db := mustOpen(t, u)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	var n int
	if err := connect(t, u).QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'keyward' AND datname = current_database()`).Scan(&n); err != nil {
		t.Fatalf("count sessions: %v", err)
	}
	if n == 0 {
		t.Errorf("no session named keyward")
	}
}

// TestOpenHidesPassword checks that the error of a URL that does not parse
// or connect never holds its password. It needs no server.
func TestOpenHidesPassword(t *testing.T) {
	const password = "s3cr3t-Pa55"
	tests := []struct {
		name string
		url  string
	}{
		{"malformed port", "postgres://keyward:" + password + "@db.example:port/keyward"},
		{"password with a slash", "postgres://keyward:" + password + "/x@127.0.0.1:1/keyward"},
		{"bad sslmode", "postgres://keyward:" + password + "@127.0.0.1:1/keyward?sslmode=sometimes"},
		{"unreachable", "postgres://keyward:" + password + "@127.0.0.1:1/keyward?connect_timeout=2"},
		{"key=value, unreachable", "host=127.0.0.1 port=1 user=keyward password=" + password + " connect_timeout=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := postgres.NewDB(tt.url).Open()
			if err == nil {
				t.Fatalf("Open() = nil, want an error")
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("Open() error holds the password: %v", err)
			}
		})
	}
	if err := postgres.NewDB("").Open(); err == nil {
		t.Errorf("Open() with an empty URL = nil, want an error")
	}
}

// TestDeadlockRetry makes an UpdateKey deadlock with another session and
// be the one PostgreSQL aborts: the store runs the transaction again, its
// callback included, and it succeeds.
func TestDeadlockRetry(t *testing.T) {
	ctx := t.Context()
	u := newSchema(t)
	db := mustOpen(t, u)
	org, root, ev := newOrg("acme")
	if err := db.CreateOrg(ctx, org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}

	// The other session detects deadlocks after 30 s, the store's after the
	// default 1 s: the store's transaction is the one aborted.
	other := connect(t, u)
	if _, err := other.Exec(ctx, `SET deadlock_timeout = '30s'`); err != nil {
		t.Fatalf("SET: %v", err)
	}
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	defer tx.Rollback(ctx)
	// It holds an uncommitted audit row with the id of the update's event.
	updateEv := &keyward.AuditEvent{ID: newID(), OrgID: org.ID, Time: now(), Action: keyward.ActionKeyUpdate, TargetType: "key", TargetID: root.ID}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_events (id, org_id, time, action, target_type, target_id) VALUES ($1, $2, now(), 'test', 'key', $3)`,
		updateEv.ID, org.ID, root.ID); err != nil {
		t.Fatalf("insert: %v", err)
	}

	var calls atomic.Int32
	inUpdate, proceed := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := db.UpdateKey(ctx, org.ID, root.ID, func(k *keyward.Key) error {
			if calls.Add(1) == 1 {
				close(inUpdate)
				<-proceed
			}
			k.Description = "updated after a deadlock"
			return nil
		}, updateEv)
		done <- err
	}()
	// The store holds the key's lock; the other session waits for it...
	<-inUpdate
	locked := make(chan error, 1)
	go func() {
		_, err := tx.Exec(ctx, `SELECT 1 FROM keys WHERE id = $1 FOR UPDATE`, root.ID)
		locked <- err
	}()
	waitForLock(t, u, other.PgConn().PID())
	// ...and the store's event waits for the other session's row.
	close(proceed)
	if err := <-locked; err != nil {
		t.Fatalf("the other session's lock: %v; want the store's transaction aborted instead", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("update called %d times, want 2", got)
	}
	k, err := db.FindKeyByID(ctx, org.ID, root.ID)
	if err != nil {
		t.Fatalf("FindKeyByID: %v", err)
	}
	if k.Description != "updated after a deadlock" {
		t.Errorf("description = %q, want the update's", k.Description)
	}
}

// waitForLock waits until the session pid waits for a lock.
func waitForLock(t *testing.T, url string, pid uint32) {
	t.Helper()
	conn := connect(t, url)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var waiting bool
		if err := conn.QueryRow(t.Context(), `SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1`, int(pid)).
			Scan(&waiting); err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %d does not wait for a lock", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkFindKeyByHash(b *testing.B) {
	ctx := b.Context()
	db := MustOpenDB(b)
	org, root, ev := newOrg("acme")
	if err := db.CreateOrg(ctx, org, root, ev); err != nil {
		b.Fatalf("CreateOrg: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.FindKeyByHash(ctx, root.Hash); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpendCredits measures one spend: the verify path's cost for a
// key with credits.
func BenchmarkSpendCredits(b *testing.B) {
	ctx := b.Context()
	db := MustOpenDB(b)
	org, root, ev := newOrg("acme")
	root.Credits = &keyward.Credits{Remaining: 1 << 62}
	if err := db.CreateOrg(ctx, org, root, ev); err != nil {
		b.Fatalf("CreateOrg: %v", err)
	}
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := db.SpendCredits(ctx, org.ID, root.ID, 1, at); err != nil || !ok {
			b.Fatalf("SpendCredits() = %v, %v", ok, err)
		}
	}
}

func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// newOrg returns an org with a root key that has every field a key of
// `keyward init` has, and the event of its creation.
func newOrg(name string) (*keyward.Organization, *keyward.Key, *keyward.AuditEvent) {
	at := now()
	org := &keyward.Organization{ID: newID(), Name: name, CreatedAt: at}
	root := newKey(org)
	root.Name = "root"
	root.Permissions = []string{keyward.PermRoot}
	root.Metadata = json.RawMessage(`{"created_by":"keyward init"}`)
	ev := &keyward.AuditEvent{
		ID:         newID(),
		OrgID:      org.ID,
		Time:       at,
		Action:     keyward.ActionOrgCreate,
		TargetType: "organization",
		TargetID:   org.ID,
	}
	return org, root, ev
}

// newKey returns a key of org with a fresh id and secret hash.
func newKey(org *keyward.Organization) *keyward.Key {
	at := now()
	hash := sha256.Sum256([]byte(rand.Text()))
	return &keyward.Key{
		ID:        newID(),
		OrgID:     org.ID,
		Name:      "billing-export",
		KeyPrefix: "kw_live_" + strings.ToLower(rand.Text()[:8]),
		Enabled:   true,
		CreatedAt: at,
		UpdatedAt: at,
		Hash:      hash[:],
	}
}
