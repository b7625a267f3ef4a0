package keyward

import (
	"context"
	"encoding/json"
	"time"
)

// Rate limit bounds.
const (
	// MaxRateLimits bounds the named limits of one key or owner.
	MaxRateLimits = 16
	// MaxRateLimitWindow is the longest window, in seconds: one day.
	MaxRateLimitWindow = 86400
)

// RateLimit is a named limit of Limit units of cost per Window seconds,
// counted by GCRA (package ratelimit) as a rate with a burst: Limit units
// may be spent at once, and they come back evenly, one every
// Window/Limit seconds. So any span of Window seconds may admit up to
// 2*Limit-1 units (a burst, then the refills), and a longer span about
// Limit per Window.
type RateLimit struct {
	Name   string `json:"name"`
	Limit  int64  `json:"limit"`
	Window int64  `json:"window"`
}

// RateLimitUse names a limit to apply at verification and the cost to
// take from it.
type RateLimitUse struct {
	Name string `json:"name"`
	// Cost defaults to 1; 0 reads the limit without spending.
	Cost *int64 `json:"cost,omitempty"`
}

// RateLimitState is a limit as a verification left it.
type RateLimitState struct {
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Remaining int64  `json:"remaining"`
	// Reset is when the limit is whole again.
	Reset time.Time `json:"reset"`
}

// Owner holds the settings shared by every key of one owner_id: named rate
// limits counted across all of them. A key's own limit of the same name
// wins over the owner's.
type Owner struct {
	ID         string      `json:"owner_id"`
	OrgID      string      `json:"org_id"`
	RateLimits []RateLimit `json:"rate_limits"`
	// UpdatedAt is nil for an owner whose settings were never set.
	UpdatedAt *time.Time `json:"updated_at"`
}

// MarshalJSON writes no limits as [], not null.
func (o Owner) MarshalJSON() ([]byte, error) {
	type plain Owner
	p := plain(o)
	p.RateLimits = nonNil(p.RateLimits)
	return json.Marshal(p)
}

// OwnerUpdate is the input of OwnerService.UpdateOwner: it replaces the
// owner's limits; an empty list removes them.
type OwnerUpdate struct {
	RateLimits []RateLimit `json:"rate_limits"`
}

// OwnerService manages owner-level settings of the caller's org.
type OwnerService interface {
	// FindOwner needs admin:api-keys:read. An owner without settings
	// answers with no limits and a nil UpdatedAt, not ENOTFOUND: any
	// string may own keys. Returns EFORBIDDEN, EINVALID (a bad owner id).
	FindOwner(ctx context.Context, ownerID string) (*Owner, error)
	// UpdateOwner needs admin:api-keys:update and permissions that cover
	// those of every key of the owner that is neither revoked nor deleted,
	// since a limit can throttle them. Returns EINVALID, EFORBIDDEN.
	UpdateOwner(ctx context.Context, ownerID string, upd OwnerUpdate) (*Owner, error)
}
