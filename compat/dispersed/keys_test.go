package dispersed_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"keyward"
	"keyward/compat/dispersed"
	"keyward/compat/internal/compattest"
	"keyward/httpapi"
	"keyward/keyformat"
)

// errorTypes is the error type that each status answers.
var errorTypes = map[int]string{
	http.StatusBadRequest:            "invalid_request_error",
	http.StatusUnauthorized:          "authentication_error",
	http.StatusForbidden:             "permission_error",
	http.StatusNotFound:              "invalid_request_error",
	http.StatusMethodNotAllowed:      "invalid_request_error",
	http.StatusRequestEntityTooLarge: "invalid_request_error",
	http.StatusUnsupportedMediaType:  "invalid_request_error",
	http.StatusInternalServerError:   "api_error",
}

// checkError fails unless res is the profile's error answer with status
// and code, naming exactly params (the first as param), and carrying the
// request id of the X-Request-Id header.
func checkError(tb testing.TB, res *compattest.Response, status int, code string, params []string) {
	tb.Helper()
	wantStatus(tb, res, status)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type: got %q, want application/json", ct)
	}
	body := object(tb, res)
	e, ok := body["error"].(map[string]any)
	if !ok || len(body) != 1 {
		tb.Fatalf("answer is not {\"error\": {...}}: %s", res.Body)
	}
	checkTypes(tb, e, map[string]string{"type": "string", "code": "string", "message": "string", "param": "string|null", "errors": "array", "request_id": "string"})
	if e["type"] != errorTypes[status] || e["code"] != code {
		tb.Errorf("type, code: got %v, %v, want %s, %s", e["type"], e["code"], errorTypes[status], code)
	}
	if e["message"] == "" {
		tb.Error("message is empty")
	}
	if id := res.Header.Get("X-Request-Id"); id == "" || e["request_id"] != id {
		tb.Errorf("request_id: got %v, want the X-Request-Id header %q", e["request_id"], id)
	}
	var got []string
	for _, fe := range e["errors"].([]any) {
		got = append(got, fe.(map[string]any)["param"].(string))
	}
	if diff := cmp.Diff(params, got, cmpopts.EquateEmpty()); diff != "" {
		tb.Errorf("errors' params (-want +got):\n%s", diff)
	}
	var wantParam any
	if len(params) > 0 {
		wantParam = params[0]
	}
	if e["param"] != wantParam {
		tb.Errorf("param: got %v, want %v", e["param"], wantParam)
	}
}

