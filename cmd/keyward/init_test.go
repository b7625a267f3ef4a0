package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// printedKey matches a key with the default prefix in printed text.
var printedKey = regexp.MustCompile(`kw_live_[0-9A-Za-z]{49}`)

// shownOnce is what the bootstrap and init texts say about the key.
const shownOnce = "will not be shown again"

// runInit runs `keyward init` with args and returns its exit code and output.
func runInit(tb testing.TB, args ...string) (int, string, string) {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), append([]string{"init"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestInitJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, stdout, stderr := runInit(t, "--data-dir", dir, "--org", "acme", "--json")
	if code != 0 {
		t.Fatalf("init: exit code %d, want 0; stderr: %s", code, stderr)
	}
	var acme map[string]string
	if err := json.Unmarshal([]byte(stdout), &acme); err != nil {
		t.Fatalf("init --json: stdout is not a JSON object of strings: %v", err)
	}
	if diff := cmp.Diff([]string{"key", "key_id", "org_id"}, slices.Sorted(maps.Keys(acme))); diff != "" {
		t.Errorf("init --json fields (-want +got):\n%s", diff)
	}
	if !printedKey.MatchString(acme["key"]) || acme["org_id"] == "" || acme["key_id"] == "" {
		t.Fatalf("init --json: got org_id %q, key_id %q and a key of %d characters", acme["org_id"], acme["key_id"], len(acme["key"]))
	}
	if stderr != "" {
		t.Errorf("init: stderr: %s", stderr)
	}

	code, stdout, stderr = runInit(t, "--data-dir", dir, "--org", "acme", "--json")
	if code != 1 {
		t.Errorf("second init of acme: exit code %d, want 1", code)
	}
	if !strings.Contains(stderr, "already exists") || !strings.Contains(stderr, "acme") {
		t.Errorf("second init of acme: stderr %q, want it to say that acme already exists", stderr)
	}
	if stdout != "" || printedKey.MatchString(stderr) {
		t.Errorf("second init of acme printed a key or other output: stdout %q", stdout)
	}

	code, stdout, stderr = runInit(t, "--data-dir", dir, "--org", "beta", "--json")
	if code != 0 {
		t.Fatalf("init of a second org: exit code %d, want 0; stderr: %s", code, stderr)
	}
	var beta map[string]string
	if err := json.Unmarshal([]byte(stdout), &beta); err != nil {
		t.Fatalf("init --json: %v", err)
	}

	ts := runTestServer(t, func(c *Config) { c.DataDir = dir })
	if ts.RootKey != "" {
		t.Errorf("serve on an initialized data dir created another root key")
	}
	if out := ts.Stdout.String(); out != "" {
		t.Errorf("serve on an initialized data dir printed %q, want nothing", printedKey.ReplaceAllString(out, "<key>"))
	}
	for _, org := range []map[string]string{acme, beta} {
		who := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", org["key"], nil)
		if str(who, "id") != org["key_id"] || str(who, "org_id") != org["org_id"] {
			t.Errorf("whoami: got key %q of org %q, want key %q of org %q", str(who, "id"), str(who, "org_id"), org["key_id"], org["org_id"])
		}
		if diff := cmp.Diff([]string{"*"}, stringList(t, who, "permissions")); diff != "" {
			t.Errorf("init key permissions (-want +got):\n%s", diff)
		}
	}
	if acme["org_id"] == beta["org_id"] {
		t.Errorf("acme and beta share org id %s", acme["org_id"])
	}
	if got := keyIDs(t, ts, acme["key"]); !slices.Equal(got, []string{acme["key_id"]}) {
		t.Errorf("acme's keys: got %v, want only its root key %s", got, acme["key_id"])
	}
}

func TestInitText(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, stdout, stderr := runInit(t, "--data-dir", dir, "--org", "acme")
	if code != 0 {
		t.Fatalf("init: exit code %d, want 0; stderr: %s", code, stderr)
	}
	keys := printedKey.FindAllString(stdout, -1)
	if len(keys) != 1 {
		t.Fatalf("init printed %d keys, want 1", len(keys))
	}
	if !strings.Contains(stdout, shownOnce) {
		t.Errorf("init output does not say %q:\n%s", shownOnce, printedKey.ReplaceAllString(stdout, "<key>"))
	}
	ts := runTestServer(t, func(c *Config) { c.DataDir = dir })
	mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", keys[0], nil)
}

func TestInitInvalidOrg(t *testing.T) {
	t.Parallel()
	for _, org := range []string{"", "has space", strings.Repeat("o", 65), "semi;colon"} {
		code, stdout, stderr := runInit(t, "--data-dir", t.TempDir(), "--org", org, "--json")
		if code == 0 {
			t.Errorf("init --org %q: exit code 0, want an error", org)
		}
		if stdout != "" || !strings.Contains(stderr, "org") {
			t.Errorf("init --org %q: stdout %q, stderr %q; want no output and an error naming org", org, stdout, stderr)
		}
	}
}

func TestServeBootstrap(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	out := ts.Stdout.String()
	if got := strings.Count(out, ts.RootKey); ts.RootKey == "" || got != 1 {
		t.Errorf("stdout shows the root key %d times, want once", got)
	}
	if !strings.Contains(out, shownOnce) {
		t.Errorf("bootstrap output does not say %q:\n%s", shownOnce, printedKey.ReplaceAllString(out, "<key>"))
	}
	who := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", ts.RootKey, nil)
	if diff := cmp.Diff([]string{"*"}, stringList(t, who, "permissions")); diff != "" {
		t.Errorf("root key permissions (-want +got):\n%s", diff)
	}
	if strings.Contains(ts.Logs.String(), ts.RootKey) {
		t.Errorf("the log holds the root key")
	}
}

// TestServeBootstrapOnce restarts a server on its data dir: the second one
// creates no org, prints no key, and the first root key still works.
func TestServeBootstrapOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := runTestServer(t, func(c *Config) { c.DataDir = dir })
	rootKey := first.RootKey
	if err := first.Close(); err != nil {
		t.Fatalf("close first server: %v", err)
	}
	if rootKey == "" {
		t.Fatal("first server created no root key")
	}

	ts := runTestServer(t, func(c *Config) { c.DataDir = dir })
	if ts.RootKey != "" {
		t.Errorf("restarted server created a second root key")
	}
	if out := ts.Stdout.String(); out != "" {
		t.Errorf("restarted server printed %q, want nothing", printedKey.ReplaceAllString(out, "<key>"))
	}
	who := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", rootKey, nil)
	if got := keyIDs(t, ts, rootKey); !slices.Equal(got, []string{str(who, "id")}) {
		t.Errorf("keys after restart: got %v, want only the root key", got)
	}
}

