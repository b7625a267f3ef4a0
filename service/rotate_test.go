package service_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"keyward"
)

// verify verifies a key as the root key, from ip (any when empty), and
// returns the answer.
func (f *fixture) verify(t *testing.T, secret, ip string) *keyward.VerifyResult {
	t.Helper()
	res, err := f.svc.Verify(f.root, keyward.VerifyRequest{Key: secret, IP: ip})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return res
}

func TestRotateKey(t *testing.T) {
	f := newFixture(t)
	sa, err := f.svc.CreateServiceAccount(f.root, keyward.ServiceAccountCreate{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	old := f.create(t, f.root, keyward.KeyCreate{
		Name:             "deploy",
		Description:      "CI deploys",
		Permissions:      []string{"deploy.*", "docs.read"},
		AllowedIPs:       []string{"10.0.0.0/8"},
		ExpiresIn:        ptr[int64](30 * 24 * 3600),
		ServiceAccountID: sa.ID,
		Metadata:         json.RawMessage(`{"team":"infra"}`),
		Prefix:           "acme_ci",
		RateLimits:       []keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}},
		Credits:          &keyward.CreditsInput{Remaining: ptr[int64](40)},
	})
	rootID := keyward.PrincipalFromContext(f.root).KeyID

	f.now = f.now.Add(time.Hour)
	rotatedAt := f.now
	next, err := f.svc.RotateKey(f.root, old.ID, keyward.KeyRotate{GracePeriod: 600})
	if err != nil {
		t.Fatal(err)
	}

	// The successor: every setting of the old key, the credits too, a new
	// secret of the same prefix family, and the link back.
	if !strings.HasPrefix(next.Secret, "acme_ci_") || next.Secret == old.Secret || !strings.HasPrefix(next.Secret, next.KeyPrefix) {
		t.Errorf("new secret/key_prefix %q do not follow prefix acme_ci", next.KeyPrefix)
	}
	want := *old.Key
	want.Credits = &keyward.Credits{Remaining: 40}
	want.CreatedAt, want.UpdatedAt = rotatedAt, rotatedAt
	want.CreatedBy = rootID
	want.RotatedFrom = old.ID
	// The store starts the line at the first key.
	want.LineID = old.ID
	ignore := cmpopts.IgnoreFields(keyward.Key{}, "ID", "KeyPrefix", "Hash")
	if diff := cmp.Diff(&want, next.Key, ignore); diff != "" {
		t.Errorf("successor (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(next.Key, f.find(t, next.ID)); diff != "" {
		t.Errorf("stored successor (-returned +stored):\n%s", diff)
	}

	// The old key: linked, expiring at the end of the grace period, its
	// balance moved.
	gotOld := f.find(t, old.ID)
	graceEnd := rotatedAt.Add(600 * time.Second)
	if gotOld.RotatedTo != next.ID || gotOld.ExpiresAt == nil || !gotOld.ExpiresAt.Equal(graceEnd) || !gotOld.UpdatedAt.Equal(rotatedAt) {
		t.Errorf("old key: rotated_to %q, expires_at %v, updated_at %v; want %q, %v, %v",
			gotOld.RotatedTo, gotOld.ExpiresAt, gotOld.UpdatedAt, next.ID, graceEnd, rotatedAt)
	}
	if gotOld.Credits == nil || gotOld.Credits.Remaining != 0 {
		t.Errorf("old key credits %+v, want 0 remaining: they moved", gotOld.Credits)
	}

	// Its grace period and balance are settled.
	if _, err := f.svc.UpdateKey(f.root, old.ID, keyward.KeyUpdate{ExpiresIn: ptr[int64](365 * 24 * 3600)}); keyward.ErrorCode(err) != keyward.ECONFLICT {
		t.Errorf("extending a rotated key: got %v, want conflict", err)
	}
	if _, err := f.svc.UpdateCredits(f.root, old.ID, keyward.CreditsUpdate{Op: keyward.CreditsSet, Amount: ptr[int64](100)}); keyward.ErrorCode(err) != keyward.ECONFLICT {
		t.Errorf("setting a rotated key's credits: got %v, want conflict", err)
	}
	if diff := cmp.Diff(gotOld, f.find(t, old.ID)); diff != "" {
		t.Errorf("old key after refused changes (-want +got):\n%s", diff)
	}

	// The old key spends from the successor's balance during the grace
	// period, then answers EXPIRED; the successor works on.
	if res := f.verify(t, old.Secret, "10.1.2.3"); res.Code != keyward.CodeValid || res.Credits == nil || res.Credits.Remaining != 39 {
		t.Errorf("old key in the grace period: %s, credits %+v; want VALID, 39 remaining", res.Code, res.Credits)
	}
	if got := f.find(t, next.ID).Credits.Remaining; got != 39 {
		t.Errorf("successor balance %d after the old key spent 1, want 39", got)
	}
	f.now = graceEnd.Add(-time.Microsecond)
	if res := f.verify(t, old.Secret, "10.1.2.3"); res.Code != keyward.CodeValid {
		t.Errorf("old key just before the grace period ends: %s, want VALID", res.Code)
	}
	f.now = graceEnd
	if res := f.verify(t, old.Secret, "10.1.2.3"); res.Code != keyward.CodeExpired {
		t.Errorf("old key when the grace period ends: %s, want EXPIRED", res.Code)
	}
	if res := f.verify(t, next.Secret, "10.1.2.3"); res.Code != keyward.CodeValid || res.Credits == nil || res.Credits.Remaining != 37 {
		t.Errorf("successor: %s, credits %+v; want VALID, 37 remaining", res.Code, res.Credits)
	}

	evs := f.events(t, keyward.ActionKeyRotate)
	if len(evs) != 1 || evs[0].TargetID != old.ID {
		t.Fatalf("got %d %s events (%+v), want one on the old key", len(evs), keyward.ActionKeyRotate, evs)
	}
	var details map[string]any
	if err := json.Unmarshal(evs[0].Details, &details); err != nil {
		t.Fatal(err)
	}
	wantDetails := map[string]any{"rotated_to": next.ID, "grace_period": float64(600), "expires_at": graceEnd.Format(time.RFC3339Nano)}
	if diff := cmp.Diff(wantDetails, details); diff != "" {
		t.Errorf("audit details (-want +got):\n%s", diff)
	}
	if strings.Contains(string(evs[0].Details), next.Secret) || strings.Contains(string(evs[0].Details), old.Secret) {
		t.Error("audit details hold a secret")
	}
}

func TestRotateKeyGracePeriod(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name    string
		expires *int64
		grace   int64
		want    time.Duration // old key's lifetime from the rotation
	}{
		{"zero grace ends the old key at once", nil, 0, 0},
		{"grace period", nil, 3600, time.Hour},
		{"grace never extends the old expiry", ptr[int64](60), 3600, time.Minute},
		{"longest grace", nil, keyward.MaxGracePeriod, keyward.MaxGracePeriod * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old := f.create(t, f.root, keyward.KeyCreate{Name: "k", ExpiresIn: tt.expires})
			next, err := f.svc.RotateKey(f.root, old.ID, keyward.KeyRotate{GracePeriod: tt.grace})
			if err != nil {
				t.Fatal(err)
			}
			end := f.now.Add(tt.want)
			if got := f.find(t, old.ID).ExpiresAt; got == nil || !got.Equal(end) {
				t.Errorf("old key expires at %v, want %v", got, end)
			}
			if tt.want == 0 {
				if res := f.verify(t, old.Secret, ""); res.Code != keyward.CodeExpired {
					t.Errorf("old key: %s, want EXPIRED at once", res.Code)
				}
			}
			if res := f.verify(t, next.Secret, ""); res.Code != keyward.CodeValid {
				t.Errorf("successor: %s, want VALID", res.Code)
			}
		})
	}
}

