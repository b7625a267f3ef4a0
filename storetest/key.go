package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func testKeyRoundTrip(t *testing.T, s keyward.Store) {
	acme := createOrg(t, s, "acme")
	sa := createServiceAccount(t, s, acme, "deploy-bot")
	earlier := now().Add(-time.Hour)

	tests := []struct {
		name string
		edit func(k *keyward.Key)
	}{
		{"every field set", func(k *keyward.Key) {
			k.OwnerID = ""
			k.ServiceAccountID = sa.ID
			k.LastUsedAt = &earlier
			k.LastUsedIP = "203.0.113.7"
			k.LastUsedUserAgent = "curl/8.5.0"
			k.RevokedAt = &earlier
		}},
		{"optional fields empty", func(k *keyward.Key) {
			*k = keyward.Key{
				ID:        k.ID,
				OrgID:     k.OrgID,
				Name:      "bare",
				KeyPrefix: k.KeyPrefix,
				CreatedAt: k.CreatedAt,
				UpdatedAt: k.UpdatedAt,
				Hash:      k.Hash,
			}
		}},
		{"empty lists and object", func(k *keyward.Key) {
			k.Permissions = []string{}
			k.AllowedIPs = []string{}
			k.Metadata = json.RawMessage(`{}`)
		}},
		{"unicode and nested metadata", func(k *keyward.Key) {
			k.Name = "Clé de déploiement 🚀"
			k.Description = "Line one\nline \"two\"\ttabbed \\ and 'quoted'"
			k.Permissions = []string{"nodes.read.own", "admin:api-keys:*", "*"}
			k.Metadata = json.RawMessage(`{"labels":{"env":"prod","région":"eu-west"},"limits":[1,2.5,null,true],"note":"\u00e9\n"}`)
		}},
		{"disabled with the expiry passed", func(k *keyward.Key) {
			k.Enabled = false
			k.ExpiresAt = &earlier
		}},
		{"deleted", func(k *keyward.Key) {
			k.DeletedAt = &earlier
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(acme)
			tt.edit(k)
			want := k.Clone()
			createKey(t, s, k)
			wantKey(t, s, want)
		})
	}
}

func testFindKeyByHash(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	initech := createOrg(t, s, "initech")
	keys := []*keyward.Key{
		acme.Root,
		initech.Root,
		createKey(t, s, newKey(acme)),
		createKey(t, s, newKey(initech)),
	}
	// The verification path finds keys of every org by hash alone.
	for _, want := range keys {
		got, err := s.FindKeyByHash(ctx, want.Hash)
		if err != nil {
			t.Fatalf("FindKeyByHash(%q's hash): %v", want.Name, err)
		}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("FindKeyByHash(%q's hash) mismatch (-want +got):\n%s", want.ID, diff)
		}
	}
	for _, hash := range [][]byte{newHash(), nil, {}} {
		_, err := s.FindKeyByHash(ctx, hash)
		wantCode(t, err, keyward.ENOTFOUND)
	}
}

func testKeyConflicts(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	initech := createOrg(t, s, "initech")
	existing := createKey(t, s, newKey(acme))

	tests := []struct {
		name string
		key  func() *keyward.Key
	}{
		{"same hash in the org", func() *keyward.Key {
			k := newKey(acme)
			k.Hash = existing.Hash
			return k
		}},
		{"same hash in another org", func() *keyward.Key {
			k := newKey(initech)
			k.Hash = existing.Hash
			return k
		}},
		{"same id", func() *keyward.Key {
			k := newKey(acme)
			k.ID = existing.ID
			return k
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.key()
			ev := keyEvent(k, keyward.ActionKeyCreate)
			err := s.CreateKey(ctx, k, ev)
			wantCode(t, err, keyward.ECONFLICT)
			if slices.Contains(eventIDs(allEvents(t, s, k.OrgID, keyward.AuditFilter{})), ev.ID) {
				t.Errorf("the event of a conflicting key was written")
			}
			wantKey(t, s, existing)
		})
	}
	// A conflicting audit event id aborts the key with it.
	k := newKey(acme)
	ev := keyEvent(k, keyward.ActionKeyCreate)
	ev.ID = acme.Event.ID
	if err := s.CreateKey(ctx, k, ev); err == nil {
		t.Errorf("CreateKey with a duplicate event id = nil, want an error")
	}
	_, err := s.FindKeyByID(ctx, acme.ID, k.ID)
	wantCode(t, err, keyward.ENOTFOUND)
}

