package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"keyward"
	"keyward/keyformat"
)

func TestAuthenticate(t *testing.T) {
	tests := []struct {
		name    string
		opts    []func(*http.Request)
		status  int
		code    string
		wantKey string // the key the authenticator must receive; "" when not called
	}{
		{"bearer", nil, http.StatusOK, "", testSecret},
		{"bearer lower case", []func(*http.Request){header("Authorization", "bearer "+testSecret)}, http.StatusOK, "", testSecret},
		{"x-api-key", []func(*http.Request){header("Authorization", ""), header("X-API-Key", testSecret)}, http.StatusOK, "", testSecret},
		{"missing", []func(*http.Request){header("Authorization", "")}, http.StatusUnauthorized, keyward.EUNAUTHORIZED, ""},
		{"basic scheme", []func(*http.Request){header("Authorization", "Basic dXNlcjpwYXNz")}, http.StatusUnauthorized, keyward.EUNAUTHORIZED, ""},
		{"empty bearer", []func(*http.Request){header("Authorization", "Bearer  ")}, http.StatusUnauthorized, keyward.EUNAUTHORIZED, ""},
		{"unknown key", []func(*http.Request){header("Authorization", "Bearer kw_live_unknown")}, http.StatusUnauthorized, keyward.EUNAUTHORIZED, "kw_live_unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			var gotKey string
			authenticate := s.auth.AuthenticateFn
			s.auth.AuthenticateFn = func(ctx context.Context, key string, remoteIP netip.Addr) (*keyward.Principal, error) {
				gotKey = key
				if want := netip.MustParseAddr("127.0.0.1"); remoteIP != want {
					t.Errorf("remote IP: got %v, want %v", remoteIP, want)
				}
				return authenticate(ctx, key, remoteIP)
			}
			s.keys.WhoAmIFn = func(ctx context.Context) (*keyward.Key, error) {
				checkContext(t, ctx)
				return testKeyRecord(), nil
			}
			res := s.do(t, http.MethodGet, "/v1/whoami", "", tt.opts...)
			if gotKey != tt.wantKey {
				t.Errorf("authenticated key: got %q, want %q", gotKey, tt.wantKey)
			}
			if tt.status == http.StatusOK {
				wantStatus(t, res, http.StatusOK)
				return
			}
			wantProblem(t, res, tt.status, tt.code)
			if got := res.header.Get("WWW-Authenticate"); got != "Bearer" {
				t.Errorf("WWW-Authenticate: got %q, want Bearer", got)
			}
		})
	}
}

