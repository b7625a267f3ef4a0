package service_test

import (
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
	if diff := cmp.Diff(&keyward.Owner{ID: "user_42", OrgID: f.org.ID, RateLimits: []keyward.RateLimit{}}, got); diff != "" {
		t.Errorf("owner without settings (-want +got):\n%s", diff)
	}

	limits := []keyward.RateLimit{{Name: "default", Limit: 1000, Window: 3600}}
	updated, err := f.svc.UpdateOwner(f.root, "user_42", keyward.OwnerUpdate{RateLimits: limits})
	if err != nil {
		t.Fatal(err)
	}
	want := &keyward.Owner{ID: "user_42", OrgID: f.org.ID, RateLimits: limits, UpdatedAt: f.now}
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
