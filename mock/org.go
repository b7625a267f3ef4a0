package mock

import (
	"context"

	"keyward"
)

var (
	_ keyward.OrgService   = (*OrgService)(nil)
	_ keyward.OwnerService = (*OwnerService)(nil)
	_ keyward.UsageService = (*UsageService)(nil)
)

// OrgService is a mock of keyward.OrgService.
type OrgService struct {
	FindOrgPolicyFn   func(ctx context.Context) (*keyward.OrgPolicy, error)
	UpdateOrgPolicyFn func(ctx context.Context, upd keyward.OrgPolicyUpdate) (*keyward.OrgPolicy, error)
}

// FindOrgPolicy calls FindOrgPolicyFn.
func (s *OrgService) FindOrgPolicy(ctx context.Context) (*keyward.OrgPolicy, error) {
	return s.FindOrgPolicyFn(ctx)
}

// UpdateOrgPolicy calls UpdateOrgPolicyFn.
func (s *OrgService) UpdateOrgPolicy(ctx context.Context, upd keyward.OrgPolicyUpdate) (*keyward.OrgPolicy, error) {
	return s.UpdateOrgPolicyFn(ctx, upd)
}

// OwnerService is a mock of keyward.OwnerService.
type OwnerService struct {
	FindOwnerFn   func(ctx context.Context, ownerID string) (*keyward.Owner, error)
	UpdateOwnerFn func(ctx context.Context, ownerID string, upd keyward.OwnerUpdate) (*keyward.Owner, error)
}

// FindOwner calls FindOwnerFn.
func (s *OwnerService) FindOwner(ctx context.Context, ownerID string) (*keyward.Owner, error) {
	return s.FindOwnerFn(ctx, ownerID)
}

// UpdateOwner calls UpdateOwnerFn.
func (s *OwnerService) UpdateOwner(ctx context.Context, ownerID string, upd keyward.OwnerUpdate) (*keyward.Owner, error) {
	return s.UpdateOwnerFn(ctx, ownerID, upd)
}

// UsageService is a mock of keyward.UsageService.
type UsageService struct {
	FindKeyUsageFn func(ctx context.Context, keyID string, q keyward.UsageQuery) (*keyward.Usage, error)
	FindUsageFn    func(ctx context.Context, q keyward.UsageQuery) (*keyward.Usage, error)
}

// FindKeyUsage calls FindKeyUsageFn.
func (s *UsageService) FindKeyUsage(ctx context.Context, keyID string, q keyward.UsageQuery) (*keyward.Usage, error) {
	return s.FindKeyUsageFn(ctx, keyID, q)
}

// FindUsage calls FindUsageFn.
func (s *UsageService) FindUsage(ctx context.Context, q keyward.UsageQuery) (*keyward.Usage, error) {
	return s.FindUsageFn(ctx, q)
}
