package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"keyward"
)

// TestUpgradeFromInit checks that a database made by the first migration,
// with keys in it, opens with the usage control columns, and that its keys
// read back unlimited, without limits or rotation links.
func TestUpgradeFromInit(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keyward.db")
	old, err := openPool(path, 1, paramForeignKeys)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	initSQL, err := fs.ReadFile(migrationFS, "migration/00001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, old, fstest.MapFS{"00001_init.sql": {Data: initSQL}}, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatalf("goose: %v", err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("migrate to 00001: %v", err)
	}
	exec(t, old, `INSERT INTO organizations (id, name, created_at) VALUES ('org', 'acme', 0)`)
	exec(t, old, `INSERT INTO keys (id, org_id, name, description, key_prefix, hash, enabled, created_at, updated_at)
		VALUES ('k', 'org', 'old', '', 'kw_live_a8Kq2ZpX', x'01', 1, 0, 0)`)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	db := NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	got, err := db.FindKeyByID(ctx, "org", "k")
	if err != nil {
		t.Fatalf("FindKeyByID: %v", err)
	}
	want := &keyward.Key{ID: "k", OrgID: "org", Name: "old", KeyPrefix: "kw_live_a8Kq2ZpX", Enabled: true,
		CreatedAt: fromMicros(0), UpdatedAt: fromMicros(0), Hash: []byte{1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("key after the upgrade mismatch (-want +got):\n%s", diff)
	}
	if remaining, ok, err := db.SpendCredits(ctx, "org", "k", 1, fromMicros(0)); remaining != -1 || !ok || err != nil {
		t.Errorf("SpendCredits() = %d, %v, %v; want -1, true, nil", remaining, ok, err)
	}
}

func exec(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
