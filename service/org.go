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
// it is checked at every verification; so a list that leaves out the
// calling request's own address is refused, since the caller could never
// undo it. A maximum lifetime leaves no room for keys that never expire:
// with one, allow_non_expiring defaults to false and may not be true.
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
	allowNonExpiring := upd.MaxKeyLifetime == nil
	if upd.AllowNonExpiring != nil {
		allowNonExpiring = *upd.AllowNonExpiring
		if allowNonExpiring && upd.MaxKeyLifetime != nil {
			v.add("allow_non_expiring", "must be false with max_key_lifetime: a key that never expires outlives any maximum")
		}
	}
	pol := &keyward.OrgPolicy{
		MaxKeyLifetime:     upd.MaxKeyLifetime,
		DefaultKeyLifetime: upd.DefaultKeyLifetime,
		AllowedIPs:         v.allowedIPs(upd.AllowedIPs),
		AllowNonExpiring:   allowNonExpiring,
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkLockOut(ctx, pol.AllowedIPs); err != nil {
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

// checkLockOut refuses an allowlist that leaves out the calling request's
// address. Without a known address (a call from inside the process, say)
// there is nothing to check. ips were validated by allowedIPs.
func checkLockOut(ctx context.Context, ips []string) error {
	ip := keyward.RequestInfoFromContext(ctx).RemoteIP.Unmap().WithZone("")
	if len(ips) == 0 || !ip.IsValid() || ip.IsUnspecified() {
		return nil
	}
	for _, s := range ips {
		if r, err := keyward.ParseIPRange(s); err == nil && r.Contains(ip) {
			return nil
		}
	}
	return keyward.Invalid(keyward.FieldError{Field: "allowed_ips",
		Message: fmt.Sprintf("would lock out the calling key: %s is outside every range", ip)})
}

// ResetOrgPolicy puts the named org's policy back to the defaults, for
// `keyward org policy reset`: the way back from an IP allowlist that no
// longer admits any admin. It takes no principal because that command opens
// the store directly, and whoever can do so can change the database
// anyway. The reset is audited with no actor key. Returns ENOTFOUND for an
// unknown org.
func (s *Service) ResetOrgPolicy(ctx context.Context, orgName string) (*keyward.Organization, error) {
	org, err := s.store.FindOrgByName(ctx, orgName)
	if err != nil {
		return nil, err
	}
	defer s.engine.InvalidateOrg(org.ID)
	pol := keyward.DefaultOrgPolicy()
	ev := s.event(ctx, &keyward.Principal{OrgID: org.ID}, keyward.ActionOrgPolicyUpdate, "organization", org.ID,
		map[string]any{"reset": true, "policy": pol})
	if err := s.store.UpdateOrgPolicy(ctx, org.ID, pol, ev); err != nil {
		return nil, err
	}
	return org, nil
}
