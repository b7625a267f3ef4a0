package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keyward"
	"keyward/keyformat"
)

// randomPart returns the random characters of a well-formed key: what
// makes it a secret, with neither prefix nor checksum.
func randomPart(key string) string {
	end := len(key) - keyformat.ChecksumLen
	return key[end-keyformat.RandomLen : end]
}

// TestSecretsNeverLeak uses a server the way a busy org would, then looks
// for every plaintext key, and for its random part alone, in everything the
// server wrote: logs, stdout, audit events, API answers and the files of its
// data dir. The only place a key may appear is the answer that created (or
// rotated) it, and, for the bootstrap root key, stdout, exactly once.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t, func(c *Config) { c.FlushInterval = 20 * time.Millisecond })
	m, dir, logs, stdout := ts.Main, ts.DataDir, ts.Logs, ts.Stdout
	if ts.RootKey == "" {
		t.Fatal("no root key was bootstrapped")
	}

	// answers collects every answer body and header but those of creates.
	var answers bytes.Buffer
	call := func(method, path, key string, body any, header ...string) (int, map[string]any) {
		t.Helper()
		req := newRequest(t, method, ts.URL+path, "", body)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		status, h, raw := send(t, req)
		answers.Write(raw)
		for name, values := range h {
			answers.WriteString(name + ": " + strings.Join(values, ", ") + "\n")
		}
		return status, decodeObject(raw)
	}

	secrets := []string{ts.RootKey}
	mint := func(body map[string]any) map[string]any {
		t.Helper()
		rec := createKey(t, ts, ts.RootKey, body)
		secrets = append(secrets, str(rec, "key"))
		return rec
	}
	sa := createServiceAccount(t, ts, ts.RootKey, "pipeline")
	app := mint(map[string]any{"name": "app", "permissions": []string{"nodes.read"}, "metadata": map[string]any{"team": "core"}, "owner_id": "u1"})
	admin := mint(map[string]any{"name": "admin", "permissions": []string{keyward.PermKeysRead, keyward.PermKeysVerify, keyward.PermAuditRead}})
	robot := mint(map[string]any{"name": "robot", "service_account_id": str(sa, "id"), "allowed_ips": []string{"127.0.0.1"}})
	custom := mint(map[string]any{"name": "custom", "prefix": "acme_live", "expires_in": 3600})
	doomed := mint(map[string]any{"name": "doomed"})
	// Keys that are presented but were never issued count as secrets too:
	// a mistyped real key must not end up in a log line.
	presented := []string{badChecksum(str(app, "key")), unknownKey(t), badChecksum(str(admin, "key"))}

	for _, key := range []string{str(app, "key"), str(robot, "key"), str(custom, "key"), presented[0], presented[1]} {
		for _, caller := range []string{ts.RootKey, str(admin, "key")} {
			if status, _ := call(http.MethodPost, "/v1/verify", caller, map[string]any{"key": key, "user_agent": "probe/1.0", "permissions": "nodes.read"}); status != http.StatusOK {
				t.Errorf("verify: got status %d, want 200", status)
			}
		}
	}
	if status, _ := call(http.MethodPost, "/v1/verify", ts.RootKey, map[string]any{"key": str(app, "key"), "permissions": "a AND"}); status != http.StatusBadRequest {
		t.Errorf("verify with a bad query: got status %d, want 400", status)
	}
	// A rotation mints a secret too; the old and the new key both work
	// during the grace period, spend credits and count against limits.
	rotating := mint(map[string]any{"name": "rotating", "owner_id": "u1", "credits": map[string]any{"remaining": 100},
		"rate_limits": []any{map[string]any{"name": "default", "limit": 100, "window": 60}}})
	rotated := mustDo(t, http.StatusCreated, http.MethodPost, ts.URL+"/v1/keys/"+str(rotating, "id")+"/rotate", ts.RootKey, map[string]any{"grace_period": 3600})
	secrets = append(secrets, str(rotated, "key"))
	for _, key := range []string{str(rotating, "key"), str(rotated, "key")} {
		if status, _ := call(http.MethodPost, "/v1/verify", ts.RootKey, map[string]any{"key": key, "cost": 2,
			"rate_limits": []any{map[string]any{"name": "default", "cost": 3}}}); status != http.StatusOK {
			t.Errorf("verify of a rotated key: got status %d, want 200", status)
		}
	}
	if status, _ := call(http.MethodPost, "/v1/verify", ts.RootKey, map[string]any{"key": str(rotated, "key"),
		"rate_limits": []any{map[string]any{"name": "nope"}}}); status != http.StatusBadRequest {
		t.Errorf("verify with an unknown limit: got status %d, want 400", status)
	}
	call(http.MethodPost, "/v1/keys/"+str(rotated, "id")+"/credits", ts.RootKey, map[string]any{"op": "increment", "amount": 5})
	call(http.MethodPost, "/v1/keys/"+str(rotating, "id")+"/rotate", ts.RootKey, map[string]any{"grace_period": 0})
	call(http.MethodPut, "/v1/owners/u1", ts.RootKey, map[string]any{"rate_limits": []any{map[string]any{"name": "default", "limit": 1000, "window": 60}}})
	call(http.MethodPut, "/v1/org/policy", ts.RootKey, map[string]any{"max_key_lifetime": 365 * 86400})
	call(http.MethodGet, "/v1/keys/"+str(rotated, "id")+"/usage", ts.RootKey, nil)
	call(http.MethodGet, "/v1/keys/"+str(rotating, "id"), ts.RootKey, nil)

	mustDo(t, http.StatusOK, http.MethodPost, ts.URL+"/v1/keys/"+str(doomed, "id")+"/revoke", ts.RootKey, nil)
	mustDo(t, http.StatusOK, http.MethodPatch, ts.URL+"/v1/keys/"+str(app, "id"), ts.RootKey, map[string]any{"description": "patched", "permissions": []string{"nodes.read", "nodes.write"}})
	mustDo(t, http.StatusOK, http.MethodDelete, ts.URL+"/v1/keys/"+str(custom, "id"), ts.RootKey, nil)

	failures := []struct {
		name, key, header string
		want              int
	}{
		{"revoked key as credential", str(doomed, "key"), "Authorization", http.StatusUnauthorized},
		{"revoked key as X-API-Key", str(doomed, "key"), "X-API-Key", http.StatusUnauthorized},
		{"deleted key as credential", str(custom, "key"), "Authorization", http.StatusUnauthorized},
		{"bad checksum as credential", presented[2], "Authorization", http.StatusUnauthorized},
		{"unknown key as credential", presented[1], "X-API-Key", http.StatusUnauthorized},
		{"key without the permission", str(app, "key"), "Authorization", http.StatusForbidden},
	}
	for _, f := range failures {
		value := f.key
		if f.header == "Authorization" {
			value = "Bearer " + f.key
		}
		if status, _ := call(http.MethodGet, "/v1/keys", "", nil, f.header, value); status != f.want {
			t.Errorf("%s: got status %d, want %d", f.name, status, f.want)
		}
	}
	if status, _ := call(http.MethodPost, "/v1/keys", str(admin, "key"), map[string]any{"name": "nope"}); status != http.StatusForbidden {
		t.Errorf("create without the permission: got status %d, want 403", status)
	}

	for _, caller := range []string{ts.RootKey, str(admin, "key")} {
		call(http.MethodGet, "/v1/keys?limit=2", caller, nil)
		call(http.MethodGet, "/v1/keys?revoked=true", caller, nil)
		call(http.MethodGet, "/v1/whoami", caller, nil)
		for _, rec := range []map[string]any{app, admin, robot, doomed} {
			call(http.MethodGet, "/v1/keys/"+str(rec, "id"), caller, nil)
		}
	}
	for _, k := range listAll(t, ts, ts.RootKey, "/v1/keys", nil, keyward.MaxPageLimit) {
		if _, ok := k["key"]; ok {
			t.Errorf("listed key %s holds a key field", str(k, "id"))
		}
	}
	call(http.MethodGet, "/v1/service-accounts", ts.RootKey, nil)
	mustDo(t, http.StatusOK, http.MethodDelete, ts.URL+"/v1/service-accounts/"+str(sa, "id"), ts.RootKey, nil)

	var audit bytes.Buffer
	for _, ev := range auditEvents(t, ts, ts.RootKey) {
		b, _ := json.Marshal(ev)
		audit.Write(b)
		audit.WriteByte('\n')
	}
	status, page := call(http.MethodGet, "/v1/audit-events?limit=1000", str(admin, "key"), nil)
	if status != http.StatusOK {
		t.Fatalf("audit events: got status %d, want 200", status)
	}
	if data, _ := page["data"].([]any); len(data) < 8 {
		t.Fatalf("audit events: got %d, want at least 8", len(data))
	}

	// Wait for the writer to record last use, so that the data dir holds
	// what verification writes too. The files are read while the server
	// runs (the WAL holds recent writes) and again after Close (which
	// checkpoints them into keyward.db).
	pollKey(t, ts, str(app, "id"), func(k map[string]any) bool { return k["last_used_at"] != nil })
	ts.Engine.Flush(t.Context())
	call(http.MethodGet, "/v1/usage", ts.RootKey, nil)
	sources := make(map[string][]byte)
	readDataDir(t, dir, "running", sources)
	if err := m.Close(); err != nil {
		t.Errorf("close server: %v", err)
	}
	readDataDir(t, dir, "closed", sources)
	if _, ok := sources["closed: keyward.db"]; !ok {
		t.Fatalf("data dir holds no keyward.db")
	}
	sources["logs"] = []byte(logs.String())
	sources["audit events"] = audit.Bytes()
	sources["API answers"] = answers.Bytes()
	sources["stdout without the root key"] = []byte(strings.Replace(stdout.String(), ts.RootKey, "", 1))
	if len(logs.String()) == 0 {
		t.Errorf("the server logged nothing: the log check is vacuous")
	}

	for i, secret := range append(secrets, presented...) {
		for name, data := range sources {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds plaintext key #%d", name, i)
			} else if bytes.Contains(data, []byte(randomPart(secret))) {
				t.Errorf("%s holds the random part of key #%d", name, i)
			}
		}
	}

	out := stdout.String()
	if got := strings.Count(out, ts.RootKey); got != 1 {
		t.Errorf("stdout shows the root key %d times, want once", got)
	}
	if !strings.Contains(out, "will not be shown again") {
		t.Errorf("stdout does not say the root key will not be shown again:\n%s", strings.ReplaceAll(out, ts.RootKey, "<root key>"))
	}
}

// readDataDir adds every file under dir to sources, named "state: file".
func readDataDir(tb testing.TB, dir, state string, sources map[string][]byte) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		sources[state+": "+d.Name()] = b
		return err
	})
	if err != nil {
		tb.Fatalf("read data dir: %v", err)
	}
}
