package keyward

import (
	"context"
	"encoding/json"
)

// OrgPolicy is an org's rule for its keys. It is checked when keys are
// created, updated and rotated, and its IP allowlist at every verification.
// A new org's policy allows everything.
type OrgPolicy struct {
	// MaxKeyLifetime, in seconds, bounds every key's expiry from the time
	// it is set; nil for none.
	MaxKeyLifetime *int64 `json:"max_key_lifetime"`
	// DefaultKeyLifetime, in seconds, is applied to keys created without
	// an expiry; nil for none.
	DefaultKeyLifetime *int64 `json:"default_key_lifetime"`
	// AllowedIPs, when not empty, is intersected with each key's own list:
	// a verification must come from both.
	AllowedIPs []string `json:"allowed_ips"`
	// AllowNonExpiring reports whether keys may have no expiry.
	AllowNonExpiring bool `json:"allow_non_expiring"`
}

// MarshalJSON writes no IP list as [], not null.
func (p OrgPolicy) MarshalJSON() ([]byte, error) {
	type plain OrgPolicy
	out := plain(p)
	out.AllowedIPs = nonNil(out.AllowedIPs)
	return json.Marshal(out)
}

// OrgPolicyUpdate replaces the whole policy; absent members take the
// defaults (no lifetimes, no IP list, non-expiring keys allowed unless
// MaxKeyLifetime is set, when AllowNonExpiring may not be true).
type OrgPolicyUpdate struct {
	MaxKeyLifetime     *int64   `json:"max_key_lifetime"`
	DefaultKeyLifetime *int64   `json:"default_key_lifetime"`
	AllowedIPs         []string `json:"allowed_ips"`
	AllowNonExpiring   *bool    `json:"allow_non_expiring"`
}

// DefaultOrgPolicy is the policy of an org that has not set one.
func DefaultOrgPolicy() *OrgPolicy {
	return &OrgPolicy{AllowedIPs: []string{}, AllowNonExpiring: true}
}

// OrgService manages the caller's org.
type OrgService interface {
	// FindOrgPolicy needs admin:org:read. Returns EFORBIDDEN.
	FindOrgPolicy(ctx context.Context) (*OrgPolicy, error)
	// UpdateOrgPolicy needs admin:org:update. Returns EINVALID,
	// EFORBIDDEN.
	UpdateOrgPolicy(ctx context.Context, upd OrgPolicyUpdate) (*OrgPolicy, error)
}
