package orgapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
	"keyward/compat/internal/compattest"
	"keyward/compat/orgapi"
	"keyward/httpapi"
	"keyward/keyformat"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const keysPath = orgapi.Prefix + "/v1/api-keys"

// start serves the profile over the real stack.
func start(t *testing.T) *compattest.Env {
	t.Helper()
	return startWith(t, nil)
}

// startWith serves the profile over the real stack, its KeyService
// wrapped by wrap when set.
func startWith(t *testing.T, wrap func(keyward.KeyService) keyward.KeyService) *compattest.Env {
	t.Helper()
	return compattest.Start(t, func(e *compattest.Env, logger *slog.Logger) []httpapi.Mount {
		var keys keyward.KeyService = e.Service
		if wrap != nil {
			keys = wrap(keys)
		}
		return []httpapi.Mount{orgapi.New(orgapi.Config{Keys: keys, Auth: e.Engine, Logger: logger})}
	})
}

func bearer(key string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + key}
}

// object decodes an answer that must be a JSON object.
func object(t *testing.T, res *compattest.Response) map[string]any {
	t.Helper()
	m, ok := res.JSON(t).(map[string]any)
	if !ok {
		t.Fatalf("answer is not an object: %s", res.Body)
	}
	return m
}

// wantOK checks a successful envelope and returns its data.
func wantOK(t *testing.T, res *compattest.Response) any {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("status: got %d, want 200: %s", res.Status, res.Body)
	}
	env := object(t, res)
	if env["code"] != float64(200) || env["message"] != "success" || env["requestId"] != res.Header.Get("X-Request-Id") {
		t.Errorf("envelope: got code %v, message %v, requestId %v; want 200, success, %s", env["code"], env["message"], env["requestId"], res.Header.Get("X-Request-Id"))
	}
	return env["data"]
}

// wantKey checks a successful envelope holding one API key.
func wantKey(t *testing.T, res *compattest.Response) map[string]any {
	t.Helper()
	k, ok := wantOK(t, res).(map[string]any)
	if !ok {
		t.Fatalf("data is not an object: %s", res.Body)
	}
	return k
}

// wantError checks an error envelope: code the status, the request id,
// and, when field is set, data and message naming it; data is null
// otherwise.
func wantError(t *testing.T, res *compattest.Response, status int, field string) map[string]any {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status: got %d, want %d: %s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	env := object(t, res)
	if diff := cmp.Diff([]string{"code", "data", "message", "requestId"}, slices.Sorted(maps.Keys(env))); diff != "" {
		t.Errorf("envelope members (-want +got):\n%s", diff)
	}
	if env["code"] != float64(status) {
		t.Errorf("code: got %v, want %d", env["code"], status)
	}
	if id := res.Header.Get("X-Request-Id"); id == "" || env["requestId"] != id {
		t.Errorf("requestId: got %v, want the X-Request-Id %q", env["requestId"], id)
	}
	msg, _ := env["message"].(string)
	if msg == "" || msg == "success" {
		t.Errorf("message: got %q, want an explanation", msg)
	}
	if field == "" {
		return env
	}
	if !strings.HasPrefix(msg, field+": ") {
		t.Errorf("message %q does not name %s", msg, field)
	}
	data, _ := env["data"].(map[string]any)
	errs, _ := data["errors"].([]any)
	var named []string
	for _, e := range errs {
		f, _ := e.(map[string]any)
		name, _ := f["field"].(string)
		named = append(named, name)
	}
	if !slices.Contains(named, field) {
		t.Errorf("data.errors name %q, want %s: %s", named, field, res.Body)
	}
	return env
}

// createServiceAccount makes a service account through /v1.
func createServiceAccount(t *testing.T, e *compattest.Env, rootKey, name string) string {
	t.Helper()
	res := e.Do(t, http.MethodPost, "/v1/service-accounts", map[string]any{"name": name}, bearer(rootKey))
	if res.Status != http.StatusCreated {
		t.Fatalf("create service account: status %d: %s", res.Status, res.Body)
	}
	id, _ := object(t, res)["id"].(string)
	return id
}

