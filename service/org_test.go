package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"keyward"
)

const day = 24 * 3600

// setPolicy replaces the org's policy as the root key.
func (f *fixture) setPolicy(t *testing.T, upd keyward.OrgPolicyUpdate) {
	t.Helper()
	if _, err := f.svc.UpdateOrgPolicy(f.root, upd); err != nil {
		t.Fatalf("UpdateOrgPolicy(%+v): %v", upd, err)
	}
}

// storePolicy writes pol straight to the store, as a policy stored before
// UpdateOrgPolicy refused a maximum lifetime with non-expiring keys.
func (f *fixture) storePolicy(t *testing.T, pol *keyward.OrgPolicy) {
	t.Helper()
	ev := &keyward.AuditEvent{ID: uuid.Must(uuid.NewV7()).String(), OrgID: f.org.ID, Time: f.now,
		Action: keyward.ActionOrgPolicyUpdate, TargetType: "organization", TargetID: f.org.ID}
	if err := f.db.UpdateOrgPolicy(t.Context(), f.org.ID, pol, ev); err != nil {
		t.Fatal(err)
	}
}

// beyondMax is what a key without an expiry meets under a 30-day maximum.
const beyondMax = "expires_at: the organization's policy requires keys to expire within 2592000 seconds"

func TestOrgPolicyValidation(t *testing.T) {
	f := newFixture(t)
	tooMany := make([]string, 101)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("10.0.0.%d", i)
	}
	for _, tt := range []struct {
		name string
		upd  keyward.OrgPolicyUpdate
		want []string
	}{
		{"zero max", keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr[int64](0)}, []string{"max_key_lifetime"}},
		{"max over 100 years", keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr[int64](100*365*day + 1)}, []string{"max_key_lifetime"}},
		{"negative default", keyward.OrgPolicyUpdate{DefaultKeyLifetime: ptr[int64](-1)}, []string{"default_key_lifetime"}},
		{"default over max", keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr[int64](day), DefaultKeyLifetime: ptr[int64](day + 1)}, []string{"default_key_lifetime"}},
		{"bad IP", keyward.OrgPolicyUpdate{AllowedIPs: []string{"10.0.0.0/8", "10.0.0.1/33"}}, []string{"allowed_ips[1]"}},
		{"101 IPs", keyward.OrgPolicyUpdate{AllowedIPs: tooMany}, []string{"allowed_ips"}},
		{"max with non-expiring keys", keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr[int64](day), AllowNonExpiring: ptr(true)}, []string{"allow_non_expiring"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.UpdateOrgPolicy(f.root, tt.upd)
			wantInvalid(t, err, tt.want...)
		})
	}
	got, err := f.svc.FindOrgPolicy(f.root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keyward.DefaultOrgPolicy(), got); diff != "" {
		t.Errorf("policy after failed updates (-want +got):\n%s", diff)
	}
	if n := len(f.events(t, keyward.ActionOrgPolicyUpdate)); n != 0 {
		t.Errorf("got %d %s events after failed updates, want 0", n, keyward.ActionOrgPolicyUpdate)
	}
}

func TestOrgPolicyUpdate(t *testing.T) {
	f := newFixture(t)
	got, err := f.svc.UpdateOrgPolicy(f.root, keyward.OrgPolicyUpdate{
		MaxKeyLifetime:     ptr[int64](90 * day),
		DefaultKeyLifetime: ptr[int64](30 * day),
		AllowedIPs:         []string{"192.168.1.7/24", "::ffff:10.1.2.3"},
		AllowNonExpiring:   ptr(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &keyward.OrgPolicy{
		MaxKeyLifetime:     ptr[int64](90 * day),
		DefaultKeyLifetime: ptr[int64](30 * day),
		AllowedIPs:         []string{"192.168.1.0/24", "10.1.2.3"},
		AllowNonExpiring:   false,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("updated policy (-want +got):\n%s", diff)
	}
	stored, err := f.svc.FindOrgPolicy(f.root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("stored policy (-want +got):\n%s", diff)
	}
	evs := f.events(t, keyward.ActionOrgPolicyUpdate)
	if len(evs) != 1 || evs[0].TargetID != f.org.ID {
		t.Fatalf("got %d %s events (%+v), want one on the org", len(evs), keyward.ActionOrgPolicyUpdate, evs)
	}
	var audited keyward.OrgPolicy
	if err := json.Unmarshal(evs[0].Details, &audited); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, &audited); diff != "" {
		t.Errorf("audited policy (-want +got):\n%s", diff)
	}

	// Without allow_non_expiring, a maximum lifetime rules out keys that
	// never expire.
	got, err = f.svc.UpdateOrgPolicy(f.root, keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr[int64](90 * day)})
	if err != nil {
		t.Fatal(err)
	}
	want = &keyward.OrgPolicy{MaxKeyLifetime: ptr[int64](90 * day), AllowedIPs: []string{}, AllowNonExpiring: false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policy with a max alone (-want +got):\n%s", diff)
	}

	// Absent members take the defaults again.
	f.setPolicy(t, keyward.OrgPolicyUpdate{})
	if stored, err = f.svc.FindOrgPolicy(f.root); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keyward.DefaultOrgPolicy(), stored); diff != "" {
		t.Errorf("policy after an empty update (-want +got):\n%s", diff)
	}
}

