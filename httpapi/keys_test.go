package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
	"keyward/keyformat"
)

func TestCreateKey(t *testing.T) {
	s := MustOpenServer(t)
	want := &keyward.CreatedKey{Key: testKeyRecord(), Secret: "kw_live_newsecretnewsecretnewsecret00"}
	var got keyward.KeyCreate
	s.keys.CreateKeyFn = func(ctx context.Context, in keyward.KeyCreate) (*keyward.CreatedKey, error) {
		checkContext(t, ctx)
		got = in
		return want, nil
	}
	res := s.do(t, http.MethodPost, "/v1/keys", `{
		"name": "ci",
		"description": "deploys",
		"permissions": ["nodes.read.own"],
		"allowed_ips": ["10.0.0.0/8"],
		"expires_at": "2030-01-02T15:04:05Z",
		"owner_id": "user-42",
		"metadata": {"team": "infra"},
		"enabled": false,
		"prefix": "kw_test",
		"rate_limits": [{"name": "default", "limit": 100, "window": 60}, {"name": "burst", "limit": 10, "window": 1}],
		"credits": {"remaining": 500, "refill": {"amount": 1000, "interval": "monthly", "day": 31}}
	}`)
	wantStatus(t, res, http.StatusCreated)

	expires := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	wantIn := keyward.KeyCreate{
		Name:        "ci",
		Description: "deploys",
		Permissions: []string{"nodes.read.own"},
		AllowedIPs:  []string{"10.0.0.0/8"},
		ExpiresAt:   &expires,
		OwnerID:     "user-42",
		Metadata:    json.RawMessage(`{"team": "infra"}`),
		Enabled:     new(false),
		Prefix:      "kw_test",
		RateLimits:  []keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}, {Name: "burst", Limit: 10, Window: 1}},
		Credits: &keyward.CreditsInput{Remaining: new(int64(500)),
			Refill: &keyward.CreditRefill{Amount: 1000, Interval: keyward.RefillMonthly, Day: 31}},
	}
	if diff := cmp.Diff(wantIn, got); diff != "" {
		t.Errorf("CreateKey input (-want +got):\n%s", diff)
	}
	if loc := res.header.Get("Location"); loc != "/v1/keys/"+want.ID {
		t.Errorf("Location: got %q, want %q", loc, "/v1/keys/"+want.ID)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store: the answer holds a secret", cc)
	}
	created := decodeResponse[keyward.CreatedKey](t, res)
	if diff := cmp.Diff(want, &created); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestFindKeys(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  keyward.KeyFilter
	}{
		{"none", "", keyward.KeyFilter{}},
		{"all", "?cursor=abc&limit=1000&owner_id=u1&service_account_id=sa1&revoked=true&prefix=kw_live_7H",
			keyward.KeyFilter{Cursor: "abc", Limit: 1000, OwnerID: "u1", ServiceAccountID: "sa1", Revoked: new(true), Prefix: "kw_live_7H"}},
		{"unrevoked", "?revoked=false&limit=1", keyward.KeyFilter{Revoked: new(false), Limit: 1}},
		{"escaped", "?owner_id=a%20b%26c", keyward.KeyFilter{OwnerID: "a b&c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			page := keyward.Page[*keyward.Key]{Data: []*keyward.Key{testKeyRecord()}, NextCursor: "next"}
			var got keyward.KeyFilter
			s.keys.FindKeysFn = func(ctx context.Context, f keyward.KeyFilter) (keyward.Page[*keyward.Key], error) {
				checkContext(t, ctx)
				got = f
				return page, nil
			}
			res := s.do(t, http.MethodGet, "/v1/keys"+tt.query, "")
			wantStatus(t, res, http.StatusOK)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("filter (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(page, decodeResponse[keyward.Page[*keyward.Key]](t, res)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

// An empty list is [] and the last page's cursor "", as documented, never
// null: clients iterate data without a nil check.
func TestFindKeys_EmptyPage(t *testing.T) {
	s := MustOpenServer(t)
	s.keys.FindKeysFn = func(ctx context.Context, f keyward.KeyFilter) (keyward.Page[*keyward.Key], error) {
		return keyward.Page[*keyward.Key]{}, nil
	}
	res := s.do(t, http.MethodGet, "/v1/keys", "")
	wantStatus(t, res, http.StatusOK)
	if got, want := string(res.body), `{"data":[],"next_cursor":""}`+"\n"; got != want {
		t.Errorf("body: got %s, want %s", got, want)
	}
}

func TestListQuery_Invalid(t *testing.T) {
	tests := []struct {
		path   string
		fields []string
	}{
		{"/v1/keys?limit=0", []string{"limit"}},
		{"/v1/keys?limit=1001", []string{"limit"}},
		{"/v1/keys?limit=ten", []string{"limit"}},
		{"/v1/keys?limit=", []string{"limit"}},
		{"/v1/keys?limit=-5", []string{"limit"}},
		{"/v1/keys?revoked=yes", []string{"revoked"}},
		{"/v1/keys?revoked=1", []string{"revoked"}},
		{"/v1/keys?revoked=", []string{"revoked"}},
		{"/v1/keys?revoked=maybe&limit=x", []string{"revoked", "limit"}},
		{"/v1/service-accounts?limit=0", []string{"limit"}},
		{"/v1/audit-events?limit=99999", []string{"limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			// The mocks have no functions: reaching a service panics.
			s := MustOpenServer(t)
			wantProblem(t, s.do(t, http.MethodGet, tt.path, ""), http.StatusBadRequest, keyward.EINVALID, tt.fields...)
		})
	}
}

// Every route rejects a query parameter it does not read, and a repeated
// one, before reaching its service (the mocks have no functions: reaching
// one panics).
func TestQuery_Strict(t *testing.T) {
	key := mustGenerate(t, keyformat.DefaultPrefix)
	many := make([]string, 30)
	for i := range many {
		many[i] = fmt.Sprintf("p%02d=1", i)
	}
	tests := []struct {
		method, path string
		fields       []string
	}{
		{http.MethodGet, "/v1/keys?owner=alice", []string{"owner"}},
		{http.MethodGet, "/v1/keys?OWNER_ID=alice", []string{"OWNER_ID"}},
		{http.MethodGet, "/v1/keys?owner_id=a&owner_id=b", []string{"owner_id"}},
		{http.MethodGet, "/v1/keys?limit=5&limit=5", []string{"limit"}},
		{http.MethodGet, "/v1/keys?revoked=true&b=1&a=2&a=3&revoked=false", []string{"a", "b", "revoked"}},
		{http.MethodGet, "/v1/keys?=x", []string{""}},
		{http.MethodGet, "/v1/keys?" + strings.Join(many, "&"), []string{"p00", "p01", "p02", "p03", "p04", "p05", "p06", "p07", "p08", "p09"}},
		{http.MethodGet, "/v1/keys?" + key + "=1", []string{keyformat.DisplayPrefix(key) + "…"}},
		{http.MethodGet, "/v1/service-accounts?owner_id=u1", []string{"owner_id"}},
		{http.MethodGet, "/v1/audit-events?action=key.create&actor=me", []string{"actor"}},
		{http.MethodGet, "/v1/whoami?verbose", []string{"verbose"}},
		{http.MethodGet, "/v1/keys/k1?fields=name", []string{"fields"}},
		{http.MethodDelete, "/v1/service-accounts/sa-1?force=true", []string{"force"}},
		{http.MethodPost, "/v1/verify?key=x", []string{"key"}},
		{http.MethodGet, "/healthz?probe=1", []string{"probe"}},
		// The parser's complaint would quote the input: no field is named.
		{http.MethodGet, "/v1/keys?limit=%zz", nil},
		{http.MethodGet, "/v1/keys?limit=1;prefix=a", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			s := MustOpenServer(t)
			res := s.do(t, tt.method, tt.path, "")
			wantProblem(t, res, http.StatusBadRequest, keyward.EINVALID, tt.fields...)
			if strings.Contains(string(res.body), key[len(keyformat.DisplayPrefix(key)):]) {
				t.Errorf("answer holds the key: %s", res.body)
			}
		})
	}
}

func TestFindKeyByID(t *testing.T) {
	s := MustOpenServer(t)
	want := testKeyRecord()
	s.keys.FindKeyByIDFn = func(ctx context.Context, id string) (*keyward.Key, error) {
		checkContext(t, ctx)
		if id != want.ID {
			t.Errorf("id: got %q, want %q", id, want.ID)
		}
		return want, nil
	}
	res := s.do(t, http.MethodGet, "/v1/keys/"+want.ID, "")
	wantStatus(t, res, http.StatusOK)
	if diff := cmp.Diff(want, decodeResponse[*keyward.Key](t, res)); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

// The key record answers every field, nulls included, exactly as
// Key.MarshalJSON writes them; clients rely on their presence.
func TestFindKeyByID_NullFields(t *testing.T) {
	s := MustOpenServer(t)
	s.keys.FindKeyByIDFn = func(ctx context.Context, id string) (*keyward.Key, error) {
		return &keyward.Key{ID: id, OrgID: "org-1", Name: "bare", KeyPrefix: "kw_live_abcdefgh", CreatedAt: testTime, UpdatedAt: testTime}, nil
	}
	res := s.do(t, http.MethodGet, "/v1/keys/k1", "")
	wantStatus(t, res, http.StatusOK)
	got := decodeResponse[map[string]any](t, res)
	want := map[string]any{
		"id": "k1", "org_id": "org-1", "name": "bare", "description": "", "key_prefix": "kw_live_abcdefgh",
		"permissions": []any{}, "allowed_ips": []any{}, "expires_at": nil, "enabled": false,
		"owner_id": nil, "service_account_id": nil, "metadata": map[string]any{},
		"created_at": "2026-03-04T05:06:07Z", "updated_at": "2026-03-04T05:06:07Z", "created_by": nil,
		"last_used_at": nil, "last_used_ip": nil, "last_used_user_agent": nil, "revoked_at": nil, "deleted_at": nil,
		"rate_limits": []any{}, "credits": nil, "rotated_from": nil, "rotated_to": nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// A path id is passed to the service unescaped.
func TestFindKeyByID_EscapedID(t *testing.T) {
	s := MustOpenServer(t)
	s.keys.FindKeyByIDFn = func(ctx context.Context, id string) (*keyward.Key, error) {
		if id != "a b" {
			t.Errorf("id: got %q, want %q", id, "a b")
		}
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Key not found.")
	}
	wantProblem(t, s.do(t, http.MethodGet, "/v1/keys/a%20b", ""), http.StatusNotFound, keyward.ENOTFOUND)
}

func TestUpdateKey(t *testing.T) {
	expires := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		body string
		want keyward.KeyUpdate
	}{
		{"name", `{"name":"renamed"}`, keyward.KeyUpdate{Name: new("renamed")}},
		{"expiry cleared", `{"expires_at":null}`, keyward.KeyUpdate{ExpiresAt: keyward.OptionalTime{Set: true}}},
		{"expiry set", `{"expires_at":"2030-01-02T15:04:05Z"}`, keyward.KeyUpdate{ExpiresAt: keyward.OptionalTime{Set: true, Value: &expires}}},
		{"lists emptied", `{"permissions":[],"allowed_ips":[]}`, keyward.KeyUpdate{Permissions: new([]string{}), AllowedIPs: new([]string{})}},
		{"metadata cleared", `{"metadata":null}`, keyward.KeyUpdate{Metadata: json.RawMessage("null")}},
		{"everything else", `{"description":"d","expires_in":3600,"enabled":false,"metadata":{"a":1}}`,
			keyward.KeyUpdate{Description: new("d"), ExpiresIn: new(int64(3600)), Enabled: new(false), Metadata: json.RawMessage(`{"a":1}`)}},
		{"nothing", `{}`, keyward.KeyUpdate{}},
		{"rate limits", `{"rate_limits":[{"name":"default","limit":5,"window":86400}]}`,
			keyward.KeyUpdate{RateLimits: &[]keyward.RateLimit{{Name: "default", Limit: 5, Window: 86400}}}},
		{"rate limits removed", `{"rate_limits":[]}`, keyward.KeyUpdate{RateLimits: &[]keyward.RateLimit{}}},
		{"credits", `{"credits":{"remaining":7,"refill":{"amount":10,"interval":"daily"}}}`,
			keyward.KeyUpdate{Credits: keyward.Optional[keyward.CreditsInput]{Set: true, Value: &keyward.CreditsInput{Remaining: new(int64(7)),
				Refill: &keyward.CreditRefill{Amount: 10, Interval: keyward.RefillDaily}}}}},
		{"credits without refill", `{"credits":{"remaining":0}}`,
			keyward.KeyUpdate{Credits: keyward.Optional[keyward.CreditsInput]{Set: true, Value: &keyward.CreditsInput{Remaining: new(int64(0))}}}},
		// The service starts a refill without a balance at its amount.
		{"credits without balance", `{"credits":{"refill":{"amount":10,"interval":"daily"}}}`,
			keyward.KeyUpdate{Credits: keyward.Optional[keyward.CreditsInput]{Set: true, Value: &keyward.CreditsInput{
				Refill: &keyward.CreditRefill{Amount: 10, Interval: keyward.RefillDaily}}}}},
		// null makes the key unlimited; absent leaves its credits alone.
		{"credits removed", `{"credits":null}`, keyward.KeyUpdate{Credits: keyward.Optional[keyward.CreditsInput]{Set: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			want := testKeyRecord()
			var got keyward.KeyUpdate
			s.keys.UpdateKeyFn = func(ctx context.Context, id string, upd keyward.KeyUpdate) (*keyward.Key, error) {
				checkContext(t, ctx)
				if id != want.ID {
					t.Errorf("id: got %q, want %q", id, want.ID)
				}
				got = upd
				return want, nil
			}
			res := s.do(t, http.MethodPatch, "/v1/keys/"+want.ID, tt.body)
			wantStatus(t, res, http.StatusOK)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("update (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, decodeResponse[*keyward.Key](t, res)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeleteKey(t *testing.T) {
	s := MustOpenServer(t)
	want := testKeyRecord()
	want.DeletedAt = new(testTime.Add(time.Minute))
	s.keys.DeleteKeyFn = func(ctx context.Context, id string) (*keyward.Key, error) {
		checkContext(t, ctx)
		if id != want.ID {
			t.Errorf("id: got %q, want %q", id, want.ID)
		}
		return want, nil
	}
	res := s.do(t, http.MethodDelete, "/v1/keys/"+want.ID, "")
	wantStatus(t, res, http.StatusOK)
	got := decodeResponse[*keyward.Key](t, res)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestRevokeKey(t *testing.T) {
	tests := []struct {
		name string
		body string
		opts []func(*http.Request)
	}{
		{"no body", "", nil},
		{"empty object", "{}", nil},
		{"empty object with spaces", " { } \n", nil},
		// An empty body needs no Content-Type, whatever the client sends.
		{"empty body other type", "", []func(*http.Request){header("Content-Type", "text/plain")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			want := testKeyRecord()
			want.RevokedAt = new(testTime.Add(time.Minute))
			s.keys.RevokeKeyFn = func(ctx context.Context, id string) (*keyward.Key, error) {
				checkContext(t, ctx)
				if id != want.ID {
					t.Errorf("id: got %q, want %q", id, want.ID)
				}
				return want, nil
			}
			res := s.do(t, http.MethodPost, "/v1/keys/"+want.ID+"/revoke", tt.body, tt.opts...)
			wantStatus(t, res, http.StatusOK)
			if diff := cmp.Diff(want, decodeResponse[*keyward.Key](t, res)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

// Revoke takes no input: a body with members is a mistake worth reporting.
func TestRevokeKey_UnknownField(t *testing.T) {
	s := MustOpenServer(t)
	wantProblem(t, s.do(t, http.MethodPost, "/v1/keys/k1/revoke", `{"reason":"leaked"}`),
		http.StatusBadRequest, keyward.EINVALID, "reason")
}

func TestWhoAmI(t *testing.T) {
	s := MustOpenServer(t)
	want := testKeyRecord()
	s.keys.WhoAmIFn = func(ctx context.Context) (*keyward.Key, error) {
		checkContext(t, ctx)
		return want, nil
	}
	res := s.do(t, http.MethodGet, "/v1/whoami", "")
	wantStatus(t, res, http.StatusOK)
	if diff := cmp.Diff(want, decodeResponse[*keyward.Key](t, res)); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestRotateKey(t *testing.T) {
	tests := []struct {
		name string
		body string
		want keyward.KeyRotate
	}{
		{"grace period", `{"grace_period":3600}`, keyward.KeyRotate{GracePeriod: 3600}},
		{"no grace period", `{}`, keyward.KeyRotate{}},
		{"new expiry", `{"grace_period":0,"expires_in":86400}`, keyward.KeyRotate{ExpiresIn: new(int64(86400))}},
		{"new expiry date", `{"grace_period":60,"expires_at":"2030-01-02T15:04:05Z"}`,
			keyward.KeyRotate{GracePeriod: 60, ExpiresAt: new(time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			next := testKeyRecord()
			next.ID = "01950000-0000-7000-8000-000000000009"
			next.RotatedFrom, next.RotatedTo = "k-old", ""
			want := &keyward.CreatedKey{Key: next, Secret: "kw_live_rotatedsecretrotatedsecret00"}
			var got keyward.KeyRotate
			s.keys.RotateKeyFn = func(ctx context.Context, id string, in keyward.KeyRotate) (*keyward.CreatedKey, error) {
				checkContext(t, ctx)
				if id != "k-old" {
					t.Errorf("id: got %q, want k-old", id)
				}
				got = in
				return want, nil
			}
			res := s.do(t, http.MethodPost, "/v1/keys/k-old/rotate", tt.body)
			wantStatus(t, res, http.StatusCreated)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("input (-want +got):\n%s", diff)
			}
			if loc, want := res.header.Get("Location"), "/v1/keys/"+next.ID; loc != want {
				t.Errorf("Location: got %q, want %q: the new key's", loc, want)
			}
			if cc := res.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store: the answer holds a secret", cc)
			}
			created := decodeResponse[keyward.CreatedKey](t, res)
			if diff := cmp.Diff(want, &created); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpdateCredits(t *testing.T) {
	tests := []struct {
		body string
		want keyward.CreditsUpdate
	}{
		{`{"op":"set","amount":0}`, keyward.CreditsUpdate{Op: keyward.CreditsSet, Amount: new(int64(0))}},
		{`{"op":"increment","amount":250}`, keyward.CreditsUpdate{Op: keyward.CreditsIncrement, Amount: new(int64(250))}},
		{`{"amount":5,"op":"decrement"}`, keyward.CreditsUpdate{Op: keyward.CreditsDecrement, Amount: new(int64(5))}},
		// The service answers a missing amount, rather than setting 0.
		{`{"op":"set"}`, keyward.CreditsUpdate{Op: keyward.CreditsSet}},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			s := MustOpenServer(t)
			want := testKeyRecord()
			var got keyward.CreditsUpdate
			s.keys.UpdateCreditsFn = func(ctx context.Context, id string, upd keyward.CreditsUpdate) (*keyward.Key, error) {
				checkContext(t, ctx)
				if id != want.ID {
					t.Errorf("id: got %q, want %q", id, want.ID)
				}
				got = upd
				return want, nil
			}
			res := s.do(t, http.MethodPost, "/v1/keys/"+want.ID+"/credits", tt.body)
			wantStatus(t, res, http.StatusOK)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("update (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, decodeResponse[*keyward.Key](t, res)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}
