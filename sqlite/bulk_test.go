package sqlite_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"keyward"
)

func TestCreateKeys(t *testing.T) {
	ctx := t.Context()
	db, org, _ := mustOpenOrg(t)
	keys := newBulkKeys(org.ID, 50)
	keys[1].OwnerID = "user-1"
	keys[2].Permissions = []string{"a.read"}
	if err := db.CreateKeys(ctx, keys); err != nil {
		t.Fatalf("CreateKeys: %v", err)
	}
	for _, want := range keys {
		got, err := db.FindKeyByHash(ctx, want.Hash)
		if err != nil {
			t.Fatalf("FindKeyByHash(%s): %v", want.ID, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("key %s mismatch (-want +got):\n%s", want.ID, diff)
		}
	}
	// No audit events: only the org's creation is recorded.
	page, err := db.FindAuditEvents(ctx, org.ID, keyward.AuditFilter{})
	if err != nil {
		t.Fatalf("FindAuditEvents: %v", err)
	}
	if got, want := len(page.Data), 1; got != want {
		t.Errorf("got %d audit events, want %d", got, want)
	}
}

// TestCreateKeysWritesNothingOnError checks that a batch with one bad key
// writes none of its keys.
func TestCreateKeysWritesNothingOnError(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(keys []*keyward.Key, root *keyward.Key)
		want  string
	}{
		{"hash of an existing key", func(keys []*keyward.Key, root *keyward.Key) { keys[7].Hash = root.Hash }, keyward.ECONFLICT},
		{"hash twice in the batch", func(keys []*keyward.Key, _ *keyward.Key) { keys[7].Hash = keys[3].Hash }, keyward.ECONFLICT},
		{"id of an existing key", func(keys []*keyward.Key, root *keyward.Key) { keys[9].ID = root.ID }, keyward.ECONFLICT},
		{"service account", func(keys []*keyward.Key, _ *keyward.Key) { keys[5].ServiceAccountID = uuid.NewString() }, keyward.EINVALID},
		{"metadata not JSON", func(keys []*keyward.Key, _ *keyward.Key) { keys[2].Metadata = json.RawMessage(`{"a":1`) }, keyward.EINVALID},
		{"unknown org", func(keys []*keyward.Key, _ *keyward.Key) { keys[9].OrgID = uuid.NewString() }, keyward.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			db := MustOpenDB(t)
			org, root, ev := newOrg("acme")
			if err := db.CreateOrg(ctx, org, root, ev); err != nil {
				t.Fatalf("CreateOrg: %v", err)
			}
			keys := newBulkKeys(org.ID, 10)
			tt.spoil(keys, root)
			err := db.CreateKeys(ctx, keys)
			if got := keyward.ErrorCode(err); got != tt.want {
				t.Fatalf("CreateKeys() = %v, got code %s, want %s", err, got, tt.want)
			}
			page, err := db.FindKeys(ctx, org.ID, keyward.KeyFilter{})
			if err != nil {
				t.Fatalf("FindKeys: %v", err)
			}
			if got, want := len(page.Data), 1; got != want {
				t.Errorf("got %d keys after the failed batch, want %d (the root key)", got, want)
			}
		})
	}
}

func TestCreateKeysEmpty(t *testing.T) {
	if err := MustOpenDB(t).CreateKeys(t.Context(), nil); err != nil {
		t.Errorf("CreateKeys(nil) = %v, want nil", err)
	}
}

// BenchmarkCreateKeys loads batches of 10 000 keys into a file database, as
// bench/verify does, and reports keys per second.
func BenchmarkCreateKeys(b *testing.B) {
	const batch = 10_000
	ctx := b.Context()
	db, org, _ := mustOpenOrg(b)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		b.StopTimer()
		keys := newBulkKeys(org.ID, batch)
		b.StartTimer()
		if err := db.CreateKeys(ctx, keys); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "keys/s")
}

// newBulkKeys returns n enabled keys of org, each with a random hash.
func newBulkKeys(orgID string, n int) []*keyward.Key {
	at := time.Now().UTC().Truncate(time.Microsecond)
	keys := make([]*keyward.Key, n)
	for i := range keys {
		hash := sha256.Sum256([]byte(rand.Text()))
		keys[i] = &keyward.Key{
			ID:        uuid.Must(uuid.NewV7()).String(),
			OrgID:     orgID,
			Name:      fmt.Sprintf("bulk-%d", i),
			KeyPrefix: "kw_live_" + rand.Text()[:8],
			Enabled:   true,
			CreatedAt: at,
			UpdatedAt: at,
			Hash:      hash[:],
		}
	}
	return keys
}