func testKeyServiceAccountMustBeLive(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	initech := createOrg(t, s, "initech")
	deleted := createServiceAccount(t, s, acme, "retired")
	if _, err := s.DeleteServiceAccount(ctx, acme.ID, deleted.ID, now(), nil, nil); err != nil {
		t.Fatalf("DeleteServiceAccount: %v", err)
	}
	foreign := createServiceAccount(t, s, initech, "theirs")

	tests := []struct {
		name string
		id   string
	}{
		{"unknown", newID()},
		{"deleted", deleted.ID},
		{"of another org", foreign.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := allEvents(t, s, acme.ID, keyward.AuditFilter{})
			k := newKey(acme)
			k.OwnerID = ""
			k.ServiceAccountID = tt.id
			err := s.CreateKey(ctx, k, keyEvent(k, keyward.ActionKeyCreate))
			wantField(t, err, "service_account_id")
			_, err = s.FindKeyByID(ctx, acme.ID, k.ID)
			wantCode(t, err, keyward.ENOTFOUND)
			if after := allEvents(t, s, acme.ID, keyward.AuditFilter{}); len(after) != len(before) {
				t.Errorf("audit events = %d after a rejected key, want %d", len(after), len(before))
			}
		})
	}
}

func testUpdateKey(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	k := createKey(t, s, newKey(acme))

	later := k.CreatedAt.Add(time.Minute)
	expires := later.Add(24 * time.Hour)
	want := k.Clone()
	want.Name = "billing-export-v2"
	want.Description = "Moved to the new exporter."
	want.Permissions = []string{"invoices.write"}
	want.AllowedIPs = []string{"192.0.2.0/24"}
	want.ExpiresAt = &expires
	want.Enabled = false
	want.Metadata = json.RawMessage(`{"team":"ops"}`)
	want.UpdatedAt = later
	want.RevokedAt = &later
	ev := keyEvent(k, keyward.ActionKeyUpdate)
	ev.Details = json.RawMessage(`{"name":"billing-export-v2","enabled":false}`)

	got, err := s.UpdateKey(ctx, acme.ID, k.ID, func(cur *keyward.Key) error {
		// update sees the stored record.
		if diff := cmp.Diff(k, cur, cmpOpts); diff != "" {
			t.Errorf("update got (-stored +got):\n%s", diff)
		}
		cur.Name = want.Name
		cur.Description = want.Description
		cur.Permissions = want.Permissions
		cur.AllowedIPs = want.AllowedIPs
		cur.ExpiresAt = want.ExpiresAt
		cur.Enabled = want.Enabled
		cur.Metadata = want.Metadata
		cur.UpdatedAt = want.UpdatedAt
		cur.RevokedAt = want.RevokedAt
		return nil
	}, ev)
	if err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("UpdateKey() mismatch (-want +got):\n%s", diff)
	}
	wantKey(t, s, want)
	events := allEvents(t, s, acme.ID, keyward.AuditFilter{TargetID: k.ID})
	if len(events) == 0 {
		t.Fatalf("no audit event for the key")
	}
	if diff := cmp.Diff(ev, events[0], cmpOpts); diff != "" {
		t.Errorf("newest audit event mismatch (-want +got):\n%s", diff)
	}

	// Optional fields clear: no expiry, no metadata, no restrictions.
	want.ExpiresAt = nil
	want.Metadata = nil
	want.AllowedIPs = nil
	want.RevokedAt = nil
	if _, err := s.UpdateKey(ctx, acme.ID, k.ID, func(cur *keyward.Key) error {
		cur.ExpiresAt, cur.Metadata, cur.AllowedIPs, cur.RevokedAt = nil, nil, nil, nil
		return nil
	}, nil); err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	wantKey(t, s, want)
}

