// Package compattest starts a real Keyward stack (an in-memory SQLite
// store, the verify engine, the services and the REST API) with
// compatibility profiles mounted, for the profiles' black-box tests.
package compattest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keyward"
	"keyward/httpapi"
	"keyward/keyformat"
	"keyward/service"
	"keyward/sqlite"
	"keyward/verify"
)

// Env is a running server.
type Env struct {
	// URL is the server's base URL; profiles live under URL+prefix.
	URL string
	// RootKey holds "*" in Org.
	RootKey string
	Org     *keyward.Organization
	Service *service.Service
	Engine  *verify.Engine
	DB      *sqlite.DB
	// Logs holds everything the server logged.
	Logs *Buffer

	mu   sync.Mutex
	skew time.Duration
}

// Now is the server's clock: the real time plus every Advance.
func (e *Env) Now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Now().Add(e.skew)
}

// Advance moves the server's clock forward by d, so that tests can expire
// keys without sleeping.
func (e *Env) Advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.skew += d
}

// Buffer is a goroutine-safe bytes.Buffer.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start serves the REST API with mounts, on a fresh store holding one org
// and its root key. mounts builds the profiles from the services, so that
// they use the same ones as /v1.
func Start(tb testing.TB, mounts func(e *Env, logger *slog.Logger) []httpapi.Mount) *Env {
	tb.Helper()
	db := sqlite.NewDB(":memory:")
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	e := &Env{DB: db, Logs: &Buffer{}}
	logger := slog.New(slog.NewTextHandler(e.Logs, nil))
	e.Engine = verify.New(verify.Config{Store: db, Hasher: keyformat.NewHasher(nil), Now: e.Now, Logger: logger})
	e.Service = service.New(service.Config{Store: db, Engine: e.Engine, Now: e.Now})
	org, root, err := e.Service.CreateOrg(context.Background(), "compat-"+strings.ReplaceAll(tb.Name(), "/", "-"))
	if err != nil {
		tb.Fatal(err)
	}
	e.Org, e.RootKey = org, root.Secret
	s := &httpapi.Server{
		Keys:            e.Service,
		ServiceAccounts: e.Service,
		Audit:           e.Service,
		Verifier:        e.Service,
		Auth:            e.Engine,
		Logger:          logger,
	}
	s.Mounts = mounts(e, logger)
	ts := httptest.NewServer(s.Handler())
	e.URL = ts.URL
	tb.Cleanup(func() {
		ts.Close()
		e.Engine.Close()
		db.Close()
	})
	return e
}

// Response is an answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value, failing the test if it is
// not JSON.
func (r *Response) JSON(tb testing.TB) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		tb.Fatalf("answer is not JSON: %v\n%s", err, r.Body)
	}
	return v
}

// Do sends a request with a JSON body (nil for none) and the given
// headers, and reads the answer.
func (e *Env) Do(tb testing.TB, method, path string, body any, header map[string]string) *Response {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// CreateKey creates a key in the org through the service, as the root key,
// and returns its secret.
func (e *Env) CreateKey(tb testing.TB, in keyward.KeyCreate) *keyward.CreatedKey {
	tb.Helper()
	k, err := e.Service.CreateKey(e.asRoot(tb), in)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// OtherOrg creates a second org and returns its root key, for isolation
// tests.
func (e *Env) OtherOrg(tb testing.TB) string {
	tb.Helper()
	_, root, err := e.Service.CreateOrg(context.Background(), e.Org.Name+"-other")
	if err != nil {
		tb.Fatal(err)
	}
	return root.Secret
}

// Verify calls POST /v1/verify as the root key and returns the answer.
func (e *Env) Verify(tb testing.TB, key string, permissions string) *keyward.VerifyResult {
	tb.Helper()
	body := map[string]any{"key": key}
	if permissions != "" {
		body["permissions"] = permissions
	}
	resp := e.Do(tb, http.MethodPost, "/v1/verify", body, map[string]string{"Authorization": "Bearer " + e.RootKey})
	if resp.Status != http.StatusOK {
		tb.Fatalf("verify: status %d: %s", resp.Status, resp.Body)
	}
	var res keyward.VerifyResult
	if err := json.Unmarshal(resp.Body, &res); err != nil {
		tb.Fatalf("verify answer: %v\n%s", err, resp.Body)
	}
	return &res
}

// AuditActions lists the org's audit actions, newest first.
func (e *Env) AuditActions(tb testing.TB) []string {
	tb.Helper()
	page, err := e.Service.FindAuditEvents(e.asRoot(tb), keyward.AuditFilter{Limit: keyward.MaxPageLimit})
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, ev := range page.Data {
		out = append(out, ev.Action)
	}
	return out
}

// CountKeys returns how many live keys the org has, the root key included.
func (e *Env) CountKeys(tb testing.TB) int {
	tb.Helper()
	page, err := e.Service.FindKeys(e.asRoot(tb), keyward.KeyFilter{Limit: keyward.MaxPageLimit})
	if err != nil {
		tb.Fatal(err)
	}
	return len(page.Data)
}

func (e *Env) asRoot(tb testing.TB) context.Context {
	tb.Helper()
	p, err := e.Engine.Authenticate(context.Background(), e.RootKey, netip.Addr{})
	if err != nil {
		tb.Fatal(err)
	}
	return keyward.NewContextWithPrincipal(context.Background(), p)
}

// Normalize replaces the values of the named members, anywhere in v, with
// "<name>" when they are present and not null, so that answers with ids,
// times and secrets compare with golden files.
func Normalize(v any, names ...string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if val != nil && slices.Contains(names, k) {
				x[k] = "<" + k + ">"
				continue
			}
			x[k] = Normalize(val, names...)
		}
	case []any:
		for i := range x {
			x[i] = Normalize(x[i], names...)
		}
	}
	return v
}

// Within reports whether t is within d of now, for checking timestamps.
func Within(t time.Time, d time.Duration) bool {
	return time.Since(t).Abs() <= d
}

// PanickingKeys is a KeyService whose FindKeys panics, so that a test can
// see how a panic under a profile is answered.
type PanickingKeys struct {
	keyward.KeyService
}

// FindKeys panics.
func (PanickingKeys) FindKeys(context.Context, keyward.KeyFilter) (keyward.Page[*keyward.Key], error) {
	panic("store exploded")
}

// UnservedPaths returns paths under prefix that the server answers 404
// without reaching the profile, each a variant of path, one of the
// profile's routes: the bare prefix, and paths not in canonical form (a
// trailing slash, an empty, "." or ".." segment).
func UnservedPaths(prefix, path string) []string {
	rest := strings.TrimPrefix(path, prefix)
	return []string{prefix, path + "/", prefix + "/" + rest, prefix + "/." + rest, prefix + "/x/.." + rest, path + "/.."}
}