func TestOrgPolicyPermissions(t *testing.T) {
	f := newFixture(t)
	reader := f.create(t, f.root, keyward.KeyCreate{Name: "reader", Permissions: []string{keyward.PermOrgRead}})
	keyAdmin := f.create(t, f.root, keyward.KeyCreate{Name: "key admin", Permissions: []string{"admin:api-keys:*"}})
	if _, err := f.svc.FindOrgPolicy(f.as(reader.Key)); err != nil {
		t.Errorf("FindOrgPolicy with %s: %v", keyward.PermOrgRead, err)
	}
	if _, err := f.svc.UpdateOrgPolicy(f.as(reader.Key), keyward.OrgPolicyUpdate{}); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("UpdateOrgPolicy with %s only: got %v, want forbidden", keyward.PermOrgRead, err)
	}
	if _, err := f.svc.FindOrgPolicy(f.as(keyAdmin.Key)); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("FindOrgPolicy with admin:api-keys:*: got %v, want forbidden", err)
	}
}

func TestOrgPolicyOnCreate(t *testing.T) {
	f := newFixture(t)
	f.setPolicy(t, keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr[int64](30 * day), DefaultKeyLifetime: ptr[int64](7 * day)})

	k := f.create(t, f.root, keyward.KeyCreate{Name: "default lifetime"})
	if want := f.now.Add(7 * 24 * time.Hour); k.ExpiresAt == nil || !k.ExpiresAt.Equal(want) {
		t.Errorf("key without expiry expires at %v, want the default %v", k.ExpiresAt, want)
	}
	k = f.create(t, f.root, keyward.KeyCreate{Name: "at the max", ExpiresIn: ptr[int64](30 * day)})
	if want := f.now.Add(30 * 24 * time.Hour); k.ExpiresAt == nil || !k.ExpiresAt.Equal(want) {
		t.Errorf("key at the max expires at %v, want %v", k.ExpiresAt, want)
	}
	for _, tt := range []struct {
		name string
		in   keyward.KeyCreate
		want string
	}{
		{"expires_in beyond the max", keyward.KeyCreate{Name: "k", ExpiresIn: ptr[int64](30*day + 1)}, "expires_in"},
		{"expires_at beyond the max", keyward.KeyCreate{Name: "k", ExpiresAt: ptr(f.now.Add(31 * 24 * time.Hour))}, "expires_at"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.CreateKey(f.root, tt.in)
			wantInvalid(t, err, tt.want)
		})
	}

	// Without a default lifetime, a key given no expiry would never
	// expire, which is beyond the max; so too under a policy stored with
	// both a max and non-expiring keys allowed.
	f.setPolicy(t, keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr[int64](30 * day)})
	_, err := f.svc.CreateKey(f.root, keyward.KeyCreate{Name: "forever"})
	wantInvalid(t, err, "expires_at")
	if msg := keyward.ErrorMessage(err); msg != beyondMax {
		t.Errorf("message %q, want %q", msg, beyondMax)
	}
	f.storePolicy(t, &keyward.OrgPolicy{MaxKeyLifetime: ptr[int64](30 * day), AllowedIPs: []string{}, AllowNonExpiring: true})
	_, err = f.svc.CreateKey(f.root, keyward.KeyCreate{Name: "forever"})
	wantInvalid(t, err, "expires_at")

	f.setPolicy(t, keyward.OrgPolicyUpdate{AllowNonExpiring: ptr(false)})
	_, err = f.svc.CreateKey(f.root, keyward.KeyCreate{Name: "forever"})
	wantInvalid(t, err, "expires_at")
	if msg := keyward.ErrorMessage(err); msg != "expires_at: the organization's policy requires keys to expire" {
		t.Errorf("message %q", msg)
	}
	if n := len(f.events(t, keyward.ActionKeyCreate)); n != 2 {
		t.Errorf("got %d %s events, want 2: refused creates write nothing", n, keyward.ActionKeyCreate)
	}
}

