package keyward

import (
	"context"
	"time"
)

// ServiceAccount is a non-human owner of keys inside an org.
type ServiceAccount struct {
	ID          string     `json:"id"`
	OrgID       string     `json:"org_id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	CreatedAt   time.Time  `json:"created_at"`
	CreatedBy   string     `json:"created_by"`
	DeletedAt   *time.Time `json:"deleted_at"`
}

// ServiceAccountCreate is the input of CreateServiceAccount.
type ServiceAccountCreate struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// ServiceAccountFilter selects service accounts.
type ServiceAccountFilter struct {
	Cursor string
	Limit  int
}

// ServiceAccountService manages the caller's org's service accounts.
type ServiceAccountService interface {
	// CreateServiceAccount needs admin:service-accounts:create. Returns EINVALID.
	CreateServiceAccount(ctx context.Context, in ServiceAccountCreate) (*ServiceAccount, error)
	// FindServiceAccountByID needs admin:service-accounts:read. Returns ENOTFOUND.
	FindServiceAccountByID(ctx context.Context, id string) (*ServiceAccount, error)
	// FindServiceAccounts needs admin:service-accounts:read. Returns
	// EFORBIDDEN, and EINVALID for a bad cursor or limit.
	FindServiceAccounts(ctx context.Context, f ServiceAccountFilter) (Page[*ServiceAccount], error)
	// DeleteServiceAccount needs admin:service-accounts:delete and
	// permissions that cover every key of the account, which it revokes.
	// Returns EFORBIDDEN, ENOTFOUND.
	DeleteServiceAccount(ctx context.Context, id string) (*ServiceAccount, error)
}
