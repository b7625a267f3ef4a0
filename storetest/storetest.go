// Package storetest is the conformance suite of keyward.Store. Every backend
// runs it from its own tests, so that all of them keep the contract written
// on the interface: tenant isolation, writes that land together with their
// audit row or not at all, exact round-trips, and stable pagination.
package storetest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"keyward"
)

// Run runs the suite. newStore returns a fresh, empty store for each test
// and closes it in the test's cleanup.
func Run(t *testing.T, newStore func(t *testing.T) keyward.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s keyward.Store)
	}{
		{"Orgs", testOrgs},
		{"CreateOrgAtomic", testCreateOrgAtomic},
		{"KeyRoundTrip", testKeyRoundTrip},
		{"FindKeyByHash", testFindKeyByHash},
		{"KeyConflicts", testKeyConflicts},
		{"KeyServiceAccountMustBeLive", testKeyServiceAccountMustBeLive},
		{"UpdateKey", testUpdateKey},
		{"UpdateKeyNoChange", testUpdateKeyNoChange},
		{"UpdateKeyAborts", testUpdateKeyAborts},
		{"UpdateKeyConcurrent", testUpdateKeyConcurrent},
		{"DeletedKey", testDeletedKey},
		{"FindKeysPagination", testFindKeysPagination},
		{"FindKeysLimits", testFindKeysLimits},
		{"FindKeysFilters", testFindKeysFilters},
		{"BadCursor", testBadCursor},
		{"TouchKeys", testTouchKeys},
		{"ServiceAccounts", testServiceAccounts},
		{"DeleteServiceAccount", testDeleteServiceAccount},
		{"DeleteServiceAccountAborts", testDeleteServiceAccountAborts},
		{"AuditEvents", testAuditEvents},
		{"AuditEventsPagination", testAuditEventsPagination},
		{"UsageControlRoundTrip", testUsageControlRoundTrip},
		{"UpdateKeyUsageControl", testUpdateKeyUsageControl},
		{"RotateKey", testRotateKey},
		{"RotateKeyAborts", testRotateKeyAborts},
		{"RotationLine", testRotationLine},
		{"RotationLineIsolation", testRotationLineIsolation},
		{"SpendCredits", testSpendCredits},
		{"SpendCreditsConcurrent", testSpendCreditsConcurrent},
		{"SpendCreditsRotated", testSpendCreditsRotated},
		{"SpendCreditsRotatedUnlimited", testSpendCreditsRotatedUnlimited},
		{"SpendCreditsRefills", testSpendCreditsRefills},
		{"RefillCredits", testRefillCredits},
		{"Owners", testOwners},
		{"OrgPolicy", testOrgPolicy},
		{"Usage", testUsage},
		{"Isolation", testIsolation},
		{"Ping", testPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.test(t, newStore(t))
		})
	}
}

// cmpOpts compares records as a user sees them: JSON values by meaning,
// since a backend may store JSON in a normalizing type (PostgreSQL jsonb),
// absent JSON like {} (MarshalJSON writes both as {}), and a nil list like
// an empty one (both serialize as []).
var cmpOpts = cmp.Options{
	cmp.Comparer(equalJSON),
	cmp.Comparer(func(a, b []string) bool {
		return len(a) == 0 && len(b) == 0 || slices.Equal(a, b)
	}),
	cmp.Comparer(func(a, b []keyward.RateLimit) bool {
		return len(a) == 0 && len(b) == 0 || slices.Equal(a, b)
	}),
}

func equalJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(orEmptyObject(a), &va) != nil || json.Unmarshal(orEmptyObject(b), &vb) != nil {
		return bytes.Equal(a, b)
	}
	return cmp.Equal(va, vb)
}

func orEmptyObject(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	return raw
}

// now is the suite's clock: UTC and truncated to microseconds, as every
// caller of a Store passes times.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// newHash returns the hash of a fresh random secret.
func newHash() []byte {
	sum := sha256.Sum256([]byte(rand.Text()))
	return sum[:]
}

