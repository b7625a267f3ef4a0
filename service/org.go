package service

import (
	"context"
	"fmt"

	"keyward"
)

// FindOrgPolicy implements keyward.OrgService.
func (s *Service) FindOrgPolicy(ctx context.Context) (*keyward.OrgPolicy, error) {
	p, err := authorize(ctx, keyward.PermOrgRead)
	if err != nil {
		return nil, err
	}
	return s.store.FindOrgPolicy(ctx, p.OrgID)
}

// UpdateOrgPolicy implements keyward.OrgService. A new policy does not
// change existing keys: lifetimes bind keys as they are created, updated
// or rotated from then on. Only the IP allowlist applies at once, because
// it is checked at every verification.
func (s *Service) UpdateOrgPolicy(ctx context.Context, upd keyward.OrgPolicyUpdate) (*keyward.OrgPolicy, error) {
	p, err := authorize(ctx, keyward.PermOrgUpdate)
	if err != nil {
		return nil, err
	}
	var v validator
	lifetime := func(field string, secs *int64) {
		if secs != nil && (*secs < 1 || *secs > maxLifetimeSeconds) {
			v.add(field, fmt.Sprintf("must be between 1 and %d seconds (100 years)", maxLifetimeSeconds))
		}
	}
	lifetime("max_key_lifetime", upd.MaxKeyLifetime)
	lifetime("default_key_lifetime", upd.DefaultKeyLifetime)
	if upd.MaxKeyLifetime != nil && upd.DefaultKeyLifetime != nil && *upd.DefaultKeyLifetime > *upd.MaxKeyLifetime {
		v.add("default_key_lifetime", "must not exceed max_key_lifetime")
	}
	pol := &keyward.OrgPolicy{
		MaxKeyLifetime:     upd.MaxKeyLifetime,
		DefaultKeyLifetime: upd.DefaultKeyLifetime,
		AllowedIPs:         v.allowedIPs(upd.AllowedIPs),
		AllowNonExpiring:   upd.AllowNonExpiring == nil || *upd.AllowNonExpiring,
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	// Like writeKey, drop the cached policy whatever the outcome.
	defer s.engine.InvalidateOrg(p.OrgID)
	ev := s.event(ctx, p, keyward.ActionOrgPolicyUpdate, "organization", p.OrgID, pol)
	if err := s.store.UpdateOrgPolicy(ctx, p.OrgID, pol, ev); err != nil {
		return nil, err
	}
	return pol, nil
}
