package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// profilesLine is the log line of a server that serves profiles.
var profilesLine = regexp.MustCompile(`(?m)^.*"msg":"serving profiles without authentication".*$`)

// --pprof-addr serves the runtime profiles on a listener of their own,
// never on the API's, and nothing serves them without it.
func TestPprof(t *testing.T) {
	off := runServe(t, "--data-dir", t.TempDir())
	if line := profilesLine.FindString(off.Stderr.String()); line != "" {
		t.Errorf("profiles served without --pprof-addr: %s", line)
	}
	wantStatus(t, off.URL+"/debug/pprof/heap", http.StatusNotFound)

	on := runServe(t, "--data-dir", t.TempDir(), "--pprof-addr", "127.0.0.1:0")
	var logged struct{ Addr string }
	if err := json.Unmarshal([]byte(profilesLine.FindString(on.Stderr.String())), &logged); err != nil || logged.Addr == "" {
		t.Fatalf("no profiles log line with an addr: %v; stderr: %s", err, on.Stderr)
	}
	wantStatus(t, "http://"+logged.Addr+"/debug/pprof/heap", http.StatusOK)
	wantStatus(t, "http://"+logged.Addr+"/debug/pprof/profile?seconds=1", http.StatusOK)
	// The command line may hold --pepper or a database password.
	wantStatus(t, "http://"+logged.Addr+"/debug/pprof/cmdline", http.StatusNotFound)
	wantStatus(t, on.URL+"/debug/pprof/heap", http.StatusNotFound)
}

// Valid verifications are logged at debug: at the default level the
// access log leaves them out, with --log-level debug it has them.
func TestLogLevel(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--log-level", "debug"}, true},
	} {
		c := runServe(t, append([]string{"--data-dir", t.TempDir()}, tt.args...)...)
		root := c.rootKey(t)
		status, _, _ := do(t, http.MethodPost, c.URL+"/v1/verify", root, map[string]any{"key": root})
		if status != http.StatusOK {
			t.Fatalf("verify: status %d", status)
		}
		c.stop(t)
		if got := strings.Contains(c.Stderr.String(), `"path":"/v1/verify"`); got != tt.want {
			t.Errorf("%v: verify in the access log: got %v, want %v; stderr:\n%s", tt.args, got, tt.want, c.Stderr)
		}
	}
}

// wantStatus fails unless a GET of url answers status.
func wantStatus(tb testing.TB, url string, status int) {
	tb.Helper()
	res, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != status {
		tb.Errorf("GET %s: got %d, want %d", url, res.StatusCode, status)
	}
}