// The authenticator's own errors reach the client with their status.
func TestAuthenticate_Errors(t *testing.T) {
	tests := []struct {
		err    error
		status int
	}{
		{keyward.Errorf(keyward.EUNAUTHORIZED, "This key is revoked."), http.StatusUnauthorized},
		{keyward.Errorf(keyward.EFORBIDDEN, "This key may not be used from your IP address."), http.StatusForbidden},
		{keyward.Errorf(keyward.EUNAVAILABLE, "Store unavailable."), http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(keyward.ErrorCode(tt.err), func(t *testing.T) {
			s := MustOpenServer(t)
			s.auth.AuthenticateFn = func(ctx context.Context, key string, remoteIP netip.Addr) (*keyward.Principal, error) {
				return nil, tt.err
			}
			p := wantProblem(t, s.do(t, http.MethodGet, "/v1/whoami", ""), tt.status, keyward.ErrorCode(tt.err))
			if p.Detail != keyward.ErrorMessage(tt.err) {
				t.Errorf("detail: got %q, want %q", p.Detail, keyward.ErrorMessage(tt.err))
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	long := strings.Repeat("a", 128)
	tests := []struct {
		name     string
		incoming string
		reused   bool
	}{
		{"none", "", false},
		{"reused", "abc-DEF_123.x", true},
		{"longest reused", long, true},
		{"too long", long + "a", false},
		{"space", "abc def", false},
		{"slash", "a/b", false},
		{"quote", `a"b`, false},
	}
	// Every kind of answer carries the id: success, client error, 404, 405,
	// authentication failure, and a recovered panic.
	calls := []struct {
		name, method, path string
		opts               []func(*http.Request)
		status             int
	}{
		{"ok", http.MethodGet, "/v1/whoami", nil, http.StatusOK},
		{"bad request", http.MethodGet, "/v1/keys?limit=0", nil, http.StatusBadRequest},
		{"not found", http.MethodGet, "/nope", nil, http.StatusNotFound},
		{"method", http.MethodPut, "/v1/whoami", nil, http.StatusMethodNotAllowed},
		{"unauthorized", http.MethodGet, "/v1/whoami", []func(*http.Request){header("Authorization", "")}, http.StatusUnauthorized},
		{"panic", http.MethodGet, "/v1/keys/k1", nil, http.StatusInternalServerError},
		{"public", http.MethodGet, "/healthz", nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			var seen []string
			s.keys.WhoAmIFn = func(ctx context.Context) (*keyward.Key, error) {
				seen = append(seen, keyward.RequestInfoFromContext(ctx).RequestID)
				return testKeyRecord(), nil
			}
			s.keys.FindKeyByIDFn = func(ctx context.Context, id string) (*keyward.Key, error) {
				panic("boom")
			}
			ids := make(map[string]bool)
			for _, c := range calls {
				opts := append([]func(*http.Request){header(requestIDHeader, tt.incoming)}, c.opts...)
				res := s.do(t, c.method, c.path, "", opts...)
				wantStatus(t, res, c.status)
				got := res.header.Get(requestIDHeader)
				switch {
				case tt.reused && got != tt.incoming:
					t.Errorf("%s: X-Request-Id: got %q, want %q", c.name, got, tt.incoming)
				case !tt.reused:
					if id, err := uuid.Parse(got); err != nil || id.Version() != 7 {
						t.Errorf("%s: X-Request-Id: got %q, want a generated UUIDv7", c.name, got)
					}
					if ids[got] {
						t.Errorf("%s: X-Request-Id %q repeats an earlier request's", c.name, got)
					}
					ids[got] = true
				}
				if c.name == "ok" && (len(seen) != 1 || seen[0] != got) {
					t.Errorf("request info id: got %q, want %q", seen, got)
				}
				seen = nil
			}
		})
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/", http.StatusNotFound, ""},
		{http.MethodGet, "/v2/keys", http.StatusNotFound, ""},
		{http.MethodGet, "/v1/keys/k1/unrevoke", http.StatusNotFound, ""},
		{http.MethodPost, "/v1/nope", http.StatusNotFound, ""},
		{http.MethodPut, "/v1/keys", http.StatusMethodNotAllowed, "GET, HEAD, POST"},
		{http.MethodPut, "/v1/keys/k1", http.StatusMethodNotAllowed, "DELETE, GET, HEAD, PATCH"},
		{http.MethodGet, "/v1/keys/k1/revoke", http.StatusMethodNotAllowed, "POST"},
		{http.MethodGet, "/v1/verify", http.StatusMethodNotAllowed, "POST"},
		{http.MethodDelete, "/v1/whoami", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodOptions, "/v1/service-accounts/sa-1", http.StatusMethodNotAllowed, "DELETE, GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			s := MustOpenServer(t)
			code := keyward.ENOTFOUND
			if tt.status == http.StatusMethodNotAllowed {
				code = keyward.EMETHOD
			}
			res := s.do(t, tt.method, tt.path, "")
			wantProblem(t, res, tt.status, code)
			if got := res.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow: got %q, want %q", got, tt.allow)
			}
		})
	}
}

// A panicking handler answers a 500 problem, is logged with its stack, and
// leaves the server serving.
func TestRecoverPanics(t *testing.T) {
	s := MustOpenServer(t)
	s.keys.FindKeyByIDFn = func(ctx context.Context, id string) (*keyward.Key, error) {
		panic("index out of range in " + id)
	}
	s.keys.WhoAmIFn = func(ctx context.Context) (*keyward.Key, error) {
		return testKeyRecord(), nil
	}
	res := s.do(t, http.MethodGet, "/v1/keys/k1", "")
	p := wantProblem(t, res, http.StatusInternalServerError, keyward.EINTERNAL)
	if p.Detail != "Internal error." || strings.Contains(string(res.body), "index out of range") {
		t.Errorf("body leaks the panic: %s", res.body)
	}
	wantStatus(t, s.do(t, http.MethodGet, "/v1/whoami", ""), http.StatusOK)

	s.Close()
	var panics, accessStatus int
	for _, line := range s.log.lines(t) {
		if line["msg"] == "panic" && line["panic"] == "index out of range in k1" && strings.Contains(line["stack"].(string), "handleFindKeyByID") {
			panics++
		}
		if line["msg"] == "http request" && line["path"] == "/v1/keys/k1" {
			accessStatus = int(line["status"].(float64))
		}
	}
	if panics != 1 {
		t.Errorf("panic log lines: got %d, want 1:\n%s", panics, s.log)
	}
	if accessStatus != http.StatusInternalServerError {
		t.Errorf("access log status: got %d, want 500", accessStatus)
	}
}

// The access log has one line per request with what an operator needs,
// and no secret: neither the key of Authorization or X-API-Key, nor one in
// a verify body, nor one pasted into a query string.
func TestAccessLog(t *testing.T) {
	s := MustOpenServer(t)
	s.keys.WhoAmIFn = func(ctx context.Context) (*keyward.Key, error) {
		return testKeyRecord(), nil
	}
	s.verifier.VerifyFn = func(ctx context.Context, req keyward.VerifyRequest) (*keyward.VerifyResult, error) {
		return &keyward.VerifyResult{Code: keyward.CodeNotFound}, nil
	}
	s.keys.FindKeysFn = func(ctx context.Context, f keyward.KeyFilter) (keyward.Page[*keyward.Key], error) {
		return keyward.Page[*keyward.Key]{}, nil
	}
	ids := []string{
		s.do(t, http.MethodGet, "/v1/whoami", "").header.Get(requestIDHeader),
		s.do(t, http.MethodGet, "/v1/whoami", "", header("Authorization", ""), header("X-API-Key", testSecret)).header.Get(requestIDHeader),
		s.do(t, http.MethodPost, "/v1/verify", `{"key":"`+testSecret+`"}`).header.Get(requestIDHeader),
		s.do(t, http.MethodGet, "/v1/keys?prefix="+testSecret, "").header.Get(requestIDHeader),
		s.do(t, http.MethodGet, "/v1/whoami", "", header("Authorization", "Bearer "+testSecret+"x")).header.Get(requestIDHeader),
	}
	s.Close()

	if strings.Contains(s.log.String(), testSecret) || strings.Contains(s.log.String(), testSecret[8:]) {
		t.Fatalf("log holds the secret:\n%s", s.log)
	}
	var lines []map[string]any
	for _, line := range s.log.lines(t) {
		if line["msg"] == "http request" {
			lines = append(lines, line)
		}
	}
	if len(lines) != len(ids) {
		t.Fatalf("access log lines: got %d, want %d:\n%s", len(lines), len(ids), s.log)
	}
	want := []struct {
		method, path string
		status       float64
		keyID        any
	}{
		{"GET", "/v1/whoami", 200, testPrincipal.KeyID},
		{"GET", "/v1/whoami", 200, testPrincipal.KeyID},
		{"POST", "/v1/verify", 200, testPrincipal.KeyID},
		{"GET", "/v1/keys", 200, testPrincipal.KeyID},
		{"GET", "/v1/whoami", 401, nil},
	}
	for i, line := range lines {
		w := want[i]
		if line["method"] != w.method || line["path"] != w.path || line["status"] != w.status || line["key_id"] != w.keyID ||
			line["request_id"] != ids[i] || line["remote_ip"] != "127.0.0.1" {
			t.Errorf("line %d: got %v, want method %s path %s status %v key_id %v request_id %s remote_ip 127.0.0.1", i, line, w.method, w.path, w.status, w.keyID, ids[i])
		}
		if _, ok := line["duration"].(float64); !ok {
			t.Errorf("line %d: no duration: %v", i, line)
		}
	}
}

// Verifications answered 200, the bulk of the traffic, are logged at debug
// level; a failed one, like every other request, at info.
func TestAccessLog_VerifyAtDebug(t *testing.T) {
	s := MustOpenServer(t)
	var log syncBuffer
	s.Logger = slog.New(slog.NewJSONHandler(&log, nil))
	s.verifier.VerifyFn = func(ctx context.Context, req keyward.VerifyRequest) (*keyward.VerifyResult, error) {
		if req.Key == "bad" {
			return nil, keyward.Invalid(keyward.FieldError{Field: "ip", Message: "not an IP address"})
		}
		return &keyward.VerifyResult{Code: keyward.CodeRevoked}, nil
	}
	s.do(t, http.MethodPost, "/v1/verify", `{"key":"k"}`)
	bad := s.do(t, http.MethodPost, "/v1/verify", `{"key":"bad"}`).header.Get(requestIDHeader)
	s.Close()
	var got []string
	for _, line := range log.lines(t) {
		if line["msg"] == "http request" {
			got = append(got, fmt.Sprint(line["level"], " ", line["status"], " ", line["request_id"]))
		}
	}
	if want := []string{"INFO 400 " + bad}; !slices.Equal(got, want) {
		t.Errorf("access log at info: got %q, want %q", got, want)
	}
}

// A path that is not in canonical form answers a 404 problem rather than
// ServeMux's HTML redirect, and reaches no handler: the mocks have no
// functions, so reaching a service would panic into a 500.
func TestUncleanPaths(t *testing.T) {
	tests := []struct{ method, path string }{
		{http.MethodGet, "/v1//whoami"},
		{http.MethodGet, "//v1/whoami"},
		{http.MethodGet, "/v1/keys/a/../../whoami"},
		{http.MethodGet, "/v1/./whoami"},
		{http.MethodGet, "/v1/whoami/"},
		{http.MethodGet, "/v1/keys/k1/.."},
		{http.MethodGet, "/v1/keys/%2E%2E/whoami"},
		{http.MethodGet, "/v1/keys/%2e%2E"},
		{http.MethodPost, "/v1//verify"},
		{http.MethodGet, "/healthz/"},
		{http.MethodPost, "/v1/keys/k1/revoke/"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			s := MustOpenServer(t)
			res := s.do(t, tt.method, tt.path, "")
			p := wantProblem(t, res, http.StatusNotFound, keyward.ENOTFOUND)
			if p.Detail != "No such endpoint." {
				t.Errorf("detail: got %q, want %q", p.Detail, "No such endpoint.")
			}
			if loc := res.header.Get("Location"); loc != "" {
				t.Errorf("Location: got %q, want none", loc)
			}
		})
	}
}

// A key pasted into a path, a query parameter name or a member name, or
// quoted by a failing service, reaches neither the logs nor an answer.
func TestKeyInRequest_Redacted(t *testing.T) {
	key := mustGenerate(t, keyformat.DefaultPrefix)
	shown := keyformat.DisplayPrefix(key) + "…"
	s := MustOpenServer(t)
	s.keys.FindKeyByIDFn = func(ctx context.Context, id string) (*keyward.Key, error) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Key %q not found.", id)
	}
	s.keys.DeleteKeyFn = func(ctx context.Context, id string) (*keyward.Key, error) {
		return nil, errors.New("delete " + id + ": disk on fire")
	}
	s.keys.RevokeKeyFn = func(ctx context.Context, id string) (*keyward.Key, error) {
		panic("cannot revoke " + id)
	}
	calls := []struct {
		method, path, body string
		status             int
	}{
		{http.MethodGet, "/v1/keys/" + key, "", http.StatusNotFound},
		{http.MethodDelete, "/v1/keys/" + key, "", http.StatusInternalServerError},
		{http.MethodPost, "/v1/keys/" + key + "/revoke", "", http.StatusInternalServerError},
		{http.MethodGet, "/v1/keys/" + key + "/nope", "", http.StatusNotFound},
		{http.MethodGet, "/v1//keys/" + key, "", http.StatusNotFound},
		{http.MethodGet, "/v1/keys?" + key, "", http.StatusBadRequest},
		{http.MethodPost, "/v1/verify", `{"` + key + `":1}`, http.StatusBadRequest},
	}
	var bodies []string
	for _, c := range calls {
		res := s.do(t, c.method, c.path, c.body)
		wantStatus(t, res, c.status)
		bodies = append(bodies, string(res.body))
	}
	s.Close()

	secret := key[len(keyformat.DisplayPrefix(key)):]
	for i, body := range append(bodies, s.log.String()) {
		if strings.Contains(body, secret) {
			t.Errorf("%d: holds the key:\n%s", i, body)
		}
	}
	if !strings.Contains(bodies[0], shown) || !strings.Contains(bodies[5], shown) || !strings.Contains(bodies[6], shown) {
		t.Errorf("answers do not name the key by its prefix:\n%s", strings.Join(bodies, ""))
	}
	var paths []any
	for _, line := range s.log.lines(t) {
		switch line["msg"] {
		case "http request":
			paths = append(paths, line["path"])
		case "panic":
			if want := "cannot revoke " + shown; line["panic"] != want || line["path"] != "/v1/keys/"+shown+"/revoke" {
				t.Errorf("panic line: got panic %q path %q, want %q and the redacted path", line["panic"], line["path"], want)
			}
		case "request failed":
			if want := "delete " + shown + ": disk on fire"; line["error"] != want {
				t.Errorf("request failed line: got error %q, want %q", line["error"], want)
			}
		}
	}
	want := []any{"/v1/keys/" + shown, "/v1/keys/" + shown, "/v1/keys/" + shown + "/revoke", "/v1/keys/" + shown + "/nope",
		"/v1//keys/" + shown, "/v1/keys", "/v1/verify"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("access log paths (-want +got):\n%s", diff)
	}
}

