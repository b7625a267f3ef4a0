package sqlite_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"keyward"
	"keyward/sqlite"
	"keyward/storetest"
)

// MustOpenDB returns a fresh in-memory DB, closed when tb ends.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	return mustOpen(tb, ":memory:")
}

func mustOpen(tb testing.TB, dsn string) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(dsn)
	if err := db.Open(); err != nil {
		tb.Fatalf("Open(%q): %v", dsn, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close(%q): %v", dsn, err)
		}
	})
	return db
}

// mustOpenOrg opens a fresh database file holding the org acme and its
// root key.
func mustOpenOrg(tb testing.TB) (*sqlite.DB, *keyward.Organization, *keyward.Key) {
	tb.Helper()
	db := mustOpen(tb, filepath.Join(tb.TempDir(), "keyward.db"))
	org, root, ev := newOrg("acme")
	if err := db.CreateOrg(tb.Context(), org, root, ev); err != nil {
		tb.Fatalf("CreateOrg: %v", err)
	}
	return db, org, root
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store { return MustOpenDB(t) })
}

// TestStoreFile runs the suite on a file, where reads and writes use
// separate connections.
func TestStoreFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "keyward.db"))
	})
}

func TestOpenEmptyDSN(t *testing.T) {
	if err := sqlite.NewDB("").Open(); err == nil {
		t.Errorf("Open() with an empty DSN = nil, want an error")
	}
}

// TestOpenCreatesPrivateFiles checks that a new database, and the WAL and
// shared-memory files next to it, are readable by their owner alone, even
// in a data directory that others may list.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keyward.db")
	db := mustOpen(t, path)
	// A write makes sure the WAL exists; it and the shared memory live as
	// long as a connection is open.
	org, root, ev := newOrg("acme")
	if err := db.CreateOrg(t.Context(), org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode().Perm(), fs.FileMode(0o600); got != want {
			t.Errorf("%s: got mode %v, want %v", filepath.Base(name), got, want)
		}
	}
}

// TestReopen checks that a file database keeps its data across Close and
// Open, and that reopening applies no migration again.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "data", "keyward.db")
	org, root, ev := newOrg("acme")

	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := db.CreateOrg(ctx, org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for i := range 2 {
		db := mustOpen(t, path)
		if n, err := db.CountOrgs(ctx); err != nil || n != 1 {
			t.Errorf("reopen %d: CountOrgs() = %d, %v; want 1, nil", i, n, err)
		}
		got, err := db.FindKeyByHash(ctx, root.Hash)
		if err != nil {
			t.Fatalf("reopen %d: FindKeyByHash: %v", i, err)
		}
		if diff := cmp.Diff(root, got); diff != "" {
			t.Errorf("reopen %d: root key mismatch (-want +got):\n%s", i, diff)
		}
		// The unique index on names survived too.
		org2, root2, ev2 := newOrg("acme")
		if err := db.CreateOrg(ctx, org2, root2, ev2); keyward.ErrorCode(err) != keyward.ECONFLICT {
			t.Errorf("reopen %d: CreateOrg(duplicate) = %v, want ECONFLICT", i, err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func BenchmarkFindKeyByHash(b *testing.B) {
	ctx := b.Context()
	db, _, root := mustOpenOrg(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.FindKeyByHash(ctx, root.Hash); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpendCredits measures one spend on a file database: the
// verify path's cost for a key with credits.
func BenchmarkSpendCredits(b *testing.B) {
	ctx := b.Context()
	db := mustOpen(b, filepath.Join(b.TempDir(), "keyward.db"))
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

// newOrg returns an org with a root key that has every field a key of
// `keyward init` has, and the event of its creation.
func newOrg(name string) (*keyward.Organization, *keyward.Key, *keyward.AuditEvent) {
	at := time.Now().UTC().Truncate(time.Microsecond)
	org := &keyward.Organization{ID: uuid.Must(uuid.NewV7()).String(), Name: name, CreatedAt: at}
	hash := sha256.Sum256([]byte(rand.Text()))
	root := &keyward.Key{
		ID:          uuid.Must(uuid.NewV7()).String(),
		OrgID:       org.ID,
		Name:        "root",
		KeyPrefix:   "kw_live_a8Kq2ZpX",
		Permissions: []string{keyward.PermRoot},
		AllowedIPs:  []string{"10.0.0.0/8"},
		Enabled:     true,
		Metadata:    json.RawMessage(`{"created_by":"keyward init"}`),
		CreatedAt:   at,
		UpdatedAt:   at,
		Hash:        hash[:],
	}
	ev := &keyward.AuditEvent{
		ID:         uuid.Must(uuid.NewV7()).String(),
		OrgID:      org.ID,
		Time:       at,
		Action:     keyward.ActionOrgCreate,
		TargetType: "organization",
		TargetID:   org.ID,
	}
	return org, root, ev
}

// BenchmarkAddUsage measures one flush of the verify path's counts when
// traffic spreads over many keys: a count for each of 2000 keys, the
// write-behind's cost per key that misses the cache.
func BenchmarkAddUsage(b *testing.B) {
	ctx := b.Context()
	db, org, _ := mustOpenOrg(b)
	counts := make([]keyward.UsageCount, 2000)
	minute := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		minute = minute.Add(time.Minute)
		for i := range counts {
			counts[i] = keyward.UsageCount{OrgID: org.ID, KeyID: uuid.NewString(), Minute: minute, Code: keyward.CodeValid, Count: 1}
		}
		if err := db.AddUsage(ctx, counts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(counts)), "µs/count")
}
