package storetest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"keyward"
)

// RunChangeFeed runs the suite of stores that many nodes share, which
// implement keyward.ChangeFeed: every write that can change a verification
// answer is heard, exactly once and exactly as named, by every listener
// on the database; a write that does not commit is not heard, and neither
// is one that cannot change an answer.
//
// newPair returns two handles on one fresh, empty database, as two nodes
// open it, and closes them in the test's cleanup. The tests write through
// the first and listen on the second, so each checks what another node
// hears; one also listens on the writer.
func RunChangeFeed(t *testing.T, newPair func(t *testing.T) (keyward.Store, keyward.Store)) {
	tests := []struct {
		name string
		test func(t *testing.T, s, peer keyward.Store)
	}{
		{"UpdateKey", testChangeUpdateKey},
		{"RotateKey", testChangeRotateKey},
		{"DeleteServiceAccount", testChangeDeleteServiceAccount},
		{"UpsertOwner", testChangeUpsertOwner},
		{"UpdateOrgPolicy", testChangeUpdateOrgPolicy},
		{"RefillCredits", testChangeRefillCredits},
		{"SilentWrites", testChangeSilentWrites},
		{"AbortedWrites", testChangeAbortedWrites},
		{"EveryListenerHears", testChangeEveryListenerHears},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, peer := newPair(t)
			tt.test(t, s, peer)
		})
	}
}

// feedWait bounds the wait for a change. Notices arrive in milliseconds;
// only a lost one waits this long.
const feedWait = 5 * time.Second

// feed is a Listen that runs until the test ends, with what it hears.
type feed struct {
	changes chan keyward.Change
	// overflow records a change dropped because the test did not read:
	// apply must not block.
	overflow atomic.Bool
}

// listen starts s's Listen, checks Listening around it, and waits for its
// first change, which must be a ChangeAll. The test's setup should come
// before it, so that the feed hears the writes under test alone.
func listen(t *testing.T, s keyward.Store) *feed {
	t.Helper()
	cf, ok := s.(keyward.ChangeFeed)
	if !ok {
		t.Fatalf("%T does not implement keyward.ChangeFeed", s)
	}
	if cf.Listening() {
		t.Errorf("Listening() = true before Listen")
	}
	f := &feed{changes: make(chan keyward.Change, 1000)}
	// Not t.Context: the cleanup below ends Listen and checks how it
	// returns, before the store closes.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cf.Listen(ctx, func(c keyward.Change) {
			select {
			case f.changes <- c:
			default:
				f.overflow.Store(true)
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Listen() after its context ended = %v, want context.Canceled", err)
			}
		case <-time.After(feedWait):
			t.Errorf("Listen did not return within %v of its context's end", feedWait)
			return
		}
		if cf.Listening() {
			t.Errorf("Listening() = true after Listen returned")
		}
		if f.overflow.Load() {
			t.Errorf("apply dropped changes that the test did not read")
		}
	})
	if got := f.next(t); got.Kind != keyward.ChangeAll {
		t.Fatalf("first change = %+v, want a ChangeAll", got)
	}
	if !cf.Listening() {
		t.Errorf("Listening() = false after the first ChangeAll")
	}
	return f
}

func (f *feed) next(t *testing.T) keyward.Change {
	t.Helper()
	select {
	case c := <-f.changes:
		return c
	case <-time.After(feedWait):
		t.Fatalf("no change heard within %v", feedWait)
		return keyward.Change{}
	}
}

// until returns the changes heard before mark, and consumes mark.
func (f *feed) until(t *testing.T, mark keyward.Change) []keyward.Change {
	t.Helper()
	var got []keyward.Change
	for {
		c := f.next(t)
		if gocmp.Equal(c, mark) {
			return got
		}
		got = append(got, c)
	}
}

// marker writes the org policy of an org of its own, whose change closes
// what a test waits for: changes arrive in commit order, so the ones heard
// before the marker's are those of the writes committed before it, and
// "nothing heard" can be checked without a timeout.
type marker struct {
	s   keyward.Store
	org *org
}

func newMarker(t *testing.T, s keyward.Store) *marker {
	t.Helper()
	return &marker{s: s, org: createOrg(t, s, "marker")}
}

// write commits the marker and returns the change it makes.
func (m *marker) write(t *testing.T) keyward.Change {
	t.Helper()
	if err := m.s.UpdateOrgPolicy(t.Context(), m.org.ID, keyward.DefaultOrgPolicy(), policyEvent(m.org.ID)); err != nil {
		t.Fatalf("UpdateOrgPolicy(marker): %v", err)
	}
	return keyward.Change{Kind: keyward.ChangePolicy, OrgID: m.org.ID}
}

