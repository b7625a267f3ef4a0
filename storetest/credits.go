package storetest

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"keyward"
)

// credits returns a balance with an optional refill that was last applied,
// or configured, at refilledAt.
func credits(remaining int64, refill *keyward.CreditRefill, refilledAt time.Time) *keyward.Credits {
	c := &keyward.Credits{Remaining: remaining, Refill: refill}
	if refill != nil {
		c.RefilledAt = &refilledAt
	}
	return c
}

func daily(amount int64) *keyward.CreditRefill {
	return &keyward.CreditRefill{Amount: amount, Interval: keyward.RefillDaily}
}

func monthly(amount int64, day int) *keyward.CreditRefill {
	return &keyward.CreditRefill{Amount: amount, Interval: keyward.RefillMonthly, Day: day}
}

// testUsageControlRoundTrip checks that rate limits, credits, rotation
// links and the rotation line come back unchanged through every path that
// reads a key.
func testUsageControlRoundTrip(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	sa := createServiceAccount(t, s, acme, "metered-bot")
	refilled := utc(2026, time.March, 1, 0, 0)

	tests := []struct {
		name string
		edit func(k *keyward.Key)
	}{
		{"limits and a monthly refill", func(k *keyward.Key) {
			k.RateLimits = []keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}, {Name: "daily", Limit: 10000, Window: keyward.MaxRateLimitWindow}}
			k.Credits = credits(250, monthly(500, 31), refilled)
		}},
		{"a daily refill", func(k *keyward.Key) {
			k.Credits = credits(7, daily(10), refilled)
		}},
		{"credits without refill", func(k *keyward.Key) {
			k.Credits = credits(1<<40, nil, time.Time{})
		}},
		{"no credits left", func(k *keyward.Key) {
			k.Credits = credits(0, nil, time.Time{})
		}},
		{"rotation links and line", func(k *keyward.Key) {
			k.RotatedFrom = newID()
			k.RotatedTo = newID()
			k.LineID = newID()
		}},
		{"unlimited and no limits", func(k *keyward.Key) {}},
	}
	var wants []*keyward.Key
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(acme)
			k.OwnerID = ""
			k.ServiceAccountID = sa.ID
			tt.edit(k)
			want := k.Clone()
			createKey(t, s, k)
			wantKey(t, s, want)
			wants = append(wants, want)
		})
	}
	slices.SortFunc(wants, func(a, b *keyward.Key) int { return cmp.Compare(a.ID, b.ID) })

	p, err := s.FindKeys(ctx, acme.ID, keyward.KeyFilter{ServiceAccountID: sa.ID})
	if err != nil {
		t.Fatalf("FindKeys: %v", err)
	}
	if diff := gocmp.Diff(wants, p.Data, cmpOpts); diff != "" {
		t.Errorf("FindKeys() mismatch (-want +got):\n%s", diff)
	}

	for _, want := range wants {
		want.Description = "renamed"
		got, err := s.UpdateKey(ctx, acme.ID, want.ID, func(k *keyward.Key) error {
			k.Description = want.Description
			return nil
		}, nil)
		if err != nil {
			t.Fatalf("UpdateKey: %v", err)
		}
		if diff := gocmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("UpdateKey(%q) mismatch (-want +got):\n%s", want.ID, diff)
		}
	}

	at := now()
	for _, want := range wants {
		want.RevokedAt, want.UpdatedAt = &at, at
	}
	revoked, err := s.DeleteServiceAccount(ctx, acme.ID, sa.ID, at, nil, nil)
	if err != nil {
		t.Fatalf("DeleteServiceAccount: %v", err)
	}
	if diff := gocmp.Diff(wants, revoked, cmpOpts); diff != "" {
		t.Errorf("DeleteServiceAccount() keys mismatch (-want +got):\n%s", diff)
	}
}

