package harness_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"keyward/bench/internal/harness"
)

func TestTable(t *testing.T) {
	var tab harness.Table
	tab.Row("conns", "req/s", "p99 ms")
	tab.Row(8, "41000", 1.5)
	tab.Row("cold 32", "", 12.25)
	var b strings.Builder
	if _, err := tab.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"conns    req/s  p99 ms\n" +
		"8        41000    1.50\n" +
		"cold 32          12.25\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestRunWrk runs wrk with a script that counts by thread, and checks the
// figures that the harness's done() prints and RunWrk reads.
func TestRunWrk(t *testing.T) {
	if harness.CheckWrk() != nil {
		t.Skip("wrk is not installed")
	}
	var requests, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1)%10 == 0 {
			bad.Add(1)
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	script, err := harness.WriteScript(t.TempDir(), "count.lua", `
counters = { sent = 0 }
function request()
  counters.sent = counters.sent + 1
  counters["thread" .. thread_id] = 1
  return wrk.format("GET", "/")
end`)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(script)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("script mode %v, want %v", got, want)
	}
	res, err := harness.RunWrk(t.Context(), harness.Load{URL: srv.URL, Script: script, Threads: 2, Connections: 4, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.RPS <= 0 || res.Seconds <= 0 {
		t.Errorf("got %d requests in %.2f s (%.0f/s), want some", res.Requests, res.Seconds, res.RPS)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
		t.Errorf("got p50 %v, p99 %v, max %v ms, want 0 < p50 <= p99 <= max", res.P50, res.P99, res.Max)
	}
	// The server may have answered a few requests more than wrk counted
	// before it stopped.
	if res.Non2xx == 0 || res.Non2xx > bad.Load() {
		t.Errorf("got %d non-2xx, want between 1 and %d", res.Non2xx, bad.Load())
	}
	if !res.Failed() {
		t.Errorf("Failed() = false with %d non-2xx", res.Non2xx)
	}
	if got, want := res.Counters["thread0"]+res.Counters["thread1"], int64(2); got != want {
		t.Errorf("got counters %v, want thread0 and thread1 (each thread its own thread_id)", res.Counters)
	}
	if res.Counters["sent"] < res.Requests {
		t.Errorf("counted %d requests sent, wrk %d answered", res.Counters["sent"], res.Requests)
	}
}

func TestRunWrkScriptError(t *testing.T) {
	if harness.CheckWrk() != nil {
		t.Skip("wrk is not installed")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	script, err := harness.WriteScript(t.TempDir(), "bad.lua", `function init(args) error("no such file") end`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = harness.RunWrk(t.Context(), harness.Load{URL: srv.URL, Script: script, Threads: 1, Connections: 1, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("RunWrk() = %v, want the script's error", err)
	}
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	if err := harness.WriteJSON(path, nil, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "{\n  \"a\": 1\n}\n"; got != want {
		t.Errorf("file holds %q, want %q", got, want)
	}
	var stdout strings.Builder
	if err := harness.WriteJSON("-", &stdout, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if got, want := stdout.String(), "{\n  \"a\": 1\n}\n"; got != want {
		t.Errorf("stdout got %q, want %q", got, want)
	}
}
