package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client calls a server's JSON API with a key.
type Client struct {
	// URL is the server's, as Server.URL.
	URL string
	// Key is sent as the bearer token. It is never part of an error.
	Key  string
	HTTP *http.Client
}

// NewClient returns a Client of url with key and a 10 s timeout.
func NewClient(url, key string) *Client {
	return &Client{URL: url, Key: key, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// Answer is a raw answer.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// Do sends method path with in as its JSON body (none when nil) and
// returns the answer, whatever its status.
func (c *Client) Do(ctx context.Context, method, path string, in any) (*Answer, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &Answer{Status: res.StatusCode, ContentType: res.Header.Get("Content-Type"), Body: b}, nil
}

// Call sends method path with in as its JSON body and decodes a 2xx
// answer into out (unless nil); any other status is an error that quotes
// the answer, which carries no key.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	a, err := c.Do(ctx, method, path, in)
	if err != nil {
		return err
	}
	if a.Status < 200 || a.Status > 299 {
		return fmt.Errorf("%s %s: %d %s", method, path, a.Status, bytes.TrimSpace(a.Body))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(a.Body, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// CreatedKey is the part of a POST /v1/keys answer the bench programs
// use. Key is the secret: keep it in memory or in a 0600 file only.
type CreatedKey struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// CreateKey creates a key named name with permissions.
func (c *Client) CreateKey(ctx context.Context, name string, permissions ...string) (*CreatedKey, error) {
	in := map[string]any{"name": name}
	if len(permissions) > 0 {
		in["permissions"] = permissions
	}
	var k CreatedKey
	if err := c.Call(ctx, http.MethodPost, "/v1/keys", in, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// Verification is the part of a POST /v1/verify answer the bench programs
// check.
type Verification struct {
	Valid bool   `json:"valid"`
	Code  string `json:"code"`
	KeyID string `json:"key_id"`
}

// Verify verifies key with the client's key as the caller.
func (c *Client) Verify(ctx context.Context, key string) (*Verification, error) {
	var v Verification
	if err := c.Call(ctx, http.MethodPost, "/v1/verify", map[string]string{"key": key}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