// Each bad input answers a 4xx naming what is wrong, and creates nothing:
// no key and no audit row.
func TestCreate_BadInput(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		header map[string]string
		status int
		code   string
		params []string
	}{
		{"missing name", `{"permissions": ["nodes.read.own"]}`, nil, 400, keyward.EINVALID, []string{"name"}},
		{"empty name", `{"name": "", "permissions": ["nodes.read.own"]}`, nil, 400, keyward.EINVALID, []string{"name"}},
		{"missing permissions", `{"name": "ci"}`, nil, 400, keyward.EINVALID, []string{"permissions"}},
		{"null permissions", `{"name": "ci", "permissions": null}`, nil, 400, keyward.EINVALID, []string{"permissions"}},
		{"empty permissions", `{"name": "ci", "permissions": []}`, nil, 400, keyward.EINVALID, []string{"permissions"}},
		{"malformed permission", `{"name": "ci", "permissions": ["nodes.read.own", "nodes..read"]}`, nil, 400, keyward.EINVALID, []string{"permissions[1]"}},
		{"bad IP", `{"name": "ci", "permissions": ["nodes.read.own"], "allowed_ips": ["300.1.1.1"]}`, nil, 400, keyward.EINVALID, []string{"allowed_ips[0]"}},
		{"bad CIDR", `{"name": "ci", "permissions": ["nodes.read.own"], "allowed_ips": ["127.0.0.1", "10.0.0.0/33"]}`, nil, 400, keyward.EINVALID, []string{"allowed_ips[1]"}},
		{"expiry in the past", `{"name": "ci", "permissions": ["nodes.read.own"], "expires_at": "2023-01-01T00:00:00Z"}`, nil, 400, keyward.EINVALID, []string{"expires_at"}},
		{"expiry not a date-time", `{"name": "ci", "permissions": ["nodes.read.own"], "expires_at": "tomorrow"}`, nil, 400, keyward.EINVALID, []string{"expires_at"}},
		{"expiry a number", `{"name": "ci", "permissions": ["nodes.read.own"], "expires_at": 1700000000}`, nil, 400, keyward.EINVALID, []string{"expires_at"}},
		{"name not a string", `{"name": 5, "permissions": ["nodes.read.own"]}`, nil, 400, keyward.EINVALID, []string{"name"}},
		{"permissions a string", `{"name": "ci", "permissions": "x"}`, nil, 400, keyward.EINVALID, []string{"permissions"}},
		{"allowed_ips a string", `{"name": "ci", "permissions": ["nodes.read.own"], "allowed_ips": "127.0.0.1"}`, nil, 400, keyward.EINVALID, []string{"allowed_ips"}},
		{"unknown member", `{"name": "ci", "permissions": ["nodes.read.own"], "scope": "read"}`, nil, 400, keyward.EINVALID, []string{"scope"}},
		{"member in other case", `{"Name": "ci", "permissions": ["nodes.read.own"]}`, nil, 400, keyward.EINVALID, []string{"Name"}},
		{"duplicate member", `{"name": "ci", "name": "cd", "permissions": ["nodes.read.own"]}`, nil, 400, keyward.EINVALID, []string{"name"}},
		{"every invalid field", `{"name": "", "permissions": ["nodes.read.own", "a b"], "allowed_ips": ["10.0.0.0/33"], "expires_at": "2023-01-01T00:00:00Z"}`, nil, 400, keyward.EINVALID, []string{"name", "permissions[1]", "allowed_ips[0]", "expires_at"}},
		{"not JSON", `name=ci&permissions=nodes.read.own`, nil, 400, keyward.EINVALID, nil},
		{"truncated JSON", `{"name": "ci", "permissions": [`, nil, 400, keyward.EINVALID, nil},
		{"array body", `[]`, nil, 400, keyward.EINVALID, nil},
		{"empty body", ``, nil, 400, keyward.EINVALID, nil},
		{"wrong content type", `{"name": "ci", "permissions": ["nodes.read.own"]}`, map[string]string{"Content-Type": "text/plain"}, 415, keyward.EUNSUPPORTED, nil},
		{"too large", `{"name": "` + strings.Repeat("a", 70<<10) + `", "permissions": ["nodes.read.own"]}`, nil, 413, keyward.ETOOLARGE, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := MustStart(t)
			keys, audit := e.CountKeys(t), len(e.AuditActions(t))
			header := bearer(e.RootKey)
			for k, v := range tt.header {
				header[k] = v
			}
			var body any
			if tt.body != "" {
				body = tt.body
			}
			res := e.Do(t, http.MethodPost, keysPath, body, header)
			checkError(t, res, tt.status, tt.code, tt.params)
			if got := e.CountKeys(t); got != keys {
				t.Errorf("keys: got %d, want %d", got, keys)
			}
			if got := len(e.AuditActions(t)); got != audit {
				t.Errorf("audit rows: got %d, want %d", got, audit)
			}
		})
	}
}