// normalize replaces the non-empty string values of the named members
// with "<name>", keeping "" visible: an absent value is part of the shape.
func normalize(v any, names ...string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && s != "" && slices.Contains(names, k) {
				x[k] = "<" + k + ">"
				continue
			}
			x[k] = normalize(val, names...)
		}
	case []any:
		for i := range x {
			x[i] = normalize(x[i], names...)
		}
	}
	return v
}

// volatile names the members whose values change from run to run.
var volatile = []string{"id", "createdAt", "createdBy", "key", "keyPrefix", "organizationId", "requestId",
	"revokedAt", "serviceAccountId", "nextCursor"}

// checkGolden compares got with testdata/name.golden, or rewrites it with
// -update. A golden file never holds a key.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	if httpapi.RedactKeys(string(got)) != string(got) {
		t.Fatalf("golden %s would hold a key:\n%s", name, got)
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestGolden replays the document's example requests and the profile's
// siblings in order, each answer normalized, against testdata/*.golden.
// {sa} in a body or path is a service account's id, {id} the id of the
// key the second step creates.
func TestGolden(t *testing.T) {
	e := start(t)
	sa := createServiceAccount(t, e, e.RootKey, "pipeline")
	var id string
	steps := []struct {
		name   string
		method string
		path   string
		body   string
		noAuth bool
	}{
		// The document's own example: curl -d '{}' answers 400.
		{"create_empty_object", http.MethodPost, keysPath, `{}`, false},
		{"create_read", http.MethodPost, keysPath,
			`{"name": "ci-deploy", "description": "Deploys from CI", "expiresAt": "2030-01-02T15:04:05Z", "scope": "read"}`, false},
		{"create_read_write_service_account", http.MethodPost, keysPath,
			`{"name": "pipeline", "scope": "read-write", "serviceAccountId": "{sa}"}`, false},
		{"create_defaults", http.MethodPost, keysPath, `{"name": "minimal"}`, false},
		{"create_bad_scope", http.MethodPost, keysPath, `{"name": "x", "scope": "admin"}`, false},
		{"create_unauthorized", http.MethodPost, keysPath, `{"name": "x"}`, true},
		{"get", http.MethodGet, keysPath + "/{id}", "", false},
		{"list", http.MethodGet, keysPath + "?limit=2", "", false},
		{"revoke", http.MethodDelete, keysPath + "/{id}", "", false},
		{"get_not_found", http.MethodGet, keysPath + "/no-such-key", "", false},
		{"method_not_allowed", http.MethodPut, keysPath, "", false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			path := strings.ReplaceAll(st.path, "{id}", id)
			var body any
			if st.body != "" {
				body = strings.ReplaceAll(st.body, "{sa}", sa)
			}
			header := bearer(e.RootKey)
			if st.noAuth {
				header = nil
			}
			res := e.Do(t, st.method, path, body, header)
			v := res.JSON(t)
			if st.name == "create_read" {
				id = v.(map[string]any)["data"].(map[string]any)["id"].(string)
			}
			var b bytes.Buffer
			fmt.Fprintf(&b, "%s %s\n", st.method, st.path)
			if st.body != "" {
				fmt.Fprintf(&b, "Content-Type: application/json\n\n%s\n", st.body)
			}
			fmt.Fprintf(&b, "\nHTTP %d\n", res.Status)
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(normalize(v, volatile...)); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, st.name, b.Bytes())
		})
	}
}

// keyFields is every member of the document's API key and its JSON type:
// all strings, none nullable.
var keyFields = []string{"createdAt", "createdBy", "description", "expiresAt", "id", "key", "keyPrefix", "lastUsedAt",
	"lastUsedIp", "lastUsedUserAgent", "name", "organizationId", "revokedAt", "scope", "serviceAccountId", "userId"}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// Every answer carries every documented member with its documented type,