func testUpdateKeyNoChange(t *testing.T, s keyward.Store) {
	acme := createOrg(t, s, "acme")
	tests := []struct {
		name  string
		event bool
	}{
		{"without event", false},
		{"with event", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := createKey(t, s, newKey(acme))
			var ev *keyward.AuditEvent
			if tt.event {
				ev = keyEvent(k, keyward.ActionKeyUpdate)
			}
			before := eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))
			got, err := s.UpdateKey(t.Context(), acme.ID, k.ID, func(cur *keyward.Key) error {
				cur.Name = "not written"
				return keyward.ErrNoChange
			}, ev)
			if err != nil {
				t.Fatalf("UpdateKey returning ErrNoChange = %v, want nil", err)
			}
			if diff := cmp.Diff(k, got, cmpOpts); diff != "" {
				t.Errorf("UpdateKey() mismatch (-stored +got):\n%s", diff)
			}
			wantKey(t, s, k)
			if diff := cmp.Diff(before, eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))); diff != "" {
				t.Errorf("audit events changed (-before +after):\n%s", diff)
			}
		})
	}
}

func testUpdateKeyAborts(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	errRevoked := keyward.Errorf(keyward.ECONFLICT, "The key is revoked.")

	tests := []struct {
		name     string
		id       func(k *keyward.Key) string
		update   func(k *keyward.Key) error
		event    func(k *keyward.Key) *keyward.AuditEvent
		check    func(t *testing.T, err error)
		noUpdate bool
	}{
		{
			name: "update returns an error",
			update: func(k *keyward.Key) error {
				k.Name = "half-written"
				return errRevoked
			},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errRevoked) {
					t.Errorf("UpdateKey() = %v, want update's error", err)
				}
			},
		},
		{
			name: "audit event fails",
			update: func(k *keyward.Key) error {
				k.Name = "half-written"
				return nil
			},
			event: func(k *keyward.Key) *keyward.AuditEvent {
				ev := keyEvent(k, keyward.ActionKeyUpdate)
				ev.ID = acme.Event.ID
				return ev
			},
			check: func(t *testing.T, err error) {
				if err == nil {
					t.Errorf("UpdateKey with a duplicate event id = nil, want an error")
				}
			},
		},
		{
			name:     "missing key",
			id:       func(*keyward.Key) string { return newID() },
			update:   func(*keyward.Key) error { return nil },
			check:    func(t *testing.T, err error) { wantCode(t, err, keyward.ENOTFOUND) },
			noUpdate: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := createKey(t, s, newKey(acme))
			id := k.ID
			if tt.id != nil {
				id = tt.id(k)
			}
			ev := keyEvent(k, keyward.ActionKeyUpdate)
			if tt.event != nil {
				ev = tt.event(k)
			}
			before := eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))
			called := false
			got, err := s.UpdateKey(ctx, acme.ID, id, func(k *keyward.Key) error {
				called = true
				return tt.update(k)
			}, ev)
			tt.check(t, err)
			if got != nil {
				t.Errorf("UpdateKey() returned a key with error %v", err)
			}
			if called && tt.noUpdate {
				t.Errorf("update was called")
			}
			wantKey(t, s, k)
			if diff := cmp.Diff(before, eventIDs(allEvents(t, s, acme.ID, keyward.AuditFilter{}))); diff != "" {
				t.Errorf("audit events changed (-before +after):\n%s", diff)
			}
		})
	}
}

