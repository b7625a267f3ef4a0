package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"keyward"
)

// The health routes answer without a key: orchestrators have none.
func TestHealthz(t *testing.T) {
	s := MustOpenServer(t)
	res := s.do(t, http.MethodGet, "/healthz", "", header("Authorization", ""))
	wantStatus(t, res, http.StatusOK)
	if got := decodeResponse[status](t, res); got.Status != "ok" {
		t.Errorf("status: got %q, want ok", got.Status)
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name   string
		ready  func(context.Context) error
		status int
	}{
		{"no check", nil, http.StatusOK},
		{"ready", func(context.Context) error { return nil }, http.StatusOK},
		{"not ready", func(context.Context) error { return errors.New("dial tcp 10.9.8.7:5432: connection refused") }, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			s.Ready = tt.ready
			res := s.do(t, http.MethodGet, "/readyz", "", header("Authorization", ""))
			if tt.status == http.StatusOK {
				wantStatus(t, res, http.StatusOK)
				return
			}
			wantProblem(t, res, tt.status, keyward.EUNAVAILABLE)
			if strings.Contains(string(res.body), "10.9.8.7") {
				t.Errorf("body leaks the reason: %s", res.body)
			}
			s.Close()
			if !strings.Contains(s.log.String(), "connection refused") {
				t.Errorf("log lacks the reason:\n%s", s.log)
			}
		})
	}
}

func TestOpenAPIRoute(t *testing.T) {
	s := MustOpenServer(t)
	res := s.do(t, http.MethodGet, "/openapi.json", "", header("Authorization", ""))
	wantStatus(t, res, http.StatusOK)
	doc := decodeResponse[map[string]any](t, res)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi: got %v, want 3.1.0", doc["openapi"])
	}
}

// /metrics is public when a handler is set, for scrapers hold no key, and
// otherwise answers 404 like any path that the server does not serve.
func TestMetrics(t *testing.T) {
	s := MustOpenServer(t)
	wantProblem(t, s.do(t, http.MethodGet, "/metrics", "", header("Authorization", "")), http.StatusNotFound, keyward.ENOTFOUND)

	s.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "keyward_verifications_total 3\n")
	})
	res := s.do(t, http.MethodGet, "/metrics", "", header("Authorization", ""))
	wantStatus(t, res, http.StatusOK)
	if got, want := string(res.body), "keyward_verifications_total 3\n"; got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}
	if ct := res.header.Get("Content-Type"); ct != "text/plain; version=0.0.4" {
		t.Errorf("Content-Type: got %q, want the handler's", ct)
	}
	wantProblem(t, s.do(t, http.MethodGet, "/metrics?name=x", ""), http.StatusBadRequest, keyward.EINVALID, "name")
	wantProblem(t, s.do(t, http.MethodPost, "/metrics", ""), http.StatusMethodNotAllowed, keyward.EMETHOD)
}