// expect runs write, then the marker, and checks that f hears exactly
// want in between, in any order.
func (f *feed) expect(t *testing.T, m *marker, want []keyward.Change, write func()) {
	t.Helper()
	write()
	wantChanges(t, want, f.until(t, m.write(t)))
}

// changeOpts compares lists of changes in any order: a write that names
// several keys may announce them in any order.
var changeOpts = gocmp.Options{
	cmpopts.EquateEmpty(),
	cmpopts.SortSlices(func(a, b keyward.Change) bool {
		if c := cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.OrgID, b.OrgID), bytes.Compare(a.KeyHash, b.KeyHash)); c != 0 {
			return c < 0
		}
		return a.OwnerID < b.OwnerID
	}),
}

func wantChanges(t *testing.T, want, got []keyward.Change) {
	t.Helper()
	if diff := gocmp.Diff(want, got, changeOpts); diff != "" {
		t.Errorf("changes heard mismatch (-want +got):\n%s", diff)
	}
}

// keyChange is the change that names k.
func keyChange(k *keyward.Key) keyward.Change {
	return keyward.Change{Kind: keyward.ChangeKey, OrgID: k.OrgID, KeyHash: k.Hash}
}

// testChangeUpdateKey checks that every kind of key update names the key.
func testChangeUpdateKey(t *testing.T, s, peer keyward.Store) {
	acme := createOrg(t, s, "acme")
	tests := []struct {
		name   string
		action string
		update func(k *keyward.Key, at time.Time)
	}{
		{"revoke", keyward.ActionKeyRevoke, func(k *keyward.Key, at time.Time) { k.RevokedAt = &at }},
		{"delete", keyward.ActionKeyDelete, func(k *keyward.Key, at time.Time) { k.DeletedAt = &at }},
		{"disable", keyward.ActionKeyUpdate, func(k *keyward.Key, _ time.Time) { k.Enabled = false }},
		{"narrow permissions", keyward.ActionKeyUpdate, func(k *keyward.Key, _ time.Time) { k.Permissions = []string{"invoices.read"} }},
		{"set credits", keyward.ActionKeyCredits, func(k *keyward.Key, _ time.Time) { k.Credits = credits(0, nil, time.Time{}) }},
	}
	keys := make([]*keyward.Key, len(tests))
	for i := range tests {
		keys[i] = createKey(t, s, newKey(acme))
	}
	m := newMarker(t, s)
	f := listen(t, peer)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := keys[i]
			f.expect(t, m, []keyward.Change{keyChange(k)}, func() {
				if _, err := s.UpdateKey(t.Context(), acme.ID, k.ID, func(cur *keyward.Key) error {
					at := now()
					tt.update(cur, at)
					cur.UpdatedAt = at
					return nil
				}, keyEvent(k, tt.action)); err != nil {
					t.Fatalf("UpdateKey: %v", err)
				}
			})
		})
	}
}

// testChangeRotateKey checks that a rotation names the old key, whose
// expiry it shortens. The successor is new: no cache can hold it.
func testChangeRotateKey(t *testing.T, s, peer keyward.Store) {
	acme := createOrg(t, s, "acme")
	k := createKey(t, s, newKey(acme))
	m := newMarker(t, s)
	f := listen(t, peer)
	f.expect(t, m, []keyward.Change{keyChange(k)}, func() {
		rotateAt(t, s, k, now(), time.Hour)
	})
}

// testChangeDeleteServiceAccount checks that deleting an account names
// each key it revokes, and no other.
func testChangeDeleteServiceAccount(t *testing.T, s, peer keyward.Store) {
	acme := createOrg(t, s, "acme")
	sa := createServiceAccount(t, s, acme, "deploy-bot")
	other := createServiceAccount(t, s, acme, "backup")
	earlier := now().Add(-time.Hour)
	withAccount := func(id string, revokedAt *time.Time) *keyward.Key {
		k := newKey(acme)
		k.OwnerID = ""
		k.ServiceAccountID = id
		k.RevokedAt = revokedAt
		return createKey(t, s, k)
	}
	live1 := withAccount(sa.ID, nil)
	live2 := withAccount(sa.ID, nil)
	withAccount(sa.ID, &earlier)
	withAccount(other.ID, nil)
	m := newMarker(t, s)
	f := listen(t, peer)
	f.expect(t, m, []keyward.Change{keyChange(live1), keyChange(live2)}, func() {
		if _, err := s.DeleteServiceAccount(t.Context(), acme.ID, sa.ID, now(), nil, serviceAccountEvent(sa, keyward.ActionServiceAccountDelete)); err != nil {
			t.Fatalf("DeleteServiceAccount: %v", err)
		}
	})
}

