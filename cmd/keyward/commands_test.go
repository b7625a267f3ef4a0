package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// call is one request the fake API saw.
type call struct {
	Method string
	Path   string
	Query  string
	Body   map[string]any
}

// fakeAPI answers every request with status and body and records it. It
// stands in for the server where a test is about what the CLI sends; the
// testscript scripts run the CLI against a real server.
func fakeAPI(t *testing.T, status int, body string) (url string, calls *[]call) {
	t.Helper()
	calls = &[]call{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := call{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery}
		b, _ := io.ReadAll(r.Body)
		if len(b) > 0 {
			if err := json.Unmarshal(b, &c.Body); err != nil {
				t.Errorf("body %q: %v", b, err)
			}
		}
		*calls = append(*calls, c)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, calls
}

// runCLI runs the CLI with args against url and returns its exit code and
// output.
func runCLI(t *testing.T, url string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("KEYWARD_URL", url)
	t.Setenv("KEYWARD_KEY", "kw_live_test")
	var out, errOut strings.Builder
	code = Run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

const fakeKey = `{"id":"k1","name":"ci","key_prefix":"kw_live_abcdefgh","permissions":[],"allowed_ips":[],
	"enabled":true,"metadata":{},"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`

func TestCommandRequests(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want call
	}{
		{
			name: "create with every flag",
			args: []string{"keys", "create", "--name", "ci", "--description", "d", "--permission", "a.read,b.write",
				"--permission", "c", "--allowed-ip", "10.0.0.0/8", "--expires-in", "30d", "--owner-id", "u1",
				"--metadata", `{"team": "x"}`, "--disabled", "--prefix", "kw_test"},
			want: call{Method: "POST", Path: "/v1/keys", Body: map[string]any{
				"name": "ci", "description": "d", "permissions": []any{"a.read", "b.write", "c"},
				"allowed_ips": []any{"10.0.0.0/8"}, "expires_in": float64(30 * 86400), "owner_id": "u1",
				"metadata": map[string]any{"team": "x"}, "enabled": false, "prefix": "kw_test"}},
		},
		{
			name: "create with an expiry time",
			args: []string{"keys", "create", "--name", "ci", "--expires-at", "2027-01-01T00:00:00Z", "--service-account-id", "sa1"},
			want: call{Method: "POST", Path: "/v1/keys", Body: map[string]any{
				"name": "ci", "expires_at": "2027-01-01T00:00:00Z", "service_account_id": "sa1"}},
		},
		{
			name: "list filters",
			args: []string{"keys", "list", "--owner-id", "u1", "--revoked", "false", "--prefix", "kw_live_ab", "--limit", "5", "--cursor", "c1"},
			want: call{Method: "GET", Path: "/v1/keys", Query: "cursor=c1&limit=5&owner_id=u1&prefix=kw_live_ab&revoked=false"},
		},
		{
			name: "update clears and disables",
			args: []string{"keys", "update", "k1", "--clear-permissions", "--clear-allowed-ips", "--no-expiry", "--disable"},
			want: call{Method: "PATCH", Path: "/v1/keys/k1", Body: map[string]any{
				"permissions": []any{}, "allowed_ips": []any{}, "expires_at": nil, "enabled": false}},
		},
		{
			name: "update sets",
			args: []string{"keys", "update", "k1", "--name", "new", "--description", "", "--permission", "a.read",
				"--expires-in", "3600", "--metadata", "{}", "--enable"},
			want: call{Method: "PATCH", Path: "/v1/keys/k1", Body: map[string]any{
				"name": "new", "description": "", "permissions": []any{"a.read"}, "expires_in": float64(3600),
				"metadata": map[string]any{}, "enabled": true}},
		},
		{
			name: "create with limits and credits",
			args: []string{"keys", "create", "--name", "metered", "--rate-limit", "default:100:1m", "--rate-limit", "daily:5000:1d",
				"--credits", "20", "--refill", "monthly:500:15"},
			want: call{Method: "POST", Path: "/v1/keys", Body: map[string]any{
				"name": "metered",
				"rate_limits": []any{
					map[string]any{"name": "default", "limit": 100.0, "window": 60.0},
					map[string]any{"name": "daily", "limit": 5000.0, "window": 86400.0}},
				"credits": map[string]any{"remaining": 20.0,
					"refill": map[string]any{"amount": 500.0, "interval": "monthly", "day": 15.0}}}},
		},
		{
			name: "update replaces limits and credits",
			args: []string{"keys", "update", "k1", "--rate-limit", "burst:5:1s", "--refill", "daily:10"},
			want: call{Method: "PATCH", Path: "/v1/keys/k1", Body: map[string]any{
				"rate_limits": []any{map[string]any{"name": "burst", "limit": 5.0, "window": 1.0}},
				"credits": map[string]any{"remaining": 10.0,
					"refill": map[string]any{"amount": 10.0, "interval": "daily"}}}},
		},
		{
			name: "update removes limits and credits",
			args: []string{"keys", "update", "k1", "--no-rate-limits", "--no-credits"},
			want: call{Method: "PATCH", Path: "/v1/keys/k1", Body: map[string]any{"rate_limits": []any{}, "credits": nil}},
		},
		{
			name: "rotate with a grace period",
			args: []string{"keys", "rotate", "k1", "--grace", "1h", "--expires-in", "90d"},
			want: call{Method: "POST", Path: "/v1/keys/k1/rotate", Body: map[string]any{
				"grace_period": 3600.0, "expires_in": float64(90 * 86400)}},
		},
		{
			name: "rotate without grace",
			args: []string{"keys", "rotate", "k1", "--grace", "0"},
			want: call{Method: "POST", Path: "/v1/keys/k1/rotate", Body: map[string]any{"grace_period": 0.0}},
		},
		{
			name: "credits",
			args: []string{"keys", "credits", "k1", "increment", "25"},
			want: call{Method: "POST", Path: "/v1/keys/k1/credits", Body: map[string]any{"op": "increment", "amount": 25.0}},
		},
		{
			name: "owners get escapes the owner",
			args: []string{"owners", "get", "team/a"},
			want: call{Method: "GET", Path: "/v1/owners/team%2Fa"},
		},
		{
			name: "owners set",
			args: []string{"owners", "set", "u1", "--rate-limit", "default:1000:1h"},
			want: call{Method: "PUT", Path: "/v1/owners/u1", Body: map[string]any{
				"rate_limits": []any{map[string]any{"name": "default", "limit": 1000.0, "window": 3600.0}}}},
		},
		{
			name: "owners set removes limits",
			args: []string{"owners", "set", "u1", "--no-rate-limits"},
			want: call{Method: "PUT", Path: "/v1/owners/u1", Body: map[string]any{"rate_limits": []any{}}},
		},
		{
			name: "org policy get",
			args: []string{"org", "policy", "get"},
			want: call{Method: "GET", Path: "/v1/org/policy"},
		},
		{
			name: "org policy set",
			args: []string{"org", "policy", "set", "--max-lifetime", "90d", "--default-lifetime", "30d",
				"--allowed-ip", "10.0.0.0/8", "--allow-non-expiring=false"},
			want: call{Method: "PUT", Path: "/v1/org/policy", Body: map[string]any{
				"max_key_lifetime": float64(90 * 86400), "default_key_lifetime": float64(30 * 86400),
				"allowed_ips": []any{"10.0.0.0/8"}, "allow_non_expiring": false}},
		},
		{
			name: "org policy set to the defaults",
			args: []string{"org", "policy", "set"},
			want: call{Method: "PUT", Path: "/v1/org/policy", Body: map[string]any{
				"max_key_lifetime": nil, "default_key_lifetime": nil, "allowed_ips": nil, "allow_non_expiring": nil}},
		},
		{
			name: "org policy set negated",
			args: []string{"org", "policy", "set", "--no-allow-non-expiring"},
			want: call{Method: "PUT", Path: "/v1/org/policy", Body: map[string]any{
				"max_key_lifetime": nil, "default_key_lifetime": nil, "allowed_ips": nil, "allow_non_expiring": false}},
		},
		{
			name: "usage of one key",
			args: []string{"usage", "--key-id", "k1", "--from", "2026-03-01T00:00:00Z", "--to", "2026-03-02T00:00:00Z", "--bucket", "minute"},
			want: call{Method: "GET", Path: "/v1/keys/k1/usage",
				Query: "bucket=minute&from=2026-03-01T00%3A00%3A00Z&to=2026-03-02T00%3A00%3A00Z"},
		},
		{
			name: "usage of the org",
			args: []string{"usage"},
			want: call{Method: "GET", Path: "/v1/usage", Query: "bucket=hour"},
		},
		{
			name: "revoke escapes the id",
			args: []string{"keys", "revoke", "a/b"},
			want: call{Method: "POST", Path: "/v1/keys/a%2Fb/revoke"},
		},
		{
			name: "delete",
			args: []string{"keys", "delete", "k1"},
			want: call{Method: "DELETE", Path: "/v1/keys/k1"},
		},
		{
			name: "whoami",
			args: []string{"whoami"},
			want: call{Method: "GET", Path: "/v1/whoami"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, calls := fakeAPI(t, http.StatusOK, strings.TrimSuffix(fakeKey, "}")+`,"key":"kw_live_secret"}`)
			if code, _, stderr := runCLI(t, url, tt.args...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if diff := cmp.Diff([]call{tt.want}, *calls); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCreatePrintsSecretOnce(t *testing.T) {
	url, _ := fakeAPI(t, http.StatusCreated, strings.TrimSuffix(fakeKey, "}")+`,"key":"kw_live_secret"}`)
	code, stdout, stderr := runCLI(t, url, "keys", "create", "--name", "ci")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"\nkey: kw_live_secret\n", "will not be shown again", "id:  "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Count(stdout, "kw_live_secret") != 1 {
		t.Errorf("stdout shows the secret %d times, want once:\n%s", strings.Count(stdout, "kw_live_secret"), stdout)
	}
}

func TestNoRequestWithoutChanges(t *testing.T) {
	tests := []struct {
		name       string
		key        string
		args       []string
		wantStderr string
	}{
		{"missing key", "", []string{"whoami"}, "keyward: no API key: pass --key or set KEYWARD_KEY\n"},
		{"update without changes", "kw_live_test", []string{"keys", "update", "k1"}, "keyward: nothing to update"},
		{"owners set without limits", "kw_live_test", []string{"owners", "set", "u1"}, "keyward: nothing to set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, calls := fakeAPI(t, http.StatusOK, fakeKey)
			t.Setenv("KEYWARD_URL", url)
			t.Setenv("KEYWARD_KEY", tt.key)
			var stdout, stderr strings.Builder
			if code := Run(t.Context(), tt.args, &stdout, &stderr); code != 1 {
				t.Errorf("got exit %d, want 1", code)
			}
			if !strings.HasPrefix(stderr.String(), tt.wantStderr) {
				t.Errorf("got stderr %q, want it to start with %q", stderr.String(), tt.wantStderr)
			}
			if len(*calls) != 0 {
				t.Errorf("got requests %v, want none", *calls)
			}
		})
	}
}

func TestVerifyExitCode(t *testing.T) {
	tests := []struct {
		name       string
		answer     string
		args       []string
		stdin      string
		wantCode   int
		wantStdout string
		wantKey    string
	}{
		{
			name:       "valid",
			answer:     `{"valid":true,"code":"VALID","key_id":"k1","name":"ci","permissions":["a.read"]}`,
			args:       []string{"verify", "kw_live_x", "--permissions", "a.read", "--ip", "10.1.2.3", "--user-agent", "curl/8"},
			wantCode:   0,
			wantStdout: "VALID\nkey id:       k1\nname:         ci\nowner:        -\npermissions:  a.read\nexpires:      never\nmetadata:     {}\n",
			wantKey:    "kw_live_x",
		},
		{
			name:       "revoked",
			answer:     `{"valid":false,"code":"REVOKED","key_id":"k1","name":"ci"}`,
			args:       []string{"verify", "kw_live_x"},
			wantCode:   1,
			wantStdout: "REVOKED\nkey id:       k1\nname:         ci\nowner:        -\npermissions:  -\nexpires:      never\nmetadata:     {}\n",
			wantKey:    "kw_live_x",
		},
		{
			name:       "not found",
			answer:     `{"valid":false,"code":"NOT_FOUND"}`,
			args:       []string{"verify", "nope"},
			wantCode:   1,
			wantStdout: "NOT_FOUND\n",
			wantKey:    "nope",
		},
		{
			name:       "key from stdin",
			answer:     `{"valid":false,"code":"NOT_FOUND"}`,
			args:       []string{"verify", "-"},
			stdin:      "  kw_live_from_stdin \nignored\n",
			wantCode:   1,
			wantStdout: "NOT_FOUND\n",
			wantKey:    "kw_live_from_stdin",
		},
		{
			name:     "json",
			answer:   `{"valid":false,"code":"EXPIRED","key_id":"k1"}`,
			args:     []string{"--json", "verify", "kw_live_x"},
			wantCode: 1,
			wantStdout: "{\n  \"valid\": false,\n  \"code\": \"EXPIRED\",\n  \"key_id\": \"k1\",\n  \"name\": \"\",\n" +
				"  \"owner_id\": null,\n  \"service_account_id\": null,\n  \"permissions\": [],\n  \"metadata\": {},\n  \"expires_at\": null,\n" +
				"  \"rate_limits\": [],\n  \"credits\": null\n}\n",
			wantKey: "kw_live_x",
		},
		{
			name: "rate limited shows every limit and the credits",
			answer: `{"valid":false,"code":"RATE_LIMITED","key_id":"k1","name":"ci","rate_limits":[
				{"name":"burst","limit":2,"remaining":0,"reset":"2026-01-02T03:04:05Z"},
				{"name":"daily","limit":100,"remaining":98,"reset":"2026-01-02T03:05:00Z"}],"credits":{"remaining":7}}`,
			args:     []string{"verify", "kw_live_x"},
			wantCode: 1,
			wantStdout: "RATE_LIMITED\nkey id:            k1\nname:              ci\nowner:             -\npermissions:       -\n" +
				"expires:           never\nmetadata:          {}\n" +
				"rate limit burst:  0 of 2 left, full at 2026-01-02T03:04:05Z\n" +
				"rate limit daily:  98 of 100 left, full at 2026-01-02T03:05:00Z\n" +
				"credits:           7 left\n",
			wantKey: "kw_live_x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, calls := fakeAPI(t, http.StatusOK, tt.answer)
			old := stdin
			stdin = strings.NewReader(tt.stdin)
			t.Cleanup(func() { stdin = old })
			code, stdout, stderr := runCLI(t, url, tt.args...)
			if code != tt.wantCode {
				t.Errorf("got exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if stdout != tt.wantStdout {
				t.Errorf("got stdout %q, want %q", stdout, tt.wantStdout)
			}
			if stderr != "" {
				t.Errorf("got stderr %q, want none", stderr)
			}
			if len(*calls) != 1 || (*calls)[0].Body["key"] != tt.wantKey {
				t.Errorf("got requests %v, want one verifying %q", *calls, tt.wantKey)
			}
		})
	}
}

func TestVerifyCostAndLimits(t *testing.T) {
	url, calls := fakeAPI(t, http.StatusOK, `{"valid":true,"code":"VALID","key_id":"k1","name":"ci"}`)
	args := []string{"verify", "kw_live_x", "--cost", "0", "--rate-limit", "default", "--rate-limit", "daily:3"}
	if code, _, stderr := runCLI(t, url, args...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []call{{Method: "POST", Path: "/v1/verify", Body: map[string]any{"key": "kw_live_x", "cost": 0.0,
		"rate_limits": []any{map[string]any{"name": "default"}, map[string]any{"name": "daily", "cost": 3.0}}}}}
	if diff := cmp.Diff(want, *calls); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestAPIErrorText(t *testing.T) {
	url, _ := fakeAPI(t, http.StatusForbidden, `{"title":"Forbidden","status":403,"detail":"missing permission admin:api-keys:create",
		"code":"forbidden","request_id":"req-9"}`)
	code, _, stderr := runCLI(t, url, "keys", "create", "--name", "x")
	if code != 1 {
		t.Errorf("got exit %d, want 1", code)
	}
	if want := "keyward: missing permission admin:api-keys:create (code forbidden, request req-9)\n"; stderr != want {
		t.Errorf("got stderr %q, want %q", stderr, want)
	}
}