// and nothing else: the envelope's code a number, message and requestId
// strings, and each API key's sixteen members strings.
func TestFieldTypes(t *testing.T) {
	e := start(t)
	sa := createServiceAccount(t, e, e.RootKey, "robots")
	created := e.Do(t, http.MethodPost, keysPath, map[string]any{"name": "typed", "serviceAccountId": sa, "expiresAt": "2031-05-06T07:08:09Z"}, bearer(e.RootKey))
	id := wantKey(t, created)["id"].(string)
	// A use fills lastUsed*; it is written behind, so wait for it.
	secret := object(t, created)["data"].(map[string]any)["key"].(string)
	e.Verify(t, secret, "")
	e.Engine.Flush(t.Context())

	answers := []struct {
		name string
		res  *compattest.Response
		list bool
	}{
		{"create", created, false},
		{"get", e.Do(t, http.MethodGet, keysPath+"/"+id, nil, bearer(e.RootKey)), false},
		{"list", e.Do(t, http.MethodGet, keysPath, nil, bearer(e.RootKey)), true},
		{"revoke", e.Do(t, http.MethodPost, keysPath+"/"+id+"/revoke", nil, bearer(e.RootKey)), false},
	}
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			env := object(t, a.res)
			want := map[string]string{"code": "number", "data": "object", "message": "string", "requestId": "string"}
			if a.list {
				want["data"], want["nextCursor"] = "array", "string"
			}
			got := make(map[string]string)
			for k, v := range env {
				got[k] = jsonType(v)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("envelope (-want +got):\n%s", diff)
			}
			var keys []any
			if a.list {
				keys, _ = env["data"].([]any)
			} else {
				keys = []any{env["data"]}
			}
			if len(keys) == 0 {
				t.Fatal("no key in the answer")
			}
			for _, k := range keys {
				m, _ := k.(map[string]any)
				want := make(map[string]string)
				for _, f := range keyFields {
					want[f] = "string"
				}
				got := make(map[string]string)
				for f, v := range m {
					got[f] = jsonType(v)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("API key %v (-want +got):\n%s", m["id"], diff)
				}
			}
		})
	}

	// The values of the typed key, where Keyward has them.
	got := wantKey(t, e.Do(t, http.MethodGet, keysPath+"/"+id, nil, bearer(e.RootKey)))
	for _, f := range []string{"createdAt", "lastUsedAt", "revokedAt"} {
		ts, err := time.Parse(time.RFC3339Nano, got[f].(string))
		if err != nil || !compattest.Within(ts, time.Minute) {
			t.Errorf("%s: got %q, want a recent RFC 3339 time", f, got[f])
		}
	}
	want := map[string]any{"expiresAt": "2031-05-06T07:08:09Z", "serviceAccountId": sa, "userId": "", "organizationId": e.Org.ID,
		"scope": "read", "key": "", "lastUsedIp": "127.0.0.1", "description": "", "name": "typed"}
	for f, w := range want {
		if got[f] != w {
			t.Errorf("%s: got %q, want %q", f, got[f], w)
		}
	}
	if p, _ := got["keyPrefix"].(string); !strings.HasPrefix(secret, p) || len(p) < 8 {
		t.Errorf("keyPrefix %q is not a prefix of the key", p)
	}
}

