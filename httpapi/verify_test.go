package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// Verify answers 200 whatever the verdict: a caller tells valid from not
// by the answer's code, and a 4xx means its own request was malformed.
func TestVerify(t *testing.T) {
	tests := []struct {
		name   string
		result *keyward.VerifyResult
	}{
		{"valid", &keyward.VerifyResult{Valid: true, Code: keyward.CodeValid, KeyID: "k1", Name: "ci", OwnerID: "u1",
			Permissions: []string{"nodes.read"}, Metadata: json.RawMessage(`{"a":1}`), ExpiresAt: &testTime}},
		{"not found", &keyward.VerifyResult{Code: keyward.CodeNotFound}},
		{"revoked", &keyward.VerifyResult{Code: keyward.CodeRevoked, KeyID: "k1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			var got keyward.VerifyRequest
			s.verifier.VerifyFn = func(ctx context.Context, req keyward.VerifyRequest) (*keyward.VerifyResult, error) {
				checkContext(t, ctx)
				got = req
				return tt.result, nil
			}
			body := `{"key":"kw_live_presented","permissions":"nodes.read","ip":"10.0.0.1","user_agent":"app/1"}`
			res := s.do(t, http.MethodPost, "/v1/verify", body)
			wantStatus(t, res, http.StatusOK)
			want := keyward.VerifyRequest{Key: "kw_live_presented", Permissions: "nodes.read", IP: "10.0.0.1", UserAgent: "app/1"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			// Compare wire forms: the answer writes absent lists and metadata
			// as [] and {}, which decode back as non-nil.
			wantAnswer, _ := json.Marshal(tt.result)
			answer, _ := json.Marshal(decodeResponse[*keyward.VerifyResult](t, res))
			if diff := cmp.Diff(string(wantAnswer), string(answer)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

// Verify reads the cost and the limits to apply, and answers the state of
// the limits and the credits, whatever the verdict.
func TestVerify_UsageControl(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   keyward.VerifyRequest
		result *keyward.VerifyResult
	}{
		{"defaults", `{"key":"k"}`, keyward.VerifyRequest{Key: "k"},
			&keyward.VerifyResult{Valid: true, Code: keyward.CodeValid, KeyID: "k1",
				RateLimits: []keyward.RateLimitState{{Name: "default", Limit: 100, Remaining: 99, Reset: testTime}},
				Credits:    &keyward.CreditsState{Remaining: 41}}},
		{"costs", `{"key":"k","cost":5,"rate_limits":[{"name":"default","cost":2},{"name":"burst"}]}`,
			keyward.VerifyRequest{Key: "k", Cost: new(int64(5)), RateLimits: []keyward.RateLimitUse{{Name: "default", Cost: new(int64(2))}, {Name: "burst"}}},
			&keyward.VerifyResult{Code: keyward.CodeRateLimited, KeyID: "k1",
				RateLimits: []keyward.RateLimitState{{Name: "default", Limit: 100, Remaining: 1, Reset: testTime}, {Name: "burst", Limit: 10, Reset: testTime}}}},
		{"check only", `{"key":"k","cost":0,"rate_limits":[{"name":"default","cost":0}]}`,
			keyward.VerifyRequest{Key: "k", Cost: new(int64(0)), RateLimits: []keyward.RateLimitUse{{Name: "default", Cost: new(int64(0))}}},
			&keyward.VerifyResult{Code: keyward.CodeUsageExceeded, KeyID: "k1", Credits: &keyward.CreditsState{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			var got keyward.VerifyRequest
			s.verifier.VerifyFn = func(ctx context.Context, req keyward.VerifyRequest) (*keyward.VerifyResult, error) {
				got = req
				return tt.result, nil
			}
			res := s.do(t, http.MethodPost, "/v1/verify", tt.body)
			wantStatus(t, res, http.StatusOK)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			wantAnswer, _ := json.Marshal(tt.result)
			answer, _ := json.Marshal(decodeResponse[*keyward.VerifyResult](t, res))
			if diff := cmp.Diff(string(wantAnswer), string(answer)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

// A NOT_FOUND answer carries only valid and code: nothing about the key.
func TestVerify_NotFoundShape(t *testing.T) {
	s := MustOpenServer(t)
	s.verifier.VerifyFn = func(ctx context.Context, req keyward.VerifyRequest) (*keyward.VerifyResult, error) {
		return &keyward.VerifyResult{Code: keyward.CodeNotFound}, nil
	}
	res := s.do(t, http.MethodPost, "/v1/verify", `{"key":"nope"}`)
	wantStatus(t, res, http.StatusOK)
	if got, want := string(res.body), `{"valid":false,"code":"NOT_FOUND"}`+"\n"; got != want {
		t.Errorf("body: got %s, want %s", got, want)
	}
}

func TestVerify_InvalidRequest(t *testing.T) {
	s := MustOpenServer(t)
	s.verifier.VerifyFn = func(ctx context.Context, req keyward.VerifyRequest) (*keyward.VerifyResult, error) {
		return nil, keyward.Invalid(keyward.FieldError{Field: "ip", Message: "not an IP address"})
	}
	p := wantProblem(t, s.do(t, http.MethodPost, "/v1/verify", `{"key":"k","ip":"x"}`), http.StatusBadRequest, keyward.EINVALID, "ip")
	if want := []keyward.FieldError{{Field: "ip", Message: "not an IP address"}}; !cmp.Equal(p.Errors, want) {
		t.Errorf("errors: got %+v, want %+v", p.Errors, want)
	}
}

// BenchmarkVerify measures the transport's share of a verification: the
// middleware, one decode and one encode around a verifier that does nothing.
// "limits" adds a cost and named limits to the request and their state to
// the answer: the nested members that the decoder also checks.
func BenchmarkVerify(b *testing.B) {
	const key = "kw_live_7Hq2ZpX9vLm4Rt8Kw3Nc6Yb1Jd5Fg0Sa2Ue4Wi6Ox8Q1zZ9yY"
	benchmarks := []struct {
		name   string
		body   string
		result *keyward.VerifyResult
	}{
		{"plain", `{"key":"` + key + `","permissions":"nodes.read"}`,
			&keyward.VerifyResult{Valid: true, Code: keyward.CodeValid, KeyID: "k1", Name: "ci", Permissions: []string{"nodes.read"}}},
		{"limits", `{"key":"` + key + `","permissions":"nodes.read","cost":2,"rate_limits":[{"name":"default","cost":2}]}`,
			&keyward.VerifyResult{Valid: true, Code: keyward.CodeValid, KeyID: "k1", Name: "ci", Permissions: []string{"nodes.read"},
				RateLimits: []keyward.RateLimitState{{Name: "default", Limit: 100, Remaining: 98, Reset: testTime}},
				Credits:    &keyward.CreditsState{Remaining: 40}}},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			s := MustOpenServer(b)
			s.Logger = slog.New(slog.DiscardHandler)
			s.verifier.VerifyFn = func(ctx context.Context, req keyward.VerifyRequest) (*keyward.VerifyResult, error) {
				return bm.result, nil
			}
			h := s.Handler()
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(bm.body))
				req.Header.Set("Authorization", "Bearer "+testSecret)
				req.Header.Set("Content-Type", jsonType)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
