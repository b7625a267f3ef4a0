package service_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func TestOwners(t *testing.T) {
	f := newFixture(t)
	got, err := f.svc.FindOwner(f.root, "user_42")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&keyward.Owner{ID: "user_42", OrgID: f.org.ID}, got); diff != "" {
		t.Errorf("owner without settings (-want +got):\n%s", diff)
	}

	limits := []keyward.RateLimit{{Name: "default", Limit: 1000, Window: 3600}}
	updated, err := f.svc.UpdateOwner(f.root, "user_42", keyward.OwnerUpdate{RateLimits: limits})
	if err != nil {
		t.Fatal(err)
	}
	want := &keyward.Owner{ID: "user_42", OrgID: f.org.ID, RateLimits: limits, UpdatedAt: &f.now}
	if diff := cmp.Diff(want, updated); diff != "" {
		t.Errorf("updated owner (-want +got):\n%s", diff)
	}
	if got, err = f.svc.FindOwner(f.root, "user_42"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored owner (-want +got):\n%s", diff)
	}
	evs := f.events(t, keyward.ActionOwnerUpdate)
	if len(evs) != 1 || evs[0].TargetID != "user_42" || string(evs[0].Details) != `{"rate_limits":[{"name":"default","limit":1000,"window":3600}]}` {
		t.Errorf("audit events %+v, want one on user_42 naming the limits", evs)
	}

	// An empty list removes the limits.
	if updated, err = f.svc.UpdateOwner(f.root, "user_42", keyward.OwnerUpdate{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]keyward.RateLimit{}, updated.RateLimits); diff != "" {
		t.Errorf("limits after removing them (-want +got):\n%s", diff)
	}

	// Owners are per org: another org's owner of the same id is its own.
	_, other, err := f.svc.CreateOrg(t.Context(), "other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateOwner(f.as(other.Key), "user_42", keyward.OwnerUpdate{RateLimits: limits}); err != nil {
		t.Fatal(err)
	}
	if got, err = f.svc.FindOwner(f.root, "user_42"); err != nil || len(got.RateLimits) != 0 {
		t.Errorf("owner after another org set limits on its namesake: %+v, %v; want no limits", got, err)
	}
}

func TestOwnersRefusals(t *testing.T) {
	f := newFixture(t)
	limits := []keyward.RateLimit{{Name: "default", Limit: 10, Window: 60}}
	if _, err := f.svc.UpdateOwner(f.root, "user_1", keyward.OwnerUpdate{RateLimits: limits}); err != nil {
		t.Fatal(err)
	}
	before, err := f.svc.FindOwner(f.root, "user_1")
	if err != nil {
		t.Fatal(err)
	}
	reader := f.create(t, f.root, keyward.KeyCreate{Name: "reader", Permissions: []string{keyward.PermKeysRead}})
	for _, tt := range []struct {
		name   string
		owner  string
		limits []keyward.RateLimit
		want   []string
	}{
		{"empty owner id", "", nil, []string{"owner_id"}},
		{"owner id of 256", strings.Repeat("u", 256), nil, []string{"owner_id"}},
		{"control character", "user\x00", nil, []string{"owner_id"}},
		{"bad limits", "user_1", []keyward.RateLimit{{Name: "a", Limit: 0, Window: 60}, {Name: "b", Limit: 1, Window: 86401}}, []string{"rate_limits[0].limit", "rate_limits[1].window"}},
		{"17 limits", "user_1", numberedLimits(17), []string{"rate_limits"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.UpdateOwner(f.root, tt.owner, keyward.OwnerUpdate{RateLimits: tt.limits})
			wantInvalid(t, err, tt.want...)
		})
	}
	_, err = f.svc.FindOwner(f.root, "")
	wantInvalid(t, err, "owner_id")
	if _, err := f.svc.UpdateOwner(f.as(reader.Key), "user_1", keyward.OwnerUpdate{}); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("UpdateOwner with %s only: got %v, want forbidden", keyward.PermKeysRead, err)
	}
	if _, err := f.svc.FindOwner(f.as(reader.Key), "user_1"); err != nil {
		t.Errorf("FindOwner with %s: %v", keyward.PermKeysRead, err)
	}
	got, err := f.svc.FindOwner(f.root, "user_1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, got); diff != "" {
		t.Errorf("owner after refused updates (-want +got):\n%s", diff)
	}
	if n := len(f.events(t, keyward.ActionOwnerUpdate)); n != 1 {
		t.Errorf("got %d %s events, want 1: refused updates write nothing", n, keyward.ActionOwnerUpdate)
	}
}

// TestOwnersNeedCover checks that an owner's limits may only be set by a
// caller that covers every live key of the owner: a weak admin must not
// throttle the root's owner.
func TestOwnersNeedCover(t *testing.T) {
	f := newFixture(t)
	admin := f.create(t, f.root, keyward.KeyCreate{Name: "admin", Permissions: []string{"admin:api-keys:*", "docs.read"}})
	// The owner's root-level key is on the second page of FindKeys, after
	// a full page of keys the admin covers.
	for i := range keyward.MaxPageLimit {
		f.create(t, f.root, keyward.KeyCreate{Name: fmt.Sprintf("weak %d", i), OwnerID: "user_root", Permissions: []string{"docs.read"}})
	}
	strong := f.create(t, f.root, keyward.KeyCreate{Name: "strong", OwnerID: "user_root", Permissions: []string{"*"}})
	f.create(t, f.root, keyward.KeyCreate{Name: "own level", OwnerID: "user_weak", Permissions: []string{"docs.read"}})
	// Revoked and deleted keys are bound by nothing, so they need no cover.
	revoked := f.create(t, f.root, keyward.KeyCreate{Name: "revoked", OwnerID: "user_weak", Permissions: []string{"*"}})
	deleted := f.create(t, f.root, keyward.KeyCreate{Name: "deleted", OwnerID: "user_weak", Permissions: []string{"*"}})
	if _, err := f.svc.RevokeKey(f.root, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.DeleteKey(f.root, deleted.ID); err != nil {
		t.Fatal(err)
	}

	throttle := keyward.OwnerUpdate{RateLimits: []keyward.RateLimit{{Name: "default", Limit: 1, Window: 86400}}}
	_, err := f.svc.UpdateOwner(f.as(admin.Key), "user_root", throttle)
	if keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Fatalf("throttling the root's owner as a weak admin: got %v, want forbidden", err)
	}
	if msg := keyward.ErrorMessage(err); !strings.Contains(msg, strong.ID) {
		t.Errorf("message %q does not name the key %s", msg, strong.ID)
	}
	got, err := f.svc.FindOwner(f.root, "user_root")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.RateLimits) != 0 || got.UpdatedAt != nil {
		t.Errorf("owner after a refused update: %+v, want it never set", got)
	}
	if n := len(f.events(t, keyward.ActionOwnerUpdate)); n != 0 {
		t.Errorf("got %d %s events after a refused update, want 0", n, keyward.ActionOwnerUpdate)
	}

	if _, err := f.svc.UpdateOwner(f.as(admin.Key), "user_weak", throttle); err != nil {
		t.Errorf("throttling an owner of keys at the admin's own level: %v", err)
	}
	if _, err := f.svc.UpdateOwner(f.root, "user_root", throttle); err != nil {
		t.Errorf("throttling the root's owner as root: %v", err)
	}
}