// Bad input answers 400 (413, 415) in the envelope naming the member, and
// creates nothing: no key and no audit event.
func TestCreate_BadInput(t *testing.T) {
	e := start(t)
	other := e.OtherOrg(t)
	otherSA := createServiceAccount(t, e, other, "theirs")
	tests := []struct {
		name        string
		body        string
		contentType string
		status      int
		field       string
	}{
		{"empty object", `{}`, "", 400, "name"},
		{"missing name", `{"description": "d", "scope": "read"}`, "", 400, "name"},
		{"empty name", `{"name": ""}`, "", 400, "name"},
		{"blank name", `{"name": "   "}`, "", 400, "name"},
		{"null name", `{"name": null}`, "", 400, "name"},
		{"scope write", `{"name": "x", "scope": "write"}`, "", 400, "scope"},
		{"scope admin", `{"name": "x", "scope": "admin"}`, "", 400, "scope"},
		{"scope number", `{"name": "x", "scope": 5}`, "", 400, "scope"},
		{"scope case", `{"name": "x", "scope": "READ"}`, "", 400, "scope"},
		{"expiresAt past", `{"name": "x", "expiresAt": "2001-01-01T00:00:00Z"}`, "", 400, "expiresAt"},
		{"expiresAt not a date-time", `{"name": "x", "expiresAt": "tomorrow"}`, "", 400, "expiresAt"},
		{"expiresAt date only", `{"name": "x", "expiresAt": "2030-01-02"}`, "", 400, "expiresAt"},
		{"expiresAt number", `{"name": "x", "expiresAt": 1900000000}`, "", 400, "expiresAt"},
		{"expiresAt too far", `{"name": "x", "expiresAt": "2999-01-01T00:00:00Z"}`, "", 400, "expiresAt"},
		{"unknown serviceAccountId", `{"name": "x", "serviceAccountId": "sa-nope"}`, "", 400, "serviceAccountId"},
		{"other org's serviceAccountId", `{"name": "x", "serviceAccountId": "` + otherSA + `"}`, "", 400, "serviceAccountId"},
		{"serviceAccountId array", `{"name": "x", "serviceAccountId": []}`, "", 400, "serviceAccountId"},
		{"name number", `{"name": 5}`, "", 400, "name"},
		{"description bool", `{"name": "x", "description": true}`, "", 400, "description"},
		{"description control", `{"name": "x", "description": "a\u0007b"}`, "", 400, "description"},
		{"unknown member", `{"name": "x", "permissions": ["*"]}`, "", 400, "permissions"},
		{"member case", `{"Name": "x"}`, "", 400, "Name"},
		{"snake case member", `{"name": "x", "expires_at": "2030-01-02T15:04:05Z"}`, "", 400, "expires_at"},
		{"duplicate member", `{"name": "x", "name": "y"}`, "", 400, "name"},
		{"not JSON", `name=x`, "", 400, ""},
		{"array", `[{"name": "x"}]`, "", 400, ""},
		{"truncated", `{"name": "x"`, "", 400, ""},
		{"trailing data", `{"name": "x"} {}`, "", 400, ""},
		{"empty body", ``, "", 400, ""},
		{"wrong content type", `{"name": "x"}`, "text/plain", 415, ""},
		{"form content type", `{"name": "x"}`, "application/x-www-form-urlencoded", 415, ""},
		{"too large", `{"name": "` + strings.Repeat("x", 70<<10) + `"}`, "", 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, audit := e.CountKeys(t), len(e.AuditActions(t))
			header := bearer(e.RootKey)
			if tt.contentType != "" {
				header["Content-Type"] = tt.contentType
			}
			res := e.Do(t, http.MethodPost, keysPath, tt.body, header)
			env := wantError(t, res, tt.status, tt.field)
			if tt.field == "" && env["data"] != nil {
				t.Errorf("data: got %v, want null", env["data"])
			}
			if got := e.CountKeys(t); got != keys {
				t.Errorf("keys: got %d, want %d: something was created", got, keys)
			}
			if got := len(e.AuditActions(t)); got != audit {
				t.Errorf("audit events: got %d, want %d", got, audit)
			}
		})
	}
}

// "" and null mean absent for every optional member, as a client whose
// fields lack omitempty sends them: no expiry, the default scope, no
// service account.
func TestCreate_EmptyMeansAbsent(t *testing.T) {
	e := start(t)
	for _, body := range []string{
		`{"name": "a", "description": "", "expiresAt": "", "scope": "", "serviceAccountId": ""}`,
		`{"name": "b", "description": null, "expiresAt": null, "scope": null, "serviceAccountId": null}`,
	} {
		k := wantKey(t, e.Do(t, http.MethodPost, keysPath, body, bearer(e.RootKey)))
		want := map[string]any{"expiresAt": "", "scope": "read", "serviceAccountId": "", "description": "", "revokedAt": ""}
		for f, w := range want {
			if k[f] != w {
				t.Errorf("%s: %s: got %q, want %q", body, f, k[f], w)
			}
		}
	}
}

