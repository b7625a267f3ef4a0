package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
	"keyward/mock"
)

// testSecret looks like a real key, so that a leak into logs is easy to
// find and impossible to mistake.
const testSecret = "kw_live_7Hq2ZpX9vLm4Rt8Kw3Nc6Yb1Jd5Fg0Sa2Ue4Wi6Ox8Q1zZ9yY"

// testPrincipal is who testSecret authenticates as.
var testPrincipal = &keyward.Principal{OrgID: "org-1", KeyID: "key-admin", Permissions: []string{"*"}}

// testServer is a Server on 127.0.0.1:0 over mocks, with its log captured.
type testServer struct {
	*Server
	keys     *mock.KeyService
	accounts *mock.ServiceAccountService
	audit    *mock.AuditService
	verifier *mock.VerifyService
	owners   *mock.OwnerService
	org      *mock.OrgService
	usage    *mock.UsageService
	auth     *mock.Authenticator
	log      *syncBuffer
	client   *http.Client
}

// MustOpenServer opens a server whose authenticator accepts testSecret.
func MustOpenServer(tb testing.TB) *testServer {
	tb.Helper()
	s := &testServer{
		keys:     &mock.KeyService{},
		accounts: &mock.ServiceAccountService{},
		audit:    &mock.AuditService{},
		verifier: &mock.VerifyService{},
		owners:   &mock.OwnerService{},
		org:      &mock.OrgService{},
		usage:    &mock.UsageService{},
		auth: &mock.Authenticator{AuthenticateFn: func(ctx context.Context, key string, remoteIP netip.Addr) (*keyward.Principal, error) {
			if key != testSecret {
				return nil, keyward.Errorf(keyward.EUNAUTHORIZED, "Unknown key.")
			}
			return testPrincipal, nil
		}},
		log:    &syncBuffer{},
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	s.Server = &Server{
		Addr:            "127.0.0.1:0",
		Keys:            s.keys,
		ServiceAccounts: s.accounts,
		Audit:           s.audit,
		Verifier:        s.verifier,
		Owners:          s.owners,
		Org:             s.org,
		Usage:           s.usage,
		Auth:            s.auth,
		// Debug, so that tests see the access log of verifications too.
		Logger: slog.New(slog.NewJSONHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if err := s.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// response is an answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request authenticated with testSecret; a body is sent as
// application/json. Options change the request before it is sent.
func (s *testServer) do(tb testing.TB, method, path, body string, opts ...func(*http.Request)) response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testSecret)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, opt := range opts {
		opt(req)
	}
	res, err := s.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// header sets a request header; an empty value removes it.
func header(name, value string) func(*http.Request) {
	return func(r *http.Request) {
		if value == "" {
			r.Header.Del(name)
			return
		}
		r.Header.Set(name, value)
	}
}

// wantStatus fails unless res has the status.
func wantStatus(tb testing.TB, res response, want int) {
	tb.Helper()
	if res.status != want {
		tb.Fatalf("status: got %d, want %d; body %s", res.status, want, res.body)
	}
}

// decodeResponse decodes a 2xx JSON answer.
func decodeResponse[T any](tb testing.TB, res response) T {
	tb.Helper()
	if ct := res.header.Get("Content-Type"); ct != jsonType {
		tb.Errorf("Content-Type: got %q, want %q", ct, jsonType)
	}
	var v T
	if err := json.Unmarshal(res.body, &v); err != nil {
		tb.Fatalf("decode %s: %v", res.body, err)
	}
	return v
}

// decodeProblem decodes a problem answer and checks the members that every
// problem must have right.
func decodeProblem(tb testing.TB, res response) problem {
	tb.Helper()
	if ct := res.header.Get("Content-Type"); ct != problemType {
		tb.Errorf("Content-Type: got %q, want %q", ct, problemType)
	}
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	var p problem
	if err := dec.Decode(&p); err != nil {
		tb.Fatalf("decode problem %s: %v", res.body, err)
	}
	if p.Status != res.status {
		tb.Errorf("problem status: got %d, want %d", p.Status, res.status)
	}
	if want := http.StatusText(res.status); p.Title != want {
		tb.Errorf("problem title: got %q, want %q", p.Title, want)
	}
	if p.Type != "about:blank" {
		tb.Errorf("problem type: got %q, want about:blank", p.Type)
	}
	if id := res.header.Get(requestIDHeader); p.RequestID == "" || p.RequestID != id {
		tb.Errorf("problem request_id: got %q, want the X-Request-Id header %q", p.RequestID, id)
	}
	return p
}

// wantProblem checks the status, code and invalid fields of a problem.
func wantProblem(tb testing.TB, res response, status int, code string, fields ...string) problem {
	tb.Helper()
	wantStatus(tb, res, status)
	p := decodeProblem(tb, res)
	if p.Code != code {
		tb.Errorf("problem code: got %q, want %q", p.Code, code)
	}
	var got []string
	for _, f := range p.Errors {
		got = append(got, f.Field)
	}
	if diff := cmp.Diff(fields, got); diff != "" {
		tb.Errorf("problem fields (-want +got):\n%s\ndetail: %s", diff, p.Detail)
	}
	return p
}

// checkContext fails unless ctx holds the test principal and the request
// info of a request made by do.
func checkContext(tb testing.TB, ctx context.Context) {
	tb.Helper()
	if got := keyward.PrincipalFromContext(ctx); got != testPrincipal {
		tb.Errorf("principal: got %+v, want %+v", got, testPrincipal)
	}
	info := keyward.RequestInfoFromContext(ctx)
	if info.RequestID == "" {
		tb.Error("request info: no request id")
	}
	if want := netip.MustParseAddr("127.0.0.1"); info.RemoteIP != want {
		tb.Errorf("request info remote IP: got %v, want %v", info.RemoteIP, want)
	}
	if !strings.HasPrefix(info.UserAgent, "Go-http-client/") {
		tb.Errorf("request info user agent: got %q, want Go's", info.UserAgent)
	}
}

// syncBuffer is a log destination that the server's goroutines share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the JSON log records written so far.
func (b *syncBuffer) lines(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for line := range strings.Lines(b.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			tb.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// testTime is a fixed instant for records.
var testTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testKeyRecord returns a key record with every field set.
func testKeyRecord() *keyward.Key {
	used := testTime.Add(time.Hour)
	expires := testTime.Add(30 * 24 * time.Hour)
	return &keyward.Key{
		ID:                "01950000-0000-7000-8000-000000000001",
		OrgID:             "org-1",
		Name:              "ci",
		Description:       "deploys",
		KeyPrefix:         "kw_live_7Hq2ZpX9",
		Permissions:       []string{"nodes.read.own"},
		AllowedIPs:        []string{"10.0.0.0/8"},
		ExpiresAt:         &expires,
		Enabled:           true,
		Metadata:          json.RawMessage(`{"team":"infra"}`),
		OwnerID:           "user-42",
		CreatedAt:         testTime,
		UpdatedAt:         testTime,
		CreatedBy:         "key-admin",
		LastUsedAt:        &used,
		LastUsedIP:        "10.1.2.3",
		LastUsedUserAgent: "curl/8",
		RateLimits:        []keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}},
		Credits: &keyward.Credits{
			Remaining:  900,
			Refill:     &keyward.CreditRefill{Amount: 1000, Interval: keyward.RefillMonthly, Day: 1},
			RefilledAt: &testTime,
		},
		RotatedFrom: "01950000-0000-7000-8000-000000000000",
		RotatedTo:   "01950000-0000-7000-8000-000000000002",
	}
}

func TestServer_URL(t *testing.T) {
	s := MustOpenServer(t)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || strings.HasSuffix(s.URL(), ":0") {
		t.Errorf("URL: got %q, want http://127.0.0.1:<port>", s.URL())
	}
	if got := (&Server{}).URL(); got != "" {
		t.Errorf("URL before Open: got %q, want empty", got)
	}
}

func TestServer_CloseWithoutOpen(t *testing.T) {
	if err := (&Server{}).Close(); err != nil {
		t.Errorf("Close before Open: got %v, want nil", err)
	}
}

func TestServer_OpenBadAddr(t *testing.T) {
	s := &Server{Addr: "127.0.0.1:-1"}
	if err := s.Open(); err == nil {
		s.Close()
		t.Error("Open: got nil error for a bad address")
	}
}

// Headers are bounded well below net/http's 1 MB default, and the server
// cuts off clients that send slowly (slowloris) or idle forever.
func TestServer_Limits(t *testing.T) {
	s := MustOpenServer(t)
	s.keys.WhoAmIFn = func(ctx context.Context) (*keyward.Key, error) {
		return testKeyRecord(), nil
	}
	wantStatus(t, s.do(t, http.MethodGet, "/v1/whoami", "", header("X-Padding", strings.Repeat("a", 16<<10))), http.StatusOK)
	wantStatus(t, s.do(t, http.MethodGet, "/v1/whoami", "", header("X-Padding", strings.Repeat("a", 100<<10))), http.StatusRequestHeaderFieldsTooLarge)
	if s.srv.ReadHeaderTimeout <= 0 || s.srv.ReadTimeout <= 0 || s.srv.IdleTimeout <= 0 {
		t.Errorf("timeouts: ReadHeaderTimeout %v, ReadTimeout %v, IdleTimeout %v; want all set",
			s.srv.ReadHeaderTimeout, s.srv.ReadTimeout, s.srv.IdleTimeout)
	}
}
