package service_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
	"keyward/keyformat"
	"keyward/service"
	"keyward/sqlite"
	"keyward/verify"
)

type fixture struct {
	db   *sqlite.DB
	svc  *service.Service
	root context.Context // calls as the org's root key
	org  *keyward.Organization
	now  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := sqlite.NewDB(":memory:")
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{db: db, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	engine := verify.New(verify.Config{Store: db, Hasher: keyformat.NewHasher(nil), Now: clock})
	t.Cleanup(func() { engine.Close() })
	f.svc = service.New(service.Config{Store: db, Engine: engine, Now: clock})
	org, root, err := f.svc.CreateOrg(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	f.org = org
	f.root = f.as(root.Key)
	return f
}

// as returns a context calling as k.
func (f *fixture) as(k *keyward.Key) context.Context {
	return keyward.NewContextWithPrincipal(context.Background(), &keyward.Principal{OrgID: k.OrgID, KeyID: k.ID, Permissions: k.Permissions})
}

func (f *fixture) create(t *testing.T, ctx context.Context, in keyward.KeyCreate) *keyward.CreatedKey {
	t.Helper()
	k, err := f.svc.CreateKey(ctx, in)
	if err != nil {
		t.Fatalf("CreateKey(%+v): %v", in, err)
	}
	return k
}

func ptr[T any](v T) *T { return &v }

func fieldNames(err error) []string {
	var names []string
	for _, fe := range keyward.ErrorFields(err) {
		names = append(names, fe.Field)
	}
	return names
}

func TestCreateKeyValidation(t *testing.T) {
	f := newFixture(t)
	past := f.now.Add(-time.Minute)
	for _, tt := range []struct {
		name string
		in   keyward.KeyCreate
		want []string
	}{
		{"no name", keyward.KeyCreate{}, []string{"name"}},
		{"blank name", keyward.KeyCreate{Name: "   "}, []string{"name"}},
		{"long name", keyward.KeyCreate{Name: strings.Repeat("n", 256)}, []string{"name"}},
		{"long description", keyward.KeyCreate{Name: "k", Description: strings.Repeat("d", 1025)}, []string{"description"}},
		{"bad permissions", keyward.KeyCreate{Name: "k", Permissions: []string{"ok.read", "a..b", "ad*"}}, []string{"permissions[1]", "permissions[2]"}},
		{"bad IPs", keyward.KeyCreate{Name: "k", AllowedIPs: []string{"10.0.0.1/33", "10.0.0.0/8", "nope"}}, []string{"allowed_ips[0]", "allowed_ips[2]"}},
		{"past expiry", keyward.KeyCreate{Name: "k", ExpiresAt: &past}, []string{"expires_at"}},
		{"zero lifetime", keyward.KeyCreate{Name: "k", ExpiresIn: ptr[int64](0)}, []string{"expires_in"}},
		{"both expiries", keyward.KeyCreate{Name: "k", ExpiresIn: ptr[int64](60), ExpiresAt: ptr(f.now.Add(time.Hour))}, []string{"expires_in"}},
		{"owner and service account", keyward.KeyCreate{Name: "k", OwnerID: "u", ServiceAccountID: "s"}, []string{"service_account_id"}},
		{"unknown service account", keyward.KeyCreate{Name: "k", ServiceAccountID: "0193aaaa-0000-7000-8000-000000000000"}, []string{"service_account_id"}},
		{"metadata array", keyward.KeyCreate{Name: "k", Metadata: json.RawMessage(`[1]`)}, []string{"metadata"}},
		{"metadata too large", keyward.KeyCreate{Name: "k", Metadata: json.RawMessage(`{"a":"` + strings.Repeat("x", 4096) + `"}`)}, []string{"metadata"}},
		{"bad prefix", keyward.KeyCreate{Name: "k", Prefix: "Kw"}, []string{"prefix"}},
		{"every error at once", keyward.KeyCreate{Permissions: []string{""}, Prefix: "-"}, []string{"name", "permissions[0]", "prefix"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.CreateKey(f.root, tt.in)
			if got := keyward.ErrorCode(err); got != keyward.EINVALID {
				t.Fatalf("got code %q (%v), want %q", got, err, keyward.EINVALID)
			}
			if diff := cmp.Diff(tt.want, fieldNames(err)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
	page, err := f.svc.FindKeys(f.root, keyward.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 {
		t.Errorf("got %d keys after failed creates, want only the root key", len(page.Data))
	}
}

func TestCreateKeyNormalizes(t *testing.T) {
	f := newFixture(t)
	k := f.create(t, f.root, keyward.KeyCreate{
		Name:        "k",
		Permissions: []string{"docs.read", "docs.read", "docs:write"},
		AllowedIPs:  []string{"192.168.1.1/24", "::ffff:10.0.0.1", "192.168.1.0/24"},
		ExpiresIn:   ptr[int64](3600),
		Metadata:    json.RawMessage(`{ "plan" : "pro" }`),
		Prefix:      "acme_live",
	})
	if diff := cmp.Diff([]string{"docs.read", "docs:write"}, k.Permissions); diff != "" {
		t.Errorf("permissions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"192.168.1.0/24", "10.0.0.1"}, k.AllowedIPs); diff != "" {
		t.Errorf("allowed_ips (-want +got):\n%s", diff)
	}
	if want := f.now.Add(time.Hour); k.ExpiresAt == nil || !k.ExpiresAt.Equal(want) {
		t.Errorf("expires_at %v, want %v", k.ExpiresAt, want)
	}
	if string(k.Metadata) != `{"plan":"pro"}` {
		t.Errorf("metadata %s, want it compacted", k.Metadata)
	}
	if !strings.HasPrefix(k.Secret, "acme_live_") || !strings.HasPrefix(k.Secret, k.KeyPrefix) || len(k.KeyPrefix) != len("acme_live_")+8 {
		t.Errorf("secret/key_prefix %q do not match prefix acme_live", k.KeyPrefix)
	}
	if !k.Enabled {
		t.Error("enabled defaults to true")
	}
}

func TestNonEscalation(t *testing.T) {
	f := newFixture(t)
	creator := f.create(t, f.root, keyward.KeyCreate{Name: "creator", Permissions: []string{keyward.PermKeysCreate, "docs.*"}})
	admin := f.create(t, f.root, keyward.KeyCreate{Name: "admin", Permissions: []string{"admin:*"}})
	updater := f.create(t, f.root, keyward.KeyCreate{Name: "updater", Permissions: []string{keyward.PermKeysUpdate, keyward.PermKeysDelete, "docs.read"}})
	for _, tt := range []struct {
		name   string
		caller *keyward.CreatedKey
		perms  []string
		want   string
	}{
		{"creator cannot mint *", creator, []string{"*"}, keyward.EFORBIDDEN},
		{"creator cannot mint audit", creator, []string{keyward.PermAuditRead}, keyward.EFORBIDDEN},
		{"creator may mint what its wildcard covers", creator, []string{"docs.read", "docs.a.b"}, ""},
		{"creator cannot widen its wildcard", creator, []string{"docs"}, keyward.EFORBIDDEN},
		{"creator may mint nothing", creator, nil, ""},
		{"admin:* mints audit", admin, []string{keyward.PermAuditRead}, ""},
		{"admin:* cannot mint outside admin", admin, []string{"docs.read"}, keyward.EFORBIDDEN},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.CreateKey(f.as(tt.caller.Key), keyward.KeyCreate{Name: "minted", Permissions: tt.perms})
			if got := keyward.ErrorCode(err); got != tt.want {
				t.Fatalf("got %q (%v), want %q", got, err, tt.want)
			}
		})
	}

	target := f.create(t, f.root, keyward.KeyCreate{Name: "target", Permissions: []string{"docs.read"}})
	ctx := f.as(updater.Key)
	if _, err := f.svc.UpdateKey(ctx, target.ID, keyward.KeyUpdate{Permissions: &[]string{"docs.write"}}); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("widening a key beyond the caller: got %v, want forbidden", err)
	}
	if _, err := f.svc.UpdateKey(ctx, target.ID, keyward.KeyUpdate{Name: ptr("renamed")}); err != nil {
		t.Errorf("renaming a covered key: %v", err)
	}
	rootID := keyward.PrincipalFromContext(f.root).KeyID
	if _, err := f.svc.UpdateKey(ctx, rootID, keyward.KeyUpdate{Enabled: ptr(false)}); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("disabling the root key: got %v, want forbidden", err)
	}
	if _, err := f.svc.RevokeKey(ctx, rootID); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("revoking the root key: got %v, want forbidden", err)
	}
	if _, err := f.svc.DeleteKey(ctx, rootID); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("deleting the root key: got %v, want forbidden", err)
	}
}

func TestManagementPermissions(t *testing.T) {
	f := newFixture(t)
	reader := f.create(t, f.root, keyward.KeyCreate{Name: "reader", Permissions: []string{keyward.PermKeysRead}})
	ctx := f.as(reader.Key)
	if _, err := f.svc.FindKeys(ctx, keyward.KeyFilter{}); err != nil {
		t.Errorf("FindKeys: %v", err)
	}
	for name, call := range map[string]func() error{
		"create": func() error { _, err := f.svc.CreateKey(ctx, keyward.KeyCreate{Name: "x"}); return err },
		"update": func() error { _, err := f.svc.UpdateKey(ctx, reader.ID, keyward.KeyUpdate{Name: ptr("x")}); return err },
		"revoke": func() error { _, err := f.svc.RevokeKey(ctx, reader.ID); return err },
		"verify": func() error { _, err := f.svc.Verify(ctx, keyward.VerifyRequest{Key: reader.Secret}); return err },
		"audit":  func() error { _, err := f.svc.FindAuditEvents(ctx, keyward.AuditFilter{}); return err },
		"service account": func() error {
			_, err := f.svc.CreateServiceAccount(ctx, keyward.ServiceAccountCreate{Name: "x"})
			return err
		},
	} {
		if err := call(); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
			t.Errorf("%s: got %v, want forbidden", name, err)
		}
	}
	if _, err := f.svc.FindKeys(context.Background(), keyward.KeyFilter{}); keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
		t.Errorf("no principal: got %v, want unauthorized", err)
	}
}