// A key made through the profile is an ordinary Keyward key: it verifies,
// shows in the profile's list and get and in /v1, and revoking it through
// the profile makes verification say REVOKED.
func TestRoundTrip(t *testing.T) {
	e := MustStart(t)
	created := createExample(t, e)
	id, secret := created["uuid"].(string), created["secret_key"].(string)

	if res := e.Verify(t, secret, "nodes.read.own"); !res.Valid || res.Code != keyward.CodeValid || res.KeyID != id {
		t.Fatalf("verify: got %+v, want VALID for %s", res, id)
	}
	if res := e.Verify(t, secret, "nodes.delete.own"); res.Valid {
		t.Errorf("verify with a permission not granted: got %+v, want invalid", res)
	}

	get := e.Do(t, http.MethodGet, keysPath+"/"+id, nil, bearer(e.RootKey))
	wantStatus(t, get, http.StatusOK)
	want := object(t, get)
	delete(created, "secret_key")
	delete(want, "secret_key")
	if diff := cmp.Diff(created, want); diff != "" {
		t.Errorf("get (-created +got):\n%s", diff)
	}
	if !listed(t, e, e.RootKey, id) {
		t.Errorf("%s is not in the profile's list", id)
	}
	v1 := e.Do(t, http.MethodGet, "/v1/keys/"+id, nil, bearer(e.RootKey))
	wantStatus(t, v1, http.StatusOK)
	if got := object(t, v1)["name"]; got != "My API Key" {
		t.Errorf("/v1/keys/%s: name %v, want My API Key", id, got)
	}

	for range 2 {
		// Revoking is idempotent: the second call answers the same.
		res := e.Do(t, http.MethodDelete, keysPath+"/"+id, nil, bearer(e.RootKey))
		wantStatus(t, res, http.StatusOK)
		if got := object(t, res)["is_revoked"]; got != true {
			t.Errorf("is_revoked: got %v, want true", got)
		}
	}
	if res := e.Verify(t, secret, ""); res.Valid || res.Code != keyward.CodeRevoked {
		t.Errorf("verify after revoke: got %+v, want REVOKED", res)
	}
	actions := e.AuditActions(t)
	if n := strings.Count(strings.Join(actions, " "), keyward.ActionKeyRevoke); n != 1 || !strings.Contains(strings.Join(actions, " "), keyward.ActionKeyCreate) {
		t.Errorf("audit actions: got %v, want one %s and a %s", actions, keyward.ActionKeyRevoke, keyward.ActionKeyCreate)
	}
	// A revoked key stays listed, marked revoked, as in /v1.
	get = e.Do(t, http.MethodGet, keysPath+"/"+id, nil, bearer(e.RootKey))
	wantStatus(t, get, http.StatusOK)
	if got := object(t, get)["is_revoked"]; got != true {
		t.Errorf("get after revoke: is_revoked %v, want true", got)
	}
}

// listed reports whether id is on any page of the profile's list.
func listed(tb testing.TB, e *compattest.Env, key, id string) bool {
	tb.Helper()
	path := keysPath + "?limit=1"
	for {
		res := e.Do(tb, http.MethodGet, path, nil, bearer(key))
		wantStatus(tb, res, http.StatusOK)
		page := object(tb, res)
		for _, item := range page["data"].([]any) {
			if item.(map[string]any)["uuid"] == id {
				return true
			}
		}
		if page["has_more"] != true {
			return false
		}
		path = keysPath + "?limit=1&cursor=" + page["next_cursor"].(string)
	}
}

func TestList_Pages(t *testing.T) {
	e := MustStart(t)
	for _, name := range []string{"a", "b", "c"} {
		e.CreateKey(t, keyward.KeyCreate{Name: name, Permissions: []string{"nodes.read.own"}})
	}
	// The root key makes four.
	var names []string
	path := keysPath + "?limit=3"
	for range 3 {
		res := e.Do(t, http.MethodGet, path, nil, bearer(e.RootKey))
		wantStatus(t, res, http.StatusOK)
		page := object(t, res)
		if page["object"] != "list" {
			t.Errorf("object: got %v, want list", page["object"])
		}
		for _, item := range page["data"].([]any) {
			names = append(names, item.(map[string]any)["name"].(string))
		}
		if page["has_more"] != (page["next_cursor"] != nil) {
			t.Errorf("has_more %v with next_cursor %v", page["has_more"], page["next_cursor"])
		}
		if page["has_more"] == false {
			break
		}
		path = keysPath + "?cursor=" + page["next_cursor"].(string) + "&limit=3"
	}
	if diff := cmp.Diff([]string{"root", "a", "b", "c"}, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}

func TestQuery_Invalid(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		params []string
	}{
		{"limit zero", "?limit=0", []string{"limit"}},
		{"limit too large", "?limit=1001", []string{"limit"}},
		{"limit not a number", "?limit=ten", []string{"limit"}},
		{"malformed cursor", "?cursor=%21%21", []string{"cursor"}},
		{"unknown parameters", "?starting_after=x&owner=alice", []string{"owner", "starting_after"}},
		{"repeated", "?limit=1&limit=2", []string{"limit"}},
		{"malformed query", "?a=%zz", nil},
		{"parameter on get", "/0190a0a0-0000-7000-8000-000000000000?expand=x", []string{"expand"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := MustStart(t)
			checkError(t, e.Do(t, http.MethodGet, keysPath+tt.query, nil, bearer(e.RootKey)), 400, keyward.EINVALID, tt.params)
		})
	}
}

