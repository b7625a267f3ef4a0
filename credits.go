package keyward

import "time"

// Credit refill intervals.
const (
	RefillDaily   = "daily"
	RefillMonthly = "monthly"
)

// Credits is a key's spendable balance. A key without credits (nil) is
// unlimited.
type Credits struct {
	Remaining int64         `json:"remaining"`
	Refill    *CreditRefill `json:"refill"`
	// RefilledAt is the last refill, or when a refill was configured: the
	// schedule counts from it, so a refill missed while the server was down
	// happens at the next spend or sweep.
	RefilledAt *time.Time `json:"refilled_at"`
}

// CreditRefill sets the balance back to Amount every day at 00:00 UTC, or
// every month at 00:00 UTC of Day (1..31; the month's last day when it is
// shorter).
type CreditRefill struct {
	Amount   int64  `json:"amount"`
	Interval string `json:"interval"`
	Day      int    `json:"day,omitempty"`
}

// CreditsInput sets credits on create or update.
type CreditsInput struct {
	// Remaining is the starting balance. It may be left out with a refill,
	// and then starts at the refill's amount; without one it is required.
	Remaining *int64        `json:"remaining,omitempty"`
	Refill    *CreditRefill `json:"refill,omitempty"`
}

// Credit operations of KeyService.UpdateCredits.
const (
	CreditsSet       = "set"
	CreditsIncrement = "increment"
	CreditsDecrement = "decrement"
)

// CreditsUpdate changes a key's balance.
type CreditsUpdate struct {
	// Op is set, increment or decrement.
	Op string `json:"op"`
	// Amount is required: a pointer, so that a forgotten amount is an
	// error rather than a set to 0.
	Amount *int64 `json:"amount,omitempty"`
}

// CreditsState is the balance a verification left.
type CreditsState struct {
	Remaining int64 `json:"remaining"`
}

// NextRefill returns the first refill time strictly after t.
func (r *CreditRefill) NextRefill(t time.Time) time.Time {
	t = t.UTC()
	if r.Interval == RefillDaily {
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return day.AddDate(0, 0, 1)
	}
	// Monthly: this month's refill day if still ahead, else next month's.
	at := monthDay(t.Year(), t.Month(), r.Day)
	if at.After(t) {
		return at
	}
	return monthDay(t.Year(), t.Month()+1, r.Day)
}

// monthDay is 00:00 UTC of day in the month, clamped to its last day.
func monthDay(year int, month time.Month, day int) time.Time {
	first := time.Date(year, month, 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(day, last)-1)
}

// ApplyRefill refills c if a refill fell due after RefilledAt and not after
// now, and reports whether it did. Missed refills do not add up: the
// balance is set to Amount once.
func (c *Credits) ApplyRefill(now time.Time) bool {
	if c == nil || c.Refill == nil || c.RefilledAt == nil {
		return false
	}
	next := c.Refill.NextRefill(*c.RefilledAt)
	if next.After(now) {
		return false
	}
	// Record the latest due refill, not now, so the schedule stays on its
	// boundaries.
	for {
		after := c.Refill.NextRefill(next)
		if after.After(now) {
			break
		}
		next = after
	}
	c.Remaining = c.Refill.Amount
	c.RefilledAt = &next
	return true
}
