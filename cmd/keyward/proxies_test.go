package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"keyward"
)

// doFrom sends an API request as do does, with an X-Forwarded-For header
// naming forwardedFor.
func doFrom(tb testing.TB, forwardedFor, method, target, key string, body any) (int, map[string]any) {
	tb.Helper()
	req := newRequest(tb, method, target, key, body)
	req.Header.Set("X-Forwarded-For", forwardedFor)
	status, _, raw := send(tb, req)
	return status, decodeObject(raw)
}

// policyUpdateSource returns the source_ip of the one org policy update
// among events, a decoded list of audit events.
func policyUpdateSource(tb testing.TB, events any) string {
	tb.Helper()
	list, _ := events.([]any)
	var sources []string
	for _, e := range list {
		if ev, _ := e.(map[string]any); str(ev, "action") == keyward.ActionOrgPolicyUpdate {
			sources = append(sources, str(ev, "source_ip"))
		}
	}
	if len(sources) != 1 {
		tb.Fatalf("audit events: got %d org policy updates, want 1: %v", len(sources), events)
	}
	return sources[0]
}

// With --trusted-proxies naming the address that requests come from
// (127.0.0.1, as a load balancer on the same machine), a request comes
// from the client that X-Forwarded-For names: the org's allowlist admits
// or refuses it, and the audit event records it. Without the flag the
// header is ignored, whatever it says.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		srv := runServe(t, "--data-dir", t.TempDir(), "--trusted-proxies", "::1, 127.0.0.1")
		root := srv.rootKey(t)
		const client = "203.0.113.7"
		// The API refuses a list that would lock its caller out: the
		// caller is the client, not the proxy.
		if status, _ := doFrom(t, client, http.MethodPut, srv.URL+"/v1/org/policy", root, map[string]any{"allowed_ips": []string{"203.0.113.0/24"}}); status != http.StatusOK {
			t.Fatalf("set the allowlist from %s: status %d, want 200", client, status)
		}
		for _, tt := range []struct {
			forwardedFor string
			want         int
		}{
			{client, http.StatusOK},
			{"198.51.100.1, " + client, http.StatusOK}, // the client wrote the first entry itself
			{"198.51.100.1", http.StatusForbidden},
			{"", http.StatusForbidden}, // from the proxy itself
		} {
			if status, _ := doFrom(t, tt.forwardedFor, http.MethodGet, srv.URL+"/v1/whoami", root, nil); status != tt.want {
				t.Errorf("whoami with X-Forwarded-For %q: status %d, want %d", tt.forwardedFor, status, tt.want)
			}
		}
		_, events := doFrom(t, client, http.MethodGet, srv.URL+"/v1/audit-events", root, nil)
		if got := policyUpdateSource(t, events["data"]); got != client {
			t.Errorf("audit event of the policy update: source_ip %q, want %s", got, client)
		}
		if !strings.Contains(srv.Stderr.String(), `"remote_ip":"`+client+`"`) {
			t.Errorf("the access log does not name the client %s", client)
		}
	})

	t.Run("not trusted", func(t *testing.T) {
		t.Parallel()
		srv := runServe(t, "--data-dir", t.TempDir())
		root := srv.rootKey(t)
		// The list would lock out 127.0.0.1, which the request comes from.
		status, res := doFrom(t, "203.0.113.7", http.MethodPut, srv.URL+"/v1/org/policy", root, map[string]any{"allowed_ips": []string{"203.0.113.0/24"}})
		if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(res["errors"]), "127.0.0.1 is outside") {
			t.Errorf("set the allowlist with a spoofed X-Forwarded-For: status %d, body %v; want 400 naming 127.0.0.1", status, res)
		}
		mustDo(t, http.StatusOK, http.MethodPut, srv.URL+"/v1/org/policy", root, map[string]any{"allowed_ips": []string{"127.0.0.1"}})
		if status, _ := doFrom(t, "198.51.100.1", http.MethodGet, srv.URL+"/v1/whoami", root, nil); status != http.StatusOK {
			t.Errorf("whoami with a spoofed X-Forwarded-For: status %d, want 200 (from 127.0.0.1)", status)
		}
		_, events := doFrom(t, "198.51.100.1", http.MethodGet, srv.URL+"/v1/audit-events", root, nil)
		if got := policyUpdateSource(t, events["data"]); got != "127.0.0.1" {
			t.Errorf("audit event of the policy update: source_ip %q, want 127.0.0.1", got)
		}
	})
}

// A flag value that serve cannot use stops it before it opens anything,
// with an error that names the flag and the value.
func TestServeInvalidFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--trusted-proxies", "10.0.0.1,nginx"}, `--trusted-proxies: entry "nginx": not an IP address or CIDR`},
		{[]string{"--trusted-proxies", "10.0.0.0/33"}, `--trusted-proxies: entry "10.0.0.0/33": not an IP address or CIDR`},
		{[]string{"--trusted-proxies", "10.0.0.1,"}, `--trusted-proxies: entry "": empty address`},
		{[]string{"--trusted-proxies", "0.0.0.0/0"}, `--trusted-proxies: entry "0.0.0.0/0": trusts every address`},
		{[]string{"--cache-ttl", "0s"}, `--cache-ttl: 0s: want a positive duration, such as 1m`},
		{[]string{"--cache-ttl=-1m"}, `--cache-ttl: -1m0s: want a positive duration, such as 1m`},
	} {
		dir := t.TempDir()
		var stdout, stderr lockedBuffer
		code := Run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir + "/data"}, tt.args...), &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("serve %q: exit code %d, stderr %q; want 1 and %q", tt.args, code, stderr.String(), tt.want)
		}
		if _, err := os.Stat(dir + "/data"); !os.IsNotExist(err) {
			t.Errorf("serve %q created the data dir", tt.args)
		}
	}
}