// Unknown paths and methods answer in the profile's shape too.
func TestRouting(t *testing.T) {
	tests := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"unknown resource", http.MethodGet, dispersed.Prefix + "/v1/nodes", 404, keyward.ENOTFOUND, ""},
		{"unknown version", http.MethodGet, dispersed.Prefix + "/v2/api-keys", 404, keyward.ENOTFOUND, ""},
		{"below a key", http.MethodGet, keysPath + "/a/b", 404, keyward.ENOTFOUND, ""},
		{"put list", http.MethodPut, keysPath, 405, keyward.EMETHOD, "GET, HEAD, POST"},
		{"patch key", http.MethodPatch, keysPath + "/x", 405, keyward.EMETHOD, "DELETE, GET, HEAD"},
		{"post key", http.MethodPost, keysPath + "/x", 405, keyward.EMETHOD, "DELETE, GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := MustStart(t)
			res := e.Do(t, tt.method, tt.path, nil, bearer(e.RootKey))
			checkError(t, res, tt.status, tt.code, nil)
			if got := res.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow: got %q, want %q", got, tt.allow)
			}
		})
	}
}

// A key allowed to create keys but holding narrow permissions cannot make
// a broader key.
func TestCreate_NonEscalation(t *testing.T) {
	e := MustStart(t)
	narrow := e.CreateKey(t, keyward.KeyCreate{Name: "creator", Permissions: []string{keyward.PermKeysCreate, "nodes.read.own"}})
	keys, audit := e.CountKeys(t), len(e.AuditActions(t))

	res := e.Do(t, http.MethodPost, keysPath, `{"name": "wide", "permissions": ["nodes.*"]}`, bearer(narrow.Secret))
	checkError(t, res, http.StatusForbidden, keyward.EFORBIDDEN, []string{"permissions"})
	if got := e.CountKeys(t); got != keys {
		t.Errorf("keys: got %d, want %d", got, keys)
	}
	if got := len(e.AuditActions(t)); got != audit {
		t.Errorf("audit rows: got %d, want %d", got, audit)
	}

	// Within its own permissions it may create.
	res = e.Do(t, http.MethodPost, keysPath, `{"name": "same", "permissions": ["nodes.read.own"]}`, bearer(narrow.Secret))
	wantStatus(t, res, http.StatusCreated)
}

// A key id of another org answers 404, like one that does not exist, and
// is left alone.
func TestTenantIsolation(t *testing.T) {
	e := MustStart(t)
	other := e.OtherOrg(t)
	res := e.Do(t, http.MethodPost, keysPath, exampleBody, bearer(other))
	wantStatus(t, res, http.StatusCreated)
	theirs := object(t, res)
	id := theirs["uuid"].(string)
	if theirs["account_uuid"] == e.Org.ID {
		t.Errorf("account_uuid: the other org's key names this org")
	}

	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		checkError(t, e.Do(t, method, keysPath+"/"+id, nil, bearer(e.RootKey)), http.StatusNotFound, keyward.ENOTFOUND, nil)
	}
	if listed(t, e, e.RootKey, id) {
		t.Errorf("the other org's key %s is in this org's list", id)
	}
	// This org's verify cannot see it either, and the key is untouched.
	if res := e.Verify(t, theirs["secret_key"].(string), ""); res.Code != keyward.CodeNotFound {
		t.Errorf("verify in this org: got %+v, want NOT_FOUND", res)
	}
	get := e.Do(t, http.MethodGet, keysPath+"/"+id, nil, bearer(other))
	wantStatus(t, get, http.StatusOK)
	if got := object(t, get)["is_revoked"]; got != false {
		t.Errorf("is_revoked: got %v, want false", got)
	}
}