// The user agent that services record, in audit rows among others, is at
// most keyward.MaxUserAgentLen bytes of printable text.
func TestRequestInfo_UserAgent(t *testing.T) {
	long := strings.Repeat("é", 1000)
	tests := []struct{ name, in, want string }{
		{"plain", "curl/8.5.0", "curl/8.5.0"},
		{"controls", "evil\x1b[2J\r\x7f\u0085", "evil\uFFFD[2J\uFFFD\uFFFD\uFFFD"},
		{"bidi", "report\u202Egpj.exe\u2066", "report\uFFFDgpj.exe\uFFFD"},
		{"long", long, long[:keyward.MaxUserAgentLen]},
		{"long, cut inside a rune", "a" + long, "a" + long[:keyward.MaxUserAgentLen-2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			var got string
			s.keys.WhoAmIFn = func(ctx context.Context) (*keyward.Key, error) {
				got = keyward.RequestInfoFromContext(ctx).UserAgent
				return testKeyRecord(), nil
			}
			// Through Handler: net/http's own server refuses control
			// characters in headers, but Handler may be mounted anywhere.
			req := httptest.NewRequest(http.MethodGet, "/v1/whoami", nil)
			req.Header.Set("Authorization", "Bearer "+testSecret)
			req.Header.Set("User-Agent", tt.in)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status: got %d, want 200: %s", rec.Code, rec.Body)
			}
			if got != tt.want {
				t.Errorf("user agent: got %q, want %q", got, tt.want)
			}
		})
	}
}
