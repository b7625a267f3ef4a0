package dispersed_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward/compat/dispersed"
	"keyward/compat/internal/compattest"
	"keyward/httpapi"
	"keyward/keyformat"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the answers")

const keysPath = dispersed.Prefix + "/v1/api-keys"

// exampleBody is the seed document's example request, with expires_at
// moved from its 2023 (now in the past) to a future date.
const exampleBody = `{
  "name": "My API Key",
  "permissions": [
    "nodes.read.own",
    "nodes.update.own",
    "jobs.read.own",
    "job_runs.read.own",
    "job_runs.update.own"
  ],
  "allowed_ips": [
    "127.0.0.1",
    "192.168.1.1/24"
  ],
  "expires_at": "2099-01-01T00:00:00Z"
}`

// MustStart serves the profile over a fresh store.
func MustStart(tb testing.TB) *compattest.Env {
	tb.Helper()
	return compattest.Start(tb, func(e *compattest.Env, logger *slog.Logger) []httpapi.Mount {
		return []httpapi.Mount{dispersed.New(dispersed.Config{Keys: e.Service, Auth: e.Engine, Logger: logger})}
	})
}

// bearer returns the headers that present key.
func bearer(key string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + key}
}

// object decodes an answer that must be a JSON object.
func object(tb testing.TB, res *compattest.Response) map[string]any {
	tb.Helper()
	m, ok := res.JSON(tb).(map[string]any)
	if !ok {
		tb.Fatalf("answer is not an object: %s", res.Body)
	}
	return m
}

func wantStatus(tb testing.TB, res *compattest.Response, want int) {
	tb.Helper()
	if res.Status != want {
		tb.Fatalf("status: got %d, want %d\n%s", res.Status, want, res.Body)
	}
}

// createExample creates the document's example key through the profile
// and returns the answer.
func createExample(tb testing.TB, e *compattest.Env) map[string]any {
	tb.Helper()
	res := e.Do(tb, http.MethodPost, keysPath, exampleBody, bearer(e.RootKey))
	wantStatus(tb, res, http.StatusCreated)
	return object(tb, res)
}

// volatile names the members whose values change from run to run.
var volatile = []string{"_id", "uuid", "account", "account_uuid", "created_at", "updated_at", "last_used_at", "public_key", "request_id", "next_cursor"}

// TestGolden replays the document's example request and the routes around
// it, and compares each exchange with testdata/<name>.golden.
func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		method string
		// path may hold {id}: the id of the example key, created first.
		path   string
		body   string
		header map[string]string
		// secretOK normalizes secret_key: only the create answer holds one.
		secretOK bool
	}{
		{name: "create", method: http.MethodPost, path: keysPath, body: exampleBody, secretOK: true},
		{name: "create_document_expiry", method: http.MethodPost, path: keysPath, body: strings.Replace(exampleBody, "2099-01-01", "2023-01-01", 1)},
		{name: "get", method: http.MethodGet, path: keysPath + "/{id}"},
		{name: "list", method: http.MethodGet, path: keysPath},
		{name: "revoke", method: http.MethodDelete, path: keysPath + "/{id}"},
		{name: "unknown_member", method: http.MethodPost, path: keysPath, body: `{"name": "My API Key", "permissions": ["nodes.read.own"], "scope": "read"}`},
		{name: "invalid_fields", method: http.MethodPost, path: keysPath, body: `{"name": "", "permissions": ["nodes.read.own", "nodes..read"], "allowed_ips": ["300.1.1.1"], "expires_at": "2020-01-01T00:00:00Z"}`},
		{name: "unauthenticated", method: http.MethodGet, path: keysPath, header: map[string]string{}},
		{name: "not_found", method: http.MethodGet, path: keysPath + "/0190a0a0-0000-7000-8000-000000000000"},
		{name: "method_not_allowed", method: http.MethodPut, path: keysPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := MustStart(t)
			id := createExample(t, e)["uuid"].(string)
			header := tt.header
			if header == nil {
				header = bearer(e.RootKey)
			}
			var body any
			if tt.body != "" {
				body = tt.body
			}
			res := e.Do(t, tt.method, strings.ReplaceAll(tt.path, "{id}", id), body, header)
			names := volatile
			if tt.secretOK {
				names = append(slices.Clip(names), "secret_key")
			}
			got := render(t, tt.method, tt.path, tt.body, header, res, names)
			checkNoKey(t, got)
			checkGolden(t, tt.name, got)
		})
	}
}