// TestServeCommand runs `keyward serve` itself until its context ends.
func TestServeCommand(t *testing.T) {
	t.Parallel()
	srv := runServe(t, "--data-dir", t.TempDir())
	key := srv.rootKey(t)
	if !strings.Contains(srv.Stdout.String(), shownOnce) {
		t.Errorf("serve output does not say %q", shownOnce)
	}
	mustDo(t, http.StatusOK, http.MethodGet, srv.URL+"/v1/whoami", key, nil)
	if code := srv.stop(t); code != 0 {
		t.Errorf("serve: exit code %d after its context ended, want 0; stderr: %s", code, srv.Stderr.String())
	}
	if strings.Contains(srv.Stderr.String(), key) {
		t.Errorf("serve's log holds the root key")
	}
}

// An org whose IP allowlist admits no admin any more gets its policy back
// from `keyward org policy reset`, which needs the data dir, not a key.
func TestOrgPolicyReset(t *testing.T) {
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	me := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", ts.RootKey, nil)
	// The API refuses a list that leaves out its caller; a call from inside
	// the process has no address to check, so it can lock the org out.
	ctx := keyward.NewContextWithPrincipal(context.Background(),
		&keyward.Principal{OrgID: str(me, "org_id"), KeyID: str(me, "id"), Permissions: []string{keyward.PermRoot}})
	if _, err := ts.Service.UpdateOrgPolicy(ctx, keyward.OrgPolicyUpdate{AllowedIPs: []string{"10.0.0.0/8"}}); err != nil {
		t.Fatal(err)
	}
	mustDo(t, http.StatusForbidden, http.MethodGet, ts.URL+"/v1/whoami", ts.RootKey, nil)

	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"org", "policy", "reset", "--data-dir", ts.DataDir}, &stdout, &stderr); code != 0 {
		t.Fatalf("org policy reset: exit code %d, want 0; stderr: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), `"default"`) {
		t.Errorf("org policy reset printed %q, want the org named", stdout.String())
	}
	// The running server reads the policy again within its cache TTL.
	clock.Advance(2 * time.Minute)
	mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", ts.RootKey, nil)
	events := auditEvents(t, ts, ts.RootKey)
	if len(events) == 0 || str(events[0], "action") != keyward.ActionOrgPolicyUpdate || str(events[0], "actor_key_id") != "" {
		t.Errorf("newest audit event: got %v, want an org.policy.update without an actor key", events[0])
	}

	if code := Run(context.Background(), []string{"org", "policy", "reset", "--data-dir", ts.DataDir, "--org", "nope"}, &stdout, &stderr); code == 0 {
		t.Error("reset of an unknown org: exit code 0, want an error")
	}
}