// testUpdateKeyConcurrent checks that concurrent read-modify-write updates
// of one key apply one after the other, losing none.
func testUpdateKeyConcurrent(t *testing.T, s keyward.Store) {
	acme := createOrg(t, s, "acme")
	k := newKey(acme)
	k.Permissions = nil
	createKey(t, s, k)

	const workers, updates = 4, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range updates {
				if _, err := s.UpdateKey(t.Context(), acme.ID, k.ID, func(cur *keyward.Key) error {
					cur.Permissions = append(cur.Permissions, fmt.Sprintf("worker%d.update%d", w, i))
					return nil
				}, nil); err != nil {
					t.Errorf("UpdateKey: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if got := mustFindKey(t, s, acme.ID, k.ID).Permissions; len(got) != workers*updates {
		t.Errorf("got %d permissions, want %d: updates were lost", len(got), workers*updates)
	}
}

func testDeletedKey(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	k := createKey(t, s, newKey(acme))
	other := createKey(t, s, newKey(acme))

	at := now()
	want := k.Clone()
	want.DeletedAt = &at
	want.UpdatedAt = at
	if _, err := s.UpdateKey(ctx, acme.ID, k.ID, func(k *keyward.Key) error {
		k.DeletedAt = &at
		k.UpdatedAt = at
		return nil
	}, keyEvent(k, keyward.ActionKeyDelete)); err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}

	// Both lookups still return it, so that verification answers NOT_FOUND
	// from the record and the API shows when it was deleted.
	wantKey(t, s, want)
	if diff := cmp.Diff([]string{acme.Root.ID, other.ID}, allKeyIDs(t, s, acme.ID, keyward.KeyFilter{})); diff != "" {
		t.Errorf("FindKeys() ids mismatch (-want +got):\n%s", diff)
	}
	_, err := s.UpdateKey(ctx, acme.ID, k.ID, func(*keyward.Key) error {
		t.Errorf("update called for a deleted key")
		return nil
	}, keyEvent(k, keyward.ActionKeyUpdate))
	wantCode(t, err, keyward.ENOTFOUND)
}

func testFindKeysPagination(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	// The root key and six more: seven keys, by id.
	want := []string{acme.Root.ID}
	for range 6 {
		want = append(want, createKey(t, s, newKey(acme)).ID)
	}
	slices.Sort(want)

	checkPages(t, want, func(cursor string) ([]string, string, error) {
		p, err := s.FindKeys(ctx, acme.ID, keyward.KeyFilter{Limit: 3, Cursor: cursor})
		ids := make([]string, len(p.Data))
		for i, k := range p.Data {
			ids[i] = k.ID
		}
		return ids, p.NextCursor, err
	})

	// A cursor stays valid when its key is deleted before the next page.
	first, err := s.FindKeys(ctx, acme.ID, keyward.KeyFilter{Limit: 3})
	if err != nil {
		t.Fatalf("FindKeys: %v", err)
	}
	last := first.Data[2]
	if _, err := s.UpdateKey(ctx, acme.ID, last.ID, func(k *keyward.Key) error {
		at := now()
		k.DeletedAt = &at
		return nil
	}, nil); err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	next, err := s.FindKeys(ctx, acme.ID, keyward.KeyFilter{Limit: 3, Cursor: first.NextCursor})
	if err != nil {
		t.Fatalf("FindKeys after a deletion: %v", err)
	}
	if len(next.Data) == 0 || next.Data[0].ID != want[3] {
		t.Errorf("the page after a deleted cursor key does not start with the key after it")
	}

	// A filter that matches nothing gives one page whose Data is not nil,
	// so that it serializes as [].
	empty, err := s.FindKeys(ctx, acme.ID, keyward.KeyFilter{OwnerID: "nobody"})
	if err != nil {
		t.Fatalf("FindKeys: %v", err)
	}
	if empty.Data == nil || len(empty.Data) != 0 || empty.NextCursor != "" {
		t.Errorf("FindKeys(no match) = %+v, want empty non-nil Data and no cursor", empty)
	}
}

func testFindKeysLimits(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	// The root key and DefaultPageLimit more: one more than a default page.
	for range keyward.DefaultPageLimit {
		createKey(t, s, newKey(acme))
	}
	tests := []struct {
		name     string
		limit    int
		wantLen  int
		wantMore bool
	}{
		{"zero is the default", 0, keyward.DefaultPageLimit, true},
		{"above the maximum is no error", keyward.MaxPageLimit + 1, keyward.DefaultPageLimit + 1, false},
		{"exactly all", keyward.DefaultPageLimit + 1, keyward.DefaultPageLimit + 1, false},
		{"one", 1, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.FindKeys(ctx, acme.ID, keyward.KeyFilter{Limit: tt.limit})
			if err != nil {
				t.Fatalf("FindKeys(limit %d): %v", tt.limit, err)
			}
			if len(p.Data) != tt.wantLen || (p.NextCursor != "") != tt.wantMore {
				t.Errorf("FindKeys(limit %d) = %d keys, cursor %q; want %d keys, more %v", tt.limit, len(p.Data), p.NextCursor, tt.wantLen, tt.wantMore)
			}
		})
	}
}