// testUpdateKeyUsageControl checks that UpdateKey writes rate limits and
// credits, clears them, and leaves the rotation link and line alone.
func testUpdateKeyUsageControl(t *testing.T, s keyward.Store) {
	acme := createOrg(t, s, "acme")
	k := newKey(acme)
	k.LineID = newID()
	createKey(t, s, k)
	refilled := utc(2026, time.April, 15, 0, 0)

	steps := []struct {
		name   string
		update func(k *keyward.Key)
	}{
		{"set limits and credits", func(k *keyward.Key) {
			k.RateLimits = []keyward.RateLimit{{Name: "default", Limit: 5, Window: 1}}
			k.Credits = credits(42, monthly(100, 15), refilled)
		}},
		{"change the balance alone", func(k *keyward.Key) {
			k.Credits.Remaining = 41
		}},
		{"drop the refill", func(k *keyward.Key) {
			k.Credits = credits(41, nil, time.Time{})
		}},
		{"unlimited, no limits", func(k *keyward.Key) {
			k.RateLimits = nil
			k.Credits = nil
		}},
	}
	want := k.Clone()
	for _, step := range steps {
		step.update(want)
		got, err := s.UpdateKey(t.Context(), acme.ID, k.ID, func(cur *keyward.Key) error {
			step.update(cur)
			// Only a rotation links keys and sets lines.
			cur.RotatedTo, cur.LineID = newID(), newID()
			return nil
		}, nil)
		if err != nil {
			t.Fatalf("%s: UpdateKey: %v", step.name, err)
		}
		if diff := gocmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("%s: UpdateKey() mismatch (-want +got):\n%s", step.name, diff)
		}
		wantKey(t, s, want)
	}
}

// spend calls SpendCredits and checks its answer.
func spend(t *testing.T, s keyward.Store, orgID, id string, cost int64, at time.Time, wantRemaining int64, wantOK bool) {
	t.Helper()
	remaining, ok, err := s.SpendCredits(t.Context(), orgID, id, cost, at)
	if err != nil {
		t.Fatalf("SpendCredits(cost %d at %v): %v", cost, at, err)
	}
	if remaining != wantRemaining || ok != wantOK {
		t.Errorf("SpendCredits(cost %d at %v) = %d, %v; want %d, %v", cost, at, remaining, ok, wantRemaining, wantOK)
	}
}

// storedCredits returns the key's credits as stored.
func storedCredits(t *testing.T, s keyward.Store, orgID, id string) *keyward.Credits {
	t.Helper()
	return mustFindKey(t, s, orgID, id).Credits
}

func testSpendCredits(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	k := newKey(acme)
	k.Credits = credits(100, nil, time.Time{})
	createKey(t, s, k)

	// The steps spend from one balance, in order.
	steps := []struct {
		name          string
		cost          int64
		wantRemaining int64
		wantOK        bool
	}{
		{"spend", 30, 70, true},
		{"cost 0 checks without spending", 0, 70, true},
		{"more than remains spends nothing", 71, 70, false},
		{"exactly what remains", 70, 0, true},
		{"cost 0 at zero is refused", 0, 0, false},
		{"cost 1 at zero is refused", 1, 0, false},
	}
	for _, step := range steps {
		remaining, ok, err := s.SpendCredits(ctx, acme.ID, k.ID, step.cost, now())
		if err != nil {
			t.Fatalf("%s: SpendCredits: %v", step.name, err)
		}
		if remaining != step.wantRemaining || ok != step.wantOK {
			t.Errorf("%s: SpendCredits(%d) = %d, %v; want %d, %v", step.name, step.cost, remaining, ok, step.wantRemaining, step.wantOK)
		}
		if got := storedCredits(t, s, acme.ID, k.ID).Remaining; got != step.wantRemaining {
			t.Errorf("%s: stored remaining = %d, want %d", step.name, got, step.wantRemaining)
		}
	}

	// A key without credits is unlimited, and spending writes nothing.
	unlimited := createKey(t, s, newKey(acme))
	spend(t, s, acme.ID, unlimited.ID, 1000, now(), -1, true)
	wantKey(t, s, unlimited)

	deleted := newKey(acme)
	at := now()
	deleted.DeletedAt = &at
	deleted.Credits = credits(10, nil, time.Time{})
	createKey(t, s, deleted)
	for _, id := range []string{newID(), deleted.ID} {
		_, _, err := s.SpendCredits(ctx, acme.ID, id, 1, now())
		wantCode(t, err, keyward.ENOTFOUND)
	}
	wantKey(t, s, deleted)

	// A negative cost would mint credits.
	funded := newKey(acme)
	funded.Credits = credits(10, nil, time.Time{})
	createKey(t, s, funded)
	_, _, err := s.SpendCredits(ctx, acme.ID, funded.ID, -5, now())
	wantField(t, err, "cost")
	wantKey(t, s, funded)
}