// A request without a usable key answers 401 in the profile's shape; both
// of /v1's ways of presenting a key work.
func TestAuth(t *testing.T) {
	e := MustStart(t)
	unknown, err := keyformat.Generate(keyformat.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	revoked := e.CreateKey(t, keyward.KeyCreate{Name: "gone", Permissions: []string{keyward.PermKeysRead}})
	if res := e.Do(t, http.MethodDelete, keysPath+"/"+revoked.ID, nil, bearer(e.RootKey)); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	expiring := e.CreateKey(t, keyward.KeyCreate{Name: "brief", Permissions: []string{keyward.PermKeysRead}, ExpiresIn: new(int64(1))})

	tests := []struct {
		name   string
		header map[string]string
	}{
		{"none", map[string]string{}},
		{"unknown key", bearer(unknown)},
		{"not a key", bearer("hunter2")},
		{"empty bearer", map[string]string{"Authorization": "Bearer  "}},
		{"basic scheme", map[string]string{"Authorization": "Basic " + e.RootKey}},
		{"unknown X-API-Key", map[string]string{"X-API-Key": unknown}},
		{"revoked key", bearer(revoked.Secret)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.Do(t, http.MethodGet, keysPath, nil, tt.header)
			checkError(t, res, http.StatusUnauthorized, keyward.EUNAUTHORIZED, nil)
			if got := res.Header.Get("WWW-Authenticate"); got != "Bearer" {
				t.Errorf("WWW-Authenticate: got %q, want Bearer", got)
			}
			secretFree(t, "answer", string(res.Body), e.RootKey)
		})
	}
	t.Run("expired key", func(t *testing.T) {
		e.Advance(time.Until(*expiring.ExpiresAt) + time.Second)
		checkError(t, e.Do(t, http.MethodGet, keysPath, nil, bearer(expiring.Secret)), http.StatusUnauthorized, keyward.EUNAUTHORIZED, nil)
	})
	t.Run("X-API-Key", func(t *testing.T) {
		wantStatus(t, e.Do(t, http.MethodGet, keysPath, nil, map[string]string{"X-API-Key": e.RootKey}), http.StatusOK)
	})
	t.Run("lacks permission", func(t *testing.T) {
		reader := e.CreateKey(t, keyward.KeyCreate{Name: "reader", Permissions: []string{keyward.PermKeysRead}})
		checkError(t, e.Do(t, http.MethodPost, keysPath, exampleBody, bearer(reader.Secret)), http.StatusForbidden, keyward.EFORBIDDEN, nil)
	})
}

// The secret is in the create answer only: never in get, list or revoke
// answers, their headers, or the server's logs.
func TestShowOnce(t *testing.T) {
	e := MustStart(t)
	res := e.Do(t, http.MethodPost, keysPath, exampleBody, bearer(e.RootKey))
	wantStatus(t, res, http.StatusCreated)
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", cc)
	}
	created := object(t, res)
	id, secret := created["uuid"].(string), created["secret_key"].(string)
	if _, ok := keyformat.Parse(secret); !ok {
		t.Fatalf("secret_key %q is not a key", secret)
	}
	if got, want := res.Header.Get("Location"), keysPath+"/"+id; got != want {
		t.Errorf("Location: got %q, want %q", got, want)
	}
	// Use the key where a careless server would log it: verified, as the
	// caller of a request, and pasted into a path.
	e.Verify(t, secret, "")
	e.Do(t, http.MethodGet, keysPath, nil, bearer(secret))
	e.Do(t, http.MethodGet, keysPath+"/"+secret, nil, bearer(e.RootKey))

	for _, rt := range []struct{ method, path string }{
		{http.MethodGet, keysPath + "/" + id},
		{http.MethodGet, keysPath},
		{http.MethodDelete, keysPath + "/" + id},
	} {
		res := e.Do(t, rt.method, rt.path, nil, bearer(e.RootKey))
		wantStatus(t, res, http.StatusOK)
		secretFree(t, rt.method+" "+rt.path, string(res.Body), secret)
		for name, values := range res.Header {
			secretFree(t, name, strings.Join(values, " "), secret)
		}
		if !strings.Contains(string(res.Body), `"secret_key":""`) {
			t.Errorf("%s %s: secret_key is not \"\": %s", rt.method, rt.path, res.Body)
		}
	}
	secretFree(t, "logs", e.Logs.String(), secret)
	secretFree(t, "logs", e.Logs.String(), e.RootKey)
}

// What the server answers under the prefix without reaching the profile
// (the bare prefix, a path not in canonical form, a panic) is in the
// profile's shape too, with the request id.
func TestUnserved_ProfileShape(t *testing.T) {
	e := compattest.Start(t, func(e *compattest.Env, logger *slog.Logger) []httpapi.Mount {
		keys := compattest.PanickingKeys{KeyService: e.Service}
		return []httpapi.Mount{dispersed.New(dispersed.Config{Keys: keys, Auth: e.Engine, Logger: logger})}
	})
	for _, path := range compattest.UnservedPaths(dispersed.Prefix, keysPath) {
		t.Run(path, func(t *testing.T) {
			checkError(t, e.Do(t, http.MethodGet, path, nil, bearer(e.RootKey)), http.StatusNotFound, keyward.ENOTFOUND, nil)
		})
	}
	checkError(t, e.Do(t, http.MethodGet, keysPath, nil, bearer(e.RootKey)), http.StatusInternalServerError, keyward.EINTERNAL, nil)
}
