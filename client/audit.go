package client

import (
	"context"
	"net/http"
	"net/url"

	"keyward"
)

// FindAuditEvents returns one page of the org's audit events, newest first.
func (c *Client) FindAuditEvents(ctx context.Context, f keyward.AuditFilter) (keyward.Page[*keyward.AuditEvent], error) {
	q := url.Values{}
	pageQuery(q, f.Cursor, f.Limit)
	if f.Action != "" {
		q.Set("action", f.Action)
	}
	if f.TargetID != "" {
		q.Set("target_id", f.TargetID)
	}
	var page keyward.Page[*keyward.AuditEvent]
	err := c.do(ctx, http.MethodGet, "/v1/audit-events", q, nil, &page)
	return page, err
}