// A key made through the profile is an ordinary Keyward key: it verifies,
// shows in the profile's list and get and in /v1/keys, and once revoked
// through either revoke route verifies as REVOKED.
func TestRoundTrip(t *testing.T) {
	revokes := []struct {
		method string
		suffix string
	}{
		{http.MethodDelete, ""},
		{http.MethodPost, "/revoke"},
	}
	for _, rv := range revokes {
		t.Run(rv.method+rv.suffix, func(t *testing.T) {
			e := start(t)
			k := wantKey(t, e.Do(t, http.MethodPost, keysPath, map[string]any{"name": "round", "scope": "read-write"}, bearer(e.RootKey)))
			id, secret := k["id"].(string), k["key"].(string)
			if _, ok := keyformat.Parse(secret); !ok {
				t.Fatalf("key %q is not a well-formed Keyward key", keyformat.DisplayPrefix(secret))
			}
			if res := e.Verify(t, secret, ""); res.Code != keyward.CodeValid || res.KeyID != id {
				t.Fatalf("verify: got %s for %s, want VALID for %s", res.Code, res.KeyID, id)
			}

			if got := wantKey(t, e.Do(t, http.MethodGet, keysPath+"/"+id, nil, bearer(e.RootKey))); got["name"] != "round" || got["scope"] != "read-write" {
				t.Errorf("get: got %v", got)
			}
			list, _ := wantOK(t, e.Do(t, http.MethodGet, keysPath, nil, bearer(e.RootKey))).([]any)
			if !slices.ContainsFunc(list, func(v any) bool { return v.(map[string]any)["id"] == id }) {
				t.Errorf("list does not hold %s", id)
			}
			v1 := e.Do(t, http.MethodGet, "/v1/keys/"+id, nil, bearer(e.RootKey))
			var rec keyward.Key
			if err := json.Unmarshal(v1.Body, &rec); err != nil || v1.Status != http.StatusOK {
				t.Fatalf("/v1/keys/%s: status %d: %s", id, v1.Status, v1.Body)
			}
			if diff := cmp.Diff([]string{"read", "write"}, rec.Permissions); diff != "" {
				t.Errorf("/v1 permissions (-want +got):\n%s", diff)
			}

			revoked := wantKey(t, e.Do(t, rv.method, keysPath+"/"+id+rv.suffix, nil, bearer(e.RootKey)))
			if revoked["revokedAt"] == "" || revoked["key"] != "" {
				t.Errorf("revoke: got revokedAt %q, key %q; want a time and no key", revoked["revokedAt"], revoked["key"])
			}
			if res := e.Verify(t, secret, ""); res.Code != keyward.CodeRevoked {
				t.Errorf("verify after revoke: got %s, want REVOKED", res.Code)
			}
			// Revoking again changes nothing.
			again := wantKey(t, e.Do(t, rv.method, keysPath+"/"+id+rv.suffix, nil, bearer(e.RootKey)))
			if again["revokedAt"] != revoked["revokedAt"] {
				t.Errorf("second revoke: revokedAt %q, want %q", again["revokedAt"], revoked["revokedAt"])
			}
			if got := e.AuditActions(t); len(got) < 2 || got[0] != keyward.ActionKeyRevoke || got[1] != keyward.ActionKeyCreate {
				t.Errorf("audit actions (newest first): got %v, want a revoke then a create", got)
			}
		})
	}
}

// Scope read is the permission read and read-write read and write, as
// verification sees them; reading back names the scope that a key's
// permissions cover, whoever made it.
func TestScope(t *testing.T) {
	e := start(t)
	verifies := []struct {
		scope string
		want  map[string]string
	}{
		{"read", map[string]string{"read": keyward.CodeValid, "write": keyward.CodeInsufficientPermissions}},
		{"read-write", map[string]string{"read": keyward.CodeValid, "write": keyward.CodeValid}},
	}
	for _, tt := range verifies {
		t.Run("verify "+tt.scope, func(t *testing.T) {
			k := wantKey(t, e.Do(t, http.MethodPost, keysPath, map[string]any{"name": tt.scope, "scope": tt.scope}, bearer(e.RootKey)))
			if k["scope"] != tt.scope {
				t.Errorf("scope: got %q, want %q", k["scope"], tt.scope)
			}
			for perm, want := range tt.want {
				if got := e.Verify(t, k["key"].(string), perm).Code; got != want {
					t.Errorf("verify with %q: got %s, want %s", perm, got, want)
				}
			}
		})
	}

	readBack := []struct {
		perms []string
		want  string
	}{
		{[]string{"read"}, "read"},
		{[]string{"read", "write"}, "read-write"},
		{[]string{"write", "read"}, "read-write"},
		{[]string{"*"}, "read-write"},
		{[]string{"read", "nodes.read"}, "read"},
		{[]string{"write"}, ""},
		{[]string{"nodes.read"}, ""},
		{[]string{"read.all"}, ""},
		{nil, ""},
	}
	for _, tt := range readBack {
		t.Run(fmt.Sprintf("read back %q", tt.perms), func(t *testing.T) {
			k := e.CreateKey(t, keyward.KeyCreate{Name: "elsewhere", Permissions: tt.perms})
			if got := wantKey(t, e.Do(t, http.MethodGet, keysPath+"/"+k.ID, nil, bearer(e.RootKey)))["scope"]; got != tt.want {
				t.Errorf("scope: got %q, want %q", got, tt.want)
			}
		})
	}
}

