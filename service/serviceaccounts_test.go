package service_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// TestDeleteServiceAccountNonEscalation checks that deleting a service
// account cannot revoke a key that the caller could not revoke directly:
// the delete is refused whole, and the account and its keys stay as they
// were.
func TestDeleteServiceAccountNonEscalation(t *testing.T) {
	f := newFixture(t)
	sa, err := f.svc.CreateServiceAccount(f.root, keyward.ServiceAccountCreate{Name: "deploy-bot"})
	if err != nil {
		t.Fatal(err)
	}
	strong := f.create(t, f.root, keyward.KeyCreate{Name: "deploy", Permissions: []string{keyward.PermRoot}, ServiceAccountID: sa.ID})
	caller := f.create(t, f.root, keyward.KeyCreate{Name: "sa admin", Permissions: []string{keyward.PermServiceAccountsDelete}})

	_, err = f.svc.DeleteServiceAccount(f.as(caller.Key), sa.ID)
	if got := keyward.ErrorCode(err); got != keyward.EFORBIDDEN {
		t.Fatalf("got %q (%v), want %q", got, err, keyward.EFORBIDDEN)
	}

	got, err := f.svc.FindServiceAccountByID(f.root, sa.ID)
	if err != nil {
		t.Fatalf("service account after a refused delete: %v", err)
	}
	if diff := cmp.Diff(sa, got); diff != "" {
		t.Errorf("service account after a refused delete (-want +got):\n%s", diff)
	}
	k, err := f.svc.FindKeyByID(f.root, strong.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strong.Key, k); diff != "" {
		t.Errorf("key after a refused delete (-want +got):\n%s", diff)
	}
	if res, err := f.svc.Verify(f.root, keyward.VerifyRequest{Key: strong.Secret}); err != nil || res.Code != keyward.CodeValid {
		t.Errorf("verify after a refused delete: %+v, %v; want VALID", res, err)
	}
	events, err := f.svc.FindAuditEvents(f.root, keyward.AuditFilter{Action: keyward.ActionServiceAccountDelete})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.Data) != 0 {
		t.Errorf("got %d %s events after a refused delete, want 0", len(events.Data), keyward.ActionServiceAccountDelete)
	}
}

// TestDeleteServiceAccountAuditsRevokedKeys checks that a caller covering
// every live key of the account deletes it, and that the audit event names
// each key it revoked.
func TestDeleteServiceAccountAuditsRevokedKeys(t *testing.T) {
	f := newFixture(t)
	sa, err := f.svc.CreateServiceAccount(f.root, keyward.ServiceAccountCreate{Name: "deploy-bot"})
	if err != nil {
		t.Fatal(err)
	}
	reader := f.create(t, f.root, keyward.KeyCreate{Name: "reader", Permissions: []string{"docs.read"}, ServiceAccountID: sa.ID})
	writer := f.create(t, f.root, keyward.KeyCreate{Name: "writer", Permissions: []string{"docs:write"}, ServiceAccountID: sa.ID})
	// A key revoked earlier is neither checked nor revoked again, so even
	// a "*" key does not stand in the way.
	old := f.create(t, f.root, keyward.KeyCreate{Name: "old", Permissions: []string{keyward.PermRoot}, ServiceAccountID: sa.ID})
	if _, err := f.svc.RevokeKey(f.root, old.ID); err != nil {
		t.Fatal(err)
	}
	caller := f.create(t, f.root, keyward.KeyCreate{Name: "sa admin", Permissions: []string{keyward.PermServiceAccountsDelete, "docs.read", "docs:write"}})

	deleted, err := f.svc.DeleteServiceAccount(f.as(caller.Key), sa.ID)
	if err != nil {
		t.Fatalf("DeleteServiceAccount: %v", err)
	}
	if deleted.DeletedAt == nil || !deleted.DeletedAt.Equal(f.now) {
		t.Errorf("deleted_at %v, want %v", deleted.DeletedAt, f.now)
	}
	for _, k := range []*keyward.CreatedKey{reader, writer} {
		if res, err := f.svc.Verify(f.root, keyward.VerifyRequest{Key: k.Secret}); err != nil || res.Code != keyward.CodeRevoked {
			t.Errorf("verify %s after the delete: %+v, %v; want REVOKED", k.Name, res, err)
		}
	}

	events, err := f.svc.FindAuditEvents(f.root, keyward.AuditFilter{Action: keyward.ActionServiceAccountDelete, TargetID: sa.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.Data) != 1 {
		t.Fatalf("got %d %s events, want 1", len(events.Data), keyward.ActionServiceAccountDelete)
	}
	ev := events.Data[0]
	if ev.ActorKeyID != caller.ID {
		t.Errorf("actor %q, want the caller %q", ev.ActorKeyID, caller.ID)
	}
	var details struct {
		RevokedKeyIDs []string `json:"revoked_key_ids"`
	}
	if err := json.Unmarshal(ev.Details, &details); err != nil {
		t.Fatalf("details %s: %v", ev.Details, err)
	}
	want := []string{reader.ID, writer.ID}
	slices.Sort(want)
	slices.Sort(details.RevokedKeyIDs)
	if diff := cmp.Diff(want, details.RevokedKeyIDs); diff != "" {
		t.Errorf("revoked_key_ids (-want +got):\n%s", diff)
	}
}
