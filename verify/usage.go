package verify

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"keyward"
)

// countKey is one usage counter: answers of one code (an index in codes)
// for one key within one minute (Unix seconds of its start). It names the
// key by its cache entry because a pointer hashes faster than strings; a
// key's entries from before and after an invalidation add up in the store.
type countKey struct {
	en     *entry
	minute int64
	code   uint8
}

// codes are every reason code, so that each has its metric from the start.
var codes = []string{
	keyward.CodeValid, keyward.CodeNotFound, keyward.CodeRevoked, keyward.CodeDisabled, keyward.CodeExpired,
	keyward.CodeIPNotAllowed, keyward.CodeInsufficientPermissions, keyward.CodeRateLimited, keyward.CodeUsageExceeded,
}

func codeIndex(code string) uint8 {
	for i, c := range codes {
		if c == code {
			return uint8(i)
		}
	}
	panic("verify: unknown reason code " + code)
}

// newVerificationMetrics returns the counter of each code, by index in
// codes, registered on reg when it is not nil.
func newVerificationMetrics(reg prometheus.Registerer) []prometheus.Counter {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_verifications_total",
		Help: "Verification answers by reason code.",
	}, []string{"code"})
	if reg != nil {
		reg.MustRegister(vec)
	}
	// Resolved once: the label lookup costs more than the increment.
	out := make([]prometheus.Counter, len(codes))
	for i, c := range codes {
		out[i] = vec.WithLabelValues(c)
	}
	return out
}

// count records an answer about en's key in the metrics and the usage
// counters; the writer flushes the counters in batches.
func (e *Engine) count(en *entry, now time.Time, code string) {
	i := codeIndex(code)
	e.verifications[i].Inc()
	ck := countKey{en: en, minute: now.Truncate(time.Minute).Unix(), code: i}
	e.pendingMu.Lock()
	e.counts[ck]++
	e.pendingMu.Unlock()
}

// flushCounts writes pending, swapped out of e.counts (nil for none), and
// merges it back when the store fails.
func (e *Engine) flushCounts(ctx context.Context, pending map[countKey]int64) {
	if len(pending) == 0 {
		return
	}
	counts := make([]keyward.UsageCount, 0, len(pending))
	for k, n := range pending {
		counts = append(counts, keyward.UsageCount{
			OrgID: k.en.orgID.Value(), KeyID: k.en.id, Minute: time.Unix(k.minute, 0).UTC(), Code: codes[k.code], Count: n,
		})
	}
	if err := e.store.AddUsage(ctx, counts); err != nil {
		e.logger.Error("write usage counts", "counts", len(counts), "err", err)
		e.pendingMu.Lock()
		for k, n := range pending {
			e.counts[k] += n
		}
		e.pendingMu.Unlock()
	}
}
