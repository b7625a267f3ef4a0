package client

import (
	"context"
	"net/http"

	"keyward"
)

// FindOwner returns the settings shared by every key of ownerID; an owner
// without settings has no limits.
func (c *Client) FindOwner(ctx context.Context, ownerID string) (*keyward.Owner, error) {
	return c.ownerCall(ctx, http.MethodGet, ownerID, nil)
}

// UpdateOwner replaces the owner's rate limits; an empty list removes them.
func (c *Client) UpdateOwner(ctx context.Context, ownerID string, upd keyward.OwnerUpdate) (*keyward.Owner, error) {
	// A nil list would travel as null; the API wants [] to remove limits.
	if upd.RateLimits == nil {
		upd.RateLimits = []keyward.RateLimit{}
	}
	return c.ownerCall(ctx, http.MethodPut, ownerID, upd)
}

// ownerCall calls /v1/owners/{owner_id}.
func (c *Client) ownerCall(ctx context.Context, method, ownerID string, in any) (*keyward.Owner, error) {
	seg, err := pathSegment("owner_id", ownerID)
	if err != nil {
		return nil, err
	}
	var o keyward.Owner
	if err := c.do(ctx, method, "/v1/owners/"+seg, nil, in, &o); err != nil {
		return nil, err
	}
	return &o, nil
}