func testFindKeysFilters(t *testing.T, s keyward.Store) {
	acme := createOrg(t, s, "acme")
	sa := createServiceAccount(t, s, acme, "deploy-bot")
	revoked := now()
	deleted := now()
	names := map[string]string{acme.Root.ID: "root"}
	for _, spec := range []struct {
		name, owner, serviceAccount, prefix string
		revokedAt, deletedAt                *time.Time
	}{
		{name: "alice-live", owner: "alice", prefix: "kw_live_Q1w2e3r4"},
		{name: "alice-test", owner: "alice", prefix: "kw_test_a1b2c3d4", revokedAt: &revoked},
		{name: "bob-live", owner: "bob", prefix: "kw_live_q9w8e7r6"},
		{name: "sa-live", serviceAccount: sa.ID, prefix: "kwxlive_z1x2c3v4"},
		{name: "percent", owner: "carol", prefix: "kw%live_p0o9i8u7"},
		{name: "deleted", owner: "alice", prefix: "kw_live_Q0000000", deletedAt: &deleted},
	} {
		k := newKey(acme)
		k.Name = spec.name
		k.OwnerID = spec.owner
		k.ServiceAccountID = spec.serviceAccount
		k.KeyPrefix = spec.prefix
		k.RevokedAt = spec.revokedAt
		k.DeletedAt = spec.deletedAt
		createKey(t, s, k)
		names[k.ID] = k.Name
	}

	yes, no := true, false
	tests := []struct {
		name   string
		filter keyward.KeyFilter
		want   []string
	}{
		{"none", keyward.KeyFilter{}, []string{"root", "alice-live", "alice-test", "bob-live", "sa-live", "percent"}},
		{"owner", keyward.KeyFilter{OwnerID: "alice"}, []string{"alice-live", "alice-test"}},
		{"owner is exact", keyward.KeyFilter{OwnerID: "ALICE"}, nil},
		{"service account", keyward.KeyFilter{ServiceAccountID: sa.ID}, []string{"sa-live"}},
		{"unknown service account", keyward.KeyFilter{ServiceAccountID: newID()}, nil},
		{"revoked", keyward.KeyFilter{Revoked: &yes}, []string{"alice-test"}},
		{"unrevoked", keyward.KeyFilter{Revoked: &no}, []string{"root", "alice-live", "bob-live", "sa-live", "percent"}},
		{"prefix", keyward.KeyFilter{Prefix: "kw_live_"}, []string{"root", "alice-live", "bob-live"}},
		{"prefix underscore is literal", keyward.KeyFilter{Prefix: "kw_"}, []string{"root", "alice-live", "alice-test", "bob-live"}},
		{"prefix percent is literal", keyward.KeyFilter{Prefix: "kw%"}, []string{"percent"}},
		{"prefix is case-sensitive", keyward.KeyFilter{Prefix: "kw_live_Q"}, []string{"alice-live"}},
		{"prefix upper case", keyward.KeyFilter{Prefix: "KW_LIVE_"}, nil},
		{"prefix whole", keyward.KeyFilter{Prefix: "kw_live_q9w8e7r6"}, []string{"bob-live"}},
		{"prefix longer than any", keyward.KeyFilter{Prefix: "kw_live_q9w8e7r6x"}, nil},
		{"prefix common to all", keyward.KeyFilter{Prefix: "kw"}, []string{"root", "alice-live", "alice-test", "bob-live", "sa-live", "percent"}},
		{"owner and unrevoked", keyward.KeyFilter{OwnerID: "alice", Revoked: &no}, []string{"alice-live"}},
		{"owner and prefix", keyward.KeyFilter{OwnerID: "alice", Prefix: "kw_test"}, []string{"alice-test"}},
		{"owner and service account", keyward.KeyFilter{OwnerID: "alice", ServiceAccountID: sa.ID}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, id := range allKeyIDs(t, s, acme.ID, tt.filter) {
				got = append(got, names[id])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FindKeys(%+v) names mismatch (-want +got):\n%s", tt.filter, diff)
			}
		})
	}
}

