package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"keyward"
)

func TestErrorStatusCode(t *testing.T) {
	tests := []struct {
		code   string
		status int
	}{
		{keyward.EINVALID, http.StatusBadRequest},
		{keyward.EUNAUTHORIZED, http.StatusUnauthorized},
		{keyward.EFORBIDDEN, http.StatusForbidden},
		{keyward.ENOTFOUND, http.StatusNotFound},
		{keyward.EMETHOD, http.StatusMethodNotAllowed},
		{keyward.ECONFLICT, http.StatusConflict},
		{keyward.ETOOLARGE, http.StatusRequestEntityTooLarge},
		{keyward.EUNSUPPORTED, http.StatusUnsupportedMediaType},
		{keyward.EINTERNAL, http.StatusInternalServerError},
		{keyward.EUNAVAILABLE, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if got := ErrorStatusCode(tt.code); got != tt.status {
				t.Errorf("ErrorStatusCode(%q): got %d, want %d", tt.code, got, tt.status)
			}
		})
	}
	if got := ErrorStatusCode("no_such_code"); got != http.StatusInternalServerError {
		t.Errorf("ErrorStatusCode(unknown): got %d, want 500", got)
	}
}

// Every domain error a service returns reaches the client as a problem
// with its status, code and message.
func TestErrorMapping(t *testing.T) {
	for code, status := range codes {
		t.Run(code, func(t *testing.T) {
			s := MustOpenServer(t)
			s.keys.FindKeyByIDFn = func(ctx context.Context, id string) (*keyward.Key, error) {
				return nil, fmt.Errorf("FindKeyByID(%q): %w", id, keyward.Errorf(code, "Message for %s.", code))
			}
			res := s.do(t, http.MethodGet, "/v1/keys/k1", "")
			p := wantProblem(t, res, status, code)
			if want := "Message for " + code + "."; p.Detail != want {
				t.Errorf("detail: got %q, want %q", p.Detail, want)
			}
			got, want := res.header.Get("WWW-Authenticate"), ""
			if status == http.StatusUnauthorized {
				want = "Bearer"
			}
			if got != want {
				t.Errorf("WWW-Authenticate: got %q, want %q", got, want)
			}
		})
	}
}

func TestErrorMapping_Fields(t *testing.T) {
	s := MustOpenServer(t)
	fields := []keyward.FieldError{{Field: "name", Message: "is required"}, {Field: "permissions", Message: "exceed the caller's"}}
	s.keys.CreateKeyFn = func(ctx context.Context, in keyward.KeyCreate) (*keyward.CreatedKey, error) {
		return nil, keyward.Invalid(fields...)
	}
	p := wantProblem(t, s.do(t, http.MethodPost, "/v1/keys", `{}`), http.StatusBadRequest, keyward.EINVALID, "name", "permissions")
	if p.Errors[1].Message != fields[1].Message {
		t.Errorf("field message: got %q, want %q", p.Errors[1].Message, fields[1].Message)
	}
	if p.Detail != "name: is required (and 1 more)" {
		t.Errorf("detail: got %q", p.Detail)
	}
}

// An unexpected error is logged with its text, and the client sees only
// "Internal error.".
func TestErrorMapping_InternalNotLeaked(t *testing.T) {
	s := MustOpenServer(t)
	const internals = "pq: password authentication failed for user keyward at 10.9.8.7:5432"
	s.keys.FindKeyByIDFn = func(ctx context.Context, id string) (*keyward.Key, error) {
		return nil, errors.New(internals)
	}
	res := s.do(t, http.MethodGet, "/v1/keys/k1", "")
	p := wantProblem(t, res, http.StatusInternalServerError, keyward.EINTERNAL)
	if p.Detail != "Internal error." {
		t.Errorf("detail: got %q, want %q", p.Detail, "Internal error.")
	}
	if strings.Contains(string(res.body), "10.9.8.7") {
		t.Errorf("body leaks the error: %s", res.body)
	}
	s.Close()
	var logged bool
	for _, line := range s.log.lines(t) {
		if line["error"] == internals && line["request_id"] == p.RequestID {
			logged = true
		}
	}
	if !logged {
		t.Errorf("log lacks the error with request id %s:\n%s", p.RequestID, s.log)
	}
}