// randomSuffix returns the 8 random characters that follow the prefix in a
// key_prefix.
func randomSuffix() string {
	return strings.ToLower(rand.Text()[:8])
}

// org is an organization with the root key and event of its creation.
type org struct {
	*keyward.Organization
	Root  *keyward.Key
	Event *keyward.AuditEvent
}

func newOrg(name string) *org {
	at := now()
	o := &keyward.Organization{ID: newID(), Name: name, CreatedAt: at}
	return &org{
		Organization: o,
		Root: &keyward.Key{
			ID:          newID(),
			OrgID:       o.ID,
			Name:        "root",
			KeyPrefix:   "kw_live_" + randomSuffix(),
			Permissions: []string{keyward.PermRoot},
			Enabled:     true,
			CreatedAt:   at,
			UpdatedAt:   at,
			Hash:        newHash(),
		},
		Event: &keyward.AuditEvent{
			ID:         newID(),
			OrgID:      o.ID,
			Time:       at,
			Action:     keyward.ActionOrgCreate,
			TargetType: "organization",
			TargetID:   o.ID,
		},
	}
}

func createOrg(t *testing.T, s keyward.Store, name string) *org {
	t.Helper()
	o := newOrg(name)
	if err := s.CreateOrg(t.Context(), o.Organization, o.Root, o.Event); err != nil {
		t.Fatalf("CreateOrg(%q): %v", name, err)
	}
	return o
}

// newKey returns a key of o with every field a created key has set.
func newKey(o *org) *keyward.Key {
	at := now()
	expires := at.Add(90 * 24 * time.Hour)
	return &keyward.Key{
		ID:          newID(),
		OrgID:       o.ID,
		Name:        "billing-export",
		Description: "Nightly invoice export job.",
		KeyPrefix:   "kw_live_" + randomSuffix(),
		Permissions: []string{"invoices.read", "customers:read"},
		AllowedIPs:  []string{"10.0.0.0/8", "2001:db8::/32"},
		ExpiresAt:   &expires,
		Enabled:     true,
		Metadata:    json.RawMessage(`{"team":"billing","tier":2}`),
		OwnerID:     "user_8f3k2",
		CreatedAt:   at,
		UpdatedAt:   at,
		CreatedBy:   o.Root.ID,
		Hash:        newHash(),
	}
}

// keyEvent returns the audit event of action on k, by the key that made k.
func keyEvent(k *keyward.Key, action string) *keyward.AuditEvent {
	return &keyward.AuditEvent{
		ID:         newID(),
		OrgID:      k.OrgID,
		Time:       now(),
		ActorKeyID: k.CreatedBy,
		Action:     action,
		TargetType: "key",
		TargetID:   k.ID,
		RequestID:  "req_" + randomSuffix(),
		SourceIP:   "198.51.100.23",
		UserAgent:  "keyward-cli/1.0",
	}
}

func createKey(t *testing.T, s keyward.Store, k *keyward.Key) *keyward.Key {
	t.Helper()
	if err := s.CreateKey(t.Context(), k, keyEvent(k, keyward.ActionKeyCreate)); err != nil {
		t.Fatalf("CreateKey(%q): %v", k.Name, err)
	}
	return k
}

func newServiceAccount(o *org, name string) *keyward.ServiceAccount {
	return &keyward.ServiceAccount{
		ID:          newID(),
		OrgID:       o.ID,
		Name:        name,
		Description: "Deploys from CI.",
		CreatedAt:   now(),
		CreatedBy:   o.Root.ID,
	}
}

func serviceAccountEvent(sa *keyward.ServiceAccount, action string) *keyward.AuditEvent {
	return &keyward.AuditEvent{
		ID:         newID(),
		OrgID:      sa.OrgID,
		Time:       now(),
		ActorKeyID: sa.CreatedBy,
		Action:     action,
		TargetType: "service_account",
		TargetID:   sa.ID,
	}
}

func createServiceAccount(t *testing.T, s keyward.Store, o *org, name string) *keyward.ServiceAccount {
	t.Helper()
	sa := newServiceAccount(o, name)
	if err := s.CreateServiceAccount(t.Context(), sa, serviceAccountEvent(sa, keyward.ActionServiceAccountCreate)); err != nil {
		t.Fatalf("CreateServiceAccount(%q): %v", name, err)
	}
	return sa
}

