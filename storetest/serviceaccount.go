package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func testServiceAccounts(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	var want []*keyward.ServiceAccount
	for _, name := range []string{"deploy-bot", "ci", "backup"} {
		want = append(want, createServiceAccount(t, s, acme, name))
	}
	minimal := &keyward.ServiceAccount{ID: newID(), OrgID: acme.ID, Name: "bare", CreatedAt: now()}
	if err := s.CreateServiceAccount(ctx, minimal, nil); err != nil {
		t.Fatalf("CreateServiceAccount(minimal): %v", err)
	}
	want = append(want, minimal)

	for _, sa := range want {
		got, err := s.FindServiceAccountByID(ctx, acme.ID, sa.ID)
		if err != nil {
			t.Fatalf("FindServiceAccountByID(%q): %v", sa.Name, err)
		}
		if diff := cmp.Diff(sa, got); diff != "" {
			t.Errorf("FindServiceAccountByID(%q) mismatch (-want +got):\n%s", sa.Name, diff)
		}
	}
	_, err := s.FindServiceAccountByID(ctx, acme.ID, newID())
	wantCode(t, err, keyward.ENOTFOUND)

	// Pages of 3 by id: the first three, then the last.
	first, err := s.FindServiceAccounts(ctx, acme.ID, keyward.ServiceAccountFilter{Limit: 3})
	if err != nil {
		t.Fatalf("FindServiceAccounts: %v", err)
	}
	if diff := cmp.Diff(want[:3], first.Data); diff != "" || first.NextCursor == "" {
		t.Errorf("FindServiceAccounts(limit 3) = cursor %q, mismatch (-want +got):\n%s", first.NextCursor, diff)
	}
	second, err := s.FindServiceAccounts(ctx, acme.ID, keyward.ServiceAccountFilter{Limit: 3, Cursor: first.NextCursor})
	if err != nil {
		t.Fatalf("FindServiceAccounts: %v", err)
	}
	if diff := cmp.Diff(want[3:], second.Data); diff != "" || second.NextCursor != "" {
		t.Errorf("FindServiceAccounts(second page) = cursor %q, mismatch (-want +got):\n%s", second.NextCursor, diff)
	}

	events := allEvents(t, s, acme.ID, keyward.AuditFilter{Action: keyward.ActionServiceAccountCreate})
	if len(events) != 3 {
		t.Errorf("got %d %s events, want 3", len(events), keyward.ActionServiceAccountCreate)
	}
}

func testDeleteServiceAccount(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	sa := createServiceAccount(t, s, acme, "deploy-bot")
	other := createServiceAccount(t, s, acme, "backup")
	withAccount := func(id string, edit func(k *keyward.Key)) *keyward.Key {
		k := newKey(acme)
		k.OwnerID = ""
		k.ServiceAccountID = id
		edit(k)
		return createKey(t, s, k)
	}
	earlier := now().Add(-time.Hour)
	live1 := withAccount(sa.ID, func(*keyward.Key) {})
	live2 := withAccount(sa.ID, func(k *keyward.Key) { k.Enabled = false })
	revoked := withAccount(sa.ID, func(k *keyward.Key) { k.RevokedAt = &earlier })
	deleted := withAccount(sa.ID, func(k *keyward.Key) { k.DeletedAt = &earlier })
	otherKey := withAccount(other.ID, func(*keyward.Key) {})
	ownerKey := createKey(t, s, newKey(acme))

	at := now().Add(time.Minute)
	var want []*keyward.Key
	for _, k := range []*keyward.Key{live1, live2} {
		w := cloneKey(k)
		w.RevokedAt, w.UpdatedAt = &at, at
		want = append(want, w)
	}
	ev := serviceAccountEvent(sa, keyward.ActionServiceAccountDelete)
	got, err := s.DeleteServiceAccount(ctx, acme.ID, sa.ID, at, ev)
	if err != nil {
		t.Fatalf("DeleteServiceAccount: %v", err)
	}
	// The revoked keys come back whole, hash included, for caches to drop,
	// in any order.
	slices.SortFunc(got, func(a, b *keyward.Key) int { return strings.Compare(a.ID, b.ID) })
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("DeleteServiceAccount() revoked keys mismatch (-want +got):\n%s", diff)
	}
	for _, k := range append(want, revoked, deleted, otherKey, ownerKey) {
		wantKey(t, s, k)
	}

	_, err = s.FindServiceAccountByID(ctx, acme.ID, sa.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	p, err := s.FindServiceAccounts(ctx, acme.ID, keyward.ServiceAccountFilter{})
	if err != nil {
		t.Fatalf("FindServiceAccounts: %v", err)
	}
	if diff := cmp.Diff([]*keyward.ServiceAccount{other}, p.Data); diff != "" {
		t.Errorf("FindServiceAccounts() after delete mismatch (-want +got):\n%s", diff)
	}
	events := allEvents(t, s, acme.ID, keyward.AuditFilter{TargetID: sa.ID})
	if len(events) == 0 {
		t.Fatalf("no audit event for the service account")
	}
	if diff := cmp.Diff(ev, events[0], cmpOpts); diff != "" {
		t.Errorf("newest audit event mismatch (-want +got):\n%s", diff)
	}

	// Deleting again, or a missing account, is ENOTFOUND and writes nothing.
	before := eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))
	for _, id := range []string{sa.ID, newID()} {
		got, err := s.DeleteServiceAccount(ctx, acme.ID, id, now(), serviceAccountEvent(sa, keyward.ActionServiceAccountDelete))
		wantCode(t, err, keyward.ENOTFOUND)
		if len(got) != 0 {
			t.Errorf("DeleteServiceAccount(%q) returned %d keys with its error", id, len(got))
		}
	}
	if diff := cmp.Diff(before, eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))); diff != "" {
		t.Errorf("audit events changed (-before +after):\n%s", diff)
	}

	// An account without keys deletes with none to revoke.
	empty := createServiceAccount(t, s, acme, "unused")
	got, err = s.DeleteServiceAccount(ctx, acme.ID, empty.ID, now(), nil)
	if err != nil || len(got) != 0 {
		t.Errorf("DeleteServiceAccount(unused) = %d keys, %v; want none, nil", len(got), err)
	}
}
