package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward/internal/testenv"
)

func TestNewStats(t *testing.T) {
	msList := func(v ...float64) []time.Duration {
		ds := make([]time.Duration, len(v))
		for i, x := range v {
			ds[i] = time.Duration(x * float64(time.Millisecond))
		}
		return ds
	}
	hundred := make([]float64, 100)
	for i := range hundred {
		// Out of order: newStats sorts.
		hundred[i] = float64(100 - i)
	}
	tests := []struct {
		name string
		in   []time.Duration
		want stats
	}{
		{"none", nil, stats{}},
		{"one", msList(3), stats{N: 1, P50: 3, P90: 3, P99: 3, Max: 3}},
		{"nearest rank of two", msList(2, 1), stats{N: 2, P50: 1, P90: 2, P99: 2, Max: 2}},
		{"1 to 100", msList(hundred...), stats{N: 100, P50: 50, P90: 90, P99: 99, Max: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, newStats(tt.in)); diff != "" {
				t.Errorf("newStats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDatabaseURL(t *testing.T) {
	tests := []struct {
		admin, want string
		wantErr     bool
	}{
		{admin: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", want: "postgres://postgres@127.0.0.1:5432/bench?sslmode=disable"},
		{admin: "postgresql://u:secret@db:5432", want: "postgresql://u:secret@db:5432/bench"},
		{admin: "postgres://db/", want: "postgres://db/bench"},
		{admin: "host=db user=u password=secret", wantErr: true},
		{admin: "mysql://db/test", wantErr: true},
		{admin: "postgres://u:secret@db:bad port/x", wantErr: true},
	}
	for _, tt := range tests {
		got, err := databaseURL(tt.admin, "bench")
		if tt.wantErr {
			// The admin URL may hold a password: the error must not quote it.
			if err == nil || strings.Contains(err.Error(), "secret") {
				t.Errorf("databaseURL(%q): got %q, %v; want an error that does not quote the URL", tt.admin, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("databaseURL(%q): got %q, %v; want %q", tt.admin, got, err, tt.want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    options
		wantErr string
	}{
		{name: "defaults", want: options{nodes: 3, trials: 200, port: 19200, timeout: 5 * time.Second, adminURL: defaultAdminURL}},
		{
			name: "flags and environment",
			args: []string{"--nodes", "5", "--trials=10", "--port", "19210", "--timeout", "2s", "--poll-gap", "1ms", "--json", "-"},
			env:  map[string]string{"KEYWARD_BENCH_POSTGRES": "postgres://db/x"},
			want: options{nodes: 5, trials: 10, port: 19210, timeout: 2 * time.Second, pollGap: time.Millisecond, jsonPath: "-", adminURL: "postgres://db/x"},
		},
		{name: "one node", args: []string{"--nodes", "1"}, wantErr: "--nodes"},
		{name: "no trials", args: []string{"--trials", "0"}, wantErr: "--trials"},
		{name: "ports past the last", args: []string{"--port", "65534"}, wantErr: "--port"},
		{name: "no timeout", args: []string{"--timeout", "0s"}, wantErr: "--timeout"},
		{name: "gap past the timeout", args: []string{"--poll-gap", "5s"}, wantErr: "--poll-gap"},
		{name: "argument", args: []string{"extra"}, wantErr: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseOptions(%q): got error %v, want one naming %s", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseOptions(%q): %v", tt.args, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(options{})); diff != "" {
				t.Errorf("parseOptions(%q) (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestReportTable(t *testing.T) {
	res := &results{
		latencies: map[int][]time.Duration{2: {time.Millisecond, 3 * time.Millisecond}, 3: {2 * time.Millisecond}},
		polls:     []time.Duration{200 * time.Microsecond},
		revokes:   []time.Duration{time.Millisecond},
		misses:    []miss{{Trial: 2, Node: 3, Reason: "still VALID after 5s"}},
	}
	o := options{nodes: 3, trials: 2, timeout: 5 * time.Second}
	r := newReport(res, o, machine{Date: "2026-11-23T00:00:00Z", Commit: "abc", Cores: 2})
	var buf bytes.Buffer
	if err := r.table(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"3 nodes on one PostgreSQL database, 2 trials",
		"     2       2    1.00    3.00    3.00    3.00",
		"     3       1    2.00    2.00    2.00    2.00",
		"   all       3    2.00    3.00    3.00    3.00",
		"(p50 0.20 ms",
		"trial 2, node 3: still VALID after 5s",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestRun runs three trials on real nodes and PostgreSQL, and checks that
// the figures add up and that the database is gone afterwards.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds keyward and starts three nodes")
	}
	admin := testenv.Postgres.URL(t)
	out := filepath.Join(t.TempDir(), "revoke.json")
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		if k == "KEYWARD_BENCH_POSTGRES" {
			return admin
		}
		return os.Getenv(k)
	}
	err := run(context.Background(), []string{"--trials", "3", "--port", "19250", "--json", out}, getenv, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got report
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.All.N != 6 || len(got.PerNode) != 2 || len(got.Misses) != 0 || got.Polls.N < 6 || got.Revokes.N != 3 {
		t.Errorf("JSON: %d latencies over %d nodes, %d misses, %d polls, %d revokes; want 6 over 2, none, at least 6, 3",
			got.All.N, len(got.PerNode), len(got.Misses), got.Polls.N, got.Revokes.N)
	}
	if !strings.Contains(stdout.String(), "   all       6") {
		t.Errorf("table:\n%s", stdout.String())
	}
	name := strings.Fields(strings.TrimPrefix(stderr.String(), "database "))[0]
	conn, err := connectAdmin(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&left); err != nil || left != 0 {
		t.Errorf("database %s: %d left after the run (%v), want it dropped", name, left, err)
	}
}
