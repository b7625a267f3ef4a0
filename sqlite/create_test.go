package sqlite_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"keyward"
)

// TestCreateKeyConcurrent checks that creates that share a transaction end
// as they would alone: a conflict, an unknown service account or a caller
// that gave up fails that create only, with its own error, and writes
// nothing of it.
func TestCreateKeyConcurrent(t *testing.T) {
	ctx := t.Context()
	db := mustOpen(t, filepath.Join(t.TempDir(), "keyward.db"))
	org, root, ev := newOrg("acme")
	if err := db.CreateOrg(ctx, org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name string
		ctx  context.Context
		// change makes the key or event fail, or leaves them valid.
		change func(k *keyward.Key, ev *keyward.AuditEvent)
		want   string
		ok     func(err error) bool
	}{
		{"valid", ctx, func(*keyward.Key, *keyward.AuditEvent) {},
			"nil", func(err error) bool { return err == nil }},
		{"same hash", ctx, func(k *keyward.Key, _ *keyward.AuditEvent) { k.Hash = root.Hash },
			"ECONFLICT", func(err error) bool { return keyward.ErrorCode(err) == keyward.ECONFLICT }},
		{"same event id", ctx, func(_ *keyward.Key, e *keyward.AuditEvent) { e.ID = ev.ID },
			"an error", func(err error) bool { return err != nil }},
		{"unknown service account", ctx, func(k *keyward.Key, _ *keyward.AuditEvent) { k.ServiceAccountID = uuid.Must(uuid.NewV7()).String() },
			"EINVALID", func(err error) bool { return keyward.ErrorCode(err) == keyward.EINVALID }},
		{"caller gone", canceled, func(*keyward.Key, *keyward.AuditEvent) {},
			"context.Canceled", func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	type outcome struct {
		test int
		key  *keyward.Key
		err  error
	}
	const rounds = 20
	outcomes := make(chan outcome, rounds*len(tests))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range rounds {
		for i, tt := range tests {
			k, kev := newCreatedKey(t, org.ID, root.ID)
			tt.change(k, kev)
			wg.Go(func() {
				<-start
				outcomes <- outcome{i, k, db.CreateKey(tt.ctx, k, kev)}
			})
		}
	}
	close(start)
	wg.Wait()
	close(outcomes)

	for o := range outcomes {
		tt := tests[o.test]
		if !tt.ok(o.err) {
			t.Errorf("%s: CreateKey() = %v, want %s", tt.name, o.err, tt.want)
		}
		got, err := db.FindKeyByID(ctx, org.ID, o.key.ID)
		events, evErr := db.FindAuditEvents(ctx, org.ID, keyward.AuditFilter{TargetID: o.key.ID})
		if evErr != nil {
			t.Fatalf("FindAuditEvents: %v", evErr)
		}
		if o.err == nil {
			if err != nil {
				t.Errorf("%s: FindKeyByID() = %v, want the key", tt.name, err)
			} else if diff := cmp.Diff(o.key, got); diff != "" {
				t.Errorf("%s: key mismatch (-want +got):\n%s", tt.name, diff)
			}
			if len(events.Data) != 1 {
				t.Errorf("%s: %d events of the key, want 1", tt.name, len(events.Data))
			}
			continue
		}
		if keyward.ErrorCode(err) != keyward.ENOTFOUND {
			t.Errorf("%s: FindKeyByID() after a failed create = %v, want ENOTFOUND", tt.name, err)
		}
		if len(events.Data) != 0 {
			t.Errorf("%s: %d events of a key that failed, want 0", tt.name, len(events.Data))
		}
	}
}

// BenchmarkCreateKey measures one key creation on a file database, with
// the audit event that the service writes beside it.
func BenchmarkCreateKey(b *testing.B) {
	ctx := b.Context()
	db, org, root := mustOpenOrg(b)
	b.ReportAllocs()
	for b.Loop() {
		k, ev := newCreatedKey(b, org.ID, root.ID)
		if err := db.CreateKey(ctx, k, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateKeyParallel measures creations from 8 callers at once, as
// from an HTTP server under load, where they share commits.
func BenchmarkCreateKeyParallel(b *testing.B) {
	ctx := b.Context()
	db, org, root := mustOpenOrg(b)
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k, ev := newCreatedKey(b, org.ID, root.ID)
			if err := db.CreateKey(ctx, k, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// newCreatedKey returns a key as `POST /v1/keys {"name":"bench"}` makes it,
// and the audit event of its creation.
func newCreatedKey(tb testing.TB, orgID, creator string) (*keyward.Key, *keyward.AuditEvent) {
	tb.Helper()
	at := time.Now().UTC().Truncate(time.Microsecond)
	hash := sha256.Sum256([]byte(rand.Text()))
	k := &keyward.Key{
		ID:          uuid.Must(uuid.NewV7()).String(),
		OrgID:       orgID,
		Name:        "bench",
		KeyPrefix:   "kw_live_a8Kq2ZpX",
		Permissions: []string{},
		AllowedIPs:  []string{},
		Enabled:     true,
		CreatedAt:   at,
		UpdatedAt:   at,
		CreatedBy:   creator,
		Hash:        hash[:],
	}
	details, err := json.Marshal(map[string]any{
		"name": k.Name, "key_prefix": k.KeyPrefix, "permissions": k.Permissions,
		"allowed_ips": k.AllowedIPs, "expires_at": k.ExpiresAt, "enabled": k.Enabled,
		"owner_id": k.OwnerID, "service_account_id": k.ServiceAccountID,
		"rate_limits": k.RateLimits, "credits": k.Credits,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ev := &keyward.AuditEvent{
		ID:         uuid.Must(uuid.NewV7()).String(),
		OrgID:      orgID,
		Time:       at,
		ActorKeyID: creator,
		Action:     keyward.ActionKeyCreate,
		TargetType: "key",
		TargetID:   k.ID,
		RequestID:  "3f0c6a3e-6b1f-4a8e-9d1c-2b7a5e4f9c10",
		SourceIP:   "127.0.0.1",
		UserAgent:  "wrk",
		Details:    details,
	}
	return k, ev
}
