package mock

import (
	"context"

	"keyward"
)

var _ keyward.AuditService = (*AuditService)(nil)

// AuditService is a mock of keyward.AuditService.
type AuditService struct {
	FindAuditEventsFn func(ctx context.Context, f keyward.AuditFilter) (keyward.Page[*keyward.AuditEvent], error)
}

// FindAuditEvents calls FindAuditEventsFn.
func (s *AuditService) FindAuditEvents(ctx context.Context, f keyward.AuditFilter) (keyward.Page[*keyward.AuditEvent], error) {
	return s.FindAuditEventsFn(ctx, f)
}
