package mock

import (
	"context"

	"keyward"
)

var _ keyward.ServiceAccountService = (*ServiceAccountService)(nil)

// ServiceAccountService is a mock of keyward.ServiceAccountService.
type ServiceAccountService struct {
	CreateServiceAccountFn   func(ctx context.Context, in keyward.ServiceAccountCreate) (*keyward.ServiceAccount, error)
	FindServiceAccountByIDFn func(ctx context.Context, id string) (*keyward.ServiceAccount, error)
	FindServiceAccountsFn    func(ctx context.Context, f keyward.ServiceAccountFilter) (keyward.Page[*keyward.ServiceAccount], error)
	DeleteServiceAccountFn   func(ctx context.Context, id string) (*keyward.ServiceAccount, error)
}

// CreateServiceAccount calls CreateServiceAccountFn.
func (s *ServiceAccountService) CreateServiceAccount(ctx context.Context, in keyward.ServiceAccountCreate) (*keyward.ServiceAccount, error) {
	return s.CreateServiceAccountFn(ctx, in)
}

// FindServiceAccountByID calls FindServiceAccountByIDFn.
func (s *ServiceAccountService) FindServiceAccountByID(ctx context.Context, id string) (*keyward.ServiceAccount, error) {
	return s.FindServiceAccountByIDFn(ctx, id)
}

// FindServiceAccounts calls FindServiceAccountsFn.
func (s *ServiceAccountService) FindServiceAccounts(ctx context.Context, f keyward.ServiceAccountFilter) (keyward.Page[*keyward.ServiceAccount], error) {
	return s.FindServiceAccountsFn(ctx, f)
}

// DeleteServiceAccount calls DeleteServiceAccountFn.
func (s *ServiceAccountService) DeleteServiceAccount(ctx context.Context, id string) (*keyward.ServiceAccount, error) {
	return s.DeleteServiceAccountFn(ctx, id)
}