// testChangeUpsertOwner checks that an owner's new limits name the owner,
// whose id may hold spaces.
func testChangeUpsertOwner(t *testing.T, s, peer keyward.Store) {
	acme := createOrg(t, s, "acme")
	m := newMarker(t, s)
	f := listen(t, peer)
	o := &keyward.Owner{ID: "user 8f3k2", OrgID: acme.ID, RateLimits: []keyward.RateLimit{{Name: "default", Limit: 10, Window: 1}}, UpdatedAt: new(now())}
	f.expect(t, m, []keyward.Change{{Kind: keyward.ChangeOwner, OrgID: acme.ID, OwnerID: o.ID}}, func() {
		if err := s.UpsertOwner(t.Context(), o, ownerEvent(o)); err != nil {
			t.Fatalf("UpsertOwner: %v", err)
		}
	})
}

func testChangeUpdateOrgPolicy(t *testing.T, s, peer keyward.Store) {
	acme := createOrg(t, s, "acme")
	m := newMarker(t, s)
	f := listen(t, peer)
	policy := &keyward.OrgPolicy{AllowedIPs: []string{"10.0.0.0/8"}}
	f.expect(t, m, []keyward.Change{{Kind: keyward.ChangePolicy, OrgID: acme.ID}}, func() {
		if err := s.UpdateOrgPolicy(t.Context(), acme.ID, policy, policyEvent(acme.ID)); err != nil {
			t.Fatalf("UpdateOrgPolicy: %v", err)
		}
	})
}

// testChangeRefillCredits checks that a refill sweep announces nothing,
// however many keys of however many orgs it refills: a refill changes only
// the balance, which verification reads from the store (see
// keyward.ChangeKey).
func testChangeRefillCredits(t *testing.T, s, peer keyward.Store) {
	acme := createOrg(t, s, "acme")
	initech := createOrg(t, s, "initech")
	at := utc(2026, time.May, 1, 0, 0).Add(30 * time.Second)
	withCredits := func(o *org, c *keyward.Credits) *keyward.Key {
		k := newKey(o)
		k.Credits = c
		return createKey(t, s, k)
	}
	due := withCredits(acme, credits(3, daily(20), utc(2026, time.April, 30, 0, 0)))
	dueElsewhere := withCredits(initech, credits(0, daily(5), utc(2026, time.April, 20, 0, 0)))
	withCredits(acme, credits(3, daily(20), utc(2026, time.May, 1, 0, 0)))
	withCredits(acme, credits(4, nil, time.Time{}))
	m := newMarker(t, s)
	f := listen(t, peer)
	f.expect(t, m, nil, func() {
		refilled, err := s.RefillCredits(t.Context(), at)
		if err != nil {
			t.Fatalf("RefillCredits: %v", err)
		}
		// Else the test would prove nothing.
		sortIDs := cmpopts.SortSlices(func(a, b string) bool { return a < b })
		if diff := gocmp.Diff(keyIDs([]*keyward.Key{due, dueElsewhere}), keyIDs(refilled), sortIDs); diff != "" {
			t.Errorf("RefillCredits() refilled keys mismatch (-want +got):\n%s", diff)
		}
	})
	// Nor does a sweep that refills nothing.
	f.expect(t, m, nil, func() {
		if _, err := s.RefillCredits(t.Context(), at); err != nil {
			t.Fatalf("RefillCredits again: %v", err)
		}
	})
}

// keyIDs returns the ids of keys.
func keyIDs(keys []*keyward.Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

// testChangeSilentWrites checks that the writes that cannot change a
// verification answer announce nothing: a new key or service account is
// in no cache, and balances, last uses and usage counts are read from the
// store or not at all by verification. Each notice would make every node
// reload the key, and spends and last uses come with every verification.
func testChangeSilentWrites(t *testing.T, s, peer keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	at := utc(2026, time.May, 1, 0, 0).Add(30 * time.Second)
	withCredits := func(c *keyward.Credits) *keyward.Key {
		k := newKey(acme)
		k.Credits = c
		return createKey(t, s, k)
	}
	metered := withCredits(credits(10, nil, time.Time{}))
	refillBySpend := withCredits(credits(0, daily(20), utc(2026, time.April, 30, 0, 0)))
	refillBySweep := withCredits(credits(0, daily(5), utc(2026, time.April, 30, 0, 0)))

	tests := []struct {
		name  string
		write func(t *testing.T)
	}{
		{"CreateKey", func(t *testing.T) {
			createKey(t, s, newKey(acme))
		}},
		{"SpendCredits", func(t *testing.T) {
			if remaining, ok, err := s.SpendCredits(ctx, acme.ID, metered.ID, 3, at); err != nil || !ok || remaining != 7 {
				t.Errorf("SpendCredits() = %d, %v, %v; want 7, true, nil", remaining, ok, err)
			}
		}},
		{"SpendCredits refills", func(t *testing.T) {
			if remaining, ok, err := s.SpendCredits(ctx, acme.ID, refillBySpend.ID, 1, at); err != nil || !ok || remaining != 19 {
				t.Errorf("SpendCredits() = %d, %v, %v; want 19, true, nil", remaining, ok, err)
			}
		}},
		{"TouchKeys", func(t *testing.T) {
			if err := s.TouchKeys(ctx, []keyward.KeyUse{{OrgID: acme.ID, KeyID: metered.ID, At: now(), IP: "198.51.100.23"}}); err != nil {
				t.Errorf("TouchKeys: %v", err)
			}
		}},
		{"AddUsage", func(t *testing.T) {
			if err := s.AddUsage(ctx, []keyward.UsageCount{{OrgID: acme.ID, KeyID: metered.ID, Minute: at.Truncate(time.Minute), Code: keyward.CodeValid, Count: 2}}); err != nil {
				t.Errorf("AddUsage: %v", err)
			}
		}},
		{"CreateServiceAccount", func(t *testing.T) {
			createServiceAccount(t, s, acme, "deploy-bot")
		}},
		{"RefillCredits", func(t *testing.T) {
			refilled, err := s.RefillCredits(ctx, at)
			if err != nil {
				t.Fatalf("RefillCredits: %v", err)
			}
			if diff := gocmp.Diff([]string{refillBySweep.ID}, keyIDs(refilled)); diff != "" {
				t.Errorf("RefillCredits() refilled keys mismatch (-want +got):\n%s", diff)
			}
		}},
	}
	m := newMarker(t, s)
	f := listen(t, peer)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.expect(t, m, nil, func() { tt.write(t) })
		})
	}
}