// The errors that the usage control services document reach the client
// with their status, code and invalid fields, on every route.
func TestErrorMapping_UsageControl(t *testing.T) {
	invalid := func(field string) error {
		return keyward.Invalid(keyward.FieldError{Field: field, Message: "is out of range"})
	}
	forbidden := keyward.Errorf(keyward.EFORBIDDEN, "The key lacks a permission.")
	notFound := keyward.Errorf(keyward.ENOTFOUND, "Key not found.")
	conflict := keyward.Errorf(keyward.ECONFLICT, "Key k1 is revoked.")
	tests := []struct {
		name         string
		method, path string
		body         string
		fail         func(s *testServer, err error)
		errs         []error
	}{
		{"rotate", http.MethodPost, "/v1/keys/k1/rotate", `{"grace_period":99999999}`, func(s *testServer, err error) {
			s.keys.RotateKeyFn = func(context.Context, string, keyward.KeyRotate) (*keyward.CreatedKey, error) { return nil, err }
		}, []error{invalid("grace_period"), forbidden, notFound, conflict}},
		{"credits", http.MethodPost, "/v1/keys/k1/credits", `{"op":"decrement","amount":5}`, func(s *testServer, err error) {
			s.keys.UpdateCreditsFn = func(context.Context, string, keyward.CreditsUpdate) (*keyward.Key, error) { return nil, err }
		}, []error{invalid("amount"), forbidden, notFound, conflict}},
		{"create", http.MethodPost, "/v1/keys", `{"name":"a","rate_limits":[{"name":"a","limit":0,"window":0}]}`, func(s *testServer, err error) {
			s.keys.CreateKeyFn = func(context.Context, keyward.KeyCreate) (*keyward.CreatedKey, error) { return nil, err }
		}, []error{invalid("rate_limits[0].window"), invalid("credits.refill.day"), invalid("expires_in")}},
		{"find owner", http.MethodGet, "/v1/owners/u1", ``, func(s *testServer, err error) {
			s.owners.FindOwnerFn = func(context.Context, string) (*keyward.Owner, error) { return nil, err }
		}, []error{invalid("owner_id"), forbidden}},
		{"update owner", http.MethodPut, "/v1/owners/u1", `{"rate_limits":[]}`, func(s *testServer, err error) {
			s.owners.UpdateOwnerFn = func(context.Context, string, keyward.OwnerUpdate) (*keyward.Owner, error) { return nil, err }
		}, []error{invalid("rate_limits[3].limit"), forbidden}},
		{"find policy", http.MethodGet, "/v1/org/policy", ``, func(s *testServer, err error) {
			s.org.FindOrgPolicyFn = func(context.Context) (*keyward.OrgPolicy, error) { return nil, err }
		}, []error{forbidden}},
		{"update policy", http.MethodPut, "/v1/org/policy", `{"default_key_lifetime":86400}`, func(s *testServer, err error) {
			s.org.UpdateOrgPolicyFn = func(context.Context, keyward.OrgPolicyUpdate) (*keyward.OrgPolicy, error) { return nil, err }
		}, []error{invalid("default_key_lifetime"), forbidden}},
		{"key usage", http.MethodGet, "/v1/keys/k1/usage", ``, func(s *testServer, err error) {
			s.usage.FindKeyUsageFn = func(context.Context, string, keyward.UsageQuery) (*keyward.Usage, error) { return nil, err }
		}, []error{invalid("from"), forbidden, notFound}},
		{"org usage", http.MethodGet, "/v1/usage", ``, func(s *testServer, err error) {
			s.usage.FindUsageFn = func(context.Context, keyward.UsageQuery) (*keyward.Usage, error) { return nil, err }
		}, []error{invalid("to"), forbidden}},
	}
	for _, tt := range tests {
		for _, err := range tt.errs {
			code := keyward.ErrorCode(err)
			t.Run(tt.name+" "+code, func(t *testing.T) {
				s := MustOpenServer(t)
				tt.fail(s, fmt.Errorf("wrapped: %w", err))
				var fields []string
				for _, f := range keyward.ErrorFields(err) {
					fields = append(fields, f.Field)
				}
				wantProblem(t, s.do(t, tt.method, tt.path, tt.body), ErrorStatusCode(code), code, fields...)
			})
		}
	}
}

// TestLogSampler checks that an outage, which fails every request at once,
// logs one line a second with the count of those left out.
func TestLogSampler(t *testing.T) {
	var s logSampler
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var got []string
	for i, at := range []time.Duration{0, 10 * time.Millisecond, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 3 * time.Second} {
		if skipped, ok := s.allow(t0.Add(at)); ok {
			got = append(got, fmt.Sprintf("%d:%d", i, skipped))
		}
	}
	if want := []string{"0:0", "3:2", "5:1"}; !slices.Equal(got, want) {
		t.Errorf("lines logged (index:skipped): got %v, want %v", got, want)
	}
}
