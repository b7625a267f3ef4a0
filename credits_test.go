package keyward_test

import (
	"testing"
	"time"

	"keyward"
)

func TestCreditRefillNextRefill(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		name   string
		refill keyward.CreditRefill
		after  string
		want   string
	}{
		{"daily is next midnight", keyward.CreditRefill{Interval: keyward.RefillDaily}, "2026-11-23T12:00:00Z", "2026-11-24T00:00:00Z"},
		{"daily at midnight is the next one", keyward.CreditRefill{Interval: keyward.RefillDaily}, "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z"},
		{"daily counts in UTC", keyward.CreditRefill{Interval: keyward.RefillDaily}, "2026-11-23T23:30:00-05:00", "2026-11-25T00:00:00Z"},
		{"monthly later this month", keyward.CreditRefill{Interval: keyward.RefillMonthly, Day: 25}, "2026-11-23T12:00:00Z", "2026-11-25T00:00:00Z"},
		{"monthly next month", keyward.CreditRefill{Interval: keyward.RefillMonthly, Day: 1}, "2026-11-23T12:00:00Z", "2026-12-01T00:00:00Z"},
		{"monthly on the day is next month", keyward.CreditRefill{Interval: keyward.RefillMonthly, Day: 23}, "2026-11-23T00:00:00Z", "2026-12-23T00:00:00Z"},
		{"day 31 in a 30-day month", keyward.CreditRefill{Interval: keyward.RefillMonthly, Day: 31}, "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"},
		{"day 31 in February", keyward.CreditRefill{Interval: keyward.RefillMonthly, Day: 31}, "2027-01-31T00:00:00Z", "2027-02-28T00:00:00Z"},
		{"day 31 after the clamped day", keyward.CreditRefill{Interval: keyward.RefillMonthly, Day: 31}, "2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z"},
		{"across the year", keyward.CreditRefill{Interval: keyward.RefillMonthly, Day: 15}, "2026-12-20T00:00:00Z", "2027-01-15T00:00:00Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.refill.NextRefill(at(tt.after)); !got.Equal(at(tt.want)) {
				t.Errorf("NextRefill(%s): got %s, want %s", tt.after, got, tt.want)
			}
		})
	}
}

func TestCreditsApplyRefill(t *testing.T) {
	set := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	daily := &keyward.CreditRefill{Amount: 100, Interval: keyward.RefillDaily}

	c := &keyward.Credits{Remaining: 3, Refill: daily, RefilledAt: &set}
	if c.ApplyRefill(set.Add(11 * time.Hour)) {
		t.Fatal("refilled before midnight")
	}
	if c.Remaining != 3 {
		t.Fatalf("remaining: got %d, want 3", c.Remaining)
	}
	// Three days idle: one refill to the amount, on the last boundary.
	now := set.Add(3*24*time.Hour + time.Hour)
	if !c.ApplyRefill(now) {
		t.Fatal("not refilled after three days")
	}
	if want := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC); c.Remaining != 100 || !c.RefilledAt.Equal(want) {
		t.Errorf("got remaining %d at %s, want 100 at %s", c.Remaining, c.RefilledAt, want)
	}
	if c.ApplyRefill(now) {
		t.Error("refilled twice for one boundary")
	}

	var none *keyward.Credits
	if none.ApplyRefill(now) {
		t.Error("nil credits refilled")
	}
	noRefill := &keyward.Credits{Remaining: 1, RefilledAt: &set}
	if noRefill.ApplyRefill(now) || noRefill.Remaining != 1 {
		t.Error("credits without a refill changed")
	}
}