// A key that may create keys but holds only read cannot make a read-write
// key, nor can a key without admin:api-keys:create make any.
func TestNonEscalation(t *testing.T) {
	e := start(t)
	narrow := e.CreateKey(t, keyward.KeyCreate{Name: "narrow", Permissions: []string{keyward.PermKeysCreate, "read"}})
	plain := e.CreateKey(t, keyward.KeyCreate{Name: "plain", Permissions: []string{"read", "write"}})
	tests := []struct {
		name   string
		caller string
		scope  string
		field  string
	}{
		{"broader scope", narrow.Secret, "read-write", "scope"},
		{"no create permission", plain.Secret, "read", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, audit := e.CountKeys(t), len(e.AuditActions(t))
			res := e.Do(t, http.MethodPost, keysPath, map[string]any{"name": "up", "scope": tt.scope}, bearer(tt.caller))
			wantError(t, res, http.StatusForbidden, tt.field)
			if got := e.CountKeys(t); got != keys {
				t.Errorf("keys: got %d, want %d", got, keys)
			}
			if got := len(e.AuditActions(t)); got != audit {
				t.Errorf("audit events: got %d, want %d", got, audit)
			}
		})
	}
	t.Run("covered scope", func(t *testing.T) {
		k := wantKey(t, e.Do(t, http.MethodPost, keysPath, map[string]any{"name": "ok", "scope": "read"}, bearer(narrow.Secret)))
		if k["createdBy"] != narrow.ID {
			t.Errorf("createdBy: got %q, want the caller %s", k["createdBy"], narrow.ID)
		}
	})
}

// Another org's key answers 404 on get and both revokes, exactly like a
// missing one, and stays unrevoked.
func TestTenantIsolation(t *testing.T) {
	e := start(t)
	other := e.OtherOrg(t)
	theirs := wantKey(t, e.Do(t, http.MethodPost, keysPath, map[string]any{"name": "theirs"}, bearer(other)))
	id := theirs["id"].(string)
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, keysPath + "/" + id},
		{http.MethodDelete, keysPath + "/" + id},
		{http.MethodPost, keysPath + "/" + id + "/revoke"},
	} {
		t.Run(req.method+" "+req.path, func(t *testing.T) {
			wantError(t, e.Do(t, req.method, req.path, nil, bearer(e.RootKey)), http.StatusNotFound, "")
		})
	}
	if got := wantKey(t, e.Do(t, http.MethodGet, keysPath+"/"+id, nil, bearer(other))); got["revokedAt"] != "" {
		t.Errorf("the other org's key was revoked: %v", got["revokedAt"])
	}
	list, _ := wantOK(t, e.Do(t, http.MethodGet, keysPath, nil, bearer(e.RootKey))).([]any)
	for _, k := range list {
		if k.(map[string]any)["id"] == id {
			t.Error("the list holds the other org's key")
		}
	}
}

// A missing, malformed, unknown or revoked key answers 401 in the
// envelope on every route; Bearer and X-API-Key both carry a key.
func TestAuth(t *testing.T) {
	e := start(t)
	revoked := e.CreateKey(t, keyward.KeyCreate{Name: "gone"})
	wantKey(t, e.Do(t, http.MethodDelete, keysPath+"/"+revoked.ID, nil, bearer(e.RootKey)))
	unknown, err := keyformat.Generate("kw_live")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header map[string]string
	}{
		{"none", nil},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}},
		{"basic", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}},
		{"malformed", bearer("YOUR_API_TOKEN")},
		{"unknown", bearer(unknown)},
		{"unknown X-API-Key", map[string]string{"X-API-Key": unknown}},
		{"revoked", bearer(revoked.Secret)},
	}
	routes := []struct{ method, path string }{
		{http.MethodPost, keysPath},
		{http.MethodGet, keysPath},
		{http.MethodGet, keysPath + "/x1"},
		{http.MethodDelete, keysPath + "/x1"},
		{http.MethodPost, keysPath + "/x1/revoke"},
	}
	for _, tt := range tests {
		for _, rt := range routes {
			t.Run(tt.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				var body any
				if rt.method == http.MethodPost {
					body = `{"name": "x"}`
				}
				res := e.Do(t, rt.method, rt.path, body, tt.header)
				wantError(t, res, http.StatusUnauthorized, "")
				if got := res.Header.Get("WWW-Authenticate"); got != "Bearer" {
					t.Errorf("WWW-Authenticate: got %q, want Bearer", got)
				}
			})
		}
	}
	t.Run("X-API-Key", func(t *testing.T) {
		wantOK(t, e.Do(t, http.MethodGet, keysPath, nil, map[string]string{"X-API-Key": e.RootKey}))
	})
	if strings.Contains(e.Logs.String(), unknown) || strings.Contains(e.Logs.String(), revoked.Secret) {
		t.Error("a presented key is in the logs")
	}
}