func TestWritesAreAudited(t *testing.T) {
	f := newFixture(t)
	k := f.create(t, f.root, keyward.KeyCreate{Name: "k"})
	if _, err := f.svc.UpdateKey(f.root, k.ID, keyward.KeyUpdate{Name: ptr("k2"), Metadata: json.RawMessage(`null`)}); err != nil {
		t.Fatal(err)
	}
	// An empty update and a second revoke change nothing and log nothing.
	if _, err := f.svc.UpdateKey(f.root, k.ID, keyward.KeyUpdate{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := f.svc.RevokeKey(f.root, k.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.UpdateKey(f.root, k.ID, keyward.KeyUpdate{Name: ptr("k3")}); keyward.ErrorCode(err) != keyward.ECONFLICT {
		t.Errorf("updating a revoked key: got %v, want conflict", err)
	}
	if _, err := f.svc.DeleteKey(f.root, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.FindKeyByID(f.root, k.ID); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("deleted key: got %v, want not found", err)
	}
	page, err := f.svc.FindAuditEvents(f.root, keyward.AuditFilter{TargetID: k.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range page.Data {
		actions = append(actions, ev.Action)
		if ev.ActorKeyID != keyward.PrincipalFromContext(f.root).KeyID {
			t.Errorf("%s: actor %q", ev.Action, ev.ActorKeyID)
		}
		if strings.Contains(string(ev.Details), k.Secret) {
			t.Errorf("%s: details hold the secret", ev.Action)
		}
	}
	want := []string{keyward.ActionKeyDelete, keyward.ActionKeyRevoke, keyward.ActionKeyUpdate, keyward.ActionKeyCreate}
	if diff := cmp.Diff(want, actions); diff != "" {
		t.Errorf("audit actions, newest first (-want +got):\n%s", diff)
	}
}

func TestDeleteServiceAccountRevokesItsKeys(t *testing.T) {
	f := newFixture(t)
	sa, err := f.svc.CreateServiceAccount(f.root, keyward.ServiceAccountCreate{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	k := f.create(t, f.root, keyward.KeyCreate{Name: "ci key", ServiceAccountID: sa.ID})
	if res, err := f.svc.Verify(f.root, keyward.VerifyRequest{Key: k.Secret}); err != nil || res.Code != keyward.CodeValid || res.ServiceAccountID != sa.ID {
		t.Fatalf("before: %+v, %v", res, err)
	}
	if _, err := f.svc.DeleteServiceAccount(f.root, sa.ID); err != nil {
		t.Fatal(err)
	}
	if res, err := f.svc.Verify(f.root, keyward.VerifyRequest{Key: k.Secret}); err != nil || res.Code != keyward.CodeRevoked {
		t.Errorf("after: %+v, %v; want REVOKED at once", res, err)
	}
	if _, err := f.svc.FindServiceAccountByID(f.root, sa.ID); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("deleted account: got %v, want not found", err)
	}
}

func TestVerifyRequestValidation(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		req  keyward.VerifyRequest
		want []string
	}{
		{keyward.VerifyRequest{}, []string{"key"}},
		{keyward.VerifyRequest{Key: "x", Permissions: "a AND (b"}, []string{"permissions"}},
		{keyward.VerifyRequest{Key: "x", IP: "10.0.0.256"}, []string{"ip"}},
	} {
		_, err := f.svc.Verify(f.root, tt.req)
		if diff := cmp.Diff(tt.want, fieldNames(err)); diff != "" {
			t.Errorf("Verify(%+v) fields (-want +got):\n%s", tt.req, diff)
		}
	}
}

func TestCreateOrgTwice(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.svc.CreateOrg(context.Background(), "acme"); keyward.ErrorCode(err) != keyward.ECONFLICT {
		t.Errorf("got %v, want conflict", err)
	}
	if _, _, err := f.svc.CreateOrg(context.Background(), "bad name!"); keyward.ErrorCode(err) != keyward.EINVALID {
		t.Errorf("got %v, want invalid", err)
	}
}
