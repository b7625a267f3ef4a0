package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"keyward"
)

// Usage limit bounds.
const (
	maxRateLimitNameLen = 64
	maxRateLimit        = 1_000_000_000
	// maxCredits bounds a balance and a refill: far above any real plan,
	// far below where sums of them could overflow an int64.
	maxCredits = 1_000_000_000_000
)

// rateLimits validates a key's or an owner's named limits and returns a
// copy; nil for none, which is how a key without limits reads back from
// the store.
func (v *validator) rateLimits(limits []keyward.RateLimit) []keyward.RateLimit {
	ok := eachRateLimit(v, limits, func(l keyward.RateLimit) string { return l.Name },
		validLimitName, fmt.Sprintf("must be 1 to %d characters of A-Z, a-z, 0-9, '_', '.', ':' and '-'", maxRateLimitNameLen),
		func(l keyward.RateLimit, field string) {
			if l.Limit < 1 || l.Limit > maxRateLimit {
				v.add(field+"limit", fmt.Sprintf("must be between 1 and %d", maxRateLimit))
			}
			if l.Window < 1 || l.Window > keyward.MaxRateLimitWindow {
				v.add(field+"window", fmt.Sprintf("must be between 1 and %d seconds", keyward.MaxRateLimitWindow))
			}
		})
	if !ok || len(limits) == 0 {
		return nil
	}
	return slices.Clone(limits)
}

// eachRateLimit checks what a list of limits and a verification's list of
// uses share: at most keyward.MaxRateLimits entries, each with a name that
// valid accepts (else the error invalid) and no earlier entry has. check
// does the rest of each entry, given its field prefix. It reports false
// when the list is too long to look into.
func eachRateLimit[T any](v *validator, list []T, name func(T) string, valid func(string) bool, invalid string, check func(l T, field string)) bool {
	if len(list) > keyward.MaxRateLimits {
		v.add("rate_limits", fmt.Sprintf("at most %d limits", keyward.MaxRateLimits))
		return false
	}
	seen := make(map[string]bool, len(list))
	for i, l := range list {
		field := fmt.Sprintf("rate_limits[%d].", i)
		n := name(l)
		switch {
		case !valid(n):
			v.add(field+"name", invalid)
		case seen[n]:
			v.add(field+"name", fmt.Sprintf("%q is given twice", n))
		}
		seen[n] = true
		check(l, field)
	}
	return true
}

// validLimitName reports whether name matches [A-Za-z0-9_.:-]{1,64}.
func validLimitName(name string) bool {
	if name == "" || len(name) > maxRateLimitNameLen {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// credits validates a balance and refill; nil in is nil out, an unlimited
// key. An absent balance starts at the refill's amount; without a refill it
// is required. The refill schedule counts from now.
func (v *validator) credits(in *keyward.CreditsInput, now time.Time) *keyward.Credits {
	if in == nil {
		return nil
	}
	n := len(v.fields)
	c := &keyward.Credits{}
	switch {
	case in.Remaining != nil:
		if *in.Remaining < 0 || *in.Remaining > maxCredits {
			v.add("credits.remaining", fmt.Sprintf("must be between 0 and %d", int64(maxCredits)))
		}
		c.Remaining = *in.Remaining
	case in.Refill != nil:
		c.Remaining = in.Refill.Amount
	default:
		// An empty object is more likely a mistake than a wish for a key
		// that can never be used.
		v.add("credits.remaining", "is required")
	}
	if r := in.Refill; r != nil {
		if r.Amount < 1 || r.Amount > maxCredits {
			v.add("credits.refill.amount", fmt.Sprintf("must be between 1 and %d", int64(maxCredits)))
		}
		switch r.Interval {
		case keyward.RefillDaily:
			if r.Day != 0 {
				v.add("credits.refill.day", "must be absent for a daily refill")
			}
		case keyward.RefillMonthly:
			if r.Day < 1 || r.Day > 31 {
				v.add("credits.refill.day", "is required for a monthly refill, 1 to 31 (the month's last day when it is shorter)")
			}
		default:
			v.add("credits.refill.interval", "must be daily or monthly")
		}
		refill := *r
		c.Refill = &refill
		c.RefilledAt = &now
	}
	if len(v.fields) > n {
		return nil
	}
	return c
}

// UpdateCredits implements keyward.KeyService. It runs inside the store's
// write transaction, so it never loses a concurrent verification's spend:
// a due refill is applied first, then the operation. A rotated key has no
// balance of its own (its successor holds it, and it spends from there),
// so changing it is a conflict that names the successor.
func (s *Service) UpdateCredits(ctx context.Context, id string, upd keyward.CreditsUpdate) (*keyward.Key, error) {
	p, err := authorize(ctx, keyward.PermKeysUpdate)
	if err != nil {
		return nil, err
	}
	var v validator
	least := int64(1)
	switch upd.Op {
	case keyward.CreditsSet:
		least = 0
	case keyward.CreditsIncrement, keyward.CreditsDecrement:
	default:
		v.add("op", "must be set, increment or decrement")
	}
	var amount int64
	switch {
	case upd.Amount == nil:
		v.add("amount", "is required")
	case *upd.Amount < least || *upd.Amount > maxCredits:
		v.add("amount", fmt.Sprintf("must be between %d and %d", least, int64(maxCredits)))
	default:
		amount = *upd.Amount
	}
	if err := v.err(); err != nil {
		return nil, err
	}

	now := s.clock()
	ev := s.event(ctx, p, keyward.ActionKeyCredits, "key", id, nil)
	return s.writeKey(ctx, p, id, ev, func(k *keyward.Key) error {
		if k.RevokedAt != nil {
			return keyward.Errorf(keyward.ECONFLICT, "Key %s is revoked and cannot be changed.", k.ID)
		}
		if k.RotatedTo != "" {
			return keyward.Errorf(keyward.ECONFLICT, "Key %s was rotated; its credits belong to key %s.", k.ID, k.RotatedTo)
		}
		if k.Credits == nil && upd.Op != keyward.CreditsSet {
			return keyward.Errorf(keyward.ECONFLICT, "Key %s has no credits (it is unlimited); set a balance first.", k.ID)
		}
		// Work on a copy: the record handed in must stay as stored.
		var c keyward.Credits
		if k.Credits != nil {
			c = *k.Credits
			c.ApplyRefill(now)
		}
		switch upd.Op {
		case keyward.CreditsSet:
			c.Remaining = amount
		case keyward.CreditsIncrement:
			if c.Remaining+amount > maxCredits {
				return keyward.Invalid(keyward.FieldError{Field: "amount",
					Message: fmt.Sprintf("would take credits above %d; %d remain", int64(maxCredits), c.Remaining)})
			}
			c.Remaining += amount
		case keyward.CreditsDecrement:
			if amount > c.Remaining {
				return keyward.Invalid(keyward.FieldError{Field: "amount",
					Message: fmt.Sprintf("would take credits below zero; %d remain", c.Remaining)})
			}
			c.Remaining -= amount
		}
		k.Credits = &c
		k.UpdatedAt = now
		var err error
		ev.Details, err = json.Marshal(map[string]any{"op": upd.Op, "amount": amount, "remaining": c.Remaining})
		return err
	})
}
