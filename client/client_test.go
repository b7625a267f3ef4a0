package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
	"keyward/client"
)

// recorded is what the fake server saw of one request.
type recorded struct {
	Method      string
	Path        string // escaped, as sent on the wire
	Query       url.Values
	Auth        string
	ContentType string
	UserAgent   string
	Body        any // decoded JSON, nil when there was none
}

// newServer answers every request with status and body (as JSON) and
// records the request in *got.
func newServer(t *testing.T, status int, body string, got *recorded) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*got = recorded{
			Method:      r.Method,
			Path:        r.URL.EscapedPath(),
			Query:       r.URL.Query(),
			Auth:        r.Header.Get("Authorization"),
			ContentType: r.Header.Get("Content-Type"),
			UserAgent:   r.Header.Get("User-Agent"),
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &got.Body); err != nil {
				t.Errorf("request body %q is not JSON: %v", b, err)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

const keyJSON = `{"id":"k1","org_id":"o1","name":"ci","description":"","key_prefix":"kw_live_abcdefgh",
	"permissions":["a.read"],"allowed_ips":[],"expires_at":null,"enabled":true,"metadata":{"team":"x"},
	"owner_id":"u1","service_account_id":null,"created_at":"2026-01-02T03:04:05Z",
	"updated_at":"2026-01-02T03:04:05Z","created_by":"root","last_used_at":null,"last_used_ip":null,
	"last_used_user_agent":null,"revoked_at":null,"deleted_at":null}`

func ptr[T any](v T) *T { return &v }

func TestRequests(t *testing.T) {
	expires := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		call func(ctx context.Context, c *client.Client) error
		resp string // the 2xx answer
		want recorded
	}{
		{
			name: "create key",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.CreateKey(ctx, keyward.KeyCreate{
					Name: "ci", Permissions: []string{"a.read"}, ExpiresAt: &expires,
					Metadata: json.RawMessage(`{"team":"x"}`), Enabled: ptr(false), Prefix: "kw_test",
				})
				return err
			},
			resp: keyJSON,
			want: recorded{Method: "POST", Path: "/v1/keys", Query: url.Values{}, ContentType: "application/json",
				Body: map[string]any{"name": "ci", "permissions": []any{"a.read"}, "expires_at": "2027-01-01T00:00:00Z",
					"metadata": map[string]any{"team": "x"}, "enabled": false, "prefix": "kw_test"}},
		},
		{
			name: "list keys with every filter",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.FindKeys(ctx, keyward.KeyFilter{OwnerID: "u 1", ServiceAccountID: "sa1",
					Revoked: ptr(false), Prefix: "kw_live_ab", Cursor: "c&1", Limit: 10})
				return err
			},
			resp: `{"data":[],"next_cursor":""}`,
			want: recorded{Method: "GET", Path: "/v1/keys", Query: url.Values{
				"owner_id": {"u 1"}, "service_account_id": {"sa1"}, "revoked": {"false"},
				"prefix": {"kw_live_ab"}, "cursor": {"c&1"}, "limit": {"10"}}},
		},
		{
			name: "list keys without filters sends no query",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.FindKeys(ctx, keyward.KeyFilter{})
				return err
			},
			resp: `{"data":[],"next_cursor":""}`,
			want: recorded{Method: "GET", Path: "/v1/keys", Query: url.Values{}},
		},
		{
			name: "get key escapes the id",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.FindKeyByID(ctx, "a/b?c")
				return err
			},
			resp: keyJSON,
			want: recorded{Method: "GET", Path: "/v1/keys/a%2Fb%3Fc", Query: url.Values{}},
		},
		{
			name: "update key sends only set fields, null expiry included",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.UpdateKey(ctx, "k1", keyward.KeyUpdate{
					Name: ptr("new"), Permissions: &[]string{}, ExpiresAt: keyward.OptionalTime{Set: true},
				})
				return err
			},
			resp: keyJSON,
			want: recorded{Method: "PATCH", Path: "/v1/keys/k1", Query: url.Values{}, ContentType: "application/json",
				Body: map[string]any{"name": "new", "permissions": []any{}, "expires_at": nil}},
		},
		{
			name: "revoke key",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.RevokeKey(ctx, "k1")
				return err
			},
			resp: keyJSON,
			want: recorded{Method: "POST", Path: "/v1/keys/k1/revoke", Query: url.Values{}},
		},
		{
			name: "delete key",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.DeleteKey(ctx, "k1")
				return err
			},
			resp: keyJSON,
			want: recorded{Method: "DELETE", Path: "/v1/keys/k1", Query: url.Values{}},
		},
		{
			name: "whoami",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.WhoAmI(ctx)
				return err
			},
			resp: keyJSON,
			want: recorded{Method: "GET", Path: "/v1/whoami", Query: url.Values{}},
		},
		{
			name: "create service account",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.CreateServiceAccount(ctx, keyward.ServiceAccountCreate{Name: "deployer"})
				return err
			},
			resp: `{"id":"sa1","name":"deployer"}`,
			want: recorded{Method: "POST", Path: "/v1/service-accounts", Query: url.Values{},
				ContentType: "application/json", Body: map[string]any{"name": "deployer"}},
		},
		{
			name: "list service accounts",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.FindServiceAccounts(ctx, keyward.ServiceAccountFilter{Cursor: "c", Limit: 5})
				return err
			},
			resp: `{"data":[],"next_cursor":""}`,
			want: recorded{Method: "GET", Path: "/v1/service-accounts", Query: url.Values{"cursor": {"c"}, "limit": {"5"}}},
		},
		{
			name: "get service account",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.FindServiceAccountByID(ctx, "sa 1")
				return err
			},
			resp: `{"id":"sa 1"}`,
			want: recorded{Method: "GET", Path: "/v1/service-accounts/sa%201", Query: url.Values{}},
		},
		{
			name: "delete service account",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.DeleteServiceAccount(ctx, "sa1")
				return err
			},
			resp: `{"id":"sa1"}`,
			want: recorded{Method: "DELETE", Path: "/v1/service-accounts/sa1", Query: url.Values{}},
		},
		{
			name: "verify sends the key in the body only",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.Verify(ctx, keyward.VerifyRequest{Key: "kw_live_secret", Permissions: "a.read", IP: "10.0.0.1"})
				return err
			},
			resp: `{"valid":true,"code":"VALID"}`,
			want: recorded{Method: "POST", Path: "/v1/verify", Query: url.Values{}, ContentType: "application/json",
				Body: map[string]any{"key": "kw_live_secret", "permissions": "a.read", "ip": "10.0.0.1"}},
		},
		{
			name: "create key with limits and credits",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.CreateKey(ctx, keyward.KeyCreate{
					Name:       "metered",
					RateLimits: []keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}},
					Credits: &keyward.CreditsInput{Remaining: ptr(int64(50)),
						Refill: &keyward.CreditRefill{Amount: 50, Interval: keyward.RefillMonthly, Day: 1}},
				})
				return err
			},
			resp: keyJSON,
			want: recorded{Method: "POST", Path: "/v1/keys", Query: url.Values{}, ContentType: "application/json",
				Body: map[string]any{"name": "metered",
					"rate_limits": []any{map[string]any{"name": "default", "limit": 100.0, "window": 60.0}},
					"credits": map[string]any{"remaining": 50.0,
						"refill": map[string]any{"amount": 50.0, "interval": "monthly", "day": 1.0}}}},
		},
		{
			name: "update key removes limits and credits",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.UpdateKey(ctx, "k1", keyward.KeyUpdate{
					RateLimits: &[]keyward.RateLimit{}, Credits: keyward.Optional[keyward.CreditsInput]{Set: true},
				})
				return err
			},
			resp: keyJSON,
			want: recorded{Method: "PATCH", Path: "/v1/keys/k1", Query: url.Values{}, ContentType: "application/json",
				Body: map[string]any{"rate_limits": []any{}, "credits": nil}},
		},
		{
			name: "rotate key sends a zero grace period",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.RotateKey(ctx, "k 1", keyward.KeyRotate{})
				return err
			},
			resp: strings.TrimSuffix(keyJSON, "}") + `,"key":"kw_live_x"}`,
			want: recorded{Method: "POST", Path: "/v1/keys/k%201/rotate", Query: url.Values{}, ContentType: "application/json",
				Body: map[string]any{"grace_period": 0.0}},
		},
		{
			name: "update credits",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.UpdateCredits(ctx, "k1", keyward.CreditsUpdate{Op: keyward.CreditsDecrement, Amount: ptr(int64(5))})
				return err
			},
			resp: keyJSON,
			want: recorded{Method: "POST", Path: "/v1/keys/k1/credits", Query: url.Values{}, ContentType: "application/json",
				Body: map[string]any{"op": "decrement", "amount": 5.0}},
		},
		{
			name: "verify with cost and named limits",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.Verify(ctx, keyward.VerifyRequest{Key: "kw_live_secret", Cost: ptr(int64(0)),
					RateLimits: []keyward.RateLimitUse{{Name: "burst"}, {Name: "daily", Cost: ptr(int64(3))}}})
				return err
			},
			resp: `{"valid":true,"code":"VALID"}`,
			want: recorded{Method: "POST", Path: "/v1/verify", Query: url.Values{}, ContentType: "application/json",
				Body: map[string]any{"key": "kw_live_secret", "cost": 0.0, "rate_limits": []any{
					map[string]any{"name": "burst"}, map[string]any{"name": "daily", "cost": 3.0}}}},
		},
		{
			name: "get owner escapes the owner id",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.FindOwner(ctx, "user/1")
				return err
			},
			resp: `{"owner_id":"user/1","org_id":"o1","rate_limits":[]}`,
			want: recorded{Method: "GET", Path: "/v1/owners/user%2F1", Query: url.Values{}},
		},
		{
			name: "update owner",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.UpdateOwner(ctx, "u1", keyward.OwnerUpdate{RateLimits: []keyward.RateLimit{{Name: "default", Limit: 10, Window: 1}}})
				return err
			},
			resp: `{"owner_id":"u1","org_id":"o1","rate_limits":[]}`,
			want: recorded{Method: "PUT", Path: "/v1/owners/u1", Query: url.Values{}, ContentType: "application/json",
				Body: map[string]any{"rate_limits": []any{map[string]any{"name": "default", "limit": 10.0, "window": 1.0}}}},
		},
		{
			name: "update owner without limits sends an empty list",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.UpdateOwner(ctx, "u1", keyward.OwnerUpdate{})
				return err
			},
			resp: `{"owner_id":"u1","org_id":"o1","rate_limits":[]}`,
			want: recorded{Method: "PUT", Path: "/v1/owners/u1", Query: url.Values{}, ContentType: "application/json",
				Body: map[string]any{"rate_limits": []any{}}},
		},
		{
			name: "get org policy",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.FindOrgPolicy(ctx)
				return err
			},
			resp: `{"max_key_lifetime":null,"default_key_lifetime":null,"allowed_ips":[],"allow_non_expiring":true}`,
			want: recorded{Method: "GET", Path: "/v1/org/policy", Query: url.Values{}},
		},
		{
			name: "update org policy",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.UpdateOrgPolicy(ctx, keyward.OrgPolicyUpdate{MaxKeyLifetime: ptr(int64(86400)),
					AllowedIPs: []string{"10.0.0.0/8"}, AllowNonExpiring: ptr(false)})
				return err
			},
			resp: `{"max_key_lifetime":86400,"default_key_lifetime":null,"allowed_ips":["10.0.0.0/8"],"allow_non_expiring":false}`,
			want: recorded{Method: "PUT", Path: "/v1/org/policy", Query: url.Values{}, ContentType: "application/json",
				Body: map[string]any{"max_key_lifetime": 86400.0, "default_key_lifetime": nil,
					"allowed_ips": []any{"10.0.0.0/8"}, "allow_non_expiring": false}},
		},
		{
			name: "key usage sends times in UTC",
			call: func(ctx context.Context, c *client.Client) error {
				from := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
				_, err := c.FindKeyUsage(ctx, "k1", keyward.UsageQuery{From: &from, To: &expires, Bucket: keyward.BucketDay})
				return err
			},
			resp: `{"key_id":"k1","bucket":"day","data":[]}`,
			want: recorded{Method: "GET", Path: "/v1/keys/k1/usage", Query: url.Values{
				"from": {"2026-03-01T11:00:00Z"}, "to": {"2027-01-01T00:00:00Z"}, "bucket": {"day"}}},
		},
		{
			name: "org usage without a query takes the defaults",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.FindUsage(ctx, keyward.UsageQuery{})
				return err
			},
			resp: `{"key_id":null,"bucket":"hour","data":[]}`,
			want: recorded{Method: "GET", Path: "/v1/usage", Query: url.Values{}},
		},
		{
			name: "audit events",
			call: func(ctx context.Context, c *client.Client) error {
				_, err := c.FindAuditEvents(ctx, keyward.AuditFilter{Action: keyward.ActionKeyRevoke, TargetID: "k1", Limit: 3})
				return err
			},
			resp: `{"data":[],"next_cursor":""}`,
			want: recorded{Method: "GET", Path: "/v1/audit-events", Query: url.Values{
				"action": {"key.revoke"}, "target_id": {"k1"}, "limit": {"3"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got recorded
			srv := newServer(t, http.StatusOK, tt.resp, &got)
			c := client.New(srv.URL, "kw_live_admin")
			if err := tt.call(t.Context(), c); err != nil {
				t.Fatalf("call: %v", err)
			}
			want := tt.want
			want.Auth = "Bearer kw_live_admin"
			want.UserAgent = client.DefaultUserAgent
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		name, suffix, wantPath string
	}{
		{"trailing slash", "/", "/v1/whoami"},
		{"path prefix", "/keyward/", "/keyward/v1/whoami"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got recorded
			srv := newServer(t, http.StatusOK, keyJSON, &got)
			c := &client.Client{URL: srv.URL + tt.suffix, Key: "k", UserAgent: "tool/1"}
			if _, err := c.WhoAmI(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got.Path != tt.wantPath {
				t.Errorf("got path %q, want %q", got.Path, tt.wantPath)
			}
			if got.UserAgent != "tool/1" {
				t.Errorf("got user agent %q, want %q", got.UserAgent, "tool/1")
			}
		})
	}
}

func TestNoKeySendsNoAuthorization(t *testing.T) {
	var got recorded
	srv := newServer(t, http.StatusOK, keyJSON, &got)
	if _, err := client.New(srv.URL, "").WhoAmI(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got.Auth != "" {
		t.Errorf("got Authorization %q, want none", got.Auth)
	}
}

func TestDecoding(t *testing.T) {
	created := strings.TrimSuffix(keyJSON, "}") + `,"key":"kw_live_abcdefghSECRET"}`
	var got recorded
	srv := newServer(t, http.StatusCreated, created, &got)
	c := client.New(srv.URL, "k")

	ck, err := c.CreateKey(t.Context(), keyward.KeyCreate{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	want := &keyward.Key{
		ID: "k1", OrgID: "o1", Name: "ci", KeyPrefix: "kw_live_abcdefgh", Permissions: []string{"a.read"},
		AllowedIPs: []string{}, Enabled: true, Metadata: json.RawMessage(`{"team":"x"}`), OwnerID: "u1",
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		CreatedBy: "root",
	}
	if diff := cmp.Diff(want, ck.Key); diff != "" {
		t.Errorf("created key (-want +got):\n%s", diff)
	}
	if ck.Secret != "kw_live_abcdefghSECRET" {
		t.Errorf("got secret %q, want %q", ck.Secret, "kw_live_abcdefghSECRET")
	}
}

func TestDecodePage(t *testing.T) {
	var got recorded
	srv := newServer(t, http.StatusOK, `{"data":[`+keyJSON+`],"next_cursor":"next"}`, &got)
	page, err := client.New(srv.URL, "k").FindKeys(t.Context(), keyward.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "k1" || page.NextCursor != "next" {
		t.Errorf("got page %d keys, cursor %q; want key k1, cursor %q", len(page.Data), page.NextCursor, "next")
	}
}

func TestDecodeVerifyResult(t *testing.T) {
	var got recorded
	srv := newServer(t, http.StatusOK, `{"valid":false,"code":"REVOKED","key_id":"k1","name":"ci"}`, &got)
	res, err := client.New(srv.URL, "k").Verify(t.Context(), keyward.VerifyRequest{Key: "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := &keyward.VerifyResult{Valid: false, Code: keyward.CodeRevoked, KeyID: "k1", Name: "ci"}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func TestDecodeUsageControl(t *testing.T) {
	reset := time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)
	tests := []struct {
		name string
		resp string
		call func(ctx context.Context, c *client.Client) (any, error)
		want any
	}{
		{
			name: "verify with limits and credits",
			resp: `{"valid":false,"code":"RATE_LIMITED","key_id":"k1","name":"ci","owner_id":null,
				"service_account_id":null,"permissions":[],"metadata":{},"expires_at":null,
				"rate_limits":[{"name":"default","limit":2,"remaining":0,"reset":"2026-01-02T03:05:00Z"}],
				"credits":{"remaining":7}}`,
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Verify(ctx, keyward.VerifyRequest{Key: "x"})
			},
			want: &keyward.VerifyResult{Code: keyward.CodeRateLimited, KeyID: "k1", Name: "ci", Permissions: []string{},
				Metadata:   json.RawMessage(`{}`),
				RateLimits: []keyward.RateLimitState{{Name: "default", Limit: 2, Remaining: 0, Reset: reset}},
				Credits:    &keyward.CreditsState{Remaining: 7}},
		},
		{
			name: "owner",
			resp: `{"owner_id":"u1","org_id":"o1","rate_limits":[{"name":"default","limit":5,"window":60}],
				"updated_at":"2026-01-02T03:05:00Z"}`,
			call: func(ctx context.Context, c *client.Client) (any, error) { return c.FindOwner(ctx, "u1") },
			want: &keyward.Owner{ID: "u1", OrgID: "o1", RateLimits: []keyward.RateLimit{{Name: "default", Limit: 5, Window: 60}},
				UpdatedAt: &reset},
		},
		{
			name: "owner never set",
			resp: `{"owner_id":"u1","org_id":"o1","rate_limits":[],"updated_at":null}`,
			call: func(ctx context.Context, c *client.Client) (any, error) { return c.FindOwner(ctx, "u1") },
			want: &keyward.Owner{ID: "u1", OrgID: "o1", RateLimits: []keyward.RateLimit{}},
		},
		{
			name: "org policy",
			resp: `{"max_key_lifetime":7776000,"default_key_lifetime":null,"allowed_ips":["10.0.0.0/8"],"allow_non_expiring":false}`,
			call: func(ctx context.Context, c *client.Client) (any, error) { return c.FindOrgPolicy(ctx) },
			want: &keyward.OrgPolicy{MaxKeyLifetime: ptr(int64(7776000)), AllowedIPs: []string{"10.0.0.0/8"}},
		},
		{
			name: "usage",
			resp: `{"key_id":"k1","bucket":"hour","from":"2026-01-02T03:00:00Z","to":"2026-01-02T05:00:00Z","data":[
				{"start":"2026-01-02T03:00:00Z","total":3,"codes":{"VALID":2,"RATE_LIMITED":1}},
				{"start":"2026-01-02T04:00:00Z","total":0,"codes":{}}]}`,
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.FindKeyUsage(ctx, "k1", keyward.UsageQuery{})
			},
			want: &keyward.Usage{KeyID: ptr("k1"), Bucket: "hour",
				From: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 2, 5, 0, 0, 0, time.UTC),
				Data: []keyward.UsageBucket{
					{Start: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC), Total: 3, Codes: map[string]int64{"VALID": 2, "RATE_LIMITED": 1}},
					{Start: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC), Total: 0, Codes: map[string]int64{}},
				}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got recorded
			srv := newServer(t, http.StatusOK, tt.resp, &got)
			res, err := tt.call(t.Context(), client.New(srv.URL, "k"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, res); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRotatedKey(t *testing.T) {
	rotated := strings.TrimSuffix(keyJSON, "}") + `,"rotated_from":"k0","rotated_to":null,"key":"kw_live_abcdefghNEW"}`
	var got recorded
	srv := newServer(t, http.StatusCreated, rotated, &got)
	ck, err := client.New(srv.URL, "k").RotateKey(t.Context(), "k0", keyward.KeyRotate{GracePeriod: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if ck.RotatedFrom != "k0" || ck.RotatedTo != "" || ck.Secret != "kw_live_abcdefghNEW" {
		t.Errorf("got rotated_from %q, rotated_to %q, secret %q; want k0, none, the new secret", ck.RotatedFrom, ck.RotatedTo, ck.Secret)
	}
}

func TestProblemError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("X-Request-Id", "from-header")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"type":"about:blank","title":"Bad Request","status":400,
			"detail":"name: must not be empty (and 1 more)","code":"invalid","request_id":"req-1",
			"errors":[{"field":"name","message":"must not be empty"},{"field":"prefix","message":"too long"}]}`)
	}))
	defer srv.Close()

	_, err := client.New(srv.URL, "k").CreateKey(t.Context(), keyward.KeyCreate{})
	if got, want := keyward.ErrorCode(err), keyward.EINVALID; got != want {
		t.Errorf("got code %q, want %q", got, want)
	}
	if got, want := keyward.ErrorMessage(err), "name: must not be empty (and 1 more)"; got != want {
		t.Errorf("got message %q, want %q", got, want)
	}
	wantFields := []keyward.FieldError{{Field: "name", Message: "must not be empty"}, {Field: "prefix", Message: "too long"}}
	if diff := cmp.Diff(wantFields, keyward.ErrorFields(err)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if got, want := client.RequestID(err), "req-1"; got != want {
		t.Errorf("got request id %q, want %q (the body's over the header's)", got, want)
	}
	var kerr *keyward.Error
	if !errors.As(err, &kerr) {
		t.Fatalf("got %T, want an error that unwraps to *keyward.Error", err)
	}
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Errorf("got %#v, want an *APIError with status 400", err)
	}
	if got, want := err.Error(), "keyward: name: must not be empty (and 1 more) (code invalid, status 400, request req-1)"; got != want {
		t.Errorf("got text %q, want %q", got, want)
	}
}

func TestStatusWithoutProblem(t *testing.T) {
	tests := []struct {
		status      int
		contentType string
		body        string
		wantCode    string
		wantMessage string
	}{
		{400, "text/plain; charset=utf-8", "bad things\n", keyward.EINVALID, "bad things"},
		{401, "", "", keyward.EUNAUTHORIZED, "Unauthorized"},
		{403, "text/html", "<html>nope</html>", keyward.EFORBIDDEN, "Forbidden"},
		{404, "text/plain; charset=utf-8", "404 page not found\n", keyward.ENOTFOUND, "404 page not found"},
		{405, "text/plain", "Method Not Allowed", keyward.EMETHOD, "Method Not Allowed"},
		{409, "application/json", `{"error":"x"}`, keyward.ECONFLICT, "Conflict"},
		{413, "text/plain", "http: request body too large", keyward.ETOOLARGE, "http: request body too large"},
		{415, "", "", keyward.EUNSUPPORTED, "Unsupported Media Type"},
		{503, "text/html", "<h1>down</h1>", keyward.EUNAVAILABLE, "Service Unavailable"},
		{502, "text/html", "<h1>bad gateway</h1>", keyward.EINTERNAL, "Bad Gateway"},
		{500, "text/plain", strings.Repeat("x\n", 50), keyward.EINTERNAL, "Internal Server Error"},
		{599, "", "", keyward.EINTERNAL, "599 status code 599"},
		{409, "application/problem+json", `{"title":"Conflict","status":409}`, keyward.ECONFLICT, "Conflict"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.contentType), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.contentType != "" {
					w.Header().Set("Content-Type", tt.contentType)
				}
				w.Header().Set("X-Request-Id", "req-h")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()

			_, err := client.New(srv.URL, "k").FindKeyByID(t.Context(), "k1")
			if got := keyward.ErrorCode(err); got != tt.wantCode {
				t.Errorf("got code %q, want %q", got, tt.wantCode)
			}
			if got := keyward.ErrorMessage(err); got != tt.wantMessage {
				t.Errorf("got message %q, want %q", got, tt.wantMessage)
			}
			if got := client.RequestID(err); got != "req-h" {
				t.Errorf("got request id %q, want %q", got, "req-h")
			}
		})
	}
}

func TestBadIDNeedsNoRequest(t *testing.T) {
	var got recorded
	srv := newServer(t, http.StatusOK, keyJSON, &got)
	c := client.New(srv.URL, "k")
	calls := []struct {
		name, field string
		call        func(ctx context.Context, id string) error
	}{
		{"RevokeKey", "id", func(ctx context.Context, id string) error { _, err := c.RevokeKey(ctx, id); return err }},
		{"RotateKey", "id", func(ctx context.Context, id string) error {
			_, err := c.RotateKey(ctx, id, keyward.KeyRotate{})
			return err
		}},
		{"FindKeyUsage", "id", func(ctx context.Context, id string) error {
			_, err := c.FindKeyUsage(ctx, id, keyward.UsageQuery{})
			return err
		}},
		{"FindOwner", "owner_id", func(ctx context.Context, id string) error { _, err := c.FindOwner(ctx, id); return err }},
		{"UpdateOwner", "owner_id", func(ctx context.Context, id string) error {
			_, err := c.UpdateOwner(ctx, id, keyward.OwnerUpdate{})
			return err
		}},
	}
	for _, tt := range calls {
		for _, id := range []string{"", ".", ".."} {
			err := tt.call(t.Context(), id)
			if code := keyward.ErrorCode(err); code != keyward.EINVALID {
				t.Errorf("%s(%q): got code %q, want %q", tt.name, id, code, keyward.EINVALID)
			}
			if fields := keyward.ErrorFields(err); len(fields) != 1 || fields[0].Field != tt.field {
				t.Errorf("%s(%q): got fields %v, want one naming %s", tt.name, id, fields, tt.field)
			}
		}
	}
	if got.Method != "" {
		t.Errorf("got a %s %s request, want none", got.Method, got.Path)
	}
}

func TestTransportErrorHidesKey(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens any more
	const secret = "kw_live_supersecretvalue"
	_, err := client.New(srv.URL, secret).Verify(t.Context(), keyward.VerifyRequest{Key: secret})
	if err == nil {
		t.Fatal("got no error from a closed server")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q shows the secret", err)
	}
	if client.RequestID(err) != "" {
		t.Errorf("got request id %q for a call that reached no server", client.RequestID(err))
	}
}

func TestUndecodableAnswer(t *testing.T) {
	var got recorded
	srv := newServer(t, http.StatusOK, `<html>`, &got)
	_, err := client.New(srv.URL, "k").WhoAmI(t.Context())
	if err == nil || !strings.Contains(err.Error(), "decode GET /v1/whoami response") {
		t.Errorf("got %v, want a decode error naming the call", err)
	}
}
