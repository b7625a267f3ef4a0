package hellgate_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
	"keyward/compat/hellgate"
	"keyward/compat/internal/compattest"
	"keyward/keyformat"
)

// bearer is /v1's authorization.
func bearer(key string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + key}
}

// v1Key reads a key's record through /v1 as the root key.
func v1Key(t *testing.T, e *compattest.Env, id string) keyward.Key {
	t.Helper()
	res := e.Do(t, http.MethodGet, "/v1/keys/"+id, nil, bearer(e.RootKey))
	if res.Status != http.StatusOK {
		t.Fatalf("GET /v1/keys/%s: status %d: %s", id, res.Status, res.Body)
	}
	var k keyward.Key
	if err := json.Unmarshal(res.Body, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

// listIDs lists the ids the profile shows, following every page.
func listIDs(t *testing.T, e *compattest.Env, key, query string) []string {
	t.Helper()
	var ids []string
	path := keysPath + query
	for {
		res := e.Do(t, http.MethodGet, path, nil, as(key))
		if res.Status != http.StatusOK {
			t.Fatalf("list: status %d: %s", res.Status, res.Body)
		}
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(res.Body, &page); err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Data {
			ids = append(ids, k.ID)
		}
		if page.NextCursor == nil {
			return ids
		}
		sep := "?"
		if query != "" {
			sep = query + "&"
		}
		path = keysPath + sep + "cursor=" + *page.NextCursor
	}
}

// A key created through the profile is an ordinary Keyward key: it
// verifies, shows in the profile and in /v1, holds Keyward's management
// permissions, and revoking it through the profile makes it fail at once.
func TestRoundTrip(t *testing.T) {
	e := MustStart(t)
	created := mustCreate(t, e, e.RootKey, `{"scopes": ["pci:tokens:read", "admin:api-keys:read"], "expires_in": 3600}`)
	id, secret := created["id"].(string), created["key_value"].(string)

	if res := e.Verify(t, secret, "pci:tokens:read"); res.Code != keyward.CodeValid || res.KeyID != id {
		t.Fatalf("verify: got %s (key %s), want VALID for %s", res.Code, res.KeyID, id)
	}
	if res := e.Verify(t, secret, "pci:tokens:create"); res.Code != keyward.CodeInsufficientPermissions {
		t.Errorf("verify pci:tokens:create: got %s, want %s", res.Code, keyward.CodeInsufficientPermissions)
	}

	get := decodeObject(t, e.Do(t, http.MethodGet, keysPath+"/"+id, nil, as(e.RootKey)))
	want := map[string]any{"id": id, "created_at": created["created_at"], "expires_at": created["expires_at"],
		"scopes": []any{"pci:tokens:read", "admin:api-keys:read"}}
	if diff := cmp.Diff(want, get); diff != "" {
		t.Errorf("get (-want +got):\n%s", diff)
	}
	if ids := listIDs(t, e, e.RootKey, ""); !slices.Contains(ids, id) {
		t.Errorf("list %v lacks %s", ids, id)
	}

	rec := v1Key(t, e, id)
	if rec.Name != hellgate.KeyName || !cmp.Equal(rec.Permissions, []string{"pci:tokens:read", "admin:api-keys:read"}) || rec.RevokedAt != nil {
		t.Errorf("/v1 record: got name %q, permissions %v, revoked %v", rec.Name, rec.Permissions, rec.RevokedAt)
	}
	// admin:api-keys:read is Keyward's own permission: the key may list
	// keys through /v1 as well as through the profile.
	if res := e.Do(t, http.MethodGet, "/v1/keys", nil, bearer(secret)); res.Status != http.StatusOK {
		t.Errorf("GET /v1/keys as the new key: status %d, want 200: %s", res.Status, res.Body)
	}
	if ids := listIDs(t, e, secret, ""); !slices.Contains(ids, id) {
		t.Errorf("list as the new key %v lacks %s", ids, id)
	}

	res := e.Do(t, http.MethodDelete, keysPath+"/"+id, nil, as(e.RootKey))
	if res.Status != http.StatusNoContent || len(res.Body) != 0 {
		t.Fatalf("delete: got %d %q, want 204 and no body", res.Status, res.Body)
	}
	if res := e.Verify(t, secret, ""); res.Code != keyward.CodeRevoked {
		t.Errorf("verify after delete: got %s, want REVOKED", res.Code)
	}
	wantError(t, e.Do(t, http.MethodGet, keysPath+"/"+id, nil, as(e.RootKey)), http.StatusNotFound, keyward.ENOTFOUND, "")
	if ids := listIDs(t, e, e.RootKey, ""); slices.Contains(ids, id) {
		t.Errorf("list %v still shows the revoked %s", ids, id)
	}
	if rec := v1Key(t, e, id); rec.RevokedAt == nil {
		t.Error("/v1 record: revoked_at is null after delete")
	}
	wantError(t, e.Do(t, http.MethodGet, keysPath, nil, as(secret)), http.StatusUnauthorized, keyward.EUNAUTHORIZED, "")

	// Deleting again changes nothing and audits nothing.
	before := stateOf(t, e)
	if res := e.Do(t, http.MethodDelete, keysPath+"/"+id, nil, as(e.RootKey)); res.Status != http.StatusNoContent {
		t.Errorf("second delete: got %d, want 204: %s", res.Status, res.Body)
	}
	wantUnchanged(t, e, before)
	if got, want := e.AuditActions(t)[:2], []string{keyward.ActionKeyRevoke, keyward.ActionKeyCreate}; !cmp.Equal(got, want) {
		t.Errorf("audit, newest first: got %v, want %v", got, want)
	}
}

// expires_in is the key's lifetime: expires_at is exactly created_at plus
// it, at both ends of the range.
func TestCreate_ExpiresIn(t *testing.T) {
	e := MustStart(t)
	for _, in := range []int64{1, 3600, hellgate.MaxExpiresIn} {
		k := mustCreate(t, e, e.RootKey, `{"scopes": ["pci:tokens:read"], "expires_in": `+itoa(in)+`}`)
		created, err := time.Parse(time.RFC3339, k["created_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		expires, err := time.Parse(time.RFC3339, k["expires_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := expires.Sub(created), time.Duration(in)*time.Second; got != want {
			t.Errorf("expires_in %d: expires_at - created_at = %v, want %v", in, got, want)
		}
		if !compattest.Within(created, time.Minute) {
			t.Errorf("created_at %v is not now", created)
		}
		if rec := v1Key(t, e, k["id"].(string)); rec.ExpiresAt == nil || !rec.ExpiresAt.Equal(expires) {
			t.Errorf("/v1 expires_at: got %v, want %v", rec.ExpiresAt, expires)
		}
	}
	for _, body := range []string{`{"scopes": ["pci:tokens:read"]}`, `{"scopes": ["pci:tokens:read"], "expires_in": null}`} {
		k := mustCreate(t, e, e.RootKey, body)
		if _, ok := k["expires_at"]; ok {
			t.Errorf("%s: got expires_at %v, want none", body, k["expires_at"])
		}
		if rec := v1Key(t, e, k["id"].(string)); rec.ExpiresAt != nil {
			t.Errorf("%s: /v1 expires_at %v, want null", body, rec.ExpiresAt)
		}
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Every scope of the document is accepted and granted under its own name;
// a repeated scope is granted once.
func TestCreate_Scopes(t *testing.T) {
	e := MustStart(t)
	body, _ := json.Marshal(map[string]any{"scopes": documentScopes})
	k := mustCreate(t, e, e.RootKey, string(body))
	if diff := cmp.Diff(documentScopes, toStrings(k["scopes"])); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(documentScopes, v1Key(t, e, k["id"].(string)).Permissions); diff != "" {
		t.Errorf("/v1 permissions (-want +got):\n%s", diff)
	}

	k = mustCreate(t, e, e.RootKey, `{"scopes": ["pci:tokens:read", "network:tokens:use", "pci:tokens:read"]}`)
	if diff := cmp.Diff([]string{"pci:tokens:read", "network:tokens:use"}, toStrings(k["scopes"])); diff != "" {
		t.Errorf("duplicate scopes (-want +got):\n%s", diff)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// A key may create only keys whose scopes its own permissions cover.
func TestCreate_NoEscalation(t *testing.T) {
	e := MustStart(t)
	narrow := e.CreateKey(t, keyward.KeyCreate{Name: "narrow", Permissions: []string{keyward.PermKeysCreate, "pci:tokens:read"}}).Secret
	tests := []struct {
		name   string
		scopes string
	}{
		{"broader scope", `["pci:tokens:create"]`},
		{"one of two", `["pci:tokens:read", "pci:tokens:create"]`},
		{"management scope", `["admin:api-keys:delete"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := stateOf(t, e)
			res := e.Do(t, http.MethodPost, keysPath, `{"scopes": `+tt.scopes+`}`, as(narrow))
			wantError(t, res, http.StatusForbidden, keyward.EFORBIDDEN, "scopes")
			wantUnchanged(t, e, before)
		})
	}
	// What it holds, it may hand out.
	k := mustCreate(t, e, narrow, `{"scopes": ["pci:tokens:read"]}`)
	if diff := cmp.Diff([]string{"pci:tokens:read"}, toStrings(k["scopes"])); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}

// Each operation needs its management permission.
func TestPermissions(t *testing.T) {
	e := MustStart(t)
	target := mustCreate(t, e, e.RootKey, `{"scopes": ["pci:tokens:read"]}`)["id"].(string)
	// The caller holds pci:tokens:read so that only the operation's own
	// permission is missing, not coverage of the target.
	none := e.CreateKey(t, keyward.KeyCreate{Name: "none", Permissions: []string{"pci:tokens:read"}}).Secret
	tests := []struct {
		method, path, body string
	}{
		{http.MethodPost, keysPath, `{"scopes": ["pci:tokens:read"]}`},
		{http.MethodGet, keysPath, ""},
		{http.MethodGet, keysPath + "/" + target, ""},
		{http.MethodDelete, keysPath + "/" + target, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			before := stateOf(t, e)
			var body any
			if tt.body != "" {
				body = tt.body
			}
			wantError(t, e.Do(t, tt.method, tt.path, body, as(none)), http.StatusForbidden, keyward.EFORBIDDEN, "")
			wantUnchanged(t, e, before)
		})
	}
	// A key may not revoke a key stronger than itself.
	deleter := e.CreateKey(t, keyward.KeyCreate{Name: "deleter", Permissions: []string{keyward.PermKeysDelete}}).Secret
	wantError(t, e.Do(t, http.MethodDelete, keysPath+"/"+target, nil, as(deleter)), http.StatusForbidden, keyward.EFORBIDDEN, "")
	if rec := v1Key(t, e, target); rec.RevokedAt != nil {
		t.Error("the target was revoked")
	}
}

// Keys of another org are not found, exactly like missing ones.
func TestTenantIsolation(t *testing.T) {
	e := MustStart(t)
	other := e.OtherOrg(t)
	theirs := mustCreate(t, e, other, seedBody)["id"].(string)
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		wantError(t, e.Do(t, method, keysPath+"/"+theirs, nil, as(e.RootKey)), http.StatusNotFound, keyward.ENOTFOUND, "")
	}
	if ids := listIDs(t, e, e.RootKey, ""); slices.Contains(ids, theirs) {
		t.Errorf("list %v shows the other org's key", ids)
	}
	if ids := listIDs(t, e, other, ""); !slices.Contains(ids, theirs) {
		t.Errorf("the other org's list %v lacks its key: the delete reached it", ids)
	}
	for _, id := range []string{"0190a4b2-0000-7000-8000-000000000000", "not-a-uuid"} {
		wantError(t, e.Do(t, http.MethodGet, keysPath+"/"+id, nil, as(e.RootKey)), http.StatusNotFound, keyward.ENOTFOUND, "")
		wantError(t, e.Do(t, http.MethodDelete, keysPath+"/"+id, nil, as(e.RootKey)), http.StatusNotFound, keyward.ENOTFOUND, "")
	}
}

// Only the x-api-key header authenticates; anything else is a 401 in the
// profile's shape, on every route, before the input is looked at.
func TestAuth(t *testing.T) {
	e := MustStart(t)
	revoked := e.CreateKey(t, keyward.KeyCreate{Name: "revoked"})
	if res := e.Do(t, http.MethodDelete, keysPath+"/"+revoked.ID, nil, as(e.RootKey)); res.Status != http.StatusNoContent {
		t.Fatalf("revoke: status %d: %s", res.Status, res.Body)
	}
	expired := e.CreateKey(t, keyward.KeyCreate{Name: "expired", ExpiresIn: new(int64(1))})
	unknown := e.RootKey[:len(e.RootKey)-1] + "x"
	if strings.HasSuffix(e.RootKey, "x") {
		unknown = e.RootKey[:len(e.RootKey)-1] + "y"
	}
	headers := map[string]map[string]string{
		"none":                       nil,
		"bearer only":                bearer(e.RootKey),
		"empty x-api-key":            as(""),
		"bearer and empty x-api-key": {"Authorization": "Bearer " + e.RootKey, "x-api-key": " "},
		"not a key":                  as("nope"),
		"bad checksum":               as(unknown),
		"revoked":                    as(revoked.Secret),
	}
	e.Advance(2 * time.Second)
	headers["expired"] = as(expired.Secret)
	for name, header := range headers {
		for _, path := range []string{keysPath, keysPath + "/0190a4b2-0000-7000-8000-000000000000"} {
			for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
				if path == keysPath && method == http.MethodDelete || path != keysPath && method == http.MethodPost {
					continue
				}
				t.Run(name+" "+method+" "+path, func(t *testing.T) {
					before := stateOf(t, e)
					res := e.Do(t, method, path, seedBody, header)
					wantError(t, res, http.StatusUnauthorized, keyward.EUNAUTHORIZED, "")
					if got := res.Header.Get("WWW-Authenticate"); got != `APIKey header="x-api-key"` {
						t.Errorf("WWW-Authenticate: got %q", got)
					}
					wantUnchanged(t, e, before)
				})
			}
		}
	}
	// The header's name is case-insensitive, as HTTP's are.
	for _, name := range []string{"x-api-key", "X-API-KEY", "X-Api-Key"} {
		if res := e.Do(t, http.MethodGet, keysPath, nil, map[string]string{name: e.RootKey}); res.Status != http.StatusOK {
			t.Errorf("%s: got %d, want 200", name, res.Status)
		}
	}
}

// Unknown paths under the prefix and wrong methods answer in the profile's
// shape, without a key.
func TestRouting(t *testing.T) {
	e := MustStart(t)
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{http.MethodGet, hellgate.Prefix + "/api/admin/webhooks", 404, keyward.ENOTFOUND, ""},
		{http.MethodGet, hellgate.Prefix + "/api", 404, keyward.ENOTFOUND, ""},
		{http.MethodGet, keysPath + "/a/b", 404, keyward.ENOTFOUND, ""},
		{http.MethodPost, hellgate.Prefix + "/api/admin/api-key", 404, keyward.ENOTFOUND, ""},
		{http.MethodPut, keysPath, 405, keyward.EMETHOD, "GET, HEAD, POST"},
		{http.MethodDelete, keysPath, 405, keyward.EMETHOD, "GET, HEAD, POST"},
		{http.MethodPost, keysPath + "/x", 405, keyward.EMETHOD, "DELETE, GET, HEAD"},
		{http.MethodPatch, keysPath + "/x", 405, keyward.EMETHOD, "DELETE, GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := e.Do(t, tt.method, tt.path, nil, nil)
			wantError(t, res, tt.status, tt.code, "")
			if got := res.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow: got %q, want %q", got, tt.allow)
			}
		})
	}
}

// The list pages through the org's unrevoked keys; its query parameters
// are checked like a body's members.
func TestList(t *testing.T) {
	e := MustStart(t)
	want := listIDs(t, e, e.RootKey, "")
	for range 4 {
		want = append(want, mustCreate(t, e, e.RootKey, seedBody)["id"].(string))
	}
	gone := mustCreate(t, e, e.RootKey, seedBody)["id"].(string)
	if res := e.Do(t, http.MethodDelete, keysPath+"/"+gone, nil, as(e.RootKey)); res.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", res.Status)
	}
	for _, query := range []string{"", "?limit=1", "?limit=2", "?limit=1000"} {
		if diff := cmp.Diff(want, listIDs(t, e, e.RootKey, query)); diff != "" {
			t.Errorf("%q: ids (-want +got):\n%s", query, diff)
		}
	}
	invalid := []struct {
		query, field string
	}{
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?limit=ten", "limit"},
		{"?limit=", "limit"},
		{"?cursor=!!", "cursor"},
		{"?page=2", "page"},
		{"?limit=1&limit=2", "limit"},
	}
	for _, tt := range invalid {
		wantError(t, e.Do(t, http.MethodGet, keysPath+tt.query, nil, as(e.RootKey)), http.StatusBadRequest, keyward.EINVALID, tt.field)
	}
	wantError(t, e.Do(t, http.MethodGet, keysPath+"/"+want[1]+"?x=1", nil, as(e.RootKey)), http.StatusBadRequest, keyward.EINVALID, "x")
}

// Keys made elsewhere show as they are: permissions outside the scope
// list, no expiry.
func TestList_KeysFromElsewhere(t *testing.T) {
	e := MustStart(t)
	k := e.CreateKey(t, keyward.KeyCreate{Name: "v1", Permissions: []string{"nodes.read.own", "admin:*"}})
	got := decodeObject(t, e.Do(t, http.MethodGet, keysPath+"/"+k.ID, nil, as(e.RootKey)))
	want := map[string]any{"id": k.ID, "created_at": got["created_at"], "scopes": []any{"nodes.read.own", "admin:*"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("get (-want +got):\n%s", diff)
	}
}

// The secret is in the create answer only: never in get, list, errors or
// logs.
func TestShowOnce(t *testing.T) {
	e := MustStart(t)
	k := mustCreate(t, e, e.RootKey, seedBody)
	secret, id := k["key_value"].(string), k["id"].(string)
	var seen []string
	for _, path := range []string{keysPath, keysPath + "/" + id, keysPath + "/" + secret, keysPath + "?cursor=" + secret} {
		res := e.Do(t, http.MethodGet, path, nil, as(e.RootKey))
		seen = append(seen, string(res.Body))
		for name, values := range res.Header {
			seen = append(seen, name+": "+strings.Join(values, ", "))
		}
	}
	res := e.Do(t, http.MethodPost, keysPath, `{"scopes": ["`+secret+`"]}`, as(e.RootKey))
	seen = append(seen, string(res.Body))
	res = e.Do(t, http.MethodGet, keysPath, nil, as(secret[:len(secret)-2]))
	seen = append(seen, string(res.Body))
	random := randomPart(secret)
	for _, s := range append(seen, e.Logs.String()) {
		if strings.Contains(s, random) || strings.Contains(s, "key_value") {
			t.Errorf("the secret or key_value shows after create: %s", s)
		}
	}
	if strings.Contains(e.Logs.String(), randomPart(e.RootKey)) {
		t.Error("the root key is in the logs")
	}
	if cc := e.Do(t, http.MethodPost, keysPath, seedBody, as(e.RootKey)).Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("create Cache-Control: got %q, want no-store", cc)
	}
}

// randomPart is what makes a key secret: its random characters.
func randomPart(key string) string {
	end := len(key) - keyformat.ChecksumLen
	return key[end-keyformat.RandomLen : end]
}
