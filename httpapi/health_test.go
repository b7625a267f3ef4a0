package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

// errUnreachable is what a failing check returns: internals that the log
// gets and the answer must not.
var errUnreachable = errors.New("dial tcp 10.9.8.7:5432: connection refused")

// check returns a readiness check that fails with errUnreachable unless ok.
func check(name string, ok, optional bool) Check {
	return Check{Name: name, Optional: optional, Check: func(context.Context) error {
		if ok {
			return nil
		}
		return errUnreachable
	}}
}

// A required check that fails answers 503 with the usual problem members
// and the checks; an optional one that fails answers 200 "degraded".
func TestReadyz(t *testing.T) {
	tests := []struct {
		name       string
		checks     []Check
		wantStatus int
		wantReady  string // status member of a 200
		wantDetail string // detail member of a 503
		wantChecks map[string]string
	}{
		{"no checks", nil, http.StatusOK, "ok", "", map[string]string{}},
		{"all pass", []Check{check("database", true, false), check("redis", true, true)},
			http.StatusOK, "ok", "", map[string]string{"database": "ok", "redis": "ok"}},
		{"optional fails", []Check{check("database", true, false), check("change_feed", true, false), check("redis", false, true)},
			http.StatusOK, "degraded", "", map[string]string{"database": "ok", "change_feed": "ok", "redis": "unreachable"}},
		{"required fails", []Check{check("database", true, false), check("change_feed", false, false), check("redis", true, true)},
			http.StatusServiceUnavailable, "", "Not ready: change_feed unreachable.",
			map[string]string{"database": "ok", "change_feed": "unreachable", "redis": "ok"}},
		{"required ones fail", []Check{check("database", false, false), check("change_feed", false, false)},
			http.StatusServiceUnavailable, "", "Not ready: database unreachable, change_feed unreachable.",
			map[string]string{"database": "unreachable", "change_feed": "unreachable"}},
		{"required and optional fail", []Check{check("database", false, false), check("redis", false, true)},
			http.StatusServiceUnavailable, "", "Not ready: database unreachable, redis unreachable.",
			map[string]string{"database": "unreachable", "redis": "unreachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			s.Checks = tt.checks
			res := s.do(t, http.MethodGet, "/readyz", "", header("Authorization", ""))
			wantStatus(t, res, tt.wantStatus)
			var gotChecks map[string]string
			if tt.wantStatus == http.StatusOK {
				got := decodeResponse[readiness](t, res)
				if got.Status != tt.wantReady {
					t.Errorf("status: got %q, want %q", got.Status, tt.wantReady)
				}
				gotChecks = got.Checks
			} else {
				got := decodeNotReady(t, res, tt.wantDetail)
				gotChecks = got.Checks
			}
			if diff := cmp.Diff(tt.wantChecks, gotChecks); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
			if strings.Contains(string(res.body), "10.9.8.7") {
				t.Errorf("body leaks the reason: %s", res.body)
			}
			s.Close()
			failing := slices.Contains(slices.Collect(maps.Values(tt.wantChecks)), checkFailed)
			if got := strings.Contains(s.log.String(), "connection refused"); got != failing {
				t.Errorf("log holds the reason: got %v, want %v; log:\n%s", got, failing, s.log)
			}
		})
	}
}

// decodeNotReady decodes a 503 readiness answer: a problem document of
// code unavailable whose detail is detail, with the checks and no other
// member.
func decodeNotReady(tb testing.TB, res response, detail string) notReady {
	tb.Helper()
	if ct := res.header.Get("Content-Type"); ct != problemType {
		tb.Errorf("Content-Type: got %q, want %q", ct, problemType)
	}
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	var got notReady
	if err := dec.Decode(&got); err != nil {
		tb.Fatalf("decode %s: %v", res.body, err)
	}
	want := problem{Type: "about:blank", Title: "Service Unavailable", Status: http.StatusServiceUnavailable,
		Detail: detail, Code: keyward.EUNAVAILABLE, RequestID: res.header.Get("X-Request-Id")}
	if diff := cmp.Diff(want, got.problem); diff != "" || want.RequestID == "" {
		tb.Errorf("problem (-want +got):\n%s", diff)
	}
	return got
}