func TestOrgPolicyOnUpdate(t *testing.T) {
	f := newFixture(t)
	// Made before the policy: it keeps its lack of expiry until changed.
	forever := f.create(t, f.root, keyward.KeyCreate{Name: "forever"})
	f.setPolicy(t, keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr[int64](30 * day), DefaultKeyLifetime: ptr[int64](7 * day), AllowNonExpiring: ptr(false)})
	f.now = f.now.Add(time.Hour)
	if _, err := f.svc.UpdateKey(f.root, forever.ID, keyward.KeyUpdate{Name: ptr("renamed")}); err != nil {
		t.Errorf("renaming a key made before the policy: %v", err)
	}
	before := f.find(t, forever.ID)
	if before.ExpiresAt != nil {
		t.Errorf("a new policy changed an existing key's expiry to %v", before.ExpiresAt)
	}
	for _, tt := range []struct {
		name string
		upd  keyward.KeyUpdate
		want string
	}{
		{"null when keys must expire", keyward.KeyUpdate{ExpiresAt: keyward.OptionalTime{Set: true}}, "expires_at"},
		{"expires_in beyond the max", keyward.KeyUpdate{ExpiresIn: ptr[int64](30*day + 1)}, "expires_in"},
		{"expires_at beyond the max", keyward.KeyUpdate{ExpiresAt: keyward.OptionalTime{Set: true, Value: ptr(f.now.Add(31 * 24 * time.Hour))}}, "expires_at"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.UpdateKey(f.root, forever.ID, tt.upd)
			wantInvalid(t, err, tt.want)
		})
	}
	// A max alone refuses null too, as does one stored with non-expiring
	// keys allowed.
	f.setPolicy(t, keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr[int64](30 * day)})
	_, err := f.svc.UpdateKey(f.root, forever.ID, keyward.KeyUpdate{ExpiresAt: keyward.OptionalTime{Set: true}})
	wantInvalid(t, err, "expires_at")
	if msg := keyward.ErrorMessage(err); msg != beyondMax {
		t.Errorf("message %q, want %q", msg, beyondMax)
	}
	f.storePolicy(t, &keyward.OrgPolicy{MaxKeyLifetime: ptr[int64](30 * day), AllowedIPs: []string{}, AllowNonExpiring: true})
	_, err = f.svc.UpdateKey(f.root, forever.ID, keyward.KeyUpdate{ExpiresAt: keyward.OptionalTime{Set: true}})
	wantInvalid(t, err, "expires_at")
	if diff := cmp.Diff(before, f.find(t, forever.ID)); diff != "" {
		t.Errorf("key after refused updates (-want +got):\n%s", diff)
	}
	got, err := f.svc.UpdateKey(f.root, forever.ID, keyward.KeyUpdate{ExpiresIn: ptr[int64](30 * day)})
	if err != nil {
		t.Fatal(err)
	}
	if want := f.now.Add(30 * 24 * time.Hour); got.ExpiresAt == nil || !got.ExpiresAt.Equal(want) {
		t.Errorf("expires at %v, want %v", got.ExpiresAt, want)
	}
}

