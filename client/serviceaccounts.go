package client

import (
	"context"
	"net/http"
	"net/url"

	"keyward"
)

// CreateServiceAccount creates a service account.
func (c *Client) CreateServiceAccount(ctx context.Context, in keyward.ServiceAccountCreate) (*keyward.ServiceAccount, error) {
	var sa keyward.ServiceAccount
	if err := c.do(ctx, http.MethodPost, "/v1/service-accounts", nil, in, &sa); err != nil {
		return nil, err
	}
	return &sa, nil
}

// FindServiceAccountByID returns one service account of the caller's org.
func (c *Client) FindServiceAccountByID(ctx context.Context, id string) (*keyward.ServiceAccount, error) {
	return c.serviceAccountCall(ctx, http.MethodGet, id)
}

// FindServiceAccounts returns one page of the org's service accounts.
func (c *Client) FindServiceAccounts(ctx context.Context, f keyward.ServiceAccountFilter) (keyward.Page[*keyward.ServiceAccount], error) {
	q := url.Values{}
	pageQuery(q, f.Cursor, f.Limit)
	var page keyward.Page[*keyward.ServiceAccount]
	err := c.do(ctx, http.MethodGet, "/v1/service-accounts", q, nil, &page)
	return page, err
}

// DeleteServiceAccount deletes a service account; the server revokes its
// keys at the same instant.
func (c *Client) DeleteServiceAccount(ctx context.Context, id string) (*keyward.ServiceAccount, error) {
	return c.serviceAccountCall(ctx, http.MethodDelete, id)
}

// serviceAccountCall calls /v1/service-accounts/{id}.
func (c *Client) serviceAccountCall(ctx context.Context, method, id string) (*keyward.ServiceAccount, error) {
	seg, err := pathID(id)
	if err != nil {
		return nil, err
	}
	var sa keyward.ServiceAccount
	if err := c.do(ctx, method, "/v1/service-accounts/"+seg, nil, nil, &sa); err != nil {
		return nil, err
	}
	return &sa, nil
}