func TestRotateKeyExpiry(t *testing.T) {
	f := newFixture(t)
	old := f.create(t, f.root, keyward.KeyCreate{Name: "k", ExpiresIn: ptr[int64](3600)})
	next, err := f.svc.RotateKey(f.root, old.ID, keyward.KeyRotate{ExpiresIn: ptr[int64](7200)})
	if err != nil {
		t.Fatal(err)
	}
	if want := f.now.Add(2 * time.Hour); next.ExpiresAt == nil || !next.ExpiresAt.Equal(want) {
		t.Errorf("successor expires at %v, want %v (expires_in)", next.ExpiresAt, want)
	}
	forever := f.create(t, f.root, keyward.KeyCreate{Name: "forever"})
	next, err = f.svc.RotateKey(f.root, forever.ID, keyward.KeyRotate{GracePeriod: 60})
	if err != nil {
		t.Fatal(err)
	}
	if next.ExpiresAt != nil {
		t.Errorf("successor of a non-expiring key expires at %v, want never", next.ExpiresAt)
	}
}

func TestRotateKeyRefusals(t *testing.T) {
	f := newFixture(t)
	k := f.create(t, f.root, keyward.KeyCreate{Name: "k", Permissions: []string{"docs.read"}})
	rotated := f.create(t, f.root, keyward.KeyCreate{Name: "rotated"})
	if _, err := f.svc.RotateKey(f.root, rotated.ID, keyward.KeyRotate{GracePeriod: 3600}); err != nil {
		t.Fatal(err)
	}
	revoked := f.create(t, f.root, keyward.KeyCreate{Name: "revoked"})
	if _, err := f.svc.RevokeKey(f.root, revoked.ID); err != nil {
		t.Fatal(err)
	}
	expired := f.create(t, f.root, keyward.KeyCreate{Name: "expired", ExpiresIn: ptr[int64](60)})
	deleted := f.create(t, f.root, keyward.KeyCreate{Name: "deleted"})
	if _, err := f.svc.DeleteKey(f.root, deleted.ID); err != nil {
		t.Fatal(err)
	}
	strong := f.create(t, f.root, keyward.KeyCreate{Name: "strong", Permissions: []string{"*"}})
	rotator := f.create(t, f.root, keyward.KeyCreate{Name: "rotator", Permissions: []string{keyward.PermKeysCreate, keyward.PermKeysUpdate, "docs.*"}})
	creator := f.create(t, f.root, keyward.KeyCreate{Name: "creator", Permissions: []string{keyward.PermKeysCreate, "docs.*"}})
	f.now = f.now.Add(time.Minute)
	before := map[string]*keyward.Key{}
	for _, k := range []*keyward.CreatedKey{k, rotated, revoked, expired, strong} {
		before[k.ID] = f.find(t, k.ID)
	}
	rotations := len(f.events(t, keyward.ActionKeyRotate))

	for _, tt := range []struct {
		name   string
		caller *keyward.CreatedKey
		id     string
		in     keyward.KeyRotate
		code   string
		fields []string
	}{
		{"negative grace", nil, k.ID, keyward.KeyRotate{GracePeriod: -1}, keyward.EINVALID, []string{"grace_period"}},
		{"grace over 30 days", nil, k.ID, keyward.KeyRotate{GracePeriod: keyward.MaxGracePeriod + 1}, keyward.EINVALID, []string{"grace_period"}},
		{"past expiry", nil, k.ID, keyward.KeyRotate{ExpiresAt: ptr(f.now.Add(-time.Second))}, keyward.EINVALID, []string{"expires_at"}},
		{"both expiries", nil, k.ID, keyward.KeyRotate{ExpiresAt: ptr(f.now.Add(time.Hour)), ExpiresIn: ptr[int64](60)}, keyward.EINVALID, []string{"expires_in"}},
		{"already rotated", nil, rotated.ID, keyward.KeyRotate{}, keyward.ECONFLICT, nil},
		{"revoked", nil, revoked.ID, keyward.KeyRotate{}, keyward.ECONFLICT, nil},
		{"expired", nil, expired.ID, keyward.KeyRotate{}, keyward.ECONFLICT, nil},
		{"deleted", nil, deleted.ID, keyward.KeyRotate{}, keyward.ENOTFOUND, nil},
		{"missing", nil, "0193aaaa-0000-7000-8000-000000000000", keyward.KeyRotate{}, keyward.ENOTFOUND, nil},
		{"key the caller does not cover", rotator, strong.ID, keyward.KeyRotate{}, keyward.EFORBIDDEN, nil},
		{"caller without update", creator, k.ID, keyward.KeyRotate{}, keyward.EFORBIDDEN, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := f.root
			if tt.caller != nil {
				ctx = f.as(tt.caller.Key)
			}
			_, err := f.svc.RotateKey(ctx, tt.id, tt.in)
			if got := keyward.ErrorCode(err); got != tt.code {
				t.Fatalf("got %q (%v), want %q", got, err, tt.code)
			}
			if diff := cmp.Diff(tt.fields, fieldNames(err)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
	for id, want := range before {
		if diff := cmp.Diff(want, f.find(t, id)); diff != "" {
			t.Errorf("%s after refused rotations (-want +got):\n%s", want.Name, diff)
		}
	}
	if n := len(f.events(t, keyward.ActionKeyRotate)); n != rotations {
		t.Errorf("got %d %s events after refused rotations, want %d", n, keyward.ActionKeyRotate, rotations)
	}
	if _, err := f.svc.RotateKey(f.as(rotator.Key), k.ID, keyward.KeyRotate{}); err != nil {
		t.Errorf("rotating a covered key: %v", err)
	}
}

// TestRotateDisabledKey checks the documented choice: a disabled key may be
// rotated, and its successor starts disabled too.
func TestRotateDisabledKey(t *testing.T) {
	f := newFixture(t)
	old := f.create(t, f.root, keyward.KeyCreate{Name: "k", Enabled: ptr(false)})
	next, err := f.svc.RotateKey(f.root, old.ID, keyward.KeyRotate{GracePeriod: 60})
	if err != nil {
		t.Fatal(err)
	}
	if next.Enabled {
		t.Error("successor of a disabled key is enabled, want disabled")
	}
	if res := f.verify(t, next.Secret, ""); res.Code != keyward.CodeDisabled {
		t.Errorf("successor: %s, want DISABLED", res.Code)
	}
}
