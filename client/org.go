package client

import (
	"context"
	"net/http"

	"keyward"
)

// FindOrgPolicy returns the rules the caller's org sets for its keys.
func (c *Client) FindOrgPolicy(ctx context.Context) (*keyward.OrgPolicy, error) {
	var p keyward.OrgPolicy
	if err := c.do(ctx, http.MethodGet, "/v1/org/policy", nil, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// UpdateOrgPolicy replaces the org's policy; absent members take the
// defaults.
func (c *Client) UpdateOrgPolicy(ctx context.Context, upd keyward.OrgPolicyUpdate) (*keyward.OrgPolicy, error) {
	var p keyward.OrgPolicy
	if err := c.do(ctx, http.MethodPut, "/v1/org/policy", nil, upd, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
