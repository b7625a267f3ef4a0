package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"keyward/bench/internal/harness"
	"keyward/keyformat"
)

func TestMixPattern(t *testing.T) {
	tests := []struct {
		mix  mix
		want string
	}{
		{mix{90, 8, 2}, "hhhhhrhhhhhhhhhhrhhhhhhhhihhhhhhhrhhhhhhhhhhrhhhhh"},
		{mix{100, 0, 0}, "h"},
		{mix{0, 100, 0}, "r"},
		{mix{50, 25, 25}, "hrih"},
	}
	for _, tt := range tests {
		t.Run(tt.mix.String(), func(t *testing.T) {
			if got := tt.mix.pattern(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    mix
		wantErr bool
	}{
		{"90,8,2", mix{90, 8, 2}, false},
		{"100, 0, 0", mix{100, 0, 0}, false},
		{"90,8", mix{}, true},
		{"90,8,3", mix{}, true},
		{"110,-8,-2", mix{}, true},
		{"a,b,c", mix{}, true},
	}
	for _, tt := range tests {
		got, err := parseMix(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseMix(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestInvalidKeys(t *testing.T) {
	keys, err := invalidKeys(100)
	if err != nil {
		t.Fatal(err)
	}
	wellFormed := 0
	for _, k := range keys {
		if _, ok := keyformat.Parse(k); ok {
			wellFormed++
		}
	}
	if got, want := wellFormed, 50; got != want {
		t.Errorf("got %d well-formed keys of 100, want %d", got, want)
	}
}

// TestMixScript runs mix.lua through wrk against a server that records
// the keys it gets, and checks that the threads share the sample without
// overlap: no key is sent twice unless the script counted a repeat.
func TestMixScript(t *testing.T) {
	if harness.CheckWrk() != nil {
		t.Skip("wrk is not installed")
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		auth = map[string]bool{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Key string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[req.Key]++
		auth[r.Header.Get("Authorization")] = true
		mu.Unlock()
	}))
	defer srv.Close()

	dir := t.TempDir()
	c := &config{threads: 2, warmup: time.Second, duration: time.Second}
	w := &workload{
		bearer:     filepath.Join(dir, "bearer"),
		hot:        filepath.Join(dir, "hot"),
		sample:     filepath.Join(dir, "sample"),
		coldSample: filepath.Join(dir, "cold"),
		invalid:    filepath.Join(dir, "invalid"),
	}
	var sample []string
	for i := range 5000 {
		sample = append(sample, fmt.Sprintf("sample_%d", i))
	}
	w.sampled = len(sample)
	files := map[string][]string{w.bearer: {"bearer_key"}, w.hot: {"hot_1", "hot_2"}, w.sample: sample, w.invalid: {"invalid_1"}}
	for path, keys := range files {
		if err := writeKeys(path, keys); err != nil {
			t.Fatal(err)
		}
	}
	script, err := harness.WriteScript(dir, "mix.lua", mixScript)
	if err != nil {
		t.Fatal(err)
	}
	args := w.args(c, "r")
	res, err := harness.RunWrk(t.Context(), harness.Load{URL: srv.URL, Script: script, Args: args[1], Threads: 2, Connections: 4, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() {
		t.Fatalf("got %d non-2xx, %d socket errors", res.Non2xx, res.SocketErrors)
	}
	mu.Lock()
	defer mu.Unlock()
	if !auth["Bearer bearer_key"] || len(auth) != 1 {
		t.Errorf("got Authorization headers %v, want only the bearer file's key", auth)
	}
	split := w.sampled / 2
	repeated := 0
	for k, n := range seen {
		var i int
		if _, err := fmt.Sscanf(k, "sample_%d", &i); err != nil || i < split {
			t.Errorf("got key %q, want only the measured run's part of the sample (from %d)", k, split)
		}
		repeated += n - 1
	}
	// wrk sends each thread's first request once more to check the script.
	if max := int(res.Counters["repeats"]) + c.threads; repeated > max {
		t.Errorf("%d requests repeated a key, but the script counted %d repeats", repeated, res.Counters["repeats"])
	}
}

func TestMixScriptPattern(t *testing.T) {
	if harness.CheckWrk() != nil {
		t.Skip("wrk is not installed")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	dir := t.TempDir()
	c := &config{threads: 1, duration: time.Second}
	w := &workload{bearer: filepath.Join(dir, "b"), hot: filepath.Join(dir, "h"), sample: filepath.Join(dir, "s"), invalid: filepath.Join(dir, "i")}
	for _, path := range []string{w.bearer, w.hot, w.sample, w.invalid} {
		if err := writeKeys(path, []string{"k_" + strings.ToLower(filepath.Base(path))}); err != nil {
			t.Fatal(err)
		}
	}
	w.sampled = 1
	script, err := harness.WriteScript(dir, "mix.lua", mixScript)
	if err != nil {
		t.Fatal(err)
	}
	m := mix{90, 8, 2}
	args := w.args(c, m.pattern())
	res, err := harness.RunWrk(t.Context(), harness.Load{URL: srv.URL, Script: script, Args: args[1], Threads: 1, Connections: 1, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	total := res.Counters["hot"] + res.Counters["random"] + res.Counters["invalid"]
	// Whole cycles of 50 give the exact mix; the last cycle is partial.
	for _, k := range []struct {
		name string
		pct  int
	}{{"hot", m.Hot}, {"random", m.Random}, {"invalid", m.Invalid}} {
		want := total * int64(k.pct) / 100
		if got := res.Counters[k.name]; got < want-50 || got > want+50 {
			t.Errorf("%s: got %d of %d requests, want %d ± 50", k.name, got, total, want)
		}
	}
}
