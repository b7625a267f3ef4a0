package verify

import (
	"context"
	"fmt"
	"time"
	"unique"

	"keyward"
	"keyward/ratelimit"
)

// limit is a named rate limit with the counter that it spends.
type limit struct {
	keyward.RateLimit
	counter string
}

// ownerID names an owner; owner ids are only unique within an org. The
// org is interned, as in entry, which makes the cache's node smaller.
type ownerID struct {
	org   unique.Handle[string]
	owner string
}

// ownerEntry is an owner's cached limits; none when it has no settings.
type ownerEntry struct {
	limits []limit
	epoch  uint64
}

func (o *ownerEntry) loadedIn() uint64 { return o.epoch }

// keyLimits names the counters of a key's own limits after the key's
// rotation line (its first key's id), so that a rotated key and its
// successor share them: the grace period does not double a limit, and
// rotating does not start it over. Key ids are UUIDs, so
// "k:<line>:<name>" cannot be another line's counter.
func keyLimits(k *keyward.Key) []limit {
	if len(k.RateLimits) == 0 {
		return nil
	}
	line := k.LineID
	if line == "" {
		line = k.ID
	}
	out := make([]limit, len(k.RateLimits))
	for i, l := range k.RateLimits {
		out[i] = limit{RateLimit: l, counter: "k:" + line + ":" + l.Name}
	}
	return out
}

// ownerLimits names the counters of an owner's limits, shared by all its
// keys. Owner ids may hold any printable character but limit names never
// hold '/', so the last '/' ends the owner id and two owners cannot share
// a counter.
func ownerLimits(o *keyward.Owner) []limit {
	out := make([]limit, len(o.RateLimits))
	for i, l := range o.RateLimits {
		out[i] = limit{RateLimit: l, counter: "o:" + o.OrgID + ":" + o.ID + "/" + l.Name}
	}
	return out
}

func findLimit(limits []limit, name string) *limit {
	for i := range limits {
		if limits[i].Name == name {
			return &limits[i]
		}
	}
	return nil
}

// InvalidateOwner drops the cached limits of an owner at once. Every write
// to an owner calls it.
func (e *Engine) InvalidateOwner(orgID, owner string) {
	e.owners.Invalidate(ownerID{org: unique.Make(orgID), owner: owner})
}

func (e *Engine) loadOwner(ctx context.Context, id ownerID) (*ownerEntry, error) {
	epoch := e.epoch.Load()
	o, err := e.store.FindOwner(ctx, id.org.Value(), id.owner)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		// Remembered too: most owners have no settings, so they share
		// one entry per epoch rather than each have their own.
		none := e.noOwner.Load()
		if none == nil || none.epoch != epoch {
			none = &ownerEntry{epoch: epoch}
			e.noOwner.Store(none)
		}
		return none, nil
	}
	if err != nil {
		return nil, err
	}
	return &ownerEntry{limits: ownerLimits(o), epoch: epoch}, nil
}

// ownerLimits returns the cached limits of en's owner; none for a key
// without one.
func (e *Engine) ownerLimits(ctx context.Context, en *entry) ([]limit, error) {
	if en.ownerID == "" {
		return nil, nil
	}
	o, err := current(ctx, e, e.owners, ownerID{org: en.orgID, owner: en.ownerID}, e.ownerLoader)
	if err != nil {
		return nil, err
	}
	return o.limits, nil
}

// spent is what a verification took from its rate limits, to give back
// when a later check refuses it; zero when it took nothing.
type spent struct {
	reqs []ratelimit.Request
	res  ratelimit.Result
}

// rateLimit spends the limits that uses names (nil: every limit of the key
// and its owner, at cost 1) all or nothing, puts their states in res, and
// returns VALID or RATE_LIMITED with what it spent. A key's limit wins
// over its owner's of the same name.
func (e *Engine) rateLimit(ctx context.Context, en *entry, uses []keyward.RateLimitUse, now time.Time, res *keyward.VerifyResult) (string, spent, error) {
	if uses != nil && len(uses) == 0 {
		return keyward.CodeValid, spent{}, nil
	}
	owner, err := e.ownerLimits(ctx, en)
	if err != nil {
		return "", spent{}, err
	}
	// Up to a few limits, the usual case, fit on the stack; reqs escapes
	// into the limiter and is sized once in each branch.
	var appliedBuf [4]*limit
	applied := appliedBuf[:0]
	var reqs []ratelimit.Request
	add := func(l *limit, cost int64) {
		applied = append(applied, l)
		reqs = append(reqs, ratelimit.Request{Key: l.counter, Limit: l.Limit, Window: time.Duration(l.Window) * time.Second, Cost: cost})
	}
	if uses == nil {
		if len(en.rules.limits)+len(owner) == 0 {
			return keyward.CodeValid, spent{}, nil
		}
		reqs = make([]ratelimit.Request, 0, len(en.rules.limits)+len(owner))
		for i := range en.rules.limits {
			add(&en.rules.limits[i], 1)
		}
		for i := range owner {
			if findLimit(en.rules.limits, owner[i].Name) == nil {
				add(&owner[i], 1)
			}
		}
	} else {
		reqs = make([]ratelimit.Request, 0, len(uses))
		for i, u := range uses {
			l := findLimit(en.rules.limits, u.Name)
			if l == nil {
				l = findLimit(owner, u.Name)
			}
			if l == nil {
				return "", spent{}, keyward.Invalid(keyward.FieldError{
					Field:   fmt.Sprintf("rate_limits[%d].name", i),
					Message: fmt.Sprintf("neither the key nor its owner has a limit named %q", u.Name),
				})
			}
			c := int64(1)
			if u.Cost != nil {
				c = *u.Cost
			}
			add(l, c)
		}
	}
	out, err := e.limiter.Allow(ctx, now, reqs)
	if err != nil {
		return "", spent{}, err
	}
	res.RateLimits = make([]keyward.RateLimitState, len(applied))
	for i, l := range applied {
		st := out.States[i]
		res.RateLimits[i] = keyward.RateLimitState{Name: l.Name, Limit: l.Limit, Remaining: st.Remaining, Reset: st.Reset.UTC()}
	}
	if !out.Allowed {
		return keyward.CodeRateLimited, spent{}, nil
	}
	return keyward.CodeValid, spent{reqs: reqs, res: out}, nil
}

// refund gives back what a verification spent of its rate limits when a
// later check refused it, so that only valid answers use up limits, and
// shows the limits in res as the refund leaves them. A refund that fails
// is logged, not returned: the answer stands either way, and the units
// come back with time.
func (e *Engine) refund(ctx context.Context, now time.Time, took spent, res *keyward.VerifyResult) {
	if len(took.reqs) == 0 {
		return
	}
	// The answer is decided: a caller that has gone away must not cancel
	// the refund.
	if err := e.limiter.Refund(context.WithoutCancel(ctx), now, took.reqs, took.res); err != nil {
		e.logger.Error("refund rate limit units", "err", err)
	}
	if res == nil {
		return
	}
	for i, r := range took.reqs {
		st := took.res.States[i].Refunded(r)
		res.RateLimits[i].Remaining, res.RateLimits[i].Reset = st.Remaining, st.Reset.UTC()
	}
}
