package mock

import (
	"context"

	"keyward"
)

var _ keyward.VerifyService = (*VerifyService)(nil)

// VerifyService is a mock of keyward.VerifyService.
type VerifyService struct {
	VerifyFn func(ctx context.Context, req keyward.VerifyRequest) (*keyward.VerifyResult, error)
}

// Verify calls VerifyFn.
func (s *VerifyService) Verify(ctx context.Context, req keyward.VerifyRequest) (*keyward.VerifyResult, error) {
	return s.VerifyFn(ctx, req)
}
