package client

import (
	"context"
	"net/http"

	"keyward"
)

// Verify asks whether a presented key is valid. An invalid key is not an
// error: the result says why in Code. The key travels in the request body,
// never in the URL, so proxies do not log it.
func (c *Client) Verify(ctx context.Context, req keyward.VerifyRequest) (*keyward.VerifyResult, error) {
	var res keyward.VerifyResult
	if err := c.do(ctx, http.MethodPost, "/v1/verify", nil, req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
