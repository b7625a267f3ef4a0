package storetest

import (
	"encoding/json"
	"errors"
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
	initech := createOrg(t, s, "initech")
	sa := createServiceAccount(t, s, acme, "deploy-bot")
	other := createServiceAccount(t, s, acme, "backup")
	foreign := createServiceAccount(t, s, initech, "deploy-bot")
	withAccount := func(o *org, id string, edit func(k *keyward.Key)) *keyward.Key {
		k := newKey(o)
		k.OwnerID = ""
		k.ServiceAccountID = id
		edit(k)
		return createKey(t, s, k)
	}
	earlier := now().Add(-time.Hour)
	live1 := withAccount(acme, sa.ID, func(*keyward.Key) {})
	live2 := withAccount(acme, sa.ID, func(k *keyward.Key) { k.Enabled = false })
	revoked := withAccount(acme, sa.ID, func(k *keyward.Key) { k.RevokedAt = &earlier })
	deleted := withAccount(acme, sa.ID, func(k *keyward.Key) { k.DeletedAt = &earlier })
	otherKey := withAccount(acme, other.ID, func(*keyward.Key) {})
	foreignKey := withAccount(initech, foreign.ID, func(*keyward.Key) {})
	ownerKey := createKey(t, s, newKey(acme))

	at := now().Add(time.Minute)
	var want []*keyward.Key
	for _, k := range []*keyward.Key{live1, live2} {
		w := k.Clone()
		w.RevokedAt, w.UpdatedAt = &at, at
		want = append(want, w)
	}
	ev := serviceAccountEvent(sa, keyward.ActionServiceAccountDelete)
	details := json.RawMessage(`{"revoked_key_ids":["` + live1.ID + `","` + live2.ID + `"]}`)
	var checked []*keyward.Key
	got, err := s.DeleteServiceAccount(ctx, acme.ID, sa.ID, at, func(keys []*keyward.Key) error {
		checked = keys
		// The event is written after check returns, so check can record
		// what it saw.
		ev.Details = details
		return nil
	}, ev)
	if err != nil {
		t.Fatalf("DeleteServiceAccount: %v", err)
	}
	// check sees exactly the keys about to be revoked, as they were stored
	// before, in any order.
	slices.SortFunc(checked, func(a, b *keyward.Key) int { return strings.Compare(a.ID, b.ID) })
	if diff := cmp.Diff([]*keyward.Key{live1, live2}, checked, cmpOpts); diff != "" {
		t.Errorf("DeleteServiceAccount() checked keys mismatch (-want +got):\n%s", diff)
	}
	// The revoked keys come back whole, hash included, for caches to drop,
	// in any order.
	slices.SortFunc(got, func(a, b *keyward.Key) int { return strings.Compare(a.ID, b.ID) })
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("DeleteServiceAccount() revoked keys mismatch (-want +got):\n%s", diff)
	}
	for _, k := range append(want, revoked, deleted, otherKey, foreignKey, ownerKey) {
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
	if _, err := s.FindServiceAccountByID(ctx, initech.ID, foreign.ID); err != nil {
		t.Errorf("initech's service account after acme deleted its own: %v", err)
	}
	events := allEvents(t, s, acme.ID, keyward.AuditFilter{TargetID: sa.ID})
	if len(events) == 0 {
		t.Fatalf("no audit event for the service account")
	}
	if diff := cmp.Diff(ev, events[0], cmpOpts); diff != "" {
		t.Errorf("newest audit event mismatch (-want +got):\n%s", diff)
	}
	if !equalJSON(details, events[0].Details) {
		t.Errorf("audit event details = %s, want %s, as set by check", events[0].Details, details)
	}

	// Deleting again, or a missing account, is ENOTFOUND, never calls
	// check, and writes nothing.
	before := eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))
	for _, id := range []string{sa.ID, newID()} {
		got, err := s.DeleteServiceAccount(ctx, acme.ID, id, now(), func([]*keyward.Key) error {
			t.Errorf("DeleteServiceAccount(%q) called check", id)
			return nil
		}, serviceAccountEvent(sa, keyward.ActionServiceAccountDelete))
		wantCode(t, err, keyward.ENOTFOUND)
		if len(got) != 0 {
			t.Errorf("DeleteServiceAccount(%q) returned %d keys with its error", id, len(got))
		}
	}
	if diff := cmp.Diff(before, eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))); diff != "" {
		t.Errorf("audit events changed (-before +after):\n%s", diff)
	}

	// An account without keys deletes with none to check or revoke.
	empty := createServiceAccount(t, s, acme, "unused")
	got, err = s.DeleteServiceAccount(ctx, acme.ID, empty.ID, now(), func(keys []*keyward.Key) error {
		if len(keys) != 0 {
			t.Errorf("check of an account without keys got %d keys, want 0", len(keys))
		}
		return nil
	}, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("DeleteServiceAccount(unused) = %d keys, %v; want none, nil", len(got), err)
	}
}

// testDeleteServiceAccountAborts checks that a delete that fails, because
// check refuses a key or the audit row cannot be written, leaves the
// account live, its keys unrevoked and no audit row.
func testDeleteServiceAccountAborts(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	errVeto := keyward.Errorf(keyward.EFORBIDDEN, "The key holds permissions the caller does not.")

	tests := []struct {
		name  string
		check func(keys []*keyward.Key) error
		event func(sa *keyward.ServiceAccount) *keyward.AuditEvent
		want  func(t *testing.T, err error)
	}{
		{
			name:  "check returns an error",
			check: func([]*keyward.Key) error { return errVeto },
			want: func(t *testing.T, err error) {
				if !errors.Is(err, errVeto) {
					t.Errorf("DeleteServiceAccount() = %v, want check's error", err)
				}
			},
		},
		{
			name:  "audit event fails",
			check: func([]*keyward.Key) error { return nil },
			event: func(sa *keyward.ServiceAccount) *keyward.AuditEvent {
				ev := serviceAccountEvent(sa, keyward.ActionServiceAccountDelete)
				ev.ID = acme.Event.ID
				return ev
			},
			want: func(t *testing.T, err error) {
				if err == nil {
					t.Errorf("DeleteServiceAccount with a duplicate event id = nil, want an error")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sa := createServiceAccount(t, s, acme, "deploy-bot")
			k := newKey(acme)
			k.OwnerID = ""
			k.ServiceAccountID = sa.ID
			createKey(t, s, k)
			ev := serviceAccountEvent(sa, keyward.ActionServiceAccountDelete)
			if tt.event != nil {
				ev = tt.event(sa)
			}
			before := eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))

			got, err := s.DeleteServiceAccount(ctx, acme.ID, sa.ID, now(), tt.check, ev)
			tt.want(t, err)
			if len(got) != 0 {
				t.Errorf("DeleteServiceAccount() returned %d keys with its error", len(got))
			}

			live, err := s.FindServiceAccountByID(ctx, acme.ID, sa.ID)
			if err != nil {
				t.Fatalf("FindServiceAccountByID after a failed delete: %v", err)
			}
			if diff := cmp.Diff(sa, live); diff != "" {
				t.Errorf("service account after a failed delete mismatch (-want +got):\n%s", diff)
			}
			wantKey(t, s, k)
			if diff := cmp.Diff(before, eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))); diff != "" {
				t.Errorf("audit events changed (-before +after):\n%s", diff)
			}
		})
	}
}
