package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"keyward"
)

// CreateKey creates a key. The returned secret is shown this once: the
// server keeps only its hash.
func (c *Client) CreateKey(ctx context.Context, in keyward.KeyCreate) (*keyward.CreatedKey, error) {
	var out keyward.CreatedKey
	if err := c.do(ctx, http.MethodPost, "/v1/keys", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindKeyByID returns one key of the caller's org.
func (c *Client) FindKeyByID(ctx context.Context, id string) (*keyward.Key, error) {
	return c.keyCall(ctx, http.MethodGet, id, "", nil)
}

// FindKeys returns one page of the org's keys; pass the page's NextCursor as
// f.Cursor for the next one.
func (c *Client) FindKeys(ctx context.Context, f keyward.KeyFilter) (keyward.Page[*keyward.Key], error) {
	q := url.Values{}
	pageQuery(q, f.Cursor, f.Limit)
	if f.OwnerID != "" {
		q.Set("owner_id", f.OwnerID)
	}
	if f.ServiceAccountID != "" {
		q.Set("service_account_id", f.ServiceAccountID)
	}
	if f.Revoked != nil {
		q.Set("revoked", strconv.FormatBool(*f.Revoked))
	}
	if f.Prefix != "" {
		q.Set("prefix", f.Prefix)
	}
	var page keyward.Page[*keyward.Key]
	err := c.do(ctx, http.MethodGet, "/v1/keys", q, nil, &page)
	return page, err
}

// UpdateKey changes the fields of upd that are set.
func (c *Client) UpdateKey(ctx context.Context, id string, upd keyward.KeyUpdate) (*keyward.Key, error) {
	return c.keyCall(ctx, http.MethodPatch, id, "", upd)
}

// RevokeKey revokes a key for good; revoking it again changes nothing.
func (c *Client) RevokeKey(ctx context.Context, id string) (*keyward.Key, error) {
	return c.keyCall(ctx, http.MethodPost, id, "/revoke", nil)
}

// DeleteKey deletes a key and returns its last record.
func (c *Client) DeleteKey(ctx context.Context, id string) (*keyward.Key, error) {
	return c.keyCall(ctx, http.MethodDelete, id, "", nil)
}

// RotateKey replaces a key with a new one of the same settings; the old
// key keeps working for the grace period. The new secret is shown this
// once.
func (c *Client) RotateKey(ctx context.Context, id string, in keyward.KeyRotate) (*keyward.CreatedKey, error) {
	seg, err := pathID(id)
	if err != nil {
		return nil, err
	}
	var out keyward.CreatedKey
	if err := c.do(ctx, http.MethodPost, "/v1/keys/"+seg+"/rotate", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateCredits sets, increments or decrements a key's credits.
func (c *Client) UpdateCredits(ctx context.Context, id string, upd keyward.CreditsUpdate) (*keyward.Key, error) {
	return c.keyCall(ctx, http.MethodPost, id, "/credits", upd)
}

// WhoAmI returns the record of the client's own key.
func (c *Client) WhoAmI(ctx context.Context) (*keyward.Key, error) {
	var k keyward.Key
	if err := c.do(ctx, http.MethodGet, "/v1/whoami", nil, nil, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// keyCall calls /v1/keys/{id}+suffix and decodes the key it answers.
func (c *Client) keyCall(ctx context.Context, method, id, suffix string, in any) (*keyward.Key, error) {
	seg, err := pathID(id)
	if err != nil {
		return nil, err
	}
	var k keyward.Key
	if err := c.do(ctx, method, "/v1/keys/"+seg+suffix, nil, in, &k); err != nil {
		return nil, err
	}
	return &k, nil
}
