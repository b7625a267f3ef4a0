package service_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// find returns key id as stored.
func (f *fixture) find(t *testing.T, id string) *keyward.Key {
	t.Helper()
	k, err := f.svc.FindKeyByID(f.root, id)
	if err != nil {
		t.Fatalf("FindKeyByID(%s): %v", id, err)
	}
	return k
}

// events returns the org's audit events of one action, newest first.
func (f *fixture) events(t *testing.T, action string) []*keyward.AuditEvent {
	t.Helper()
	page, err := f.svc.FindAuditEvents(f.root, keyward.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return page.Data
}

// wantInvalid fails unless err is EINVALID naming exactly fields.
func wantInvalid(t *testing.T, err error, fields ...string) {
	t.Helper()
	if got := keyward.ErrorCode(err); got != keyward.EINVALID {
		t.Fatalf("got code %q (%v), want %q", got, err, keyward.EINVALID)
	}
	if diff := cmp.Diff(fields, fieldNames(err)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func numberedLimits(n int) []keyward.RateLimit {
	out := make([]keyward.RateLimit, n)
	for i := range out {
		out[i] = keyward.RateLimit{Name: fmt.Sprintf("l%d", i), Limit: 10, Window: 60}
	}
	return out
}

// badLimits are the invalid rate_limits and credits inputs that create
// and update share, with the fields they must name.
var badLimits = []struct {
	name    string
	limits  []keyward.RateLimit
	credits *keyward.CreditsInput
	want    []string
}{
	{"17 limits", numberedLimits(17), nil, []string{"rate_limits"}},
	{"empty name", []keyward.RateLimit{{Name: "", Limit: 1, Window: 1}}, nil, []string{"rate_limits[0].name"}},
	{"name with a space", []keyward.RateLimit{{Name: "per minute", Limit: 1, Window: 1}}, nil, []string{"rate_limits[0].name"}},
	{"name of 65", []keyward.RateLimit{{Name: strings.Repeat("n", 65), Limit: 1, Window: 1}}, nil, []string{"rate_limits[0].name"}},
	{"duplicate name", []keyward.RateLimit{{Name: "a", Limit: 1, Window: 1}, {Name: "a", Limit: 2, Window: 2}}, nil, []string{"rate_limits[1].name"}},
	{"zero limit", []keyward.RateLimit{{Name: "a", Limit: 0, Window: 60}}, nil, []string{"rate_limits[0].limit"}},
	{"negative limit", []keyward.RateLimit{{Name: "a", Limit: -5, Window: 60}}, nil, []string{"rate_limits[0].limit"}},
	{"limit too large", []keyward.RateLimit{{Name: "a", Limit: 1_000_000_001, Window: 60}}, nil, []string{"rate_limits[0].limit"}},
	{"zero window", []keyward.RateLimit{{Name: "a", Limit: 1, Window: 0}}, nil, []string{"rate_limits[0].window"}},
	{"window over a day", []keyward.RateLimit{{Name: "ok", Limit: 1, Window: 1}, {Name: "b", Limit: 1, Window: 86401}}, nil, []string{"rate_limits[1].window"}},
	{"credits below zero", nil, &keyward.CreditsInput{Remaining: ptr[int64](-1)}, []string{"credits.remaining"}},
	{"credits too large", nil, &keyward.CreditsInput{Remaining: ptr[int64](1_000_000_000_001)}, []string{"credits.remaining"}},
	{"credits without a balance or refill", nil, &keyward.CreditsInput{}, []string{"credits.remaining"}},
	{"refill of zero", nil, &keyward.CreditsInput{Refill: &keyward.CreditRefill{Amount: 0, Interval: "daily"}}, []string{"credits.refill.amount"}},
	{"weekly refill", nil, &keyward.CreditsInput{Refill: &keyward.CreditRefill{Amount: 5, Interval: "weekly"}}, []string{"credits.refill.interval"}},
	{"monthly without day", nil, &keyward.CreditsInput{Refill: &keyward.CreditRefill{Amount: 5, Interval: "monthly"}}, []string{"credits.refill.day"}},
	{"monthly day 32", nil, &keyward.CreditsInput{Refill: &keyward.CreditRefill{Amount: 5, Interval: "monthly", Day: 32}}, []string{"credits.refill.day"}},
	{"daily with a day", nil, &keyward.CreditsInput{Refill: &keyward.CreditRefill{Amount: 5, Interval: "daily", Day: 3}}, []string{"credits.refill.day"}},
	{"every error at once",
		[]keyward.RateLimit{{Name: "", Limit: 0, Window: 0}},
		&keyward.CreditsInput{Remaining: ptr[int64](-1), Refill: &keyward.CreditRefill{Amount: -1, Interval: ""}},
		[]string{"rate_limits[0].name", "rate_limits[0].limit", "rate_limits[0].window", "credits.remaining", "credits.refill.amount", "credits.refill.interval"}},
}

func TestCreateKeyLimitsValidation(t *testing.T) {
	f := newFixture(t)
	for _, tt := range badLimits {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.CreateKey(f.root, keyward.KeyCreate{Name: "k", RateLimits: tt.limits, Credits: tt.credits})
			wantInvalid(t, err, tt.want...)
		})
	}
	page, err := f.svc.FindKeys(f.root, keyward.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 {
		t.Errorf("got %d keys after failed creates, want only the root key", len(page.Data))
	}
	if n := len(f.events(t, keyward.ActionKeyCreate)); n != 0 {
		t.Errorf("got %d %s events after failed creates, want 0", n, keyward.ActionKeyCreate)
	}
}

func TestUpdateKeyLimitsValidation(t *testing.T) {
	f := newFixture(t)
	k := f.create(t, f.root, keyward.KeyCreate{Name: "k",
		RateLimits: []keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}},
		Credits:    &keyward.CreditsInput{Remaining: ptr[int64](10)}})
	before := f.find(t, k.ID)
	for _, tt := range badLimits {
		t.Run(tt.name, func(t *testing.T) {
			upd := keyward.KeyUpdate{}
			if tt.limits != nil {
				upd.RateLimits = &tt.limits
			}
			if tt.credits != nil {
				upd.Credits = keyward.Optional[keyward.CreditsInput]{Set: true, Value: tt.credits}
			}
			_, err := f.svc.UpdateKey(f.root, k.ID, upd)
			wantInvalid(t, err, tt.want...)
		})
	}
	if diff := cmp.Diff(before, f.find(t, k.ID)); diff != "" {
		t.Errorf("key after failed updates (-want +got):\n%s", diff)
	}
	if n := len(f.events(t, keyward.ActionKeyUpdate)); n != 0 {
		t.Errorf("got %d %s events after failed updates, want 0", n, keyward.ActionKeyUpdate)
	}
}

