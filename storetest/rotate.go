package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// successor returns a new key with every setting of old, as a rotation
// makes it: a fresh id, secret and prefix, and no use yet.
func successor(old *keyward.Key, at time.Time) *keyward.Key {
	next := cloneKey(old)
	next.ID = newID()
	next.Hash = newHash()
	next.KeyPrefix = "kw_live_" + randomSuffix()
	next.CreatedAt, next.UpdatedAt = at, at
	next.LastUsedAt, next.LastUsedIP, next.LastUsedUserAgent = nil, "", ""
	next.RotatedFrom, next.RotatedTo = "", ""
	return next
}

// rotate rotates k with a grace period of an hour and returns the
// successor as stored.
func rotate(t *testing.T, s keyward.Store, k *keyward.Key) *keyward.Key {
	t.Helper()
	next := &keyward.Key{}
	at := now()
	if _, err := s.RotateKey(t.Context(), k.OrgID, k.ID, next, func(old *keyward.Key) error {
		*next = *successor(old, at)
		graceEnd := at.Add(time.Hour)
		old.ExpiresAt, old.UpdatedAt = &graceEnd, at
		return nil
	}, keyEvent(k, keyward.ActionKeyRotate)); err != nil {
		t.Fatalf("RotateKey(%q): %v", k.ID, err)
	}
	return mustFindKey(t, s, k.OrgID, next.ID)
}

// testRotateKey checks that a rotation writes the old key's changes, the
// successor and the event together, links both keys, and moves the
// balance with its refill to the successor.
func testRotateKey(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	refilled := utc(2026, time.June, 1, 0, 0)

	tests := []struct {
		name string
		edit func(k *keyward.Key)
		// wantOldCredits is the old key's credits after the rotation.
		wantOldCredits *keyward.Credits
	}{
		{
			name: "with credits and a refill",
			edit: func(k *keyward.Key) {
				k.RateLimits = []keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}}
				k.Credits = credits(40, daily(100), refilled)
			},
			wantOldCredits: &keyward.Credits{},
		},
		{
			name: "unlimited",
			edit: func(k *keyward.Key) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(acme)
			tt.edit(k)
			createKey(t, s, k)
			at := now()
			graceEnd := at.Add(10 * time.Minute)

			wantNext := successor(k, at)
			wantNext.RotatedFrom = k.ID
			wantOld := cloneKey(k)
			wantOld.ExpiresAt, wantOld.UpdatedAt = &graceEnd, at
			wantOld.RotatedTo = wantNext.ID
			wantOld.Credits = tt.wantOldCredits

			next := &keyward.Key{}
			ev := keyEvent(k, keyward.ActionKeyRotate)
			got, err := s.RotateKey(ctx, acme.ID, k.ID, next, func(old *keyward.Key) error {
				// rotate sees the stored record.
				if diff := cmp.Diff(k, old, cmpOpts); diff != "" {
					t.Errorf("rotate got (-stored +got):\n%s", diff)
				}
				*next = *successor(old, at)
				next.ID, next.Hash, next.KeyPrefix = wantNext.ID, wantNext.Hash, wantNext.KeyPrefix
				old.ExpiresAt, old.UpdatedAt = &graceEnd, at
				return nil
			}, ev)
			if err != nil {
				t.Fatalf("RotateKey: %v", err)
			}
			if diff := cmp.Diff(wantOld, got, cmpOpts); diff != "" {
				t.Errorf("RotateKey() mismatch (-want +got):\n%s", diff)
			}
			wantKey(t, s, wantOld)
			wantKey(t, s, wantNext)
			events := allEvents(t, s, acme.ID, keyward.AuditFilter{TargetID: k.ID})
			if len(events) == 0 {
				t.Fatalf("no audit event for the key")
			}
			if diff := cmp.Diff(ev, events[0], cmpOpts); diff != "" {
				t.Errorf("newest audit event mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// testRotateKeyAborts checks that a failed rotation writes nothing: not
// the old key's changes, not the successor, not the event.
func testRotateKeyAborts(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	errRotated := keyward.Errorf(keyward.ECONFLICT, "The key was already rotated.")
	deletedAt := now()

	tests := []struct {
		name     string
		edit     func(k *keyward.Key)
		id       func(k *keyward.Key) string
		rotate   func(old *keyward.Key) error
		event    func(k *keyward.Key) *keyward.AuditEvent
		check    func(t *testing.T, err error)
		noRotate bool
	}{
		{
			name: "rotate returns an error",
			rotate: func(old *keyward.Key) error {
				old.Name = "half-rotated"
				return errRotated
			},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errRotated) {
					t.Errorf("RotateKey() = %v, want rotate's error", err)
				}
			},
		},
		{
			name:   "audit event fails",
			rotate: func(old *keyward.Key) error { return nil },
			event: func(k *keyward.Key) *keyward.AuditEvent {
				ev := keyEvent(k, keyward.ActionKeyRotate)
				ev.ID = acme.Event.ID
				return ev
			},
			check: func(t *testing.T, err error) {
				if err == nil {
					t.Errorf("RotateKey with a duplicate event id = nil, want an error")
				}
			},
		},
		{
			name:     "missing key",
			id:       func(*keyward.Key) string { return newID() },
			rotate:   func(*keyward.Key) error { return nil },
			check:    func(t *testing.T, err error) { wantCode(t, err, keyward.ENOTFOUND) },
			noRotate: true,
		},
		{
			name:     "deleted key",
			edit:     func(k *keyward.Key) { k.DeletedAt = &deletedAt },
			rotate:   func(*keyward.Key) error { return nil },
			check:    func(t *testing.T, err error) { wantCode(t, err, keyward.ENOTFOUND) },
			noRotate: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(acme)
			k.Credits = credits(25, nil, time.Time{})
			if tt.edit != nil {
				tt.edit(k)
			}
			createKey(t, s, k)
			id := k.ID
			if tt.id != nil {
				id = tt.id(k)
			}
			ev := keyEvent(k, keyward.ActionKeyRotate)
			if tt.event != nil {
				ev = tt.event(k)
			}
			before := eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))
			next := &keyward.Key{}
			called := false
			got, err := s.RotateKey(ctx, acme.ID, id, next, func(old *keyward.Key) error {
				called = true
				*next = *successor(old, now())
				return tt.rotate(old)
			}, ev)
			tt.check(t, err)
			if got != nil {
				t.Errorf("RotateKey() returned a key with error %v", err)
			}
			if called && tt.noRotate {
				t.Errorf("rotate was called")
			}
			wantKey(t, s, k)
			if called {
				_, err := s.FindKeyByID(ctx, acme.ID, next.ID)
				wantCode(t, err, keyward.ENOTFOUND)
				_, err = s.FindKeyByHash(ctx, next.Hash)
				wantCode(t, err, keyward.ENOTFOUND)
			}
			if diff := cmp.Diff(before, eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))); diff != "" {
				t.Errorf("audit events changed (-before +after):\n%s", diff)
			}
		})
	}
}
