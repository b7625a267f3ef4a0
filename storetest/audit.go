package storetest

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func testAuditEvents(t *testing.T, s keyward.Store) {
	acme := createOrg(t, s, "acme")

	k := newKey(acme)
	keyEv := keyEvent(k, keyward.ActionKeyCreate)
	keyEv.Details = json.RawMessage(`{"name":"billing-export","permissions":["invoices.read"]}`)
	if err := s.CreateKey(t.Context(), k, keyEv); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	sa := newServiceAccount(acme, "deploy-bot")
	// An event with every optional field empty.
	saEv := &keyward.AuditEvent{
		ID:         newID(),
		OrgID:      acme.ID,
		Time:       now(),
		Action:     keyward.ActionServiceAccountCreate,
		TargetType: "service_account",
		TargetID:   sa.ID,
	}
	if err := s.CreateServiceAccount(t.Context(), sa, saEv); err != nil {
		t.Fatalf("CreateServiceAccount: %v", err)
	}

	tests := []struct {
		name   string
		filter keyward.AuditFilter
		want   []*keyward.AuditEvent
	}{
		{"all, newest first", keyward.AuditFilter{}, []*keyward.AuditEvent{saEv, keyEv, acme.Event}},
		{"action", keyward.AuditFilter{Action: keyward.ActionKeyCreate}, []*keyward.AuditEvent{keyEv}},
		{"target", keyward.AuditFilter{TargetID: sa.ID}, []*keyward.AuditEvent{saEv}},
		{"action and target", keyward.AuditFilter{Action: keyward.ActionOrgCreate, TargetID: acme.ID}, []*keyward.AuditEvent{acme.Event}},
		{"action and other target", keyward.AuditFilter{Action: keyward.ActionKeyCreate, TargetID: sa.ID}, []*keyward.AuditEvent{}},
		{"unused action", keyward.AuditFilter{Action: keyward.ActionKeyDelete}, []*keyward.AuditEvent{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := allEvents(t, s, acme.ID, tt.filter)
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("FindAuditEvents(%+v) mismatch (-want +got):\n%s", tt.filter, diff)
			}
		})
	}
}

func testAuditEventsPagination(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	// The org's event and six key events: seven, newest first.
	want := []string{acme.Event.ID}
	for range 6 {
		k := newKey(acme)
		ev := keyEvent(k, keyward.ActionKeyCreate)
		if err := s.CreateKey(ctx, k, ev); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		want = append([]string{ev.ID}, want...)
	}

	checkPages(t, want, func(cursor string) ([]string, string, error) {
		p, err := s.FindAuditEvents(ctx, acme.ID, keyward.AuditFilter{Limit: 3, Cursor: cursor})
		return eventIDs(p.Data), p.NextCursor, err
	})

	// A filtered list pages too.
	p, err := s.FindAuditEvents(ctx, acme.ID, keyward.AuditFilter{Action: keyward.ActionKeyCreate, Limit: 5})
	if err != nil {
		t.Fatalf("FindAuditEvents: %v", err)
	}
	p, err = s.FindAuditEvents(ctx, acme.ID, keyward.AuditFilter{Action: keyward.ActionKeyCreate, Limit: 5, Cursor: p.NextCursor})
	if err != nil {
		t.Fatalf("FindAuditEvents: %v", err)
	}
	if diff := cmp.Diff(want[5:6], eventIDs(p.Data)); diff != "" || p.NextCursor != "" {
		t.Errorf("second filtered page = cursor %q, mismatch (-want +got):\n%s", p.NextCursor, diff)
	}
}