func TestKeyLimitsRoundTrip(t *testing.T) {
	f := newFixture(t)
	k := f.create(t, f.root, keyward.KeyCreate{Name: "k",
		RateLimits: []keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}, {Name: "api:burst", Limit: 5, Window: 1}},
		Credits:    &keyward.CreditsInput{Remaining: ptr[int64](50), Refill: &keyward.CreditRefill{Amount: 1000, Interval: keyward.RefillMonthly, Day: 31}},
	})
	wantCredits := &keyward.Credits{Remaining: 50,
		Refill:     &keyward.CreditRefill{Amount: 1000, Interval: keyward.RefillMonthly, Day: 31},
		RefilledAt: &f.now}
	if diff := cmp.Diff(wantCredits, k.Credits); diff != "" {
		t.Errorf("created credits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(k.Key, f.find(t, k.ID)); diff != "" {
		t.Errorf("stored key (-created +stored):\n%s", diff)
	}
	var details struct {
		RateLimits []keyward.RateLimit `json:"rate_limits"`
		Credits    *keyward.Credits    `json:"credits"`
	}
	if err := json.Unmarshal(f.events(t, keyward.ActionKeyCreate)[0].Details, &details); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k.RateLimits, details.RateLimits); diff != "" {
		t.Errorf("audited rate_limits (-key +audit):\n%s", diff)
	}
	if diff := cmp.Diff(k.Credits, details.Credits); diff != "" {
		t.Errorf("audited credits (-key +audit):\n%s", diff)
	}

	f.now = f.now.Add(time.Minute)
	upd, err := f.svc.UpdateKey(f.root, k.ID, keyward.KeyUpdate{
		RateLimits: &[]keyward.RateLimit{{Name: "default", Limit: 10, Window: 3600}},
		Credits:    keyward.Optional[keyward.CreditsInput]{Set: true, Value: &keyward.CreditsInput{Remaining: ptr[int64](7)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]keyward.RateLimit{{Name: "default", Limit: 10, Window: 3600}}, upd.RateLimits); diff != "" {
		t.Errorf("replaced rate_limits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&keyward.Credits{Remaining: 7}, upd.Credits); diff != "" {
		t.Errorf("replaced credits (-want +got):\n%s", diff)
	}

	// A refill without a balance starts full.
	upd, err = f.svc.UpdateKey(f.root, k.ID, keyward.KeyUpdate{Credits: keyward.Optional[keyward.CreditsInput]{Set: true,
		Value: &keyward.CreditsInput{Refill: &keyward.CreditRefill{Amount: 300, Interval: keyward.RefillDaily}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := &keyward.Credits{Remaining: 300, Refill: &keyward.CreditRefill{Amount: 300, Interval: keyward.RefillDaily}, RefilledAt: &f.now}
	if diff := cmp.Diff(want, upd.Credits); diff != "" {
		t.Errorf("credits of a refill alone (-want +got):\n%s", diff)
	}

	// [] removes every limit; null makes the key unlimited.
	upd, err = f.svc.UpdateKey(f.root, k.ID, keyward.KeyUpdate{
		RateLimits: &[]keyward.RateLimit{},
		Credits:    keyward.Optional[keyward.CreditsInput]{Set: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(upd.RateLimits) != 0 || upd.Credits != nil {
		t.Errorf("after clearing: rate_limits %v, credits %+v; want none and unlimited", upd.RateLimits, upd.Credits)
	}
	if diff := cmp.Diff(upd, f.find(t, k.ID)); diff != "" {
		t.Errorf("stored key (-updated +stored):\n%s", diff)
	}
}

func TestUpdateCredits(t *testing.T) {
	f := newFixture(t)
	k := f.create(t, f.root, keyward.KeyCreate{Name: "k", Credits: &keyward.CreditsInput{Remaining: ptr[int64](10)}})
	for _, tt := range []struct {
		upd  keyward.CreditsUpdate
		want int64
	}{
		{keyward.CreditsUpdate{Op: keyward.CreditsIncrement, Amount: ptr[int64](5)}, 15},
		{keyward.CreditsUpdate{Op: keyward.CreditsDecrement, Amount: ptr[int64](15)}, 0},
		{keyward.CreditsUpdate{Op: keyward.CreditsSet, Amount: ptr[int64](3)}, 3},
		{keyward.CreditsUpdate{Op: keyward.CreditsSet, Amount: ptr[int64](0)}, 0},
	} {
		got, err := f.svc.UpdateCredits(f.root, k.ID, tt.upd)
		if err != nil {
			t.Fatalf("UpdateCredits(%+v): %v", tt.upd, err)
		}
		if got.Credits == nil || got.Credits.Remaining != tt.want {
			t.Errorf("UpdateCredits(%+v): credits %+v, want %d remaining", tt.upd, got.Credits, tt.want)
		}
	}
	evs := f.events(t, keyward.ActionKeyCredits)
	if len(evs) != 4 {
		t.Fatalf("got %d %s events, want 4", len(evs), keyward.ActionKeyCredits)
	}
	if got, want := string(evs[3].Details), `{"amount":5,"op":"increment","remaining":15}`; got != want || evs[3].TargetID != k.ID {
		t.Errorf("first event: target %s, details %s; want %s, %s", evs[3].TargetID, got, k.ID, want)
	}
}

func TestUpdateCreditsRefusals(t *testing.T) {
	f := newFixture(t)
	k := f.create(t, f.root, keyward.KeyCreate{Name: "k", Credits: &keyward.CreditsInput{Remaining: ptr[int64](2)}})
	unlimited := f.create(t, f.root, keyward.KeyCreate{Name: "unlimited"})
	revoked := f.create(t, f.root, keyward.KeyCreate{Name: "revoked", Credits: &keyward.CreditsInput{Remaining: ptr[int64](2)}})
	if _, err := f.svc.RevokeKey(f.root, revoked.ID); err != nil {
		t.Fatal(err)
	}
	strong := f.create(t, f.root, keyward.KeyCreate{Name: "strong", Permissions: []string{"*"}, Credits: &keyward.CreditsInput{Remaining: ptr[int64](2)}})
	updater := f.create(t, f.root, keyward.KeyCreate{Name: "updater", Permissions: []string{keyward.PermKeysUpdate}})
	reader := f.create(t, f.root, keyward.KeyCreate{Name: "reader", Permissions: []string{keyward.PermKeysRead}})
	keys := []*keyward.CreatedKey{k, unlimited, revoked, strong}
	before := make(map[string]*keyward.Key)
	for _, k := range keys {
		before[k.ID] = f.find(t, k.ID)
	}

	for _, tt := range []struct {
		name   string
		caller *keyward.CreatedKey
		id     string
		upd    keyward.CreditsUpdate
		code   string
		fields []string
	}{
		{"unknown op", nil, k.ID, keyward.CreditsUpdate{Op: "add", Amount: ptr[int64](1)}, keyward.EINVALID, []string{"op"}},
		{"no amount", nil, k.ID, keyward.CreditsUpdate{Op: "set"}, keyward.EINVALID, []string{"amount"}},
		{"negative set", nil, k.ID, keyward.CreditsUpdate{Op: "set", Amount: ptr[int64](-1)}, keyward.EINVALID, []string{"amount"}},
		{"increment by zero", nil, k.ID, keyward.CreditsUpdate{Op: "increment", Amount: ptr[int64](0)}, keyward.EINVALID, []string{"amount"}},
		{"set too large", nil, k.ID, keyward.CreditsUpdate{Op: "set", Amount: ptr[int64](1_000_000_000_001)}, keyward.EINVALID, []string{"amount"}},
		{"increment past the bound", nil, k.ID, keyward.CreditsUpdate{Op: "increment", Amount: ptr[int64](1_000_000_000_000)}, keyward.EINVALID, []string{"amount"}},
		{"decrement below zero", nil, k.ID, keyward.CreditsUpdate{Op: "decrement", Amount: ptr[int64](3)}, keyward.EINVALID, []string{"amount"}},
		{"increment unlimited", nil, unlimited.ID, keyward.CreditsUpdate{Op: "increment", Amount: ptr[int64](1)}, keyward.ECONFLICT, nil},
		{"decrement unlimited", nil, unlimited.ID, keyward.CreditsUpdate{Op: "decrement", Amount: ptr[int64](1)}, keyward.ECONFLICT, nil},
		{"revoked", nil, revoked.ID, keyward.CreditsUpdate{Op: "set", Amount: ptr[int64](1)}, keyward.ECONFLICT, nil},
		{"missing", nil, "0193aaaa-0000-7000-8000-000000000000", keyward.CreditsUpdate{Op: "set", Amount: ptr[int64](1)}, keyward.ENOTFOUND, nil},
		{"key the caller does not cover", updater, strong.ID, keyward.CreditsUpdate{Op: "set", Amount: ptr[int64](100)}, keyward.EFORBIDDEN, nil},
		{"caller without update", reader, k.ID, keyward.CreditsUpdate{Op: "set", Amount: ptr[int64](100)}, keyward.EFORBIDDEN, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := f.root
			if tt.caller != nil {
				ctx = f.as(tt.caller.Key)
			}
			_, err := f.svc.UpdateCredits(ctx, tt.id, tt.upd)
			if got := keyward.ErrorCode(err); got != tt.code {
				t.Fatalf("got %q (%v), want %q", got, err, tt.code)
			}
			if diff := cmp.Diff(tt.fields, fieldNames(err)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
	_, err := f.svc.UpdateCredits(f.root, k.ID, keyward.CreditsUpdate{Op: "decrement", Amount: ptr[int64](3)})
	if msg := keyward.ErrorMessage(err); !strings.Contains(msg, "below zero; 2 remain") {
		t.Errorf("decrement below zero: message %q, want it to say how many remain", msg)
	}
	for _, k := range keys {
		if diff := cmp.Diff(before[k.ID], f.find(t, k.ID)); diff != "" {
			t.Errorf("%s after refused updates (-want +got):\n%s", k.Name, diff)
		}
	}
	if n := len(f.events(t, keyward.ActionKeyCredits)); n != 0 {
		t.Errorf("got %d %s events after refused updates, want 0", n, keyward.ActionKeyCredits)
	}

	// set gives an unlimited key a balance, without a refill.
	got, err := f.svc.UpdateCredits(f.root, unlimited.ID, keyward.CreditsUpdate{Op: "set", Amount: ptr[int64](4)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&keyward.Credits{Remaining: 4}, got.Credits); diff != "" {
		t.Errorf("credits set on an unlimited key (-want +got):\n%s", diff)
	}
}

// TestUpdateCreditsAppliesRefillFirst checks that an operation acts on the
// balance after a refill that fell due while the key was idle, not on the
// stale stored one.
func TestUpdateCreditsAppliesRefillFirst(t *testing.T) {
	f := newFixture(t)
	k := f.create(t, f.root, keyward.KeyCreate{Name: "k", Credits: &keyward.CreditsInput{Remaining: ptr[int64](3),
		Refill: &keyward.CreditRefill{Amount: 10, Interval: keyward.RefillDaily}}})
	f.now = f.now.Add(24 * time.Hour)
	got, err := f.svc.UpdateCredits(f.root, k.ID, keyward.CreditsUpdate{Op: keyward.CreditsDecrement, Amount: ptr[int64](5)})
	if err != nil {
		t.Fatal(err)
	}
	midnight := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	want := &keyward.Credits{Remaining: 5, Refill: &keyward.CreditRefill{Amount: 10, Interval: keyward.RefillDaily}, RefilledAt: &midnight}
	if diff := cmp.Diff(want, got.Credits); diff != "" {
		t.Errorf("credits (-want +got):\n%s", diff)
	}
}

// TestVerifyCreditsConcurrency checks that M credits serve exactly M of
// many concurrent verifications.
func TestVerifyCreditsConcurrency(t *testing.T) {
	f := newFixture(t)
	const credits, verifies = 25, 100
	k := f.create(t, f.root, keyward.KeyCreate{Name: "k", Credits: &keyward.CreditsInput{Remaining: ptr[int64](credits)}})
	codes := make(chan string, verifies)
	var wg sync.WaitGroup
	for range verifies {
		wg.Go(func() {
			res, err := f.svc.Verify(f.root, keyward.VerifyRequest{Key: k.Secret})
			if err != nil {
				t.Error(err)
				return
			}
			codes <- res.Code
		})
	}
	wg.Wait()
	close(codes)
	got := map[string]int{}
	for c := range codes {
		got[c]++
	}
	want := map[string]int{keyward.CodeValid: credits, keyward.CodeUsageExceeded: verifies - credits}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verify codes (-want +got):\n%s", diff)
	}
}

// TestUpdateCreditsConcurrentWithSpends checks that increments racing with
// verifications are neither lost nor lose a spend: every operation lands
// on the balance the one before it left.
func TestUpdateCreditsConcurrentWithSpends(t *testing.T) {
	f := newFixture(t)
	const start, verifies, increments = 1000, 200, 100
	k := f.create(t, f.root, keyward.KeyCreate{Name: "k", Credits: &keyward.CreditsInput{Remaining: ptr[int64](start)}})
	var wg sync.WaitGroup
	for range verifies {
		wg.Go(func() {
			res, err := f.svc.Verify(f.root, keyward.VerifyRequest{Key: k.Secret})
			if err != nil || res.Code != keyward.CodeValid {
				t.Errorf("verify: %+v, %v; want VALID", res, err)
			}
		})
	}
	for range increments {
		wg.Go(func() {
			if _, err := f.svc.UpdateCredits(f.root, k.ID, keyward.CreditsUpdate{Op: keyward.CreditsIncrement, Amount: ptr[int64](1)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, want := f.find(t, k.ID).Credits.Remaining, int64(start-verifies+increments); got != want {
		t.Errorf("got %d credits remaining, want %d", got, want)
	}
}