// utc returns the time of that day, hour and minute in UTC.
func utc(year int, month time.Month, day, hour, minute int) time.Time {
	return time.Date(year, month, day, hour, minute, 0, 0, time.UTC)
}

func mustFindKey(t *testing.T, s keyward.Store, orgID, id string) *keyward.Key {
	t.Helper()
	k, err := s.FindKeyByID(t.Context(), orgID, id)
	if err != nil {
		t.Fatalf("FindKeyByID(%q): %v", id, err)
	}
	return k
}

// wantKey checks that the store holds want, as both lookups return it.
func wantKey(t *testing.T, s keyward.Store, want *keyward.Key) {
	t.Helper()
	got := mustFindKey(t, s, want.OrgID, want.ID)
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("FindKeyByID(%q) mismatch (-want +got):\n%s", want.ID, diff)
	}
	got, err := s.FindKeyByHash(t.Context(), want.Hash)
	if err != nil {
		t.Fatalf("FindKeyByHash(%q's hash): %v", want.ID, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("FindKeyByHash(%q's hash) mismatch (-want +got):\n%s", want.ID, diff)
	}
}

// allKeyIDs returns the ids of the org's listed keys.
func allKeyIDs(t *testing.T, s keyward.Store, orgID string, f keyward.KeyFilter) []string {
	t.Helper()
	f.Limit = keyward.MaxPageLimit
	p, err := s.FindKeys(t.Context(), orgID, f)
	if err != nil {
		t.Fatalf("FindKeys(%q, %+v): %v", orgID, f, err)
	}
	ids := make([]string, 0, len(p.Data))
	for _, k := range p.Data {
		ids = append(ids, k.ID)
	}
	return ids
}

// allEvents returns the org's audit events, newest first.
func allEvents(t *testing.T, s keyward.Store, orgID string, f keyward.AuditFilter) []*keyward.AuditEvent {
	t.Helper()
	f.Limit = keyward.MaxPageLimit
	p, err := s.FindAuditEvents(t.Context(), orgID, f)
	if err != nil {
		t.Fatalf("FindAuditEvents(%q, %+v): %v", orgID, f, err)
	}
	return p.Data
}

func eventIDs(events []*keyward.AuditEvent) []string {
	ids := make([]string, 0, len(events))
	for _, ev := range events {
		ids = append(ids, ev.ID)
	}
	return ids
}

// wantCode checks that err is an *keyward.Error of code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := keyward.ErrorCode(err); got != code {
		t.Errorf("error code = %q (%v), want %q", got, err, code)
	}
}

// wantField checks that err is EINVALID naming field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	wantCode(t, err, keyward.EINVALID)
	fields := keyward.ErrorFields(err)
	if !slices.ContainsFunc(fields, func(f keyward.FieldError) bool { return f.Field == field }) {
		t.Errorf("error fields = %+v, want one named %q", fields, field)
	}
}

func testPing(t *testing.T, s keyward.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping() = %v, want nil", err)
	}
}

// checkPages walks a list of seven items in pages of three through page,
// which returns one page's ids and the next cursor, and checks that the
// pages hold 3, 3 and 1 items and together want, in order.
func checkPages(t *testing.T, want []string, page func(cursor string) ([]string, string, error)) {
	t.Helper()
	var got []string
	var sizes []int
	cursor := ""
	for {
		ids, next, err := page(cursor)
		if err != nil {
			t.Fatalf("page after cursor %q: %v", cursor, err)
		}
		sizes = append(sizes, len(ids))
		got = append(got, ids...)
		if next == "" {
			break
		}
		if len(sizes) > len(want) {
			t.Fatalf("pagination does not end")
		}
		cursor = next
	}
	if diff := cmp.Diff([]int{3, 3, 1}, sizes); diff != "" {
		t.Errorf("page sizes mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged ids mismatch (-want +got):\n%s", diff)
	}
}
