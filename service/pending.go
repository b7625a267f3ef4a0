package service

// TEMPORARY scaffolding while issue 4's service methods are written: the
// helper building them deletes this file.

import (
	"context"

	"keyward"
)

func (s *Service) RotateKey(ctx context.Context, id string, in keyward.KeyRotate) (*keyward.CreatedKey, error) {
	return nil, keyward.Errorf(keyward.EINTERNAL, "not yet")
}

func (s *Service) UpdateCredits(ctx context.Context, id string, upd keyward.CreditsUpdate) (*keyward.Key, error) {
	return nil, keyward.Errorf(keyward.EINTERNAL, "not yet")
}
