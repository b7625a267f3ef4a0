// Package ratelimit counts named rate limits with GCRA, the generic cell
// rate algorithm: a counter is one timestamp, the theoretical arrival time
// (TAT), and a limit of L units per window W lets L units be spent at once
// and gives one back every W/L. GCRA is exact and deterministic (unlike a
// sliding-window estimate), keeps O(1) state per counter, and yields the
// remaining units and the reset time directly. Local runs it in memory on
// one node, Redis runs the same arithmetic in one Lua script for a cluster,
// and Fallback uses Redis while it answers and Local when it does not.
//
// All arithmetic is in integer nanoseconds. The emission interval is W/L
// rounded up, so a limit never admits more than L units in any window; the
// burst tolerance is L intervals, so exactly L units pass at once.
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

// Result answers a call. States are in request order. When Allowed is
// false no counter was spent.
type Result struct {
	Allowed bool
	States  []State
}

// Limiter takes units from several counters at once, all or nothing:
// when one request would be denied, none is spent.
type Limiter interface {
	// Allow spends reqs at now (Redis uses its own clock instead).
	Allow(ctx context.Context, now time.Time, reqs []Request) (Result, error)
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
