package hellgate_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"keyward"
	"keyward/compat/hellgate"
	"keyward/compat/internal/compattest"
	"keyward/httpapi"
	"keyward/keyformat"
)

var update = flag.Bool("update", false, "update the golden files in testdata")

const keysPath = hellgate.Prefix + "/api/admin/api-keys"

// seedBody is the request of the document's example.
const seedBody = `{
  "expires_in": 3600,
  "scopes": [
    "admin:api-keys:create",
    "admin:api-keys:update"
  ]
}`

// documentScopes is the document's list, copied here rather than taken
// from the package so that the test checks the package against the
// document.
var documentScopes = []string{
	"admin:api-keys:create", "admin:api-keys:read", "admin:api-keys:update", "admin:api-keys:delete",
	"admin:webhooks:create", "admin:webhooks:read", "admin:webhooks:delete",
	"pci:tokens:create", "pci:tokens:read", "pci:tokens:update", "pci:tokens:delete", "pci:tokens:forward",
	"network:tokens:create", "network:tokens:read", "network:tokens:delete", "network:tokens:use",
	"generic:tokens:create", "generic:tokens:read", "generic:tokens:delete",
	"admin:types:create", "admin:types:read", "admin:types:delete",
}

// MustStart serves the profile on a fresh stack.
func MustStart(tb testing.TB) *compattest.Env {
	tb.Helper()
	return compattest.Start(tb, func(e *compattest.Env, logger *slog.Logger) []httpapi.Mount {
		return []httpapi.Mount{hellgate.New(hellgate.Config{Keys: e.Service, Auth: e.Engine, Logger: logger})}
	})
}

// as is the document's authorization: the key in x-api-key.
func as(key string) map[string]string {
	return map[string]string{"x-api-key": key}
}

// decodeObject decodes an answer that must be a JSON object.
func decodeObject(tb testing.TB, res *compattest.Response) map[string]any {
	tb.Helper()
	obj, ok := res.JSON(tb).(map[string]any)
	if !ok {
		tb.Fatalf("answer is not an object: %s", res.Body)
	}
	return obj
}

// mustCreate creates a key through the profile and returns the answer.
func mustCreate(tb testing.TB, e *compattest.Env, key, body string) map[string]any {
	tb.Helper()
	res := e.Do(tb, http.MethodPost, keysPath, body, as(key))
	if res.Status != http.StatusOK {
		tb.Fatalf("create: got status %d, want 200: %s", res.Status, res.Body)
	}
	return decodeObject(tb, res)
}