// testChangeAbortedWrites checks that writes that do not commit, or commit
// nothing, announce nothing: a notice of a write that did not land would
// only cost a cache miss, but one sent before the commit could let a node
// reload the old record and keep it.
func testChangeAbortedWrites(t *testing.T, s, peer keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	k := createKey(t, s, newKey(acme))
	sa := createServiceAccount(t, s, acme, "deploy-bot")
	saKey := newKey(acme)
	saKey.OwnerID, saKey.ServiceAccountID = "", sa.ID
	createKey(t, s, saKey)
	errRefused := errors.New("refused")

	tests := []struct {
		name  string
		write func() error
		want  error
	}{
		{"UpdateKey callback fails", func() error {
			_, err := s.UpdateKey(ctx, acme.ID, k.ID, func(cur *keyward.Key) error {
				cur.RevokedAt = new(now())
				return errRefused
			}, keyEvent(k, keyward.ActionKeyRevoke))
			return err
		}, errRefused},
		{"UpdateKey returns ErrNoChange", func() error {
			_, err := s.UpdateKey(ctx, acme.ID, k.ID, func(cur *keyward.Key) error {
				cur.Enabled = false
				return keyward.ErrNoChange
			}, keyEvent(k, keyward.ActionKeyUpdate))
			return err
		}, nil},
		{"RotateKey callback fails", func() error {
			_, err := s.RotateKey(ctx, acme.ID, k.ID, successor(k, now()), func(old *keyward.Key) error {
				old.ExpiresAt = new(now())
				return errRefused
			}, keyEvent(k, keyward.ActionKeyRotate))
			return err
		}, errRefused},
		{"DeleteServiceAccount vetoed", func() error {
			_, err := s.DeleteServiceAccount(ctx, acme.ID, sa.ID, now(), func([]*keyward.Key) error {
				return errRefused
			}, serviceAccountEvent(sa, keyward.ActionServiceAccountDelete))
			return err
		}, errRefused},
	}
	m := newMarker(t, s)
	f := listen(t, peer)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.expect(t, m, nil, func() {
				if err := tt.write(); !errors.Is(err, tt.want) {
					t.Errorf("write = %v, want %v", err, tt.want)
				}
			})
		})
	}
}

// testChangeEveryListenerHears checks that the writer's own listener
// hears its writes too, alongside another node's: a node learns of its own
// writes either way, and the feed must not tell the two apart.
func testChangeEveryListenerHears(t *testing.T, s, peer keyward.Store) {
	acme := createOrg(t, s, "acme")
	k := createKey(t, s, newKey(acme))
	m := newMarker(t, s)
	own := listen(t, s)
	other := listen(t, peer)
	own.expect(t, m, []keyward.Change{keyChange(k)}, func() {
		if _, err := s.UpdateKey(t.Context(), acme.ID, k.ID, func(cur *keyward.Key) error {
			cur.RevokedAt = new(now())
			return nil
		}, keyEvent(k, keyward.ActionKeyRevoke)); err != nil {
			t.Fatalf("UpdateKey: %v", err)
		}
	})
	wantChanges(t, []keyward.Change{keyChange(k)}, other.until(t, keyward.Change{Kind: keyward.ChangePolicy, OrgID: m.org.ID}))
}