// Readiness is computed per request: a node whose dependency comes back is
// ready again without anything else happening.
func TestReadyzRecovers(t *testing.T) {
	s := MustOpenServer(t)
	var up atomic.Bool
	s.Checks = []Check{{Name: "database", Check: func(context.Context) error {
		if up.Load() {
			return nil
		}
		return errUnreachable
	}}}
	wantStatus(t, s.do(t, http.MethodGet, "/readyz", ""), http.StatusServiceUnavailable)
	up.Store(true)
	wantStatus(t, s.do(t, http.MethodGet, "/readyz", ""), http.StatusOK)
}

// A check's change of state is logged once: a warning with the error when
// it starts to fail, a note when it passes again, and nothing while it
// stays as it was, however often a load balancer probes.
func TestReadyzLogsChanges(t *testing.T) {
	s := MustOpenServer(t)
	var up atomic.Bool
	up.Store(true)
	s.Checks = []Check{{Name: "database", Check: func(context.Context) error {
		if up.Load() {
			return nil
		}
		return errUnreachable
	}}}
	type line struct{ Level, Msg, Check, Error string }
	var want []line
	for _, tt := range []struct {
		up    bool
		probe int
		logs  []line
	}{
		{true, 2, nil},
		{false, 3, []line{{"WARN", "readiness check failed", "database", errUnreachable.Error()}}},
		{true, 2, []line{{"INFO", "readiness check passes again", "database", ""}}},
		{false, 1, []line{{"WARN", "readiness check failed", "database", errUnreachable.Error()}}},
	} {
		up.Store(tt.up)
		for range tt.probe {
			s.do(t, http.MethodGet, "/readyz", "")
		}
		want = append(want, tt.logs...)
	}
	s.Close()
	var got []line
	for _, l := range s.log.lines(t) {
		if l["msg"] != "http request" {
			got = append(got, line{Level: str(l["level"]), Msg: str(l["msg"]), Check: str(l["check"]), Error: str(l["error"])})
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines other than the access log (-want +got):\n%s", diff)
	}
}

// str returns v if it is a string, else "".
func str(v any) string {
	s, _ := v.(string)
	return s
}

// The checks run at once, so that slow dependencies do not add up to more
// than a load balancer's probe waits.
func TestReadyzChecksConcurrently(t *testing.T) {
	s := MustOpenServer(t)
	var started atomic.Int32
	both := make(chan struct{})
	wait := func(context.Context) error {
		if started.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("the other check did not start meanwhile")
		}
	}
	s.Checks = []Check{{Name: "database", Check: wait}, {Name: "change_feed", Check: wait}}
	wantStatus(t, s.do(t, http.MethodGet, "/readyz", ""), http.StatusOK)
}

// The readiness bodies have exactly the members that openapi.json names.
func TestReadyzMatchesOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, tt := range []struct {
		schema string
		value  any
	}{
		{"Readiness", readiness{Status: readyOK, Checks: map[string]string{"database": readyOK}}},
		{"NotReady", notReady{problem: problem{Errors: []keyward.FieldError{{}}}, Checks: map[string]string{"database": checkFailed}}},
	} {
		b, err := json.Marshal(tt.value)
		if err != nil {
			t.Fatal(err)
		}
		var members map[string]any
		if err := json.Unmarshal(b, &members); err != nil {
			t.Fatal(err)
		}
		doc.matchMembers(t, tt.schema, members, doc.Components.Schemas[tt.schema])
	}
	status := doc.resolve(t, doc.properties(t, doc.Components.Schemas["Readiness"])["status"])
	if diff := cmp.Diff([]string{readyDegraded, readyOK}, slices.Sorted(slices.Values(status.Enum))); diff != "" {
		t.Errorf("Readiness.status enum (-Go +schema):\n%s", diff)
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
