package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func ownerEvent(o *keyward.Owner) *keyward.AuditEvent {
	return &keyward.AuditEvent{
		ID:         newID(),
		OrgID:      o.OrgID,
		Time:       *o.UpdatedAt,
		Action:     keyward.ActionOwnerUpdate,
		TargetType: "owner",
		TargetID:   o.ID,
	}
}

func wantOwner(t *testing.T, s keyward.Store, want *keyward.Owner) {
	t.Helper()
	got, err := s.FindOwner(t.Context(), want.OrgID, want.ID)
	if err != nil {
		t.Fatalf("FindOwner(%q): %v", want.ID, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("FindOwner(%q) mismatch (-want +got):\n%s", want.ID, diff)
	}
}

// testOwners checks owner settings: absent until set, replaced whole by
// each upsert, audited, and kept apart per org.
func testOwners(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	initech := createOrg(t, s, "initech")
	const ownerID = "user_8f3k2"

	_, err := s.FindOwner(ctx, acme.ID, ownerID)
	wantCode(t, err, keyward.ENOTFOUND)

	steps := []struct {
		name   string
		limits []keyward.RateLimit
	}{
		{"create", []keyward.RateLimit{{Name: "default", Limit: 1000, Window: 60}, {Name: "daily", Limit: 50000, Window: 86400}}},
		{"replace", []keyward.RateLimit{{Name: "default", Limit: 10, Window: 1}}},
		{"remove every limit", nil},
	}
	for _, step := range steps {
		o := &keyward.Owner{ID: ownerID, OrgID: acme.ID, RateLimits: step.limits, UpdatedAt: new(now())}
		ev := ownerEvent(o)
		if err := s.UpsertOwner(ctx, o, ev); err != nil {
			t.Fatalf("%s: UpsertOwner: %v", step.name, err)
		}
		wantOwner(t, s, o)
		events := allEvents(t, s, acme.ID, keyward.AuditFilter{TargetID: ownerID})
		if len(events) == 0 || events[0].ID != ev.ID {
			t.Errorf("%s: the newest event of the owner is not the upsert's", step.name)
		}
	}
	acmeOwner, err := s.FindOwner(ctx, acme.ID, ownerID)
	if err != nil {
		t.Fatalf("FindOwner: %v", err)
	}

	// The same owner id in another org is another owner.
	_, err = s.FindOwner(ctx, initech.ID, ownerID)
	wantCode(t, err, keyward.ENOTFOUND)
	theirs := &keyward.Owner{ID: ownerID, OrgID: initech.ID, RateLimits: []keyward.RateLimit{{Name: "default", Limit: 1, Window: 3600}}, UpdatedAt: new(now())}
	if err := s.UpsertOwner(ctx, theirs, ownerEvent(theirs)); err != nil {
		t.Fatalf("UpsertOwner(initech): %v", err)
	}
	wantOwner(t, s, theirs)
	wantOwner(t, s, acmeOwner)
	if got := allEvents(t, s, acme.ID, keyward.AuditFilter{Action: keyward.ActionOwnerUpdate}); len(got) != len(steps) {
		t.Errorf("acme has %d owner events, want %d", len(got), len(steps))
	}

	// An org that does not exist has no owners to write.
	missing := &keyward.Owner{ID: ownerID, OrgID: newID(), UpdatedAt: new(now())}
	err = s.UpsertOwner(ctx, missing, ownerEvent(missing))
	wantCode(t, err, keyward.ENOTFOUND)
}

func policyEvent(orgID string) *keyward.AuditEvent {
	return &keyward.AuditEvent{
		ID:         newID(),
		OrgID:      orgID,
		Time:       now(),
		Action:     keyward.ActionOrgPolicyUpdate,
		TargetType: "organization",
		TargetID:   orgID,
	}
}

func wantPolicy(t *testing.T, s keyward.Store, orgID string, want *keyward.OrgPolicy) {
	t.Helper()
	got, err := s.FindOrgPolicy(t.Context(), orgID)
	if err != nil {
		t.Fatalf("FindOrgPolicy(%q): %v", orgID, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindOrgPolicy(%q) mismatch (-want +got):\n%s", orgID, diff)
	}
}

// testOrgPolicy checks that an org starts with the default policy, that
// updates replace it whole, and that each org has its own.
func testOrgPolicy(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	initech := createOrg(t, s, "initech")
	wantPolicy(t, s, acme.ID, keyward.DefaultOrgPolicy())

	maxLife, defaultLife := int64(90*86400), int64(30*86400)
	tests := []struct {
		name   string
		policy *keyward.OrgPolicy
	}{
		{"every rule", &keyward.OrgPolicy{
			MaxKeyLifetime:     &maxLife,
			DefaultKeyLifetime: &defaultLife,
			AllowedIPs:         []string{"10.0.0.0/8", "2001:db8::/32"},
			AllowNonExpiring:   false,
		}},
		{"a maximum alone", &keyward.OrgPolicy{MaxKeyLifetime: &maxLife, AllowedIPs: []string{}}},
		{"back to the default", keyward.DefaultOrgPolicy()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := policyEvent(acme.ID)
			if err := s.UpdateOrgPolicy(ctx, acme.ID, tt.policy, ev); err != nil {
				t.Fatalf("UpdateOrgPolicy: %v", err)
			}
			wantPolicy(t, s, acme.ID, tt.policy)
			events := allEvents(t, s, acme.ID, keyward.AuditFilter{})
			if len(events) == 0 || events[0].ID != ev.ID {
				t.Errorf("the newest event is not the policy update's")
			}
			// Another org's policy is untouched.
			wantPolicy(t, s, initech.ID, keyward.DefaultOrgPolicy())
		})
	}

	missing := newID()
	_, err := s.FindOrgPolicy(ctx, missing)
	wantCode(t, err, keyward.ENOTFOUND)
	err = s.UpdateOrgPolicy(ctx, missing, keyward.DefaultOrgPolicy(), policyEvent(missing))
	wantCode(t, err, keyward.ENOTFOUND)
}
