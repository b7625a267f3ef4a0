package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"keyward"
)

// FindKeyUsage returns one key's verification counts per bucket.
func (c *Client) FindKeyUsage(ctx context.Context, keyID string, q keyward.UsageQuery) (*keyward.Usage, error) {
	seg, err := pathID(keyID)
	if err != nil {
		return nil, err
	}
	return c.usage(ctx, "/v1/keys/"+seg+"/usage", q)
}

// FindUsage returns the org's verification counts per bucket.
func (c *Client) FindUsage(ctx context.Context, q keyward.UsageQuery) (*keyward.Usage, error) {
	return c.usage(ctx, "/v1/usage", q)
}

// usage sends q as from, to and bucket; members left zero are not sent, so
// that the server's defaults apply.
func (c *Client) usage(ctx context.Context, path string, q keyward.UsageQuery) (*keyward.Usage, error) {
	v := url.Values{}
	if q.From != nil {
		v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
	}
	if q.To != nil {
		v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
	}
	if q.Bucket != "" {
		v.Set("bucket", q.Bucket)
	}
	var u keyward.Usage
	if err := c.do(ctx, http.MethodGet, path, v, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}
