package ratelimit

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// Local defaults.
const (
	// DefaultShards spreads counters over this many locks, so that calls
	// on different counters rarely wait for each other.
	DefaultShards = 64
	// DefaultSweepInterval is how often a shard drops its whole counters.
	DefaultSweepInterval = time.Minute
)

// Local counts in this process's memory. It is exact and safe for
// concurrent use. A counter whose TAT has passed holds nothing, so each
// shard drops such counters when it is used and its last sweep is older
// than the sweep interval: memory stays bounded by the counters that are
// in use within about one window.
type Local struct {
	seed          maphash.Seed
	shards        []shard
	sweepInterval int64
}

// shard is padded to a cache line so that neighbouring locks do not share
// one.
type shard struct {
	mu sync.Mutex
	// tats holds each counter's TAT in Unix nanoseconds.
	tats  map[string]int64
	swept int64
	_     [40]byte
}

var _ Limiter = (*Local)(nil)

// NewLocal returns an empty Local.
func NewLocal() *Local { return newLocal(DefaultShards, DefaultSweepInterval) }

func newLocal(shards int, sweep time.Duration) *Local {
	l := &Local{seed: maphash.MakeSeed(), shards: make([]shard, shards), sweepInterval: int64(sweep)}
	for i := range l.shards {
		l.shards[i].tats = make(map[string]int64)
	}
	return l
}

// Len returns how many counters are held.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tats)
		s.mu.Unlock()
	}
	return n
}

// Allow implements Limiter. The shards of one call are locked in
// ascending order, so calls that share counters cannot deadlock, and all
// of a call's counters are checked before any is spent.
func (l *Local) Allow(_ context.Context, now time.Time, reqs []Request) (Result, error) {
	// Small calls, the common case, keep their scratch space on the stack.
	var cellBuf [4]cell
	var idxBuf [8]int
	var debtBuf [8]int64
	// of is each request's shard, shards the distinct ones in order.
	cells, of, shards := cellBuf[:0], idxBuf[:0:4], idxBuf[4:4]
	for _, r := range reqs {
		c, err := newCell(r)
		if err != nil {
			return Result{}, err
		}
		cells = append(cells, c)
		s := l.shardOf(r.Key)
		of = append(of, s)
		if i, found := slices.BinarySearch(shards, s); !found {
			shards = slices.Insert(shards, i, s)
		}
	}
	nowNs := now.UnixNano()
	for _, i := range shards {
		l.shards[i].lock(nowNs, l.sweepInterval)
	}
	defer func() {
		for _, i := range shards {
			l.shards[i].mu.Unlock()
		}
	}()

	// pre is each counter's debt before this call, cur the debt that the
	// request meets: pre plus what earlier requests of this call on the
	// same counter would add.
	pre, cur := debtBuf[:0:4], debtBuf[4:4]
	allowed := true
	for i, r := range reqs {
		p, c := int64(-1), int64(0)
		for j := i - 1; j >= 0; j-- {
			if reqs[j].Key == r.Key {
				p, c = pre[j], cur[j]+cells[j].inc
				break
			}
		}
		if p < 0 {
			p = max(0, l.shards[of[i]].tats[r.Key]-nowNs)
			c = p
		}
		pre, cur = append(pre, p), append(cur, c)
		if !cells[i].fits(c) {
			allowed = false
		}
	}
	res := Result{Allowed: allowed, States: make([]State, len(reqs))}
	for i, r := range reqs {
		debt := pre[i]
		if allowed {
			debt = cur[i] + cells[i].inc
			if cells[i].inc > 0 {
				l.shards[of[i]].tats[r.Key] = nowNs + debt
			}
		}
		res.States[i] = cells[i].state(now, debt)
	}
	return res, nil
}

// shardOf returns the index of key's shard.
func (l *Local) shardOf(key string) int {
	return int(maphash.String(l.seed, key) % uint64(len(l.shards)))
}

// lock locks s and drops its whole counters when a sweep is due.
func (s *shard) lock(now, interval int64) {
	s.mu.Lock()
	if now-s.swept < interval {
		return
	}
	s.swept = now
	for k, tat := range s.tats {
		if tat <= now {
			delete(s.tats, k)
		}
	}
}

// Refund implements Limiter. Each counter is given back on its own:
// unlike a spend, a refund has nothing to check.
func (l *Local) Refund(_ context.Context, now time.Time, reqs []Request, _ Result) error {
	cells, err := newCells(reqs)
	if err != nil {
		return err
	}
	nowNs := now.UnixNano()
	for i, r := range reqs {
		if cells[i].inc == 0 {
			continue
		}
		s := &l.shards[l.shardOf(r.Key)]
		s.mu.Lock()
		if tat, ok := s.tats[r.Key]; ok {
			if tat -= cells[i].inc; tat > nowNs {
				s.tats[r.Key] = tat
			} else {
				delete(s.tats, r.Key)
			}
		}
		s.mu.Unlock()
	}
	return nil
}
