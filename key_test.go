package keyward_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// TestKeyJSON pins the wire form: every field present in record order,
// empty optional strings null, and a round trip that loses nothing.
func TestKeyJSON(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	k := &keyward.Key{ID: "k1", OrgID: "o1", Name: "n", KeyPrefix: "kw_live_abcdefgh", Enabled: true, CreatedAt: now, UpdatedAt: now, Hash: []byte{1}}
	got, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"k1","org_id":"o1","name":"n","description":"","key_prefix":"kw_live_abcdefgh","permissions":[],"allowed_ips":[],` +
		`"expires_at":null,"enabled":true,"owner_id":null,"service_account_id":null,"metadata":{},"rate_limits":[],"credits":null,` +
		`"created_at":"2026-11-23T12:00:00Z","updated_at":"2026-11-23T12:00:00Z","created_by":null,"last_used_at":null,` +
		`"last_used_ip":null,"last_used_user_agent":null,"revoked_at":null,"deleted_at":null,"rotated_from":null,"rotated_to":null}`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	full := &keyward.Key{ID: "k1", OrgID: "o1", Name: "n", Description: "d", KeyPrefix: "p", Permissions: []string{"a"},
		AllowedIPs: []string{"10.0.0.0/8"}, ExpiresAt: &now, OwnerID: "u", Metadata: json.RawMessage(`{"x":1}`),
		RateLimits: []keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}},
		Credits:    &keyward.Credits{Remaining: 5, Refill: &keyward.CreditRefill{Amount: 10, Interval: keyward.RefillMonthly, Day: 31}, RefilledAt: &now},
		CreatedAt:  now, UpdatedAt: now, CreatedBy: "k0", LastUsedAt: &now, LastUsedIP: "10.0.0.1", LastUsedUserAgent: "ua", RevokedAt: &now,
		RotatedFrom: "k-1", RotatedTo: "k2"}
	created := &keyward.CreatedKey{Key: full, Secret: "kw_live_secret"}
	data, err := json.Marshal(created)
	if err != nil {
		t.Fatal(err)
	}
	var back keyward.CreatedKey
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(created, &back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestKeyClone checks that changing a clone's slices and pointers leaves the
// original alone, so that stores may hand clones to callers.
func TestKeyClone(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	newKey := func() *keyward.Key {
		at := now
		return &keyward.Key{ID: "k1", Permissions: []string{"a"}, AllowedIPs: []string{"10.0.0.0/8"},
			Metadata: json.RawMessage(`{"x":1}`), Hash: []byte{1}, ExpiresAt: &at, LastUsedAt: &at, RevokedAt: &at, DeletedAt: &at,
			RateLimits: []keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}},
			Credits:    &keyward.Credits{Remaining: 5, Refill: &keyward.CreditRefill{Amount: 10, Interval: keyward.RefillDaily}, RefilledAt: &at}}
	}
	k := newKey()
	c := k.Clone()
	if diff := cmp.Diff(k, c); diff != "" {
		t.Fatalf("clone (-want +got):\n%s", diff)
	}
	later := now.Add(time.Hour)
	c.Permissions[0], c.AllowedIPs[0], c.Metadata[0], c.Hash[0] = "b", "::1/128", '[', 2
	*c.ExpiresAt, *c.LastUsedAt, *c.RevokedAt, *c.DeletedAt = later, later, later, later
	c.RateLimits[0].Limit = 1
	c.Credits.Remaining, c.Credits.Refill.Amount, *c.Credits.RefilledAt = 0, 1, later
	if diff := cmp.Diff(newKey(), k); diff != "" {
		t.Errorf("original changed through its clone (-want +got):\n%s", diff)
	}
}

// TestLinkRotation pins what every backend writes on rotation: the old key
// keeps its identity whatever the callback did, the line is named by its
// first key, and the credits move whole, even when a rerun finds none.
func TestLinkRotation(t *testing.T) {
	refill := &keyward.CreditRefill{Amount: 10, Interval: keyward.RefillDaily}
	stored := &keyward.Key{ID: "k1", OrgID: "o", Hash: []byte{1}, Credits: &keyward.Credits{Remaining: 7, Refill: refill}}
	old := stored.Clone()
	old.ID, old.Hash = "changed", []byte{2} // a callback cannot change identity
	next := &keyward.Key{ID: "k2", OrgID: "o"}
	if err := keyward.LinkRotation(stored, old, next); err != nil {
		t.Fatal(err)
	}
	if old.ID != "k1" || string(old.Hash) != "\x01" || old.RotatedTo != "k2" || next.RotatedFrom != "k1" || next.LineID != "k1" {
		t.Errorf("links: old %s hash %x → %s; next from %s line %s", old.ID, old.Hash, old.RotatedTo, next.RotatedFrom, next.LineID)
	}
	if next.Credits == nil || next.Credits.Remaining != 7 || next.Credits.Refill == nil || *next.Credits.Refill != *refill || old.Credits == nil || old.Credits.Remaining != 0 || old.Credits.Refill != nil {
		t.Errorf("credits: old %+v, next %+v; want all of them on next and 0 left on old", old.Credits, next.Credits)
	}

	// The second rotation of the line keeps the first key's id as line.
	third := &keyward.Key{ID: "k3", OrgID: "o", Credits: &keyward.Credits{Remaining: 99}}
	if err := keyward.LinkRotation(next, next.Clone(), third); err != nil {
		t.Fatal(err)
	}
	if third.LineID != "k1" {
		t.Errorf("line of the third key: got %q, want k1", third.LineID)
	}

	// A rerun that finds no credits any more leaves none on next.
	bare := &keyward.Key{ID: "k4", OrgID: "o"}
	if err := keyward.LinkRotation(bare, bare.Clone(), third); err != nil || third.Credits != nil {
		t.Errorf("rerun without credits: next credits %+v, err %v; want none", third.Credits, err)
	}

	if err := keyward.LinkRotation(stored, stored.Clone(), &keyward.Key{ID: "x", OrgID: "other"}); err == nil {
		t.Errorf("successor of another org: got nil error")
	}
}