func TestOrgPolicyOnRotate(t *testing.T) {
	f := newFixture(t)
	forever := f.create(t, f.root, keyward.KeyCreate{Name: "forever"})
	long := f.create(t, f.root, keyward.KeyCreate{Name: "long", ExpiresIn: ptr[int64](365 * day)})
	f.setPolicy(t, keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr[int64](30 * day), DefaultKeyLifetime: ptr[int64](7 * day)})
	f.now = f.now.Add(time.Hour)
	before := f.find(t, long.ID)
	for _, tt := range []struct {
		name string
		id   string
		in   keyward.KeyRotate
		want string
	}{
		{"expires_in beyond the max", forever.ID, keyward.KeyRotate{ExpiresIn: ptr[int64](30*day + 1)}, "expires_in"},
		{"expires_at beyond the max", forever.ID, keyward.KeyRotate{ExpiresAt: ptr(f.now.Add(31 * 24 * time.Hour))}, "expires_at"},
		{"inherited expiry beyond the max", long.ID, keyward.KeyRotate{}, "expires_at"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.RotateKey(f.root, tt.id, tt.in)
			wantInvalid(t, err, tt.want)
		})
	}
	// Without a default lifetime, a non-expiring key's successor would
	// inherit no expiry, which is beyond the max: under a max alone, and
	// under one stored with non-expiring keys allowed.
	for _, pol := range []*keyward.OrgPolicy{
		{MaxKeyLifetime: ptr[int64](30 * day), AllowedIPs: []string{}},
		{MaxKeyLifetime: ptr[int64](30 * day), AllowedIPs: []string{}, AllowNonExpiring: true},
	} {
		f.storePolicy(t, pol)
		_, err := f.svc.RotateKey(f.root, forever.ID, keyward.KeyRotate{})
		wantInvalid(t, err, "expires_at")
		if msg := keyward.ErrorMessage(err); msg != beyondMax {
			t.Errorf("message %q, want %q", msg, beyondMax)
		}
	}
	f.setPolicy(t, keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr[int64](30 * day), DefaultKeyLifetime: ptr[int64](7 * day)})
	if diff := cmp.Diff(before, f.find(t, long.ID)); diff != "" {
		t.Errorf("key after refused rotations (-want +got):\n%s", diff)
	}
	if n := len(f.events(t, keyward.ActionKeyRotate)); n != 0 {
		t.Errorf("got %d %s events after refused rotations, want 0", n, keyward.ActionKeyRotate)
	}

	next, err := f.svc.RotateKey(f.root, forever.ID, keyward.KeyRotate{GracePeriod: 60})
	if err != nil {
		t.Fatal(err)
	}
	if want := f.now.Add(7 * 24 * time.Hour); next.ExpiresAt == nil || !next.ExpiresAt.Equal(want) {
		t.Errorf("successor of a non-expiring key expires at %v, want the default %v", next.ExpiresAt, want)
	}
	next, err = f.svc.RotateKey(f.root, long.ID, keyward.KeyRotate{ExpiresIn: ptr[int64](30 * day)})
	if err != nil {
		t.Fatal(err)
	}
	if want := f.now.Add(30 * 24 * time.Hour); next.ExpiresAt == nil || !next.ExpiresAt.Equal(want) {
		t.Errorf("successor expires at %v, want %v", next.ExpiresAt, want)
	}
}

// TestOrgPolicyLockOut checks that an allowlist may not leave out the
// address of the request that sets it: the caller could never undo it.
func TestOrgPolicyLockOut(t *testing.T) {
	f := newFixture(t)
	from := func(ip string) context.Context {
		return keyward.NewContextWithRequestInfo(f.root, keyward.RequestInfo{RemoteIP: netip.MustParseAddr(ip)})
	}
	_, err := f.svc.UpdateOrgPolicy(from("203.0.113.9"), keyward.OrgPolicyUpdate{AllowedIPs: []string{"10.0.0.0/8", "2001:db8::1"}})
	wantInvalid(t, err, "allowed_ips")
	if want := "allowed_ips: would lock out the calling key: 203.0.113.9 is outside every range"; keyward.ErrorMessage(err) != want {
		t.Errorf("message %q, want %q", keyward.ErrorMessage(err), want)
	}
	got, err := f.svc.FindOrgPolicy(f.root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keyward.DefaultOrgPolicy(), got); diff != "" {
		t.Errorf("policy after a refused update (-want +got):\n%s", diff)
	}

	for _, tt := range []struct {
		name string
		ctx  context.Context
		ips  []string
	}{
		{"caller in a range", from("203.0.113.9"), []string{"10.0.0.0/8", "203.0.113.0/24"}},
		{"IPv4-mapped caller", from("::ffff:203.0.113.9"), []string{"203.0.113.9"}},
		{"IPv6 caller", from("2001:db8::1"), []string{"2001:db8::/32"}},
		{"empty list", from("203.0.113.9"), []string{}},
		{"unknown caller address", f.root, []string{"10.0.0.0/8"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.svc.UpdateOrgPolicy(tt.ctx, keyward.OrgPolicyUpdate{AllowedIPs: tt.ips}); err != nil {
				t.Errorf("UpdateOrgPolicy(%v): %v", tt.ips, err)
			}
		})
	}
}
