package sqlite

import (
	"path/filepath"
	"testing"
)

// TestConnections checks the settings that the durability and concurrency
// design rests on.
func TestConnections(t *testing.T) {
	db := NewDB(filepath.Join(t.TempDir(), "keyward.db"))
	if err := db.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })

	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "1"}, // NORMAL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	}
	for _, tt := range tests {
		var got string
		if err := db.writer.QueryRow(`PRAGMA ` + tt.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("writer PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
		}
	}
	if _, err := db.reader.Exec(`INSERT INTO organizations (id, name, created_at) VALUES ('x', 'x', 0)`); err == nil {
		t.Errorf("the read pool accepted a write")
	}
	// Foreign keys hold: no key of an org that does not exist.
	if _, err := db.writer.Exec(`INSERT INTO keys (id, org_id, name, description, key_prefix, hash, enabled, created_at, updated_at)
		VALUES ('k', 'no-such-org', 'n', '', 'kw_live_', x'00', 1, 0, 0)`); err == nil {
		t.Errorf("a key of a missing org was accepted")
	}
}