// The secret is in the create answer only: never in a list, get or revoke
// answer, never in a header, never in the logs.
func TestShowOnce(t *testing.T) {
	e := start(t)
	created := e.Do(t, http.MethodPost, keysPath, map[string]any{"name": "secret"}, bearer(e.RootKey))
	k := wantKey(t, created)
	secret, id := k["key"].(string), k["id"].(string)
	if cc := created.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", cc)
	}
	e.Verify(t, secret, "")
	for _, res := range []*compattest.Response{
		e.Do(t, http.MethodGet, keysPath, nil, bearer(e.RootKey)),
		e.Do(t, http.MethodGet, keysPath+"/"+id, nil, bearer(e.RootKey)),
		e.Do(t, http.MethodDelete, keysPath+"/"+id, nil, bearer(e.RootKey)),
		e.Do(t, http.MethodGet, keysPath+"/"+secret, nil, bearer(e.RootKey)),
		e.Do(t, http.MethodPost, keysPath, map[string]any{"name": "x", "serviceAccountId": secret}, bearer(e.RootKey)),
		e.Do(t, http.MethodPost, keysPath, map[string]any{"name": "x", secret: 1}, bearer(e.RootKey)),
		e.Do(t, http.MethodGet, keysPath+"?"+secret+"=1", nil, bearer(e.RootKey)),
	} {
		if bytes.Contains(res.Body, []byte(secret)) || strings.Contains(fmt.Sprint(res.Header), secret) {
			t.Errorf("an answer holds the secret: %s", res.Body)
		}
	}
	if strings.Contains(e.Logs.String(), secret) {
		t.Error("the logs hold the secret")
	}
}

// Unknown paths under the prefix answer 404, and known paths asked with
// another method 405 with Allow, both in the envelope.
func TestUnknownPathsAndMethods(t *testing.T) {
	e := start(t)
	tests := []struct {
		method string
		path   string
		status int
		allow  string
	}{
		{http.MethodGet, orgapi.Prefix + "/v1", 404, ""},
		{http.MethodGet, orgapi.Prefix + "/v2/api-keys", 404, ""},
		{http.MethodGet, keysPath + "/x1/y", 404, ""},
		{http.MethodPost, orgapi.Prefix + "/v1/api-key", 404, ""},
		{http.MethodPut, keysPath, 405, "GET, HEAD, POST"},
		{http.MethodDelete, keysPath, 405, "GET, HEAD, POST"},
		{http.MethodPatch, keysPath + "/x1", 405, "DELETE, GET, HEAD"},
		{http.MethodPost, keysPath + "/x1", 405, "DELETE, GET, HEAD"},
		{http.MethodGet, keysPath + "/x1/revoke", 405, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := e.Do(t, tt.method, tt.path, nil, bearer(e.RootKey))
			wantError(t, res, tt.status, "")
			if got := res.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow: got %q, want %q", got, tt.allow)
			}
		})
	}
}