func testBadCursor(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	for _, cursor := range []string{"!!!", "a", "a b", "%%", "=="} {
		t.Run(cursor, func(t *testing.T) {
			_, err := s.FindKeys(ctx, acme.ID, keyward.KeyFilter{Cursor: cursor})
			wantField(t, err, "cursor")
			_, err = s.FindServiceAccounts(ctx, acme.ID, keyward.ServiceAccountFilter{Cursor: cursor})
			wantField(t, err, "cursor")
			_, err = s.FindAuditEvents(ctx, acme.ID, keyward.AuditFilter{Cursor: cursor})
			wantField(t, err, "cursor")
		})
	}
}

func testTouchKeys(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	k1 := createKey(t, s, newKey(acme))
	k2 := createKey(t, s, newKey(acme))
	t0 := now()
	t1, t2, t3 := t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second)

	want1, want2 := k1.Clone(), k2.Clone()
	touched := func(want *keyward.Key, at time.Time, ip, agent string) {
		want.LastUsedAt, want.LastUsedIP, want.LastUsedUserAgent = &at, ip, agent
	}
	steps := []struct {
		name  string
		uses  []keyward.KeyUse
		apply func()
	}{
		{
			name: "a batch out of order keeps the latest use",
			uses: []keyward.KeyUse{
				{OrgID: acme.ID, KeyID: k1.ID, At: t1, IP: "192.0.2.1", UserAgent: "app/1.1"},
				{OrgID: acme.ID, KeyID: k1.ID, At: t2, IP: "192.0.2.2", UserAgent: "app/1.2"},
				{OrgID: acme.ID, KeyID: k1.ID, At: t0, IP: "192.0.2.0", UserAgent: "app/1.0"},
				{OrgID: acme.ID, KeyID: k2.ID, At: t0, IP: "2001:db8::1", UserAgent: "sdk/2"},
				// A key that is gone is dropped, not an error.
				{OrgID: acme.ID, KeyID: newID(), At: t2, IP: "192.0.2.9"},
				// So is a use naming the key under another org.
				{OrgID: newID(), KeyID: k2.ID, At: t3, IP: "192.0.2.66"},
			},
			apply: func() {
				touched(want1, t2, "192.0.2.2", "app/1.2")
				touched(want2, t0, "2001:db8::1", "sdk/2")
			},
		},
		{
			name:  "a late older use changes nothing",
			uses:  []keyward.KeyUse{{OrgID: acme.ID, KeyID: k1.ID, At: t1, IP: "192.0.2.1", UserAgent: "app/1.1"}},
			apply: func() {},
		},
		{
			name:  "a newer use without IP or user agent clears them",
			uses:  []keyward.KeyUse{{OrgID: acme.ID, KeyID: k1.ID, At: t3}},
			apply: func() { touched(want1, t3, "", "") },
		},
		{
			name:  "no uses",
			uses:  nil,
			apply: func() {},
		},
	}
	// The steps build on each other, so they run in order on one store.
	for _, step := range steps {
		if err := s.TouchKeys(ctx, step.uses); err != nil {
			t.Fatalf("%s: TouchKeys: %v", step.name, err)
		}
		step.apply()
		for _, want := range []*keyward.Key{want1, want2} {
			got := mustFindKey(t, s, acme.ID, want.ID)
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("%s: key mismatch (-want +got):\n%s", step.name, diff)
			}
		}
	}
}
