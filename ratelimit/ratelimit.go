// Package ratelimit counts named rate limits with GCRA, the generic cell
// rate algorithm: a counter is one timestamp, the theoretical arrival time
// (TAT), and a limit of L units per window W lets L units be spent at once
// and gives one back every W/L. GCRA is exact and deterministic (unlike a
// sliding-window estimate), keeps O(1) state per counter, and yields the
// remaining units and the reset time directly. Local runs it in memory on
// one node, Redis runs the same arithmetic in one Lua script for a cluster,
// and Fallback uses Redis while it answers and Local when it does not.
//
// A limit is a rate with a burst, not a fixed window: a whole counter
// admits L units at once and then one every W/L, so any span [t, t+W) may
// admit up to 2L-1 units (a burst of L at t, then L-1 refills before t+W).
// Over a longer span the rate tends to L per W.
//
// All arithmetic is in integer nanoseconds. The emission interval is W/L
// rounded up, so that rounding never refills a counter faster than L per
// W; the burst tolerance is L intervals, so exactly L units pass at once.
package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Bounds of a Request. They keep every intermediate value below 2^53, so
// that Redis's Lua numbers (doubles) compute exactly what Local computes.
const (
	MaxLimit  = 1 << 50
	MaxWindow = 7 * 24 * time.Hour
)

// Request asks for Cost units of one counter.
type Request struct {
	// Key names the counter; requests with the same key share it.
	Key    string
	Limit  int64
	Window time.Duration
	// Cost is the units to take. 0 reads the counter without spending,
	// and is denied like a spend when no unit is left.
	Cost int64
}

// State is a counter as a call left it.
type State struct {
	Remaining int64
	// Reset is when the counter is whole again.
	Reset time.Time
}

// Refunded returns st, the state that an allowed r left, as a refund of r
// at the same instant leaves it: r's units back and the reset as much
// earlier.
func (st State) Refunded(r Request) State {
	c, err := newCell(r)
	if err != nil || c.inc == 0 {
		return st
	}
	return State{Remaining: min(r.Limit, st.Remaining+c.inc/c.interval), Reset: st.Reset.Add(-time.Duration(c.inc))}
}

// Result answers a call. States are in request order. When Allowed is
// false no counter was spent.
type Result struct {
	Allowed bool
	States  []State
	// local records that Fallback counted the call on this node, so that
	// a refund goes where the units were taken.
	local bool
}

// Limiter takes units from several counters at once, all or nothing:
// when one request would be denied, none is spent.
type Limiter interface {
	// Allow spends reqs at now (Redis uses its own clock instead).
	Allow(ctx context.Context, now time.Time, reqs []Request) (Result, error)
	// Refund gives back the units that an allowed Allow(reqs) answered
	// with res took, for a caller that took them and was then refused by
	// something else. Each counter's TAT moves back by what its request
	// added; a counter that this makes whole is dropped. A counter that
	// has since expired gets nothing back, so a refund never leaves more
	// than the limit.
	Refund(ctx context.Context, now time.Time, reqs []Request, res Result) error
}

// cell is one request in GCRA terms, in nanoseconds.
type cell struct {
	// interval is the emission interval: one unit comes back per interval.
	interval int64
	// tolerance is the debt a full burst leaves: Limit intervals.
	tolerance int64
	// need is the debt the request must fit: Cost intervals, or one
	// interval for a read, so that a drained counter denies it.
	need int64
	// inc is the debt the request adds when allowed.
	inc int64
}

func newCell(r Request) (cell, error) {
	switch {
	case r.Limit < 1 || r.Limit > MaxLimit:
		return cell{}, fmt.Errorf("ratelimit: %q: limit %d out of range", r.Key, r.Limit)
	case r.Window < 1 || r.Window > MaxWindow:
		return cell{}, fmt.Errorf("ratelimit: %q: window %v out of range", r.Key, r.Window)
	case r.Cost < 0:
		return cell{}, fmt.Errorf("ratelimit: %q: negative cost %d", r.Key, r.Cost)
	}
	w := int64(r.Window)
	c := cell{interval: (w + r.Limit - 1) / r.Limit}
	c.tolerance = r.Limit * c.interval
	switch {
	case r.Cost > r.Limit:
		// More than the whole limit never fits; no multiplication, so a
		// huge cost cannot overflow.
		c.need = c.tolerance + c.interval
		c.inc = c.need
	case r.Cost == 0:
		c.need = c.interval
	default:
		c.need = r.Cost * c.interval
		c.inc = c.need
	}
	return c, nil
}

// fits reports whether the request fits a counter that holds debt.
func (c cell) fits(debt int64) bool { return debt+c.need <= c.tolerance }

// state describes a counter that holds debt at now.
func (c cell) state(now time.Time, debt int64) State {
	return State{Remaining: max(0, (c.tolerance-debt)/c.interval), Reset: now.Add(time.Duration(debt))}
}

func newCells(reqs []Request) ([]cell, error) {
	cells := make([]cell, len(reqs))
	for i, r := range reqs {
		c, err := newCell(r)
		if err != nil {
			return nil, err
		}
		cells[i] = c
	}
	return cells, nil
}