// The list pages by cursor and limit; bad parameters answer 400 naming
// them.
func TestList(t *testing.T) {
	e := start(t)
	for i := range 4 {
		e.CreateKey(t, keyward.KeyCreate{Name: fmt.Sprintf("k%d", i), Permissions: []string{"read"}})
	}
	var ids []string
	cursor := ""
	for range 10 {
		path := keysPath + "?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		res := e.Do(t, http.MethodGet, path, nil, bearer(e.RootKey))
		data, _ := wantOK(t, res).([]any)
		if len(data) > 2 {
			t.Fatalf("page of %d keys, want at most 2", len(data))
		}
		for _, k := range data {
			ids = append(ids, k.(map[string]any)["id"].(string))
		}
		cursor, _ = object(t, res)["nextCursor"].(string)
		if cursor == "" {
			break
		}
	}
	if len(ids) != 5 || !slices.IsSorted(ids) {
		t.Errorf("paged ids: got %q, want the 5 keys (root included) in order", ids)
	}

	bad := []struct {
		query string
		field string
	}{
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?limit=two", "limit"},
		{"?cursor=%21%21", "cursor"},
		{"?pageSize=10", "pageSize"},
		{"?limit=1&limit=2", "limit"},
	}
	for _, tt := range bad {
		t.Run(tt.query, func(t *testing.T) {
			wantError(t, e.Do(t, http.MethodGet, keysPath+tt.query, nil, bearer(e.RootKey)), http.StatusBadRequest, tt.field)
		})
	}
}

// A service account of the org owns a key created with its id, as /v1
// sees it too.
func TestServiceAccount(t *testing.T) {
	e := start(t)
	sa := createServiceAccount(t, e, e.RootKey, "robots")
	k := wantKey(t, e.Do(t, http.MethodPost, keysPath, map[string]any{"name": "bot", "serviceAccountId": sa}, bearer(e.RootKey)))
	if k["serviceAccountId"] != sa || k["userId"] != "" {
		t.Errorf("got serviceAccountId %q, userId %q; want %q, \"\"", k["serviceAccountId"], k["userId"], sa)
	}
	res := e.Do(t, http.MethodGet, "/v1/keys?service_account_id="+sa, nil, bearer(e.RootKey))
	var page keyward.Page[*keyward.Key]
	if err := json.Unmarshal(res.Body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != k["id"] {
		t.Errorf("/v1/keys of the service account: got %s", res.Body)
	}
	if got := e.Verify(t, k["key"].(string), "").ServiceAccountID; got != sa {
		t.Errorf("verify: service account %q, want %q", got, sa)
	}
}

// failingKeys is a KeyService whose lists fail unexpectedly, with a key in
// the error's text.
type failingKeys struct {
	keyward.KeyService
	secret string
}

func (f failingKeys) FindKeys(ctx context.Context, _ keyward.KeyFilter) (keyward.Page[*keyward.Key], error) {
	return keyward.Page[*keyward.Key]{}, errors.New("store exploded near " + f.secret)
}

// An unexpected error answers 500 in the envelope with a generic message;
// its text is logged, redacted.
func TestInternalError(t *testing.T) {
	secret, err := keyformat.Generate("kw_live")
	if err != nil {
		t.Fatal(err)
	}
	e := startWith(t, func(k keyward.KeyService) keyward.KeyService { return failingKeys{k, secret} })
	res := e.Do(t, http.MethodGet, keysPath, nil, bearer(e.RootKey))
	env := wantError(t, res, http.StatusInternalServerError, "")
	if env["message"] != "Internal error." {
		t.Errorf("message: got %q, want the generic one", env["message"])
	}
	logs := e.Logs.String()
	if !strings.Contains(logs, "store exploded") || strings.Contains(logs, secret) {
		t.Errorf("logs: want the error, redacted:\n%s", logs)
	}
}

// What the server answers under the prefix without reaching the profile
// (the bare prefix, a path not in canonical form, a panic) is in the
// envelope too, with the request id.
func TestUnserved_Envelope(t *testing.T) {
	e := startWith(t, func(k keyward.KeyService) keyward.KeyService { return compattest.PanickingKeys{KeyService: k} })
	for _, path := range compattest.UnservedPaths(orgapi.Prefix, keysPath) {
		t.Run(path, func(t *testing.T) {
			wantError(t, e.Do(t, http.MethodGet, path, nil, bearer(e.RootKey)), http.StatusNotFound, "")
		})
	}
	env := wantError(t, e.Do(t, http.MethodGet, keysPath, nil, bearer(e.RootKey)), http.StatusInternalServerError, "")
	if env["message"] != "Internal error." {
		t.Errorf("message: got %q, want the generic one", env["message"])
	}
}
