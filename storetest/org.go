package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func testOrgs(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	wantCount := func(want int) {
		t.Helper()
		if got, err := s.CountOrgs(ctx); err != nil || got != want {
			t.Errorf("CountOrgs() = %d, %v; want %d, nil", got, err, want)
		}
	}
	// keyward serve creates the default org when the count is 0.
	wantCount(0)
	def := createOrg(t, s, keyward.DefaultOrgName)
	wantCount(1)
	acme := createOrg(t, s, "acme")
	wantCount(2)

	for _, want := range []*org{def, acme} {
		got, err := s.FindOrgByName(ctx, want.Name)
		if err != nil {
			t.Fatalf("FindOrgByName(%q): %v", want.Name, err)
		}
		if diff := cmp.Diff(want.Organization, got); diff != "" {
			t.Errorf("FindOrgByName(%q) mismatch (-want +got):\n%s", want.Name, diff)
		}
	}
	_, err := s.FindOrgByName(ctx, "initech")
	wantCode(t, err, keyward.ENOTFOUND)
}

func testCreateOrgAtomic(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")

	// The root key and the event land with the org.
	wantKey(t, s, acme.Root)
	if diff := cmp.Diff([]*keyward.AuditEvent{acme.Event}, allEvents(t, s, acme.ID, keyward.AuditFilter{}), cmpOpts); diff != "" {
		t.Errorf("FindAuditEvents() mismatch (-want +got):\n%s", diff)
	}

	// A second org of that name conflicts, and neither its root key nor
	// its event is written.
	dup := newOrg("acme")
	err := s.CreateOrg(ctx, dup.Organization, dup.Root, dup.Event)
	wantCode(t, err, keyward.ECONFLICT)
	if n, err := s.CountOrgs(ctx); err != nil || n != 1 {
		t.Errorf("CountOrgs() = %d, %v; want 1, nil", n, err)
	}
	_, err = s.FindKeyByHash(ctx, dup.Root.Hash)
	wantCode(t, err, keyward.ENOTFOUND)
	if got := allEvents(t, s, dup.ID, keyward.AuditFilter{}); len(got) != 0 {
		t.Errorf("FindAuditEvents(duplicate org) = %d events, want 0", len(got))
	}
	got, err := s.FindOrgByName(ctx, "acme")
	if err != nil {
		t.Fatalf("FindOrgByName: %v", err)
	}
	if got.ID != acme.ID {
		t.Errorf("FindOrgByName(acme).ID = %q, want the first org's %q", got.ID, acme.ID)
	}
}
