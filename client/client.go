// Package client is the Go SDK for Keyward's management and verification
// API. A *Client implements keyward.KeyService, keyward.ServiceAccountService,
// keyward.AuditService, keyward.VerifyService, keyward.OwnerService,
// keyward.OrgService and keyward.UsageService over HTTP, so code written
// against those interfaces runs the same in-process and remotely.
//
// Failed calls return errors that unwrap to *keyward.Error, rebuilt from the
// server's problem+json body, so keyward.ErrorCode(err) works on them;
// RequestID(err) names the request in the server's logs.
//
// The package imports only the keyward root package and the standard
// library: linking it into a program never pulls in a store backend or the
// server.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"keyward"
)

// DefaultUserAgent is sent when Client.UserAgent is empty.
const DefaultUserAgent = "keyward-go-client"

// Client calls a Keyward server. Its fields must not change while calls are
// in flight.
type Client struct {
	// URL is the server's base URL, such as http://127.0.0.1:8080. A path
	// prefix is kept, for servers mounted behind a reverse proxy.
	URL string
	// Key is the API key sent as a bearer token. Calls need a key holding the
	// admin: permission named in each method's interface doc.
	Key string
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// UserAgent is sent with every request; empty means DefaultUserAgent.
	UserAgent string
}

// New returns a client of the server at url that authenticates with key.
func New(url, key string) *Client {
	return &Client{URL: url, Key: key}
}

var (
	_ keyward.KeyService            = (*Client)(nil)
	_ keyward.ServiceAccountService = (*Client)(nil)
	_ keyward.AuditService          = (*Client)(nil)
	_ keyward.VerifyService         = (*Client)(nil)
	_ keyward.OwnerService          = (*Client)(nil)
	_ keyward.OrgService            = (*Client)(nil)
	_ keyward.UsageService          = (*Client)(nil)
)

// do sends one request and decodes a 2xx JSON answer into out. in, when
// not nil, is sent as the JSON body. Any other status becomes an *APIError.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	u := strings.TrimRight(c.URL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	ua := c.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)

	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return responseError(res)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s %s response: %w", method, path, err)
	}
	return nil
}

// pathID escapes one id for use as a path segment, so that an id holding
// "/" or "?" names a missing record instead of another route. Empty, "."
// and ".." are refused: servers clean such paths into other routes.
func pathID(id string) (string, error) {
	return pathSegment("id", id)
}

// pathSegment is pathID for the path parameter named field.
func pathSegment(field, value string) (string, error) {
	switch value {
	case "":
		return "", keyward.Invalid(keyward.FieldError{Field: field, Message: "must not be empty"})
	case ".", "..":
		return "", keyward.Invalid(keyward.FieldError{Field: field, Message: "must not be a dot segment"})
	}
	return url.PathEscape(value), nil
}

// pageQuery adds the cursor and limit of a list call to q.
func pageQuery(q url.Values, cursor string, limit int) {
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
}