// wantError checks an answer in the profile's error shape: status, code,
// the member named (none for ""), a message, and the request id of the
// X-Request-Id header.
func wantError(tb testing.TB, res *compattest.Response, status int, code, field string) map[string]any {
	tb.Helper()
	if res.Status != status {
		tb.Fatalf("status: got %d, want %d: %s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type: got %q, want application/json", ct)
	}
	var body struct {
		Error map[string]any `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(res.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		tb.Fatalf("error answer: %v: %s", err, res.Body)
	}
	var wantField any
	if field != "" {
		wantField = field
	}
	got := body.Error
	want := map[string]any{"code": code, "field": wantField, "message": got["message"], "request_id": res.Header.Get("X-Request-Id")}
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Errorf("error (-want +got):\n%s", diff)
	}
	if msg, _ := got["message"].(string); msg == "" {
		tb.Errorf("message: got %v, want a text", got["message"])
	}
	return got
}

// state is what a rejected request must leave as it found.
type state struct {
	keys  int
	audit []string
}

func stateOf(tb testing.TB, e *compattest.Env) state {
	tb.Helper()
	return state{keys: e.CountKeys(tb), audit: e.AuditActions(tb)}
}

// wantUnchanged checks that nothing was created or audited since before.
func wantUnchanged(tb testing.TB, e *compattest.Env, before state) {
	tb.Helper()
	if after := stateOf(tb, e); !cmp.Equal(before, after, cmp.AllowUnexported(state{})) {
		tb.Errorf("state changed: got %+v, want %+v", after, before)
	}
}

// TestGolden holds the answers to the document's own example request and
// to its siblings to files in testdata, with ids, times, secrets and
// request ids normalized.
func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		method string
		// path's "{id}" is the id of the example's key.
		path string
		body string
		// caller returns the request's headers; nil means the root key's
		// x-api-key.
		caller func(t *testing.T, e *compattest.Env) map[string]string
	}{
		{"create", http.MethodPost, keysPath, seedBody, nil},
		{"create_never_expires", http.MethodPost, keysPath, `{"scopes": ["pci:tokens:read", "pci:tokens:forward"]}`, nil},
		{"get", http.MethodGet, keysPath + "/{id}", "", nil},
		{"list", http.MethodGet, keysPath, "", nil},
		{"list_limit", http.MethodGet, keysPath + "?limit=1", "", nil},
		{"delete", http.MethodDelete, keysPath + "/{id}", "", nil},
		{"error_unknown_scope", http.MethodPost, keysPath, `{"scopes": ["admin:api-keys:create", "pci:tokens:read", "admin:everything"]}`, nil},
		{"error_expires_in", http.MethodPost, keysPath, `{"scopes": ["pci:tokens:read"], "expires_in": 7776001}`, nil},
		{"error_unknown_member", http.MethodPost, keysPath, `{"scopes": ["pci:tokens:read"], "name": "ci"}`, nil},
		{"error_escalation", http.MethodPost, keysPath, `{"scopes": ["pci:tokens:create"]}`, func(t *testing.T, e *compattest.Env) map[string]string {
			return as(e.CreateKey(t, keyward.KeyCreate{Name: "narrow", Permissions: []string{keyward.PermKeysCreate, "pci:tokens:read"}}).Secret)
		}},
		{"error_bearer", http.MethodPost, keysPath, seedBody, func(t *testing.T, e *compattest.Env) map[string]string {
			return map[string]string{"Authorization": "Bearer " + e.RootKey}
		}},
		{"error_not_found", http.MethodGet, keysPath + "/0190a4b2-0000-7000-8000-000000000000", "", nil},
		{"error_method", http.MethodPut, keysPath, "", nil},
		{"error_unknown_path", http.MethodGet, hellgate.Prefix + "/api/admin/webhooks", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := MustStart(t)
			// Every case starts with a key made from the document's
			// example, for the siblings to show.
			k := mustCreate(t, e, e.RootKey, seedBody)
			path := strings.ReplaceAll(tt.path, "{id}", k["id"].(string))
			header := as(e.RootKey)
			if tt.caller != nil {
				header = tt.caller(t, e)
			}
			var body any
			if tt.body != "" {
				body = tt.body
			}
			res := e.Do(t, tt.method, path, body, header)
			compareGolden(t, tt.name, transcript(t, tt.method, tt.path, header, tt.body, res))
		})
	}
}

// transcript renders a request and its answer for a golden file: header
// values, which hold keys, are left out, and the answer's volatile members
// are normalized.
func transcript(t *testing.T, method, path string, header map[string]string, body string, res *compattest.Response) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", method, path)
	if _, ok := header["x-api-key"]; ok {
		b.WriteString("x-api-key: <key>\n")
	}
	if _, ok := header["Authorization"]; ok {
		b.WriteString("Authorization: Bearer <key>\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/json\n\n%s\n", body)
	}
	fmt.Fprintf(&b, "\nHTTP %d\n", res.Status)
	for _, name := range []string{"Allow", "Cache-Control", "Content-Type", "WWW-Authenticate"} {
		if v := res.Header.Get(name); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	if len(res.Body) > 0 {
		v := compattest.Normalize(res.JSON(t), "id", "created_at", "expires_at", "key_value", "request_id", "next_cursor")
		b.WriteString("\n")
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		// The placeholders' angle brackets stay readable.
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// compareGolden compares got with testdata/name.golden, or writes it there
// with -update. A golden file must never hold a key.
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	if httpapi.RedactKeys(got) != got {
		t.Fatalf("the transcript holds a key:\n%s", got)
	}
	file := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", file, diff)
	}
}

// Every documented member is present with its documented JSON type, and
// no other: the create answer's, and a key's in get and list.
func TestResponseFields(t *testing.T) {
	e := MustStart(t)
	res := e.Do(t, http.MethodPost, keysPath, seedBody, as(e.RootKey))
	// The members come in the document's order, for clients that read
	// them as a stream.
	if diff := cmp.Diff([]string{"id", "created_at", "expires_at", "key_value", "scopes"}, memberOrder(t, res.Body)); diff != "" {
		t.Errorf("create members (-document +got):\n%s", diff)
	}
	created := decodeObject(t, res)
	createFields := map[string]string{
		"id":         "uuid",
		"created_at": "date-time",
		"expires_at": "date-time",
		"key_value":  "key",
		"scopes":     "scopes",
	}
	checkFields(t, "create", created, createFields)

	never := mustCreate(t, e, e.RootKey, `{"scopes": ["pci:tokens:read"]}`)
	// expires_at is not required: a key that never expires has none.
	delete(createFields, "expires_at")
	checkFields(t, "create without expires_in", never, createFields)

	keyFields := map[string]string{
		"id":         "uuid",
		"created_at": "date-time",
		"expires_at": "date-time",
		"scopes":     "scopes",
	}
	get := decodeObject(t, e.Do(t, http.MethodGet, keysPath+"/"+created["id"].(string), nil, as(e.RootKey)))
	checkFields(t, "get", get, keyFields)

	list := decodeObject(t, e.Do(t, http.MethodGet, keysPath, nil, as(e.RootKey)))
	checkFields(t, "list", list, map[string]string{"data": "array", "next_cursor": "null"})
	for _, item := range list["data"].([]any) {
		k := item.(map[string]any)
		want := keyFields
		if k["id"] != created["id"] {
			// The root key and the never-expiring key have no expiry.
			want = map[string]string{"id": "uuid", "created_at": "date-time", "scopes": "scopes"}
		}
		checkFields(t, "list item", k, want)
	}
}

// memberOrder returns the member names of the JSON object body in order.
func memberOrder(t *testing.T, body []byte) []string {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range raw {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		return bytes.Index(body, []byte(`"`+a+`":`)) - bytes.Index(body, []byte(`"`+b+`":`))
	})
	return names
}

// checkFields checks that obj has exactly the members of want, each of its
// kind.
func checkFields(t *testing.T, what string, obj map[string]any, want map[string]string) {
	t.Helper()
	for name := range obj {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: undocumented member %q", what, name)
		}
	}
	for name, kind := range want {
		v, ok := obj[name]
		if !ok {
			t.Errorf("%s: member %q is missing", what, name)
			continue
		}
		s, isString := v.(string)
		var bad bool
		switch kind {
		case "uuid":
			_, err := uuid.Parse(s)
			bad = !isString || err != nil
		case "date-time":
			_, err := time.Parse(time.RFC3339, s)
			bad = !isString || err != nil
		case "key":
			_, ok := keyformat.Parse(s)
			bad = !isString || !ok
		case "scopes":
			list, ok := v.([]any)
			bad = !ok || len(list) == 0
			for _, item := range list {
				if _, ok := item.(string); !ok {
					bad = true
				}
			}
		case "array":
			_, ok := v.([]any)
			bad = !ok
		case "null":
			bad = v != nil
		}
		if bad {
			t.Errorf("%s: %s = %#v, want a %s", what, name, v, kind)
		}
	}
}

// Each bad input is a 4xx naming the member, and creates and audits
// nothing.
func TestCreate_Invalid(t *testing.T) {
	e := MustStart(t)
	tests := []struct {
		name        string
		body        string
		contentType string
		status      int
		field       string
		// quoted must appear in the message.
		quoted string
	}{
		{"missing scopes", `{"expires_in": 3600}`, "", 400, "scopes", ""},
		{"null scopes", `{"scopes": null}`, "", 400, "scopes", ""},
		{"empty scopes", `{"scopes": []}`, "", 400, "scopes", ""},
		{"unknown scope", `{"scopes": ["admin:api-keys:read", "pci:tokens:read", "admin:everything"]}`, "", 400, "scopes[2]", `"admin:everything"`},
		{"wildcard scope", `{"scopes": ["pci:tokens:*"]}`, "", 400, "scopes[0]", `"pci:tokens:*"`},
		{"upper-case scope", `{"scopes": ["ADMIN:API-KEYS:CREATE"]}`, "", 400, "scopes[0]", `"ADMIN:API-KEYS:CREATE"`},
		{"root scope", `{"scopes": ["*"]}`, "", 400, "scopes[0]", `"*"`},
		{"empty scope", `{"scopes": ["pci:tokens:read", ""]}`, "", 400, "scopes[1]", `""`},
		{"scope with space", `{"scopes": [" pci:tokens:read"]}`, "", 400, "scopes[0]", `" pci:tokens:read"`},
		{"keyward permission", `{"scopes": ["admin:audit:read"]}`, "", 400, "scopes[0]", `"admin:audit:read"`},
		// The service's bound on a key's permissions, named as the
		// document's member.
		{"101 scopes", `{"scopes": [` + strings.Repeat(`"pci:tokens:read", `, 100) + `"pci:tokens:read"]}`, "", 400, "scopes", ""},
		{"null scope", `{"scopes": [null]}`, "", 400, "scopes[0]", `""`},
		{"scopes a string", `{"scopes": "pci:tokens:read"}`, "", 400, "scopes", ""},
		{"scopes of numbers", `{"scopes": [1]}`, "", 400, "scopes", ""},
		{"scopes an object", `{"scopes": {}}`, "", 400, "scopes", ""},
		{"expires_in 0", `{"scopes": ["pci:tokens:read"], "expires_in": 0}`, "", 400, "expires_in", ""},
		{"expires_in -1", `{"scopes": ["pci:tokens:read"], "expires_in": -1}`, "", 400, "expires_in", ""},
		{"expires_in 7776001", `{"scopes": ["pci:tokens:read"], "expires_in": 7776001}`, "", 400, "expires_in", ""},
		{"expires_in 1.5", `{"scopes": ["pci:tokens:read"], "expires_in": 1.5}`, "", 400, "expires_in", ""},
		{"expires_in 1e3", `{"scopes": ["pci:tokens:read"], "expires_in": 1e3}`, "", 400, "expires_in", ""},
		{"expires_in a string", `{"scopes": ["pci:tokens:read"], "expires_in": "3600"}`, "", 400, "expires_in", ""},
		{"expires_in a bool", `{"scopes": ["pci:tokens:read"], "expires_in": true}`, "", 400, "expires_in", ""},
		{"expires_in huge", `{"scopes": ["pci:tokens:read"], "expires_in": 99999999999999999999}`, "", 400, "expires_in", ""},
		{"unknown member", `{"scopes": ["pci:tokens:read"], "name": "ci"}`, "", 400, "name", ""},
		{"member in another case", `{"Scopes": ["pci:tokens:read"]}`, "", 400, "Scopes", ""},
		{"camelCase member", `{"scopes": ["pci:tokens:read"], "expiresIn": 60}`, "", 400, "expiresIn", ""},
		{"duplicate member", `{"scopes": ["pci:tokens:read"], "scopes": ["pci:tokens:create"]}`, "", 400, "scopes", ""},
		{"not JSON", `scopes=pci:tokens:read`, "", 400, "", ""},
		{"array body", `[{"scopes": ["pci:tokens:read"]}]`, "", 400, "", ""},
		{"trailing data", `{"scopes": ["pci:tokens:read"]} {}`, "", 400, "", ""},
		{"truncated", `{"scopes": ["pci:tokens:read"`, "", 400, "", ""},
		{"empty body", ``, "", 400, "", ""},
		// DecodeJSON's 415 (httpapi's one status table), not a 400.
		{"wrong content type", `{"scopes": ["pci:tokens:read"]}`, "text/plain", 415, "", ""},
		{"too large", `{"scopes": ["` + strings.Repeat("a", 70<<10) + `"]}`, "", 413, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := stateOf(t, e)
			header := as(e.RootKey)
			if tt.contentType != "" {
				header["Content-Type"] = tt.contentType
			}
			var body any
			if tt.body != "" {
				body = tt.body
			}
			res := e.Do(t, http.MethodPost, keysPath, body, header)
			code := map[int]string{400: keyward.EINVALID, 413: keyward.ETOOLARGE, 415: keyward.EUNSUPPORTED}[tt.status]
			got := wantError(t, res, tt.status, code, tt.field)
			if msg := got["message"].(string); tt.quoted != "" && !strings.Contains(msg, tt.quoted) {
				t.Errorf("message %q does not quote %s", msg, tt.quoted)
			}
			if tt.field != "" && !strings.HasPrefix(got["message"].(string), tt.field+": ") {
				t.Errorf("message %q does not start with the field", got["message"])
			}
			wantUnchanged(t, e, before)
		})
	}
}

// A key pasted where a scope or a member name belongs is not echoed back.
func TestCreate_KeyInInputIsRedacted(t *testing.T) {
	e := MustStart(t)
	res := e.Do(t, http.MethodPost, keysPath, `{"scopes": ["`+e.RootKey+`"]}`, as(e.RootKey))
	wantError(t, res, http.StatusBadRequest, keyward.EINVALID, "scopes[0]")
	if bytes.Contains(res.Body, []byte(e.RootKey)) {
		t.Errorf("the answer quotes the key: %s", res.Body)
	}
	res = e.Do(t, http.MethodPost, keysPath, `{"scopes": ["pci:tokens:read"], "`+e.RootKey+`": 1}`, as(e.RootKey))
	if res.Status != http.StatusBadRequest || bytes.Contains(res.Body, []byte(e.RootKey)) {
		t.Errorf("got %d %s, want a 400 without the key", res.Status, res.Body)
	}
}

// What the server answers under the prefix without reaching the profile
// (the bare prefix, a path not in canonical form, a panic) is in the
// profile's shape too, with the request id.
func TestUnserved_ProfileShape(t *testing.T) {
	e := compattest.Start(t, func(e *compattest.Env, logger *slog.Logger) []httpapi.Mount {
		keys := compattest.PanickingKeys{KeyService: e.Service}
		return []httpapi.Mount{hellgate.New(hellgate.Config{Keys: keys, Auth: e.Engine, Logger: logger})}
	})
	for _, path := range compattest.UnservedPaths(hellgate.Prefix, keysPath) {
		t.Run(path, func(t *testing.T) {
			wantError(t, e.Do(t, http.MethodGet, path, nil, as(e.RootKey)), http.StatusNotFound, keyward.ENOTFOUND, "")
		})
	}
	wantError(t, e.Do(t, http.MethodGet, keysPath, nil, as(e.RootKey)), http.StatusInternalServerError, keyward.EINTERNAL, "")
}