// render writes an exchange as text: the request, then the status, the
// headers that matter to a client and the normalized answer.
func render(tb testing.TB, method, path, body string, header map[string]string, res *compattest.Response, names []string) []byte {
	tb.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s\n", method, path)
	if _, ok := header["Authorization"]; ok {
		b.WriteString("Authorization: Bearer <root key>\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/json\n\n%s\n", body)
	}
	fmt.Fprintf(&b, "\n%d %s\n", res.Status, http.StatusText(res.Status))
	for _, name := range []string{"Allow", "Cache-Control", "Content-Type", "Location", "WWW-Authenticate"} {
		v := res.Header.Get(name)
		if name == "Location" {
			v = locationID.ReplaceAllString(v, "/<id>")
		}
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	b.WriteString("\n")
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(compattest.Normalize(res.JSON(tb), names...)); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// locationID matches the new key's id at the end of a Location header.
var locationID = regexp.MustCompile(`/[^/]+$`)

// checkGolden compares got with testdata/name.golden, or rewrites the file
// under -update.
func checkGolden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		tb.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// keyRun matches the runs of characters a key is made of.
var keyRun = regexp.MustCompile(`[A-Za-z0-9_]+`)

// checkNoKey fails when s holds a well-formed key.
func checkNoKey(tb testing.TB, s []byte) {
	tb.Helper()
	for _, run := range keyRun.FindAll(s, -1) {
		if _, ok := keyformat.Parse(string(run)); ok {
			tb.Errorf("holds a key:\n%s", s)
		}
	}
}

// secretFree fails when s holds secret or its random part alone.
func secretFree(tb testing.TB, what, s, secret string) {
	tb.Helper()
	random := secret[len(secret)-keyformat.ChecksumLen-keyformat.RandomLen : len(secret)-keyformat.ChecksumLen]
	if strings.Contains(s, secret) || strings.Contains(s, random) {
		tb.Errorf("%s holds the secret:\n%s", what, s)
	}
}

// dateTime matches the document's date-time format.
var dateTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// apiKeyTypes is every member of the document's api_key object and its
// documented JSON type.
var apiKeyTypes = map[string]string{
	"created_at":   "date-time|null",
	"is_revoked":   "boolean",
	"name":         "string",
	"object":       "string",
	"permissions":  "string[]",
	"public_key":   "string",
	"updated_at":   "date-time|null",
	"secret_key":   "string",
	"_id":          "string|null",
	"account":      "string|null",
	"account_uuid": "string|null",
	"allowed_ips":  "string[]",
	"deleted_at":   "date-time|null",
	"expires_at":   "date-time|null",
	"last_used_at": "date-time|null",
	"uuid":         "string|null",
}

// checkTypes fails unless obj has exactly the members of types, each of
// its type: "string", "boolean", "string[]", "date-time", with "|null"
// allowing null.
func checkTypes(tb testing.TB, obj map[string]any, types map[string]string) {
	tb.Helper()
	for name, typ := range types {
		v, ok := obj[name]
		if !ok {
			tb.Errorf("%s: missing", name)
			continue
		}
		typ, nullable := strings.CutSuffix(typ, "|null")
		if v == nil {
			if !nullable {
				tb.Errorf("%s: null, want %s", name, typ)
			}
			continue
		}
		if !hasType(v, typ) {
			tb.Errorf("%s: got %#v, want %s", name, v, typ)
		}
	}
	for name := range obj {
		if _, ok := types[name]; !ok {
			tb.Errorf("%s: undocumented member", name)
		}
	}
}

func hasType(v any, typ string) bool {
	switch typ {
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "date-time":
		s, ok := v.(string)
		return ok && dateTime.MatchString(s)
	case "array":
		_, ok := v.([]any)
		return ok
	case "string[]":
		a, ok := v.([]any)
		for _, e := range a {
			if _, isString := e.(string); !isString {
				return false
			}
		}
		return ok
	}
	panic("unknown type " + typ)
}

// Every answer that carries api_key objects carries every documented
// member with its documented type, and the create answer's values are the
// request's.
func TestFieldTypes(t *testing.T) {
	e := MustStart(t)
	created := createExample(t, e)
	checkTypes(t, created, apiKeyTypes)
	id := created["uuid"].(string)
	want := map[string]any{
		"name":         "My API Key",
		"object":       "api_key",
		"is_revoked":   false,
		"permissions":  []any{"nodes.read.own", "nodes.update.own", "jobs.read.own", "job_runs.read.own", "job_runs.update.own"},
		"allowed_ips":  []any{"127.0.0.1", "192.168.1.0/24"},
		"expires_at":   "2099-01-01T00:00:00Z",
		"deleted_at":   nil,
		"last_used_at": nil,
		"_id":          id,
		"account":      e.Org.ID,
		"account_uuid": e.Org.ID,
	}
	for name, w := range want {
		if diff := cmp.Diff(w, created[name]); diff != "" {
			t.Errorf("create: %s (-want +got):\n%s", name, diff)
		}
	}
	if pk, secret := created["public_key"].(string), created["secret_key"].(string); !strings.HasPrefix(secret, pk) || len(pk) >= len(secret) {
		t.Errorf("public_key %q is not the display prefix of the secret", pk)
	}

	get := e.Do(t, http.MethodGet, keysPath+"/"+id, nil, bearer(e.RootKey))
	wantStatus(t, get, http.StatusOK)
	checkTypes(t, object(t, get), apiKeyTypes)

	list := e.Do(t, http.MethodGet, keysPath, nil, bearer(e.RootKey))
	wantStatus(t, list, http.StatusOK)
	page := object(t, list)
	checkTypes(t, page, map[string]string{"object": "string", "data": "array", "has_more": "boolean", "next_cursor": "string|null"})
	for _, item := range page["data"].([]any) {
		checkTypes(t, item.(map[string]any), apiKeyTypes)
	}

	del := e.Do(t, http.MethodDelete, keysPath+"/"+id, nil, bearer(e.RootKey))
	wantStatus(t, del, http.StatusOK)
	checkTypes(t, object(t, del), apiKeyTypes)
}
