package mock

import (
	"context"

	"keyward"
)

var _ keyward.KeyService = (*KeyService)(nil)

// KeyService is a mock of keyward.KeyService.
type KeyService struct {
	CreateKeyFn     func(ctx context.Context, in keyward.KeyCreate) (*keyward.CreatedKey, error)
	FindKeyByIDFn   func(ctx context.Context, id string) (*keyward.Key, error)
	FindKeysFn      func(ctx context.Context, f keyward.KeyFilter) (keyward.Page[*keyward.Key], error)
	UpdateKeyFn     func(ctx context.Context, id string, upd keyward.KeyUpdate) (*keyward.Key, error)
	RevokeKeyFn     func(ctx context.Context, id string) (*keyward.Key, error)
	DeleteKeyFn     func(ctx context.Context, id string) (*keyward.Key, error)
	RotateKeyFn     func(ctx context.Context, id string, in keyward.KeyRotate) (*keyward.CreatedKey, error)
	UpdateCreditsFn func(ctx context.Context, id string, upd keyward.CreditsUpdate) (*keyward.Key, error)
	WhoAmIFn        func(ctx context.Context) (*keyward.Key, error)
}

// RotateKey calls RotateKeyFn.
func (s *KeyService) RotateKey(ctx context.Context, id string, in keyward.KeyRotate) (*keyward.CreatedKey, error) {
	return s.RotateKeyFn(ctx, id, in)
}

// UpdateCredits calls UpdateCreditsFn.
func (s *KeyService) UpdateCredits(ctx context.Context, id string, upd keyward.CreditsUpdate) (*keyward.Key, error) {
	return s.UpdateCreditsFn(ctx, id, upd)
}

// CreateKey calls CreateKeyFn.
func (s *KeyService) CreateKey(ctx context.Context, in keyward.KeyCreate) (*keyward.CreatedKey, error) {
	return s.CreateKeyFn(ctx, in)
}

// FindKeyByID calls FindKeyByIDFn.
func (s *KeyService) FindKeyByID(ctx context.Context, id string) (*keyward.Key, error) {
	return s.FindKeyByIDFn(ctx, id)
}

// FindKeys calls FindKeysFn.
func (s *KeyService) FindKeys(ctx context.Context, f keyward.KeyFilter) (keyward.Page[*keyward.Key], error) {
	return s.FindKeysFn(ctx, f)
}

// UpdateKey calls UpdateKeyFn.
func (s *KeyService) UpdateKey(ctx context.Context, id string, upd keyward.KeyUpdate) (*keyward.Key, error) {
	return s.UpdateKeyFn(ctx, id, upd)
}

// RevokeKey calls RevokeKeyFn.
func (s *KeyService) RevokeKey(ctx context.Context, id string) (*keyward.Key, error) {
	return s.RevokeKeyFn(ctx, id)
}

// DeleteKey calls DeleteKeyFn.
func (s *KeyService) DeleteKey(ctx context.Context, id string) (*keyward.Key, error) {
	return s.DeleteKeyFn(ctx, id)
}

// WhoAmI calls WhoAmIFn.
func (s *KeyService) WhoAmI(ctx context.Context) (*keyward.Key, error) {
	return s.WhoAmIFn(ctx)
}
