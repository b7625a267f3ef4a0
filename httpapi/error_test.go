package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

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