// testSpendCreditsConcurrent checks that concurrent spends never see the
// same balance: exactly the balance is spent, one unit at a time.
func testSpendCreditsConcurrent(t *testing.T, s keyward.Store) {
	acme := createOrg(t, s, "acme")
	k := newKey(acme)
	const balance, workers, spends = 100, 50, 4
	k.Credits = credits(balance, nil, time.Time{})
	createKey(t, s, k)

	var (
		succeeded atomic.Int64
		mu        sync.Mutex
		seen      = map[int64]int{}
		wg        sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range spends {
				remaining, ok, err := s.SpendCredits(t.Context(), acme.ID, k.ID, 1, now())
				if err != nil {
					t.Errorf("SpendCredits: %v", err)
					return
				}
				if ok {
					succeeded.Add(1)
					mu.Lock()
					seen[remaining]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if got := succeeded.Load(); got != balance {
		t.Errorf("%d spends succeeded, want %d", got, balance)
	}
	// Each balance from 99 down to 0 was left by exactly one spend.
	for r := range int64(balance) {
		if seen[r] != 1 {
			t.Errorf("balance %d was left by %d spends, want 1", r, seen[r])
		}
	}
	if got := storedCredits(t, s, acme.ID, k.ID).Remaining; got != 0 {
		t.Errorf("stored remaining = %d, want 0", got)
	}
}

// testSpendCreditsRotated checks that a rotated key spends from its
// successor, through a chain of rotations, so that the grace period never
// doubles the balance.
func testSpendCreditsRotated(t *testing.T, s keyward.Store) {
	acme := createOrg(t, s, "acme")
	first := newKey(acme)
	first.Credits = credits(10, nil, time.Time{})
	createKey(t, s, first)
	second := rotate(t, s, first)

	spend(t, s, acme.ID, first.ID, 3, now(), 7, true)
	spend(t, s, acme.ID, second.ID, 2, now(), 5, true)
	// The old key's own balance is 0, yet it still draws from its successor.
	spend(t, s, acme.ID, first.ID, 6, now(), 5, false)

	third := rotate(t, s, second)
	spend(t, s, acme.ID, first.ID, 5, now(), 0, true)
	spend(t, s, acme.ID, third.ID, 1, now(), 0, false)
	for _, k := range []*keyward.Key{first, second} {
		if got := storedCredits(t, s, acme.ID, k.ID); got == nil || got.Remaining != 0 {
			t.Errorf("rotated key %q credits = %+v, want a balance of 0", k.ID, got)
		}
	}
	if got := storedCredits(t, s, acme.ID, third.ID).Remaining; got != 0 {
		t.Errorf("successor's stored remaining = %d, want 0", got)
	}
}

// spendStep is one spend of a sequence and the credits it leaves.
type spendStep struct {
	at            time.Time
	cost          int64
	wantRemaining int64
	wantOK        bool
	wantRefilled  time.Time
}

// testSpendCreditsRefills checks that a spend first applies a due refill,
// and writes it even when it then refuses the cost.
func testSpendCreditsRefills(t *testing.T, s keyward.Store) {
	acme := createOrg(t, s, "acme")
	tests := []struct {
		name    string
		credits *keyward.Credits
		steps   []spendStep
	}{
		{
			name:    "daily",
			credits: credits(0, daily(50), utc(2026, time.March, 10, 0, 0)),
			steps: []spendStep{
				{utc(2026, time.March, 10, 23, 59), 1, 0, false, utc(2026, time.March, 10, 0, 0)},
				{utc(2026, time.March, 11, 0, 0), 5, 45, true, utc(2026, time.March, 11, 0, 0)},
				{utc(2026, time.March, 11, 12, 0), 1, 44, true, utc(2026, time.March, 11, 0, 0)},
				// Missed refills do not add up.
				{utc(2026, time.March, 14, 8, 0), 1, 49, true, utc(2026, time.March, 14, 0, 0)},
				// A refused cost keeps the refill.
				{utc(2026, time.March, 15, 0, 1), 51, 50, false, utc(2026, time.March, 15, 0, 0)},
			},
		},
		{
			name:    "monthly on the 31st",
			credits: credits(3, monthly(100, 31), utc(2026, time.January, 31, 0, 0)),
			steps: []spendStep{
				{utc(2026, time.February, 27, 23, 59), 1, 2, true, utc(2026, time.January, 31, 0, 0)},
				// February has no 31st: its last day.
				{utc(2026, time.February, 28, 0, 0), 1, 99, true, utc(2026, time.February, 28, 0, 0)},
				{utc(2026, time.March, 30, 23, 59), 99, 0, true, utc(2026, time.February, 28, 0, 0)},
				{utc(2026, time.March, 31, 0, 0), 0, 100, true, utc(2026, time.March, 31, 0, 0)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(acme)
			k.Credits = tt.credits
			createKey(t, s, k)
			for _, step := range tt.steps {
				spend(t, s, acme.ID, k.ID, step.cost, step.at, step.wantRemaining, step.wantOK)
				want := &keyward.Credits{Remaining: step.wantRemaining, Refill: tt.credits.Refill, RefilledAt: &step.wantRefilled}
				if diff := gocmp.Diff(want, storedCredits(t, s, acme.ID, k.ID)); diff != "" {
					t.Errorf("credits after a spend at %v mismatch (-want +got):\n%s", step.at, diff)
				}
			}
		})
	}
}

// testRefillCredits checks that the sweep refills exactly the keys whose
// refill fell due, in every org, and returns them, hash included.
func testRefillCredits(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	initech := createOrg(t, s, "initech")
	at := utc(2026, time.May, 1, 0, 0).Add(30 * time.Second)
	deleted := at.Add(-time.Hour)

	keys := []struct {
		name    string
		org     *org
		credits *keyward.Credits
		deleted bool
		// want is the balance after the sweep at at, and refilled its
		// new refilled_at; zero when the key is not refilled.
		want     int64
		refilled time.Time
	}{
		{"daily due", acme, credits(3, daily(20), utc(2026, time.April, 30, 0, 0)), false, 20, utc(2026, time.May, 1, 0, 0)},
		{"daily due in another org", initech, credits(0, daily(5), utc(2026, time.April, 20, 0, 0)), false, 5, utc(2026, time.May, 1, 0, 0)},
		{"daily not due", acme, credits(3, daily(20), utc(2026, time.May, 1, 0, 0)), false, 0, time.Time{}},
		{"monthly due", acme, credits(0, monthly(1000, 1), utc(2026, time.April, 1, 0, 0)), false, 1000, utc(2026, time.May, 1, 0, 0)},
		{"monthly not due", acme, credits(9, monthly(1000, 15), utc(2026, time.April, 15, 0, 0)), false, 0, time.Time{}},
		{"no refill", acme, credits(4, nil, time.Time{}), false, 0, time.Time{}},
		{"unlimited", acme, nil, false, 0, time.Time{}},
		{"deleted", acme, credits(0, daily(20), utc(2026, time.April, 1, 0, 0)), true, 0, time.Time{}},
	}
	var wantRefilled, unchanged []*keyward.Key
	for _, spec := range keys {
		k := newKey(spec.org)
		k.Name = spec.name
		k.Credits = spec.credits
		if spec.deleted {
			k.DeletedAt = &deleted
		}
		createKey(t, s, k)
		want := k.Clone()
		if spec.refilled.IsZero() {
			unchanged = append(unchanged, want)
			continue
		}
		want.Credits.Remaining = spec.want
		want.Credits.RefilledAt = &spec.refilled
		wantRefilled = append(wantRefilled, want)
	}

	got, err := s.RefillCredits(ctx, at)
	if err != nil {
		t.Fatalf("RefillCredits: %v", err)
	}
	slices.SortFunc(got, func(a, b *keyward.Key) int { return cmp.Compare(a.ID, b.ID) })
	if diff := gocmp.Diff(wantRefilled, got, cmpOpts); diff != "" {
		t.Errorf("RefillCredits() mismatch (-want +got):\n%s", diff)
	}
	for _, want := range append(wantRefilled, unchanged...) {
		wantKey(t, s, want)
	}

	// Nothing more is due at the same time.
	again, err := s.RefillCredits(ctx, at)
	if err != nil {
		t.Fatalf("RefillCredits again: %v", err)
	}
	if len(again) != 0 {
		t.Errorf("RefillCredits again refilled %d keys, want 0", len(again))
	}
}

// testSpendCreditsRotatedUnlimited checks that a key rotated while it had
// no credits follows its line's newest key: unlimited while that key is,
// and spending from its balance once it gets one.
func testSpendCreditsRotatedUnlimited(t *testing.T, s keyward.Store) {
	acme := createOrg(t, s, "acme")
	first := createKey(t, s, newKey(acme))
	second := rotate(t, s, first)
	spend(t, s, acme.ID, first.ID, 5, now(), -1, true)

	third := rotate(t, s, second)
	if _, err := s.UpdateKey(t.Context(), acme.ID, third.ID, func(k *keyward.Key) error {
		k.Credits = credits(10, nil, time.Time{})
		return nil
	}, nil); err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	spend(t, s, acme.ID, first.ID, 4, now(), 6, true)
	spend(t, s, acme.ID, second.ID, 6, now(), 0, true)
	spend(t, s, acme.ID, first.ID, 1, now(), 0, false)
	if got := storedCredits(t, s, acme.ID, third.ID).Remaining; got != 0 {
		t.Errorf("newest key's stored remaining = %d, want 0", got)
	}
	for _, k := range []*keyward.Key{first, second} {
		if got := storedCredits(t, s, acme.ID, k.ID); got != nil {
			t.Errorf("key %q rotated without credits has credits %+v, want none", k.ID, got)
		}
	}
}
