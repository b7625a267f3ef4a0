package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// testIsolation checks that no method scoped by org reads or writes another
// org's rows: an id of another org answers like one that does not exist.
func testIsolation(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	initech := createOrg(t, s, "initech")
	sa := createServiceAccount(t, s, acme, "deploy-bot")
	k := newKey(acme)
	k.OwnerID = ""
	k.ServiceAccountID = sa.ID
	k.Credits = &keyward.Credits{Remaining: 10}
	createKey(t, s, k)
	acmeEvents := eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))

	_, err := s.FindKeyByID(ctx, initech.ID, k.ID)
	wantCode(t, err, keyward.ENOTFOUND)

	_, err = s.UpdateKey(ctx, initech.ID, k.ID, func(*keyward.Key) error {
		t.Errorf("update called for another org's key")
		return nil
	}, keyEvent(k, keyward.ActionKeyUpdate))
	wantCode(t, err, keyward.ENOTFOUND)

	_, err = s.RotateKey(ctx, initech.ID, k.ID, &keyward.Key{}, func(*keyward.Key) error {
		t.Errorf("rotate called for another org's key")
		return nil
	}, keyEvent(k, keyward.ActionKeyRotate))
	wantCode(t, err, keyward.ENOTFOUND)

	_, _, err = s.SpendCredits(ctx, initech.ID, k.ID, 1, now())
	wantCode(t, err, keyward.ENOTFOUND)

	if diff := cmp.Diff([]string{initech.Root.ID}, allKeyIDs(t, s, initech.ID, keyward.KeyFilter{})); diff != "" {
		t.Errorf("FindKeys(initech) ids mismatch (-want +got):\n%s", diff)
	}
	if got := allKeyIDs(t, s, initech.ID, keyward.KeyFilter{ServiceAccountID: sa.ID}); len(got) != 0 {
		t.Errorf("FindKeys(initech, acme's service account) = %v, want none", got)
	}

	_, err = s.FindServiceAccountByID(ctx, initech.ID, sa.ID)
	wantCode(t, err, keyward.ENOTFOUND)
	p, err := s.FindServiceAccounts(ctx, initech.ID, keyward.ServiceAccountFilter{})
	if err != nil {
		t.Fatalf("FindServiceAccounts: %v", err)
	}
	if len(p.Data) != 0 {
		t.Errorf("FindServiceAccounts(initech) = %d accounts, want 0", len(p.Data))
	}
	revoked, err := s.DeleteServiceAccount(ctx, initech.ID, sa.ID, now(), func([]*keyward.Key) error {
		t.Errorf("check called for another org's service account")
		return nil
	}, serviceAccountEvent(sa, keyward.ActionServiceAccountDelete))
	wantCode(t, err, keyward.ENOTFOUND)
	if len(revoked) != 0 {
		t.Errorf("DeleteServiceAccount(initech, acme's account) revoked %d keys", len(revoked))
	}
	if _, err := s.FindServiceAccountByID(ctx, acme.ID, sa.ID); err != nil {
		t.Errorf("acme's service account after another org deleted it: %v", err)
	}

	got := eventIDs(allEvents(t, s, initech.ID, keyward.AuditFilter{}))
	if diff := cmp.Diff([]string{initech.Event.ID}, got); diff != "" {
		t.Errorf("FindAuditEvents(initech) ids mismatch (-want +got):\n%s", diff)
	}
	if got := allEvents(t, s, initech.ID, keyward.AuditFilter{TargetID: k.ID}); len(got) != 0 {
		t.Errorf("FindAuditEvents(initech, acme's key) = %d events, want 0", len(got))
	}

	// acme's rows are untouched.
	wantKey(t, s, k)
	if diff := cmp.Diff(acmeEvents, eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))); diff != "" {
		t.Errorf("acme's audit events changed (-before +after):\n%s", diff)
	}
}
