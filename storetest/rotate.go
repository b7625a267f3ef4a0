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
	next := old.Clone()
	next.ID = newID()
	next.Hash = newHash()
	next.KeyPrefix = "kw_live_" + randomSuffix()
	next.CreatedAt, next.UpdatedAt = at, at
	next.LastUsedAt, next.LastUsedIP, next.LastUsedUserAgent = nil, "", ""
	next.RotatedFrom, next.RotatedTo = "", ""
	return next
}

// rotate rotates k now with a grace period of an hour and returns the
// successor as stored.
func rotate(t *testing.T, s keyward.Store, k *keyward.Key) *keyward.Key {
	t.Helper()
	_, next := rotateAt(t, s, k, now(), time.Hour)
	return mustFindKey(t, s, k.OrgID, next.ID)
}

// rotateAt rotates k at at with a grace period of grace and returns what
// RotateKey returned: the old key as written and the successor as
// inserted.
func rotateAt(t *testing.T, s keyward.Store, k *keyward.Key, at time.Time, grace time.Duration) (old, next *keyward.Key) {
	t.Helper()
	next = &keyward.Key{}
	old, err := s.RotateKey(t.Context(), k.OrgID, k.ID, next, func(old *keyward.Key) error {
		*next = *successor(old, at)
		graceEnd := at.Add(grace)
		old.ExpiresAt, old.UpdatedAt = &graceEnd, at
		return nil
	}, keyEvent(k, keyward.ActionKeyRotate))
	if err != nil {
		t.Fatalf("RotateKey(%q): %v", k.ID, err)
	}
	return old, next
}

// testRotateKey checks that a rotation writes the old key's changes, the
// successor and the event together, links both keys, puts the successor
// on the old key's line, and moves the balance with its refill to the
// successor.
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
			// k starts the line, so its id names it.
			wantNext.LineID = k.ID
			wantOld := k.Clone()
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
				// The store sets both keys' lines, whatever rotate wrote.
				old.LineID, next.LineID = newID(), newID()
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

// testRotationLine checks a line of 30 daily rotations, each old key still
// in its long grace period: every key but the first carries the first
// key's id as its line through every path that reads a key, and a spend on
// any key of the line draws from the newest, however long the chain.
func testRotationLine(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	sa := createServiceAccount(t, s, acme, "rotating-bot")
	start := utc(2026, time.January, 1, 0, 0)
	const rotations = 30

	first := newKey(acme)
	first.OwnerID, first.ServiceAccountID = "", sa.ID
	first.Credits = credits(100, daily(100), start)
	createKey(t, s, first)
	wantLine := func(k *keyward.Key) string {
		if k.ID == first.ID {
			return ""
		}
		return first.ID
	}
	checkLine := func(path string, k *keyward.Key) {
		t.Helper()
		if got, want := k.LineID, wantLine(k); got != want {
			t.Errorf("%s: key %q has LineID %q, want %q", path, k.ID, got, want)
		}
	}

	line := []*keyward.Key{first}
	for i := range rotations {
		at := start.Add(time.Duration(i)*24*time.Hour + 12*time.Hour)
		old, next := rotateAt(t, s, line[i], at, 90*24*time.Hour)
		checkLine("RotateKey (old)", old)
		checkLine("RotateKey (next)", next)
		line = append(line, next)
	}
	newest := line[rotations]

	for _, k := range line {
		checkLine("FindKeyByID", mustFindKey(t, s, acme.ID, k.ID))
		byHash, err := s.FindKeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatalf("FindKeyByHash: %v", err)
		}
		checkLine("FindKeyByHash", byHash)
	}
	listed, err := s.FindKeys(ctx, acme.ID, keyward.KeyFilter{ServiceAccountID: sa.ID, Limit: keyward.MaxPageLimit})
	if err != nil {
		t.Fatalf("FindKeys: %v", err)
	}
	if len(listed.Data) != len(line) {
		t.Errorf("FindKeys() = %d keys, want %d", len(listed.Data), len(line))
	}
	for _, k := range listed.Data {
		checkLine("FindKeys", k)
	}

	// The refill due since January 1 applies first: the balance is 100.
	end := start.Add(rotations * 24 * time.Hour)
	spend(t, s, acme.ID, first.ID, 3, end.Add(time.Hour), 97, true)
	spend(t, s, acme.ID, line[rotations/2].ID, 7, end.Add(2*time.Hour), 90, true)
	spend(t, s, acme.ID, newest.ID, 10, end.Add(3*time.Hour), 80, true)
	if diff := cmp.Diff(credits(80, daily(100), end), storedCredits(t, s, acme.ID, newest.ID)); diff != "" {
		t.Errorf("newest key's credits mismatch (-want +got):\n%s", diff)
	}
	for _, k := range line[:rotations] {
		if got := storedCredits(t, s, acme.ID, k.ID); got == nil || got.Remaining != 0 {
			t.Errorf("rotated key %q credits = %+v, want a balance of 0", k.ID, got)
		}
	}

	updated, err := s.UpdateKey(ctx, acme.ID, line[rotations/2].ID, func(k *keyward.Key) error {
		k.Description = "mid-line"
		return nil
	}, nil)
	if err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	checkLine("UpdateKey", updated)

	refilled, err := s.RefillCredits(ctx, end.Add(24*time.Hour))
	if err != nil {
		t.Fatalf("RefillCredits: %v", err)
	}
	if len(refilled) != 1 || refilled[0].ID != newest.ID {
		t.Fatalf("RefillCredits() = %d keys, want the newest key alone", len(refilled))
	}
	checkLine("RefillCredits", refilled[0])

	revoked, err := s.DeleteServiceAccount(ctx, acme.ID, sa.ID, end.Add(25*time.Hour), nil, nil)
	if err != nil {
		t.Fatalf("DeleteServiceAccount: %v", err)
	}
	if len(revoked) != len(line) {
		t.Errorf("DeleteServiceAccount() revoked %d keys, want %d", len(revoked), len(line))
	}
	for _, k := range revoked {
		checkLine("DeleteServiceAccount", k)
	}
}

// testRotationLineIsolation checks that a spend looks for the newest key of
// a line in the key's own org alone: another org's key that carries the
// same line id never holds the balance.
func testRotationLineIsolation(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	initech := createOrg(t, s, "initech")

	first := newKey(acme)
	first.Credits = credits(10, nil, time.Time{})
	createKey(t, s, first)
	// Created before acme's newest key, so that a lookup by line alone
	// could find it first.
	theirs := newKey(initech)
	theirs.LineID = first.ID
	theirs.Credits = credits(1000, nil, time.Time{})
	createKey(t, s, theirs)
	second := rotate(t, s, first)
	spend(t, s, acme.ID, first.ID, 3, now(), 7, true)
	if got := storedCredits(t, s, acme.ID, second.ID).Remaining; got != 7 {
		t.Errorf("acme's newest key's remaining = %d, want 7", got)
	}

	// A rotated key whose line has no newest key in its org is an error,
	// even when another org's key carries that line id.
	lineID := newID()
	stray := newKey(acme)
	stray.LineID, stray.RotatedTo = lineID, newID()
	createKey(t, s, stray)
	other := newKey(initech)
	other.LineID = lineID
	other.Credits = credits(1000, nil, time.Time{})
	createKey(t, s, other)
	if remaining, ok, err := s.SpendCredits(ctx, acme.ID, stray.ID, 1, now()); err == nil {
		t.Errorf("SpendCredits(a key whose line is only in another org) = %d, %v, nil; want an error", remaining, ok)
	}

	wantKey(t, s, theirs)
	wantKey(t, s, other)
}
