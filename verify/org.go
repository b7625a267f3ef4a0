package verify

import (
	"context"
	"net/netip"
	"time"
)

// orgEntry is an org's cached policy, as verification needs it.
type orgEntry struct {
	// nets is the org-wide IP allowlist; none allows any address.
	nets   []netip.Prefix
	loaded time.Time
	// gen is the invalidation generation it was read in.
	gen uint64
}

// InvalidateOrg drops the cached policy of an org at once. Every write to
// the policy calls it.
func (e *Engine) InvalidateOrg(orgID string) {
	// Policies change rarely: every org's cached policy is read again.
	e.orgGen.Add(1)
	e.orgs.Delete(orgID)
}

// org returns the policy of en's org, cached for the cache TTL. Every
// verification reads it, so each key entry remembers the policy it last
// used, and a generation counter, bumped by every invalidation, tells
// whether that is still current: no map lookup and no clock reading
// (otter's expiry would read the clock again) on the hot path.
func (e *Engine) org(ctx context.Context, en *entry, now time.Time) (*orgEntry, error) {
	gen := e.orgGen.Load()
	fresh := func(o *orgEntry) bool { return o.gen == gen && now.Sub(o.loaded) < e.cacheTTL }
	if o := en.org.Load(); o != nil && fresh(o) {
		return o, nil
	}
	orgID := en.orgID.Value()
	if v, ok := e.orgs.Load(orgID); ok {
		if o := v.(*orgEntry); fresh(o) {
			en.org.Store(o)
			return o, nil
		}
	}
	p, err := e.store.FindOrgPolicy(ctx, orgID)
	if err != nil {
		return nil, err
	}
	// Read under gen: if an invalidation came in between, readers see the
	// newer generation and read the policy again.
	o := &orgEntry{nets: parseNets(p.AllowedIPs), loaded: now, gen: gen}
	e.orgs.Store(orgID, o)
	en.org.Store(o)
	return o, nil
}
