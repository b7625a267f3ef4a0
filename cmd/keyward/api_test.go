package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"keyward"
	"keyward/keyformat"
)

// These tests drive a real server (SQLite, services, HTTP on 127.0.0.1:0)
// with plain HTTP requests, the way any client in any language would.

// keyRecordFields is every field of a key record, and nothing else.
var keyRecordFields = []string{
	"allowed_ips", "created_at", "created_by", "credits", "deleted_at", "description", "enabled", "expires_at", "id",
	"key_prefix", "last_used_at", "last_used_ip", "last_used_user_agent", "metadata", "name", "org_id",
	"owner_id", "permissions", "rate_limits", "revoked_at", "rotated_from", "rotated_to", "service_account_id",
	"updated_at",
}

// managementPermissions is every permission of Keyward's own API.
var managementPermissions = []string{
	keyward.PermKeysCreate, keyward.PermKeysRead, keyward.PermKeysUpdate, keyward.PermKeysDelete,
	keyward.PermKeysVerify, keyward.PermServiceAccountsCreate, keyward.PermServiceAccountsRead,
	keyward.PermServiceAccountsDelete, keyward.PermAuditRead, keyward.PermOrgRead, keyward.PermOrgUpdate,
	keyward.PermUsageRead,
}

// problemCodes is the stable error code each error status carries.
var problemCodes = map[int]string{
	http.StatusBadRequest:            keyward.EINVALID,
	http.StatusUnauthorized:          keyward.EUNAUTHORIZED,
	http.StatusForbidden:             keyward.EFORBIDDEN,
	http.StatusNotFound:              keyward.ENOTFOUND,
	http.StatusMethodNotAllowed:      keyward.EMETHOD,
	http.StatusConflict:              keyward.ECONFLICT,
	http.StatusRequestEntityTooLarge: keyward.ETOOLARGE,
	http.StatusUnsupportedMediaType:  keyward.EUNSUPPORTED,
}

// unknownID is a well-formed id that no record has.
const unknownID = "01900000-0000-7000-8000-000000000000"

// do sends one API request and decodes the JSON object it answers (nil
// when the body is not one). body is sent as JSON; a string or []byte is
// sent as is.
func do(tb testing.TB, method, target, key string, body any) (int, http.Header, map[string]any) {
	tb.Helper()
	status, header, raw := send(tb, newRequest(tb, method, target, key, body))
	return status, header, decodeObject(raw)
}

// newRequest builds a request authenticated with key as a bearer token.
func newRequest(tb testing.TB, method, target, key string, body any) *http.Request {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			tb.Fatalf("encode request body: %v", err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, target, r)
	if err != nil {
		tb.Fatalf("new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return req
}

// send sends req and returns the status, headers and raw body.
func send(tb testing.TB, req *http.Request) (int, http.Header, []byte) {
	tb.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return res.StatusCode, res.Header, raw
}

func decodeObject(raw []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil
	}
	return m
}

// str returns the string field f of m, "" when absent, null or not a string.
func str(m map[string]any, f string) string {
	s, _ := m[f].(string)
	return s
}

// stringList returns the list of strings in field f of m.
func stringList(tb testing.TB, m map[string]any, f string) []string {
	tb.Helper()
	raw, ok := m[f].([]any)
	if !ok {
		tb.Fatalf("field %q: got %v, want a JSON array", f, m[f])
	}
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		s, ok := v.(string)
		if !ok {
			tb.Fatalf("field %q: element %v is not a string", f, v)
		}
		out = append(out, s)
	}
	return out
}

// timeField returns the time in field f of m, nil when it is null.
func timeField(tb testing.TB, m map[string]any, f string) *time.Time {
	tb.Helper()
	v, ok := m[f]
	if !ok {
		tb.Fatalf("field %q missing from %v", f, m)
	}
	if v == nil {
		return nil
	}
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("field %q: %q is not an RFC 3339 time", f, s)
	}
	return &t
}

// fieldNames returns m's keys, sorted.
func fieldNames(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// checkProblem asserts an RFC 9457 problem answer of status want whose
// errors name one of fields (a field matches its indexed forms too:
// "permissions" matches "permissions[0]").
func checkProblem(tb testing.TB, status int, h http.Header, body map[string]any, want int, fields ...string) {
	tb.Helper()
	if status != want {
		tb.Errorf("status: got %d, want %d (body %v)", status, want, body)
		return
	}
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt != "application/problem+json" {
		tb.Errorf("Content-Type: got %q, want application/problem+json", h.Get("Content-Type"))
	}
	if body == nil {
		tb.Errorf("problem body is not a JSON object")
		return
	}
	for _, f := range []string{"type", "title", "detail", "code", "request_id"} {
		if str(body, f) == "" {
			tb.Errorf("problem member %q: missing or empty in %v", f, body)
		}
	}
	if got, _ := body["status"].(float64); int(got) != want {
		tb.Errorf("problem status: got %v, want %d", body["status"], want)
	}
	if got, want := str(body, "code"), problemCodes[want]; got != want {
		tb.Errorf("problem code: got %q, want %q", got, want)
	}
	if got, want := str(body, "request_id"), h.Get("X-Request-Id"); got != want {
		tb.Errorf("problem request_id: got %q, want the X-Request-Id header %q", got, want)
	}
	if want == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		tb.Errorf("401 without a WWW-Authenticate header")
	}
	if len(fields) > 0 && !namesField(body, fields) {
		tb.Errorf("problem errors: got %v, want one naming %s", body["errors"], strings.Join(fields, " or "))
	}
}

// namesField reports whether the problem's errors name one of fields, with
// a message.
func namesField(body map[string]any, fields []string) bool {
	errs, _ := body["errors"].([]any)
	for _, e := range errs {
		fe, _ := e.(map[string]any)
		got := str(fe, "field")
		if str(fe, "message") == "" {
			continue
		}
		for _, f := range fields {
			if got == f || strings.HasPrefix(got, f+"[") {
				return true
			}
		}
	}
	return false
}

// createKey creates a key with the caller key and returns the answer: the
// record plus the secret under "key".
func createKey(tb testing.TB, ts *testServer, caller string, body map[string]any) map[string]any {
	tb.Helper()
	status, _, rec := do(tb, http.MethodPost, ts.URL+"/v1/keys", caller, body)
	if status != http.StatusCreated {
		tb.Fatalf("POST /v1/keys %v: got status %d, want 201 (body %v)", body, status, rec)
	}
	if str(rec, "key") == "" || str(rec, "id") == "" {
		tb.Fatalf("POST /v1/keys %v: answer lacks id or key: fields %v", body, fieldNames(rec))
	}
	return rec
}

// mustDo sends a request that must answer want, and returns its body.
func mustDo(tb testing.TB, want int, method, target, key string, body any) map[string]any {
	tb.Helper()
	status, _, res := do(tb, method, target, key, body)
	if status != want {
		tb.Fatalf("%s %s: got status %d, want %d (body %v)", method, target, status, want, res)
	}
	return res
}

// createServiceAccount creates a service account with the caller key.
func createServiceAccount(tb testing.TB, ts *testServer, caller, name string) map[string]any {
	tb.Helper()
	sa := mustDo(tb, http.StatusCreated, http.MethodPost, ts.URL+"/v1/service-accounts", caller, map[string]any{"name": name})
	if str(sa, "id") == "" {
		tb.Fatalf("POST /v1/service-accounts: answer lacks an id: %v", sa)
	}
	return sa
}

// verifyKey asks the server to verify; the answer must be 200. req holds a
// secret, so it is never printed.
func verifyKey(tb testing.TB, ts *testServer, caller string, req map[string]any) map[string]any {
	tb.Helper()
	status, _, res := do(tb, http.MethodPost, ts.URL+"/v1/verify", caller, req)
	if status != http.StatusOK {
		tb.Fatalf("POST /v1/verify: got status %d, want 200 (body %v)", status, res)
	}
	return res
}

// verifyCode returns the code of verifying secret with no other input.
func verifyCode(tb testing.TB, ts *testServer, secret string) string {
	tb.Helper()
	return str(verifyKey(tb, ts, ts.RootKey, map[string]any{"key": secret}), "code")
}

// listAll walks every page of a list with page size limit.
func listAll(tb testing.TB, ts *testServer, caller, path string, query url.Values, limit int) []map[string]any {
	tb.Helper()
	var all []map[string]any
	cursor := ""
	for range 1000 {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		q.Set("limit", fmt.Sprint(limit))
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		page := mustDo(tb, http.StatusOK, http.MethodGet, ts.URL+path+"?"+q.Encode(), caller, nil)
		data, ok := page["data"].([]any)
		if !ok {
			tb.Fatalf("GET %s: data: got %v, want an array", path, page["data"])
		}
		if len(data) > limit {
			tb.Fatalf("GET %s?limit=%d: got %d items", path, limit, len(data))
		}
		for _, d := range data {
			m, ok := d.(map[string]any)
			if !ok {
				tb.Fatalf("GET %s: item %v is not an object", path, d)
			}
			all = append(all, m)
		}
		if cursor = str(page, "next_cursor"); cursor == "" {
			return all
		}
	}
	tb.Fatalf("GET %s: pagination does not end", path)
	return nil
}

// ids returns the id of each record.
func ids(recs []map[string]any) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, str(r, "id"))
	}
	return out
}

// sortedIDs returns the id of each record, sorted.
func sortedIDs(recs []map[string]any) []string {
	return slices.Sorted(slices.Values(ids(recs)))
}

// keyIDs lists every live key id of the caller's org.
func keyIDs(tb testing.TB, ts *testServer, caller string) []string {
	tb.Helper()
	return sortedIDs(listAll(tb, ts, caller, "/v1/keys", nil, keyward.MaxPageLimit))
}

// auditEvents lists every audit event of the caller's org, newest first.
func auditEvents(tb testing.TB, ts *testServer, caller string) []map[string]any {
	tb.Helper()
	return listAll(tb, ts, caller, "/v1/audit-events", nil, keyward.MaxPageLimit)
}

// rootKeyID returns the id of the server's bootstrap root key.
func rootKeyID(tb testing.TB, ts *testServer) string {
	tb.Helper()
	return str(mustDo(tb, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", ts.RootKey, nil), "id")
}

// badChecksum returns secret with its last (checksum) character changed.
func badChecksum(secret string) string {
	last := secret[len(secret)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return secret[:len(secret)-1] + string(repl)
}

// unknownKey returns a well-formed key with a valid checksum that no
// server has issued.
func unknownKey(tb testing.TB) string {
	tb.Helper()
	k, err := keyformat.Generate(keyformat.DefaultPrefix)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// testClock is a clock for Config.Now that moves only when told to.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Now().UTC().Truncate(time.Second)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func withClock(c *testClock) func(*Config) {
	return func(cfg *Config) { cfg.Now = c.Now }
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	reader := []string{keyward.PermKeysRead}
	valid := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "valid", "permissions": reader}), "key")
	revoked := createKey(t, ts, ts.RootKey, map[string]any{"name": "revoked", "permissions": reader})
	mustDo(t, http.StatusOK, http.MethodPost, ts.URL+"/v1/keys/"+str(revoked, "id")+"/revoke", ts.RootKey, nil)
	disabled := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "disabled", "permissions": reader, "enabled": false}), "key")
	expired := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "expired", "permissions": reader, "expires_in": 60}), "key")
	deleted := createKey(t, ts, ts.RootKey, map[string]any{"name": "deleted", "permissions": reader})
	mustDo(t, http.StatusOK, http.MethodDelete, ts.URL+"/v1/keys/"+str(deleted, "id"), ts.RootKey, nil)
	elsewhere := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "elsewhere", "permissions": reader, "allowed_ips": []string{"10.0.0.0/8"}}), "key")
	local := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "local", "permissions": reader, "allowed_ips": []string{"127.0.0.0/8", "::1"}}), "key")
	noPerms := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "no permissions"}), "key")
	clock.Advance(2 * time.Minute)

	tests := []struct {
		name   string
		header string // header name; empty sends no credential
		value  string
		want   int
	}{
		{"no credential", "", "", http.StatusUnauthorized},
		{"bearer root key", "Authorization", "Bearer " + ts.RootKey, http.StatusOK},
		{"X-API-Key root key", "X-API-Key", ts.RootKey, http.StatusOK},
		{"bearer key with the permission", "Authorization", "Bearer " + valid, http.StatusOK},
		{"X-API-Key key with the permission", "X-API-Key", valid, http.StatusOK},
		{"key allowed from 127.0.0.1", "Authorization", "Bearer " + local, http.StatusOK},
		{"other scheme", "Authorization", "Basic " + valid, http.StatusUnauthorized},
		{"empty bearer", "Authorization", "Bearer ", http.StatusUnauthorized},
		{"malformed key", "Authorization", "Bearer not-a-key", http.StatusUnauthorized},
		{"malformed X-API-Key", "X-API-Key", "kw_live_short", http.StatusUnauthorized},
		{"bad checksum", "Authorization", "Bearer " + badChecksum(valid), http.StatusUnauthorized},
		{"unknown key", "Authorization", "Bearer " + unknownKey(t), http.StatusUnauthorized},
		{"revoked key", "Authorization", "Bearer " + str(revoked, "key"), http.StatusUnauthorized},
		{"revoked X-API-Key", "X-API-Key", str(revoked, "key"), http.StatusUnauthorized},
		{"disabled key", "Authorization", "Bearer " + disabled, http.StatusUnauthorized},
		{"expired key", "Authorization", "Bearer " + expired, http.StatusUnauthorized},
		{"deleted key", "Authorization", "Bearer " + str(deleted, "key"), http.StatusUnauthorized},
		{"allowed_ips exclude 127.0.0.1", "Authorization", "Bearer " + elsewhere, http.StatusForbidden},
		{"key without the read permission", "Authorization", "Bearer " + noPerms, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, http.MethodGet, ts.URL+"/v1/keys", "", nil)
			if tt.header != "" {
				req.Header.Set(tt.header, tt.value)
			}
			status, h, raw := send(t, req)
			if tt.want == http.StatusOK {
				if status != http.StatusOK {
					t.Errorf("status: got %d, want 200 (body %s)", status, raw)
				}
				return
			}
			checkProblem(t, status, h, decodeObject(raw), tt.want)
		})
	}
}

func TestManagementPermissions(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	type target struct{ keyID, secret, saID string }
	newTarget := func(t *testing.T) target {
		k := createKey(t, ts, ts.RootKey, map[string]any{"name": "target"})
		sa := createServiceAccount(t, ts, ts.RootKey, "target")
		return target{str(k, "id"), str(k, "key"), str(sa, "id")}
	}
	noBody := func(target) any { return nil }
	tests := []struct {
		perm   string
		method string
		path   func(target) string
		body   func(target) any
		want   int
	}{
		{keyward.PermKeysCreate, http.MethodPost, func(target) string { return "/v1/keys" },
			func(target) any { return map[string]any{"name": "minted"} }, http.StatusCreated},
		{keyward.PermKeysRead, http.MethodGet, func(target) string { return "/v1/keys" }, noBody, http.StatusOK},
		{keyward.PermKeysRead, http.MethodGet, func(tg target) string { return "/v1/keys/" + tg.keyID }, noBody, http.StatusOK},
		{keyward.PermKeysUpdate, http.MethodPatch, func(tg target) string { return "/v1/keys/" + tg.keyID },
			func(target) any { return map[string]any{"name": "renamed"} }, http.StatusOK},
		{keyward.PermKeysDelete, http.MethodPost, func(tg target) string { return "/v1/keys/" + tg.keyID + "/revoke" }, noBody, http.StatusOK},
		{keyward.PermKeysDelete, http.MethodDelete, func(tg target) string { return "/v1/keys/" + tg.keyID }, noBody, http.StatusOK},
		{keyward.PermKeysVerify, http.MethodPost, func(target) string { return "/v1/verify" },
			func(tg target) any { return map[string]any{"key": tg.secret} }, http.StatusOK},
		{keyward.PermServiceAccountsCreate, http.MethodPost, func(target) string { return "/v1/service-accounts" },
			func(target) any { return map[string]any{"name": "bot"} }, http.StatusCreated},
		{keyward.PermServiceAccountsRead, http.MethodGet, func(target) string { return "/v1/service-accounts" }, noBody, http.StatusOK},
		{keyward.PermServiceAccountsRead, http.MethodGet, func(tg target) string { return "/v1/service-accounts/" + tg.saID }, noBody, http.StatusOK},
		{keyward.PermServiceAccountsDelete, http.MethodDelete, func(tg target) string { return "/v1/service-accounts/" + tg.saID }, noBody, http.StatusOK},
		{keyward.PermAuditRead, http.MethodGet, func(target) string { return "/v1/audit-events" }, noBody, http.StatusOK},
		{keyward.PermKeysUpdate, http.MethodPost, func(tg target) string { return "/v1/keys/" + tg.keyID + "/credits" },
			func(target) any { return map[string]any{"op": "set", "amount": 5} }, http.StatusOK},
		{keyward.PermKeysRead, http.MethodGet, func(target) string { return "/v1/owners/user-1" }, noBody, http.StatusOK},
		{keyward.PermKeysUpdate, http.MethodPut, func(target) string { return "/v1/owners/user-1" },
			func(target) any { return map[string]any{"rate_limits": []any{}} }, http.StatusOK},
		{keyward.PermOrgRead, http.MethodGet, func(target) string { return "/v1/org/policy" }, noBody, http.StatusOK},
		{keyward.PermOrgUpdate, http.MethodPut, func(target) string { return "/v1/org/policy" },
			func(target) any { return map[string]any{} }, http.StatusOK},
		{keyward.PermUsageRead, http.MethodGet, func(tg target) string { return "/v1/keys/" + tg.keyID + "/usage" }, noBody, http.StatusOK},
		{keyward.PermUsageRead, http.MethodGet, func(target) string { return "/v1/usage" }, noBody, http.StatusOK},
	}
	for _, tt := range tests {
		name := tt.method + " " + tt.path(target{"{id}", "", "{id}"})
		t.Run(name, func(t *testing.T) {
			others := slices.DeleteFunc(slices.Clone(managementPermissions), func(p string) bool { return p == tt.perm })
			without := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "without", "permissions": others}), "key")
			tg := newTarget(t)
			status, h, body := do(t, tt.method, ts.URL+tt.path(tg), without, tt.body(tg))
			checkProblem(t, status, h, body, http.StatusForbidden)

			holders := []struct{ name, perm string }{{"only " + tt.perm, tt.perm}, {"admin:*", "admin:*"}, {"*", "*"}}
			for _, holder := range holders {
				caller := str(createKey(t, ts, ts.RootKey, map[string]any{"name": holder.name, "permissions": []string{holder.perm}}), "key")
				tg := newTarget(t)
				if status, _, body := do(t, tt.method, ts.URL+tt.path(tg), caller, tt.body(tg)); status != tt.want {
					t.Errorf("key holding %s: got status %d, want %d (body %v)", holder.perm, status, tt.want, body)
				}
			}
		})
	}
}

func TestCreateKey(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	rootID := rootKeyID(t, ts)
	sa := createServiceAccount(t, ts, ts.RootKey, "deployer")
	expiresAt := clock.Now().Add(48 * time.Hour)

	tests := []struct {
		name   string
		body   map[string]any
		prefix string // the secret starts with prefix + "_"
		check  func(t *testing.T, rec map[string]any)
	}{
		{
			name: "every field",
			body: map[string]any{
				"name": "billing", "description": "billing service", "permissions": []string{"billing:*", "nodes.read.own"},
				"allowed_ips": []string{"192.168.1.1/24", "10.0.0.7", "2001:db8::1/32"},
				"expires_at":  expiresAt.Format(time.RFC3339), "owner_id": "user-42",
				"metadata": map[string]any{"plan": "pro", "seats": 3}, "enabled": true,
			},
			prefix: keyformat.DefaultPrefix,
			check: func(t *testing.T, rec map[string]any) {
				want := map[string]any{
					"name": "billing", "description": "billing service",
					"permissions": []any{"billing:*", "nodes.read.own"},
					"allowed_ips": []any{"192.168.1.0/24", "10.0.0.7", "2001:db8::/32"},
					"owner_id":    "user-42", "service_account_id": nil,
					"metadata": map[string]any{"plan": "pro", "seats": float64(3)}, "enabled": true,
					"created_by": rootID, "last_used_at": nil, "last_used_ip": nil, "last_used_user_agent": nil,
					"revoked_at": nil, "deleted_at": nil,
				}
				got := make(map[string]any)
				for f := range want {
					got[f] = rec[f]
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("record (-want +got):\n%s", diff)
				}
				if got := timeField(t, rec, "expires_at"); got == nil || !got.Equal(expiresAt) {
					t.Errorf("expires_at: got %v, want %v", got, expiresAt)
				}
				if got := timeField(t, rec, "created_at"); got == nil || !got.Equal(clock.Now()) {
					t.Errorf("created_at: got %v, want %v", got, clock.Now())
				}
				if got := timeField(t, rec, "updated_at"); got == nil || !got.Equal(clock.Now()) {
					t.Errorf("updated_at: got %v, want %v", got, clock.Now())
				}
			},
		},
		{
			name:   "only a name",
			body:   map[string]any{"name": "minimal"},
			prefix: keyformat.DefaultPrefix,
			check: func(t *testing.T, rec map[string]any) {
				want := map[string]any{
					"description": "", "permissions": []any{}, "allowed_ips": []any{}, "expires_at": nil,
					"enabled": true, "owner_id": nil, "service_account_id": nil, "metadata": map[string]any{},
				}
				got := make(map[string]any)
				for f := range want {
					got[f] = rec[f]
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("defaults (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:   "expires_in",
			body:   map[string]any{"name": "short-lived", "expires_in": 3600},
			prefix: keyformat.DefaultPrefix,
			check: func(t *testing.T, rec map[string]any) {
				want := clock.Now().Add(time.Hour)
				if got := timeField(t, rec, "expires_at"); got == nil || !got.Equal(want) {
					t.Errorf("expires_at: got %v, want %v", got, want)
				}
			},
		},
		{
			name:   "disabled",
			body:   map[string]any{"name": "off", "enabled": false},
			prefix: keyformat.DefaultPrefix,
			check: func(t *testing.T, rec map[string]any) {
				if rec["enabled"] != false {
					t.Errorf("enabled: got %v, want false", rec["enabled"])
				}
			},
		},
		{
			name:   "service account",
			body:   map[string]any{"name": "ci", "service_account_id": str(sa, "id")},
			prefix: keyformat.DefaultPrefix,
			check: func(t *testing.T, rec map[string]any) {
				if got, want := rec["service_account_id"], str(sa, "id"); got != want {
					t.Errorf("service_account_id: got %v, want %v", got, want)
				}
				if rec["owner_id"] != nil {
					t.Errorf("owner_id: got %v, want null", rec["owner_id"])
				}
			},
		},
		{
			name:   "own prefix",
			body:   map[string]any{"name": "acme", "prefix": "acme_test"},
			prefix: "acme_test",
		},
		{
			name:   "one-letter prefix",
			body:   map[string]any{"name": "short prefix", "prefix": "a"},
			prefix: "a",
		},
		{
			name:   "16-character prefix",
			body:   map[string]any{"name": "long prefix", "prefix": "abcdefghij012345"},
			prefix: "abcdefghij012345",
		},
		{
			name:   "255-character name",
			body:   map[string]any{"name": strings.Repeat("n", 255)},
			prefix: keyformat.DefaultPrefix,
		},
		{
			name:   "metadata just under 4 KiB",
			body:   map[string]any{"name": "big metadata", "metadata": map[string]any{"blob": strings.Repeat("m", 4000)}},
			prefix: keyformat.DefaultPrefix,
		},
		{
			name:   "IPv4-mapped IPv6 range",
			body:   map[string]any{"name": "mapped", "allowed_ips": []string{"::ffff:10.1.2.3"}},
			prefix: keyformat.DefaultPrefix,
			check: func(t *testing.T, rec map[string]any) {
				if diff := cmp.Diff([]string{"10.1.2.3"}, stringList(t, rec, "allowed_ips")); diff != "" {
					t.Errorf("allowed_ips (-want +got):\n%s", diff)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, rec := do(t, http.MethodPost, ts.URL+"/v1/keys", ts.RootKey, tt.body)
			if status != http.StatusCreated {
				t.Fatalf("status: got %d, want 201 (body %v)", status, rec)
			}
			if diff := cmp.Diff(append(slices.Clone(keyRecordFields), "key"), fieldNames(rec), sortStrings); diff != "" {
				t.Errorf("create answer fields (-want +got):\n%s", diff)
			}
			id, secret := str(rec, "id"), str(rec, "key")
			if got, want := h.Get("Location"), "/v1/keys/"+id; !strings.HasSuffix(got, want) {
				t.Errorf("Location: got %q, want one ending in %q", got, want)
			}
			if !strings.HasPrefix(secret, tt.prefix+"_") {
				t.Errorf("key does not start with %q", tt.prefix+"_")
			}
			if kp := str(rec, "key_prefix"); len(kp) <= len(tt.prefix)+1 || !strings.HasPrefix(secret, kp) {
				t.Errorf("key_prefix %q: want a proper beginning of the key", kp)
			}
			if got, want := str(rec, "name"), tt.body["name"]; got != want {
				t.Errorf("name: got %q, want %q", got, want)
			}
			if tt.check != nil {
				tt.check(t, rec)
			}

			got := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/keys/"+id, ts.RootKey, nil)
			delete(rec, "key")
			if diff := cmp.Diff(rec, got); diff != "" {
				t.Errorf("GET /v1/keys/{id} differs from the create answer (-create +get):\n%s", diff)
			}
			_, restricted := tt.body["allowed_ips"]
			if code := verifyCode(t, ts, secret); tt.body["enabled"] != false && !restricted && code != keyward.CodeValid {
				t.Errorf("verify new key: got %s, want %s", code, keyward.CodeValid)
			}
		})
	}
}

// sortStrings makes cmp compare string slices as sets.
var sortStrings = cmp.Transformer("sort", func(s []string) []string { return slices.Sorted(slices.Values(s)) })

func TestCreateKeyInvalid(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	sa := createServiceAccount(t, ts, ts.RootKey, "deployer")
	past := clock.Now().Add(-time.Hour).Format(time.RFC3339)
	future := clock.Now().Add(time.Hour).Format(time.RFC3339)
	bigMetadata := `{"blob":"` + strings.Repeat("m", 4100) + `"}`

	tests := []struct {
		name   string
		body   string
		status int
		fields []string
	}{
		{"unknown field", `{"name":"x","bogus":1}`, 400, []string{"bogus"}},
		{"name of the wrong type", `{"name":5}`, 400, []string{"name"}},
		{"permissions of the wrong type", `{"name":"x","permissions":"a.read"}`, 400, []string{"permissions"}},
		{"name missing", `{}`, 400, []string{"name"}},
		{"name empty", `{"name":""}`, 400, []string{"name"}},
		{"name of 256 characters", `{"name":"` + strings.Repeat("n", 256) + `"}`, 400, []string{"name"}},
		{"expires_at not a time", `{"name":"x","expires_at":"tomorrow"}`, 400, []string{"expires_at"}},
		{"expires_at in the past", `{"name":"x","expires_at":"` + past + `"}`, 400, []string{"expires_at"}},
		{"expires_in zero", `{"name":"x","expires_in":0}`, 400, []string{"expires_in"}},
		{"expires_in negative", `{"name":"x","expires_in":-5}`, 400, []string{"expires_in"}},
		{"both expiry fields", `{"name":"x","expires_in":60,"expires_at":"` + future + `"}`, 400, []string{"expires_at", "expires_in"}},
		{"permission with an empty segment", `{"name":"x","permissions":["a..b"]}`, 400, []string{"permissions"}},
		{"partial wildcard", `{"name":"x","permissions":["ad*"]}`, 400, []string{"permissions"}},
		{"CIDR bits out of range", `{"name":"x","allowed_ips":["10.0.0.1/33"]}`, 400, []string{"allowed_ips"}},
		{"not an address", `{"name":"x","allowed_ips":["example.com"]}`, 400, []string{"allowed_ips"}},
		{"metadata a string", `{"name":"x","metadata":"plan=pro"}`, 400, []string{"metadata"}},
		{"metadata an array", `{"name":"x","metadata":[1,2]}`, 400, []string{"metadata"}},
		{"metadata over 4 KiB", `{"name":"x","metadata":` + bigMetadata + `}`, 400, []string{"metadata"}},
		{"prefix with capitals", `{"name":"x","prefix":"Kw"}`, 400, []string{"prefix"}},
		{"prefix of 17 characters", `{"name":"x","prefix":"abcdefghijklmnopq"}`, 400, []string{"prefix"}},
		{"owner and service account", `{"name":"x","owner_id":"u1","service_account_id":"` + str(sa, "id") + `"}`, 400, []string{"owner_id", "service_account_id"}},
		{"unknown service account", `{"name":"x","service_account_id":"` + unknownID + `"}`, 400, []string{"service_account_id"}},
		{"not JSON", `{"name":`, 400, nil},
		{"two JSON values", `{"name":"x"}{"name":"y"}`, 400, nil},
		{"body over 64 KiB", `{"name":"x","description":"` + strings.Repeat("d", 70<<10) + `"}`, 413, nil},
	}
	before := keyIDs(t, ts, ts.RootKey)
	eventsBefore := len(auditEvents(t, ts, ts.RootKey))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, http.MethodPost, ts.URL+"/v1/keys", ts.RootKey, tt.body)
			checkProblem(t, status, h, body, tt.status, tt.fields...)
			if _, ok := body["key"]; ok {
				t.Errorf("error answer holds a key")
			}
		})
	}
	t.Run("text/plain", func(t *testing.T) {
		req := newRequest(t, http.MethodPost, ts.URL+"/v1/keys", ts.RootKey, `{"name":"x"}`)
		req.Header.Set("Content-Type", "text/plain")
		status, h, raw := send(t, req)
		checkProblem(t, status, h, decodeObject(raw), http.StatusUnsupportedMediaType)
	})
	if diff := cmp.Diff(before, keyIDs(t, ts, ts.RootKey)); diff != "" {
		t.Errorf("rejected creates changed the key list (-before +after):\n%s", diff)
	}
	if got := len(auditEvents(t, ts, ts.RootKey)); got != eventsBefore {
		t.Errorf("audit events: got %d, want %d: rejected creates left events", got, eventsBefore)
	}
}

func TestListKeys(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	sa := createServiceAccount(t, ts, ts.RootKey, "deployer")
	id := func(body map[string]any) string { return str(createKey(t, ts, ts.RootKey, body), "id") }
	alice1 := id(map[string]any{"name": "alice 1", "owner_id": "alice"})
	alice2 := id(map[string]any{"name": "alice 2", "owner_id": "alice"})
	bob := id(map[string]any{"name": "bob", "owner_id": "bob"})
	robot := id(map[string]any{"name": "robot", "service_account_id": str(sa, "id")})
	acme := createKey(t, ts, ts.RootKey, map[string]any{"name": "acme", "prefix": "acme"})
	revoked := id(map[string]any{"name": "revoked"})
	mustDo(t, http.StatusOK, http.MethodPost, ts.URL+"/v1/keys/"+revoked+"/revoke", ts.RootKey, nil)
	deleted := id(map[string]any{"name": "deleted"})
	mustDo(t, http.StatusOK, http.MethodDelete, ts.URL+"/v1/keys/"+deleted, ts.RootKey, nil)
	for i := range 6 {
		id(map[string]any{"name": fmt.Sprintf("filler %d", i)})
	}

	all := listAll(t, ts, ts.RootKey, "/v1/keys", nil, keyward.MaxPageLimit)
	if got, want := len(all), 13; got != want {
		t.Fatalf("keys listed: got %d, want %d (root + 12 live)", got, want)
	}
	if slices.Contains(ids(all), deleted) {
		t.Errorf("deleted key %s is listed", deleted)
	}
	for _, rec := range all {
		if diff := cmp.Diff(keyRecordFields, fieldNames(rec)); diff != "" {
			t.Fatalf("listed record fields (-want +got):\n%s", diff)
		}
	}

	t.Run("pages", func(t *testing.T) {
		for _, limit := range []int{1, 5, 12, 13, 14} {
			got := ids(listAll(t, ts, ts.RootKey, "/v1/keys", nil, limit))
			if len(got) != len(all) {
				t.Errorf("limit %d: got %d keys, want %d", limit, len(got), len(all))
			}
			if diff := cmp.Diff(sortedIDs(all), slices.Compact(slices.Sorted(slices.Values(got)))); diff != "" {
				t.Errorf("limit %d: pages differ from one page, or repeat keys (-want +got):\n%s", limit, diff)
			}
		}
	})

	allIDs := sortedIDs(all)
	unrevoked := slices.DeleteFunc(slices.Clone(allIDs), func(s string) bool { return s == revoked })
	filters := []struct {
		query url.Values
		want  []string
	}{
		{url.Values{"owner_id": {"alice"}}, []string{alice1, alice2}},
		{url.Values{"owner_id": {"bob"}}, []string{bob}},
		{url.Values{"owner_id": {"nobody"}}, nil},
		{url.Values{"service_account_id": {str(sa, "id")}}, []string{robot}},
		{url.Values{"revoked": {"true"}}, []string{revoked}},
		{url.Values{"revoked": {"false"}}, unrevoked},
		{url.Values{"prefix": {"acme_"}}, []string{str(acme, "id")}},
		{url.Values{"prefix": {str(acme, "key_prefix")}}, []string{str(acme, "id")}},
		{url.Values{"owner_id": {"alice"}, "revoked": {"true"}}, nil},
	}
	for _, f := range filters {
		t.Run(f.query.Encode(), func(t *testing.T) {
			got := sortedIDs(listAll(t, ts, ts.RootKey, "/v1/keys", f.query, 2))
			want := slices.Sorted(slices.Values(f.want))
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListLimitInvalid(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	for _, path := range []string{"/v1/keys", "/v1/service-accounts", "/v1/audit-events"} {
		for _, limit := range []string{"0", "abc", "-1", "1001"} {
			t.Run(path+"?limit="+limit, func(t *testing.T) {
				status, h, body := do(t, http.MethodGet, ts.URL+path+"?limit="+limit, ts.RootKey, nil)
				checkProblem(t, status, h, body, http.StatusBadRequest, "limit")
			})
		}
	}
}

func TestGetKeyNotFound(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	for _, id := range []string{unknownID, "not-an-id"} {
		for _, req := range []struct {
			method, suffix string
			body           any
		}{
			{http.MethodGet, "", nil},
			{http.MethodPatch, "", map[string]any{"name": "x"}},
			{http.MethodPost, "/revoke", nil},
			{http.MethodDelete, "", nil},
		} {
			t.Run(req.method+" "+id+req.suffix, func(t *testing.T) {
				status, h, body := do(t, req.method, ts.URL+"/v1/keys/"+id+req.suffix, ts.RootKey, req.body)
				checkProblem(t, status, h, body, http.StatusNotFound)
			})
		}
	}
}

func TestUpdateKey(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	rec := createKey(t, ts, ts.RootKey, map[string]any{
		"name": "svc", "permissions": []string{"a.read"}, "allowed_ips": []string{"127.0.0.1"},
		"expires_in": 3600, "metadata": map[string]any{"x": 1}, "owner_id": "u1",
	})
	id, secret := str(rec, "id"), str(rec, "key")
	keyURL := ts.URL + "/v1/keys/" + id
	if code := verifyCode(t, ts, secret); code != keyward.CodeValid {
		t.Fatalf("verify: got %s, want %s", code, keyward.CodeValid)
	}

	clock.Advance(time.Minute)
	got := mustDo(t, http.StatusOK, http.MethodPatch, keyURL, ts.RootKey, map[string]any{
		"name": "svc renamed", "description": "now described", "permissions": []string{"b.write", "c:*"},
		"allowed_ips": []string{"192.168.1.1/24", "127.0.0.1"}, "metadata": map[string]any{"y": "z"}, "enabled": false,
	})
	want := map[string]any{
		"name": "svc renamed", "description": "now described", "permissions": []any{"b.write", "c:*"},
		"allowed_ips": []any{"192.168.1.0/24", "127.0.0.1"}, "metadata": map[string]any{"y": "z"}, "enabled": false,
		"owner_id": "u1", "created_at": rec["created_at"], "expires_at": rec["expires_at"], "id": id,
	}
	for f, w := range want {
		if diff := cmp.Diff(w, got[f]); diff != "" {
			t.Errorf("PATCH answer %s (-want +got):\n%s", f, diff)
		}
	}
	if diff := cmp.Diff(keyRecordFields, fieldNames(got)); diff != "" {
		t.Errorf("PATCH answer fields (-want +got):\n%s", diff)
	}
	if u := timeField(t, got, "updated_at"); u == nil || !u.Equal(clock.Now()) {
		t.Errorf("updated_at: got %v, want %v", u, clock.Now())
	}
	if diff := cmp.Diff(got, mustDo(t, http.StatusOK, http.MethodGet, keyURL, ts.RootKey, nil)); diff != "" {
		t.Errorf("GET after PATCH differs from the PATCH answer (-patch +get):\n%s", diff)
	}
	if code := verifyCode(t, ts, secret); code != keyward.CodeDisabled {
		t.Errorf("verify after disabling: got %s, want %s", code, keyward.CodeDisabled)
	}

	expiry := []struct {
		name string
		body map[string]any
		want *time.Time
	}{
		{"expires_at null clears expiry", map[string]any{"expires_at": nil}, nil},
		{"expires_in", map[string]any{"expires_in": 120}, new(clock.Now().Add(2 * time.Minute))},
		{"expires_at", map[string]any{"expires_at": clock.Now().Add(72 * time.Hour).Format(time.RFC3339)}, new(clock.Now().Add(72 * time.Hour))},
	}
	for _, tt := range expiry {
		t.Run(tt.name, func(t *testing.T) {
			got := timeField(t, mustDo(t, http.StatusOK, http.MethodPatch, keyURL, ts.RootKey, tt.body), "expires_at")
			if (got == nil) != (tt.want == nil) || got != nil && !got.Equal(*tt.want) {
				t.Errorf("expires_at: got %v, want %v", got, tt.want)
			}
		})
	}

	mustDo(t, http.StatusOK, http.MethodPatch, keyURL, ts.RootKey, map[string]any{"enabled": true})
	if code := verifyCode(t, ts, secret); code != keyward.CodeValid {
		t.Errorf("verify after enabling: got %s, want %s", code, keyward.CodeValid)
	}

	before := mustDo(t, http.StatusOK, http.MethodGet, keyURL, ts.RootKey, nil)
	invalid := []struct {
		name   string
		body   string
		status int
		field  string
	}{
		{"empty name", `{"name":""}`, 400, "name"},
		{"name of 256 characters", `{"name":"` + strings.Repeat("n", 256) + `"}`, 400, "name"},
		{"name of the wrong type", `{"name":5}`, 400, "name"},
		{"unknown field", `{"bogus":true}`, 400, "bogus"},
		{"bad permission", `{"permissions":["a..b"]}`, 400, "permissions"},
		{"bad CIDR", `{"allowed_ips":["10.0.0.1/33"]}`, 400, "allowed_ips"},
		{"expires_at not a time", `{"expires_at":"tomorrow"}`, 400, "expires_at"},
		{"expires_at in the past", `{"expires_at":"` + clock.Now().Add(-time.Hour).Format(time.RFC3339) + `"}`, 400, "expires_at"},
		{"expires_in zero", `{"expires_in":0}`, 400, "expires_in"},
		{"metadata not an object", `{"metadata":[1]}`, 400, "metadata"},
		{"a valid and an invalid field", `{"description":"changed","name":""}`, 400, "name"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, http.MethodPatch, keyURL, ts.RootKey, tt.body)
			checkProblem(t, status, h, body, tt.status, tt.field)
			if diff := cmp.Diff(before, mustDo(t, http.StatusOK, http.MethodGet, keyURL, ts.RootKey, nil)); diff != "" {
				t.Errorf("rejected PATCH changed the key (-before +after):\n%s", diff)
			}
		})
	}
}

func TestRevokeKey(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	rec := createKey(t, ts, ts.RootKey, map[string]any{"name": "doomed"})
	id, secret := str(rec, "id"), str(rec, "key")
	keyURL := ts.URL + "/v1/keys/" + id
	// A valid answer puts the key in the verification cache; revoking must
	// drop it there at once.
	if code := verifyCode(t, ts, secret); code != keyward.CodeValid {
		t.Fatalf("verify before revoke: got %s, want %s", code, keyward.CodeValid)
	}

	revoked := mustDo(t, http.StatusOK, http.MethodPost, keyURL+"/revoke", ts.RootKey, nil)
	revokedAt := timeField(t, revoked, "revoked_at")
	if revokedAt == nil {
		t.Fatalf("revoke answer: revoked_at is null")
	}
	if _, ok := revoked["key"]; ok {
		t.Errorf("revoke answer holds the key")
	}
	if code := verifyCode(t, ts, secret); code != keyward.CodeRevoked {
		t.Errorf("verify right after revoke: got %s, want %s", code, keyward.CodeRevoked)
	}

	again := mustDo(t, http.StatusOK, http.MethodPost, keyURL+"/revoke", ts.RootKey, nil)
	if got := timeField(t, again, "revoked_at"); got == nil || !got.Equal(*revokedAt) {
		t.Errorf("second revoke: revoked_at got %v, want %v", got, revokedAt)
	}
	for _, body := range []map[string]any{{"enabled": true}, {"name": "resurrected"}} {
		status, h, res := do(t, http.MethodPatch, keyURL, ts.RootKey, body)
		checkProblem(t, status, h, res, http.StatusConflict)
	}
	got := mustDo(t, http.StatusOK, http.MethodGet, keyURL, ts.RootKey, nil)
	if str(got, "name") != "doomed" || timeField(t, got, "revoked_at") == nil {
		t.Errorf("revoked key after rejected updates: name %q, revoked_at %v", str(got, "name"), got["revoked_at"])
	}
	if code := verifyCode(t, ts, secret); code != keyward.CodeRevoked {
		t.Errorf("verify after rejected updates: got %s, want %s", code, keyward.CodeRevoked)
	}
}

func TestDeleteKey(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	rec := createKey(t, ts, ts.RootKey, map[string]any{"name": "gone"})
	id, secret := str(rec, "id"), str(rec, "key")
	keyURL := ts.URL + "/v1/keys/" + id
	if code := verifyCode(t, ts, secret); code != keyward.CodeValid {
		t.Fatalf("verify before delete: got %s, want %s", code, keyward.CodeValid)
	}

	deleted := mustDo(t, http.StatusOK, http.MethodDelete, keyURL, ts.RootKey, nil)
	if timeField(t, deleted, "deleted_at") == nil {
		t.Errorf("delete answer: deleted_at is null")
	}
	if got := verifyCode(t, ts, secret); got != keyward.CodeNotFound {
		t.Errorf("verify after delete: got %s, want %s", got, keyward.CodeNotFound)
	}
	if slices.Contains(keyIDs(t, ts, ts.RootKey), id) {
		t.Errorf("deleted key is listed")
	}
	for _, req := range []struct {
		method, suffix string
		body           any
	}{
		{http.MethodGet, "", nil},
		{http.MethodPatch, "", map[string]any{"name": "back"}},
		{http.MethodPost, "/revoke", nil},
		{http.MethodDelete, "", nil},
	} {
		status, h, body := do(t, req.method, keyURL+req.suffix, ts.RootKey, req.body)
		checkProblem(t, status, h, body, http.StatusNotFound)
	}
	var actions []string
	for _, ev := range auditEvents(t, ts, ts.RootKey) {
		if str(ev, "target_id") == id {
			actions = append(actions, str(ev, "action"))
		}
	}
	if diff := cmp.Diff([]string{keyward.ActionKeyDelete, keyward.ActionKeyCreate}, actions); diff != "" {
		t.Errorf("audit events of the deleted key (-want +got):\n%s", diff)
	}
}

func TestServiceAccounts(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	rootID := rootKeyID(t, ts)
	sa := mustDo(t, http.StatusCreated, http.MethodPost, ts.URL+"/v1/service-accounts", ts.RootKey,
		map[string]any{"name": "ci-bot", "description": "runs the pipelines"})
	saID := str(sa, "id")
	saURL := ts.URL + "/v1/service-accounts/" + saID
	for f, want := range map[string]any{"name": "ci-bot", "description": "runs the pipelines", "created_by": rootID, "deleted_at": nil} {
		if got := sa[f]; got != want {
			t.Errorf("service account %s: got %v, want %v", f, got, want)
		}
	}
	if diff := cmp.Diff(sa, mustDo(t, http.StatusOK, http.MethodGet, saURL, ts.RootKey, nil)); diff != "" {
		t.Errorf("GET differs from the create answer (-create +get):\n%s", diff)
	}
	other := createServiceAccount(t, ts, ts.RootKey, "other")
	if diff := cmp.Diff([]string{saID, str(other, "id")}, sortedIDs(listAll(t, ts, ts.RootKey, "/v1/service-accounts", nil, 1)), sortStrings); diff != "" {
		t.Errorf("service accounts listed (-want +got):\n%s", diff)
	}

	k1 := createKey(t, ts, ts.RootKey, map[string]any{"name": "ci 1", "service_account_id": saID})
	k2 := createKey(t, ts, ts.RootKey, map[string]any{"name": "ci 2", "service_account_id": saID})
	bystander := createKey(t, ts, ts.RootKey, map[string]any{"name": "other's", "service_account_id": str(other, "id")})
	res := verifyKey(t, ts, ts.RootKey, map[string]any{"key": str(k1, "key")})
	if str(res, "code") != keyward.CodeValid || str(res, "service_account_id") != saID {
		t.Errorf("verify: got code %v, service_account_id %v; want %s, %s", res["code"], res["service_account_id"], keyward.CodeValid, saID)
	}

	if deleted := mustDo(t, http.StatusOK, http.MethodDelete, saURL, ts.RootKey, nil); timeField(t, deleted, "deleted_at") == nil {
		t.Errorf("delete answer: deleted_at is null")
	}
	for _, k := range []map[string]any{k1, k2} {
		if code := verifyCode(t, ts, str(k, "key")); code != keyward.CodeRevoked {
			t.Errorf("verify %s after deleting its service account: got %s, want %s", str(k, "name"), code, keyward.CodeRevoked)
		}
		if got := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/keys/"+str(k, "id"), ts.RootKey, nil); got["revoked_at"] == nil {
			t.Errorf("key %s: revoked_at is null after deleting its service account", str(k, "name"))
		}
	}
	if code := verifyCode(t, ts, str(bystander, "key")); code != keyward.CodeValid {
		t.Errorf("key of another service account: got %s, want %s", code, keyward.CodeValid)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		status, h, body := do(t, method, saURL, ts.RootKey, nil)
		checkProblem(t, status, h, body, http.StatusNotFound)
	}
	if slices.Contains(ids(listAll(t, ts, ts.RootKey, "/v1/service-accounts", nil, 10)), saID) {
		t.Errorf("deleted service account is listed")
	}
	status, h, body := do(t, http.MethodPost, ts.URL+"/v1/keys", ts.RootKey, map[string]any{"name": "late", "service_account_id": saID})
	checkProblem(t, status, h, body, http.StatusBadRequest, "service_account_id")

	for _, tt := range []struct{ name, body, field string }{
		{"empty name", `{"name":""}`, "name"},
		{"unknown field", `{"name":"x","bogus":1}`, "bogus"},
	} {
		status, h, body := do(t, http.MethodPost, ts.URL+"/v1/service-accounts", ts.RootKey, tt.body)
		checkProblem(t, status, h, body, http.StatusBadRequest, tt.field)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	_, rootB, err := ts.Service.CreateOrg(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	create := func(body map[string]any) map[string]any { return createKey(t, ts, ts.RootKey, body) }
	secret := func(body map[string]any) string { return str(create(body), "key") }
	revoke := func(rec map[string]any) string {
		mustDo(t, http.StatusOK, http.MethodPost, ts.URL+"/v1/keys/"+str(rec, "id")+"/revoke", ts.RootKey, nil)
		return str(rec, "key")
	}

	full := create(map[string]any{
		"name": "full", "permissions": []string{"nodes.read.own", "billing:*"}, "owner_id": "user-7",
		"metadata": map[string]any{"plan": "pro"}, "expires_in": 3600,
	})
	valid := str(full, "key")
	nets := secret(map[string]any{"name": "nets", "allowed_ips": []string{"10.0.0.0/8", "2001:db8::/32"}})
	local := secret(map[string]any{"name": "local", "allowed_ips": []string{"127.0.0.1"}})
	revoked := revoke(create(map[string]any{"name": "revoked"}))
	disabled := secret(map[string]any{"name": "disabled", "enabled": false})
	expired := secret(map[string]any{"name": "expired", "expires_in": 60})
	all := revoke(create(map[string]any{"name": "revoked, disabled, expired", "enabled": false, "expires_in": 60, "allowed_ips": []string{"10.0.0.0/8"}}))
	disabledExpired := secret(map[string]any{"name": "disabled, expired", "enabled": false, "expires_in": 60, "allowed_ips": []string{"10.0.0.0/8"}})
	expiredIP := secret(map[string]any{"name": "expired, wrong IP", "expires_in": 60, "allowed_ips": []string{"10.0.0.0/8"}, "permissions": []string{"a.b"}})
	ipPerms := secret(map[string]any{"name": "wrong IP, wrong permission", "allowed_ips": []string{"10.0.0.0/8"}, "permissions": []string{"a.b"}})
	deletedRec := create(map[string]any{"name": "deleted"})
	mustDo(t, http.StatusOK, http.MethodDelete, ts.URL+"/v1/keys/"+str(deletedRec, "id"), ts.RootKey, nil)
	otherOrg := str(createKey(t, ts, rootB.Secret, map[string]any{"name": "org B"}), "key")
	clock.Advance(2 * time.Minute)

	tests := []struct {
		name  string
		key   string
		perms string
		ip    string
		want  string
	}{
		{"valid", valid, "", "", keyward.CodeValid},
		{"unknown", unknownKey(t), "", "", keyward.CodeNotFound},
		{"malformed", "definitely not a key", "", "", keyward.CodeNotFound},
		{"bad checksum", badChecksum(valid), "", "", keyward.CodeNotFound},
		{"deleted", str(deletedRec, "key"), "", "", keyward.CodeNotFound},
		{"another org's key", otherOrg, "", "", keyward.CodeNotFound},
		{"revoked", revoked, "", "", keyward.CodeRevoked},
		{"disabled", disabled, "", "", keyward.CodeDisabled},
		{"expired", expired, "", "", keyward.CodeExpired},
		{"revoked beats disabled and expired", all, "x.y", "11.0.0.1", keyward.CodeRevoked},
		{"disabled beats expired", disabledExpired, "x.y", "11.0.0.1", keyward.CodeDisabled},
		{"expired beats IP", expiredIP, "x.y", "11.0.0.1", keyward.CodeExpired},
		{"IP beats permissions", ipPerms, "x.y", "11.0.0.1", keyward.CodeIPNotAllowed},
		{"IPv4 inside", nets, "", "10.1.2.3", keyward.CodeValid},
		{"IPv4 outside", nets, "", "11.0.0.1", keyward.CodeIPNotAllowed},
		{"IPv6 inside", nets, "", "2001:db8:1::5", keyward.CodeValid},
		{"IPv6 outside", nets, "", "2001:db9::1", keyward.CodeIPNotAllowed},
		{"IPv4-mapped IPv6 inside an IPv4 range", nets, "", "::ffff:10.1.2.3", keyward.CodeValid},
		{"IPv4-mapped IPv6 outside", nets, "", "::ffff:11.1.2.3", keyward.CodeIPNotAllowed},
		{"no ip: the caller's 127.0.0.1 outside", nets, "", "", keyward.CodeIPNotAllowed},
		{"no ip: the caller's 127.0.0.1 inside", local, "", "", keyward.CodeValid},
		{"ip given: the caller's address does not count", local, "", "10.0.0.1", keyward.CodeIPNotAllowed},
		{"held permission", valid, "nodes.read.own", "", keyward.CodeValid},
		{"permission under a wildcard", valid, "billing:invoices:read", "", keyward.CodeValid},
		{"missing permission", valid, "nodes.write", "", keyward.CodeInsufficientPermissions},
		{"AND both held", valid, "nodes.read.own AND billing:x", "", keyward.CodeValid},
		{"AND one missing", valid, "nodes.read.own AND nodes.write", "", keyward.CodeInsufficientPermissions},
		{"OR one held", valid, "nodes.write OR billing:x", "", keyward.CodeValid},
		{"OR none held", valid, "nodes.write OR admin:x", "", keyward.CodeInsufficientPermissions},
		{"parentheses held", valid, "(nodes.write OR nodes.read.own) AND billing:y", "", keyward.CodeValid},
		{"parentheses missing", valid, "nodes.read.own AND (nodes.write OR x.y)", "", keyward.CodeInsufficientPermissions},
		{"AND binds tighter than OR", valid, "x.y AND nodes.write OR billing:z", "", keyward.CodeValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := map[string]any{"key": tt.key}
			if tt.perms != "" {
				req["permissions"] = tt.perms
			}
			if tt.ip != "" {
				req["ip"] = tt.ip
			}
			res := verifyKey(t, ts, ts.RootKey, req)
			if got := str(res, "code"); got != tt.want {
				t.Errorf("code: got %s, want %s", got, tt.want)
			}
			if got, want := res["valid"], tt.want == keyward.CodeValid; got != want {
				t.Errorf("valid: got %v, want %v", got, want)
			}
			if _, ok := res["key"]; ok {
				t.Errorf("verify answer holds the key")
			}
			if tt.want == keyward.CodeNotFound && (res["key_id"] != nil || res["name"] != nil) {
				t.Errorf("NOT_FOUND answer names a key: key_id %v, name %v", res["key_id"], res["name"])
			}
		})
	}

	t.Run("answer describes the key", func(t *testing.T) {
		res := verifyKey(t, ts, ts.RootKey, map[string]any{"key": valid, "permissions": "nodes.read.own"})
		want := map[string]any{
			"valid": true, "code": keyward.CodeValid, "key_id": str(full, "id"), "name": "full", "owner_id": "user-7",
			"permissions": []any{"nodes.read.own", "billing:*"}, "metadata": map[string]any{"plan": "pro"},
		}
		got := make(map[string]any)
		for f := range want {
			got[f] = res[f]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("verify answer (-want +got):\n%s", diff)
		}
		if e := timeField(t, res, "expires_at"); e == nil || !e.Equal(*timeField(t, full, "expires_at")) {
			t.Errorf("expires_at: got %v, want %v", e, full["expires_at"])
		}
	})

	t.Run("org B cannot verify org A's key", func(t *testing.T) {
		res := verifyKey(t, ts, rootB.Secret, map[string]any{"key": valid})
		if got := str(res, "code"); got != keyward.CodeNotFound {
			t.Errorf("code: got %s, want %s", got, keyward.CodeNotFound)
		}
	})

	invalid := []struct {
		name  string
		body  string
		field string
	}{
		{"no key", `{}`, "key"},
		{"empty key", `{"key":""}`, "key"},
		{"dangling AND", `{"key":"` + valid + `","permissions":"a.b AND"}`, "permissions"},
		{"unbalanced parenthesis", `{"key":"` + valid + `","permissions":"(a.b OR c.d"}`, "permissions"},
		{"bad permission in query", `{"key":"` + valid + `","permissions":"a..b"}`, "permissions"},
		{"bad ip", `{"key":"` + valid + `","ip":"300.1.1.1"}`, "ip"},
		{"CIDR as ip", `{"key":"` + valid + `","ip":"10.0.0.0/8"}`, "ip"},
		{"unknown field", `{"key":"` + valid + `","bogus":1}`, "bogus"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, http.MethodPost, ts.URL+"/v1/verify", ts.RootKey, tt.body)
			checkProblem(t, status, h, body, http.StatusBadRequest, tt.field)
		})
	}

	t.Run("caller without admin:api-keys:verify", func(t *testing.T) {
		caller := secret(map[string]any{"name": "reader", "permissions": []string{keyward.PermKeysRead}})
		status, h, body := do(t, http.MethodPost, ts.URL+"/v1/verify", caller, map[string]any{"key": valid})
		checkProblem(t, status, h, body, http.StatusForbidden)
	})
}

func TestNonEscalation(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	rootID := rootKeyID(t, ts)
	holder := func(perms ...string) string {
		return str(createKey(t, ts, ts.RootKey, map[string]any{"name": strings.Join(perms, " "), "permissions": perms}), "key")
	}
	creator := holder(keyward.PermKeysCreate)
	adminStar := holder("admin:*")

	creates := []struct {
		name   string
		caller string
		perms  []string
		want   int
	}{
		{"create-only mints *", creator, []string{"*"}, http.StatusForbidden},
		{"create-only mints admin:audit:read", creator, []string{keyward.PermAuditRead}, http.StatusForbidden},
		{"create-only mints admin:*", creator, []string{"admin:*"}, http.StatusForbidden},
		{"create-only mints an app permission", creator, []string{"nodes.read"}, http.StatusForbidden},
		{"create-only mints one held and one not", creator, []string{keyward.PermKeysCreate, keyward.PermKeysRead}, http.StatusForbidden},
		{"create-only mints no permissions", creator, []string{}, http.StatusCreated},
		{"create-only mints its own permission", creator, []string{keyward.PermKeysCreate}, http.StatusCreated},
		{"admin:* mints admin:audit:read", adminStar, []string{keyward.PermAuditRead}, http.StatusCreated},
		{"admin:* mints admin:api-keys:*", adminStar, []string{"admin:api-keys:*"}, http.StatusCreated},
		{"admin:* mints *", adminStar, []string{"*"}, http.StatusForbidden},
		{"admin:* mints an app permission", adminStar, []string{"nodes.read"}, http.StatusForbidden},
	}
	for _, tt := range creates {
		t.Run(tt.name, func(t *testing.T) {
			before := keyIDs(t, ts, ts.RootKey)
			status, h, body := do(t, http.MethodPost, ts.URL+"/v1/keys", tt.caller, map[string]any{"name": tt.name, "permissions": tt.perms})
			if tt.want == http.StatusCreated {
				if status != tt.want {
					t.Errorf("status: got %d, want 201 (body %v)", status, body)
				}
				return
			}
			checkProblem(t, status, h, body, tt.want, "permissions")
			if diff := cmp.Diff(before, keyIDs(t, ts, ts.RootKey)); diff != "" {
				t.Errorf("a refused create changed the key list (-before +after):\n%s", diff)
			}
		})
	}

	updater := holder(keyward.PermKeysUpdate, "nodes.read")
	deleter := holder(keyward.PermKeysDelete)
	target := createKey(t, ts, ts.RootKey, map[string]any{"name": "target", "permissions": []string{"nodes.read"}})
	targetURL := ts.URL + "/v1/keys/" + str(target, "id")
	rootURL := ts.URL + "/v1/keys/" + rootID

	t.Run("update within its own permissions", func(t *testing.T) {
		got := mustDo(t, http.StatusOK, http.MethodPatch, targetURL, updater, map[string]any{"name": "renamed", "permissions": []string{"nodes.read"}})
		if diff := cmp.Diff([]string{"nodes.read"}, stringList(t, got, "permissions")); diff != "" {
			t.Errorf("permissions (-want +got):\n%s", diff)
		}
	})
	refused := []struct {
		name   string
		caller string
		method string
		url    string
		body   any
		fields []string
	}{
		{"update grants beyond its own", updater, http.MethodPatch, targetURL, map[string]any{"permissions": []string{"nodes.write"}}, []string{"permissions"}},
		{"update grants *", updater, http.MethodPatch, targetURL, map[string]any{"permissions": []string{"*"}}, []string{"permissions"}},
		{"update renames the root key", updater, http.MethodPatch, rootURL, map[string]any{"name": "pwned"}, nil},
		{"update disables the root key", updater, http.MethodPatch, rootURL, map[string]any{"enabled": false}, nil},
		{"delete-only revokes the root key", deleter, http.MethodPost, rootURL + "/revoke", nil, nil},
		{"delete-only deletes the root key", deleter, http.MethodDelete, rootURL, nil, nil},
		{"admin:* revokes the root key", adminStar, http.MethodPost, rootURL + "/revoke", nil, nil},
		{"admin:* deletes the root key", adminStar, http.MethodDelete, rootURL, nil, nil},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, tt.method, tt.url, tt.caller, tt.body)
			checkProblem(t, status, h, body, http.StatusForbidden, tt.fields...)
		})
	}
	got := mustDo(t, http.StatusOK, http.MethodGet, targetURL, ts.RootKey, nil)
	if diff := cmp.Diff([]string{"nodes.read"}, stringList(t, got, "permissions")); diff != "" {
		t.Errorf("target permissions after refused updates (-want +got):\n%s", diff)
	}
	root := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", ts.RootKey, nil)
	if root["enabled"] != true || root["revoked_at"] != nil || str(root, "name") == "pwned" {
		t.Errorf("root key after refused writes: enabled %v, revoked_at %v, name %q", root["enabled"], root["revoked_at"], str(root, "name"))
	}
	if code := verifyCode(t, ts, ts.RootKey); code != keyward.CodeValid {
		t.Errorf("verify root key: got %s, want %s", code, keyward.CodeValid)
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	orgB, createdB, err := ts.Service.CreateOrg(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	rootB := createdB.Secret
	keyA := createKey(t, ts, ts.RootKey, map[string]any{"name": "a", "owner_id": "shared-user"})
	saA := createServiceAccount(t, ts, ts.RootKey, "a-bot")
	keyB := createKey(t, ts, rootB, map[string]any{"name": "b", "owner_id": "shared-user"})
	idA, saIDA := str(keyA, "id"), str(saA, "id")

	requests := []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/v1/keys/" + idA, nil},
		{http.MethodPatch, "/v1/keys/" + idA, map[string]any{"name": "stolen"}},
		{http.MethodPost, "/v1/keys/" + idA + "/revoke", nil},
		{http.MethodDelete, "/v1/keys/" + idA, nil},
		{http.MethodGet, "/v1/keys/" + rootKeyID(t, ts), nil},
		{http.MethodGet, "/v1/service-accounts/" + saIDA, nil},
		{http.MethodDelete, "/v1/service-accounts/" + saIDA, nil},
	}
	for _, req := range requests {
		t.Run("org B "+req.method+" "+req.path, func(t *testing.T) {
			status, h, body := do(t, req.method, ts.URL+req.path, rootB, req.body)
			checkProblem(t, status, h, body, http.StatusNotFound)
		})
	}

	got := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/keys/"+idA, ts.RootKey, nil)
	if str(got, "name") != "a" || got["revoked_at"] != nil || got["deleted_at"] != nil {
		t.Errorf("org A's key after org B's attempts: name %q, revoked_at %v, deleted_at %v", str(got, "name"), got["revoked_at"], got["deleted_at"])
	}
	if code := verifyCode(t, ts, str(keyA, "key")); code != keyward.CodeValid {
		t.Errorf("org A verifies its key: got %s, want %s", code, keyward.CodeValid)
	}
	mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/service-accounts/"+saIDA, ts.RootKey, nil)

	idsB := keyIDs(t, ts, rootB)
	if diff := cmp.Diff([]string{createdB.ID, str(keyB, "id")}, idsB, sortStrings); diff != "" {
		t.Errorf("org B's key list (-want +got):\n%s", diff)
	}
	if got := ids(listAll(t, ts, rootB, "/v1/keys", url.Values{"owner_id": {"shared-user"}}, 10)); !slices.Equal(got, []string{str(keyB, "id")}) {
		t.Errorf("org B's keys of owner shared-user: got %v, want only %s", got, str(keyB, "id"))
	}
	if got := listAll(t, ts, rootB, "/v1/service-accounts", nil, 10); len(got) != 0 {
		t.Errorf("org B's service accounts: got %v, want none", ids(got))
	}
	for _, ev := range auditEvents(t, ts, rootB) {
		if str(ev, "org_id") != orgB.ID || str(ev, "target_id") == idA || str(ev, "target_id") == saIDA {
			t.Errorf("org B's audit log holds an event of org A: %v", ev)
		}
	}
	if code := str(verifyKey(t, ts, rootB, map[string]any{"key": str(keyA, "key")}), "code"); code != keyward.CodeNotFound {
		t.Errorf("org B verifies org A's key: got %s, want %s", code, keyward.CodeNotFound)
	}
	if code := verifyCode(t, ts, str(keyB, "key")); code != keyward.CodeNotFound {
		t.Errorf("org A verifies org B's key: got %s, want %s", code, keyward.CodeNotFound)
	}
	status, h, body := do(t, http.MethodPost, ts.URL+"/v1/keys", rootB, map[string]any{"name": "hijack", "service_account_id": saIDA})
	checkProblem(t, status, h, body, http.StatusBadRequest, "service_account_id")
	who := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", rootB, nil)
	if str(who, "org_id") != orgB.ID || str(who, "id") != createdB.ID {
		t.Errorf("org B's whoami: got org %q key %q, want org %q key %q", str(who, "org_id"), str(who, "id"), orgB.ID, createdB.ID)
	}
}

func TestWhoAmI(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	root := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", ts.RootKey, nil)
	if diff := cmp.Diff(keyRecordFields, fieldNames(root)); diff != "" {
		t.Errorf("whoami fields (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"*"}, stringList(t, root, "permissions")); diff != "" {
		t.Errorf("root permissions (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(ts.RootKey, str(root, "key_prefix")) {
		t.Errorf("root key_prefix %q is not the beginning of the root key", str(root, "key_prefix"))
	}

	plain := createKey(t, ts, ts.RootKey, map[string]any{"name": "no permissions", "owner_id": "u9"})
	got := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/whoami", str(plain, "key"), nil)
	delete(plain, "key")
	for _, f := range []string{"last_used_at", "last_used_ip", "last_used_user_agent"} {
		// Authenticating records a use behind the request; do not race it.
		delete(plain, f)
		delete(got, f)
	}
	if diff := cmp.Diff(plain, got); diff != "" {
		t.Errorf("whoami of a key without permissions (-created +whoami):\n%s", diff)
	}
}

func TestAuditEvents(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	rootID := rootKeyID(t, ts)
	weak := createKey(t, ts, ts.RootKey, map[string]any{"name": "weak", "permissions": []string{keyward.PermKeysCreate, keyward.PermKeysUpdate}})
	before := auditEvents(t, ts, ts.RootKey)

	type write struct {
		actor, action, target, requestID string
	}
	var writes []write
	// call performs a write and remembers the event it must leave; target
	// "" stands for the id of the record the write answers.
	call := func(caller, actorID, method, path, target string, body any, want int, action, requestID string) map[string]any {
		t.Helper()
		req := newRequest(t, method, ts.URL+path, caller, body)
		if requestID != "" {
			req.Header.Set("X-Request-Id", requestID)
		}
		status, h, raw := send(t, req)
		res := decodeObject(raw)
		if status != want {
			t.Fatalf("%s %s: got status %d, want %d (body %v)", method, path, status, want, res)
		}
		if requestID != "" && h.Get("X-Request-Id") != requestID {
			t.Errorf("%s %s: X-Request-Id got %q, want the incoming %q", method, path, h.Get("X-Request-Id"), requestID)
		}
		if target == "" {
			target = str(res, "id")
		}
		writes = append(writes, write{actorID, action, target, h.Get("X-Request-Id")})
		return res
	}
	weakKey, weakID := str(weak, "key"), str(weak, "id")
	sa := call(ts.RootKey, rootID, http.MethodPost, "/v1/service-accounts", "", map[string]any{"name": "bot"}, 201, keyward.ActionServiceAccountCreate, "")
	saID := str(sa, "id")
	k1 := call(ts.RootKey, rootID, http.MethodPost, "/v1/keys", "", map[string]any{"name": "k1", "service_account_id": saID}, 201, keyward.ActionKeyCreate, "client-req-0001")
	k1ID := str(k1, "id")
	call(ts.RootKey, rootID, http.MethodPatch, "/v1/keys/"+k1ID, k1ID, map[string]any{"name": "k1 renamed"}, 200, keyward.ActionKeyUpdate, "")
	call(ts.RootKey, rootID, http.MethodPost, "/v1/keys/"+k1ID+"/revoke", k1ID, nil, 200, keyward.ActionKeyRevoke, "")
	k2 := call(weakKey, weakID, http.MethodPost, "/v1/keys", "", map[string]any{"name": "k2"}, 201, keyward.ActionKeyCreate, "")
	k2ID := str(k2, "id")
	call(weakKey, weakID, http.MethodPatch, "/v1/keys/"+k2ID, k2ID, map[string]any{"description": "by weak"}, 200, keyward.ActionKeyUpdate, "")
	call(ts.RootKey, rootID, http.MethodDelete, "/v1/keys/"+k2ID, k2ID, nil, 200, keyward.ActionKeyDelete, "")
	call(ts.RootKey, rootID, http.MethodDelete, "/v1/service-accounts/"+saID, saID, nil, 200, keyward.ActionServiceAccountDelete, "")

	keysBefore := keyIDs(t, ts, ts.RootKey)
	failed := []struct {
		caller, method, path string
		body                 any
		want                 int
	}{
		{ts.RootKey, http.MethodPost, "/v1/keys", map[string]any{"name": ""}, 400},
		{weakKey, http.MethodPost, "/v1/keys", map[string]any{"name": "escalate", "permissions": []string{"*"}}, 403},
		{weakKey, http.MethodPost, "/v1/service-accounts", map[string]any{"name": "nope"}, 403},
		{ts.RootKey, http.MethodPatch, "/v1/keys/" + k1ID, map[string]any{"name": "revoked"}, 409},
		{ts.RootKey, http.MethodPost, "/v1/keys", map[string]any{"name": "x", "permissions": []string{"a..b"}}, 400},
		{ts.RootKey, http.MethodDelete, "/v1/keys/" + unknownID, nil, 404},
	}
	for _, f := range failed {
		if status, _, body := do(t, f.method, ts.URL+f.path, f.caller, f.body); status != f.want {
			t.Errorf("%s %s: got status %d, want %d (body %v)", f.method, f.path, status, f.want, body)
		}
	}
	if diff := cmp.Diff(keysBefore, keyIDs(t, ts, ts.RootKey)); diff != "" {
		t.Errorf("failed writes changed the key list (-before +after):\n%s", diff)
	}

	events := auditEvents(t, ts, ts.RootKey)
	if got, want := len(events), len(before)+len(writes); got != want {
		t.Fatalf("audit events: got %d, want %d (%d before + %d writes; failed writes leave none)", got, want, len(before), len(writes))
	}
	var got []write
	for _, ev := range events[:len(writes)] {
		got = append(got, write{str(ev, "actor_key_id"), str(ev, "action"), str(ev, "target_id"), str(ev, "request_id")})
		if ip := str(ev, "source_ip"); ip != "127.0.0.1" {
			t.Errorf("event %s: source_ip got %q, want 127.0.0.1", str(ev, "action"), ip)
		}
	}
	slices.Reverse(writes)
	if diff := cmp.Diff(writes, got, cmp.AllowUnexported(write{})); diff != "" {
		t.Errorf("audit events, newest first (-want +got):\n%s", diff)
	}
	for i := 1; i < len(events); i++ {
		prev, cur := timeField(t, events[i-1], "time"), timeField(t, events[i], "time")
		if prev == nil || cur == nil || cur.After(*prev) {
			t.Errorf("event %d (%v) is newer than event %d (%v): want newest first", i, cur, i-1, prev)
		}
	}
	if diff := cmp.Diff(ids(events), ids(listAll(t, ts, ts.RootKey, "/v1/audit-events", nil, 3))); diff != "" {
		t.Errorf("audit events in pages of 3 differ from one page (-one +pages):\n%s", diff)
	}

	t.Run("filters", func(t *testing.T) {
		for _, ev := range listAll(t, ts, ts.RootKey, "/v1/audit-events", url.Values{"action": {keyward.ActionKeyCreate}}, 2) {
			if got := str(ev, "action"); got != keyward.ActionKeyCreate {
				t.Errorf("action=%s: got an event of action %s", keyward.ActionKeyCreate, got)
			}
		}
		var actions []string
		for _, ev := range listAll(t, ts, ts.RootKey, "/v1/audit-events", url.Values{"target_id": {k1ID}}, 2) {
			actions = append(actions, str(ev, "action"))
		}
		if diff := cmp.Diff([]string{keyward.ActionKeyRevoke, keyward.ActionKeyUpdate, keyward.ActionKeyCreate}, actions); diff != "" {
			t.Errorf("events with target_id k1 (-want +got):\n%s", diff)
		}
	})
}

func TestLastUsed(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t, func(c *Config) { c.FlushInterval = 20 * time.Millisecond })
	explicit := createKey(t, ts, ts.RootKey, map[string]any{"name": "explicit"})
	implicit := createKey(t, ts, ts.RootKey, map[string]any{"name": "implicit"})
	unused := createKey(t, ts, ts.RootKey, map[string]any{"name": "unused"})
	if r := verifyKey(t, ts, ts.RootKey, map[string]any{"key": str(explicit, "key"), "ip": "203.0.113.7", "user_agent": "probe/1.0"}); str(r, "code") != keyward.CodeValid {
		t.Fatalf("verify explicit: got %v", r["code"])
	}
	if r := verifyKey(t, ts, ts.RootKey, map[string]any{"key": str(implicit, "key")}); str(r, "code") != keyward.CodeValid {
		t.Fatalf("verify implicit: got %v", r["code"])
	}

	tests := []struct {
		rec            map[string]any
		wantIP, wantUA any
	}{
		{explicit, "203.0.113.7", "probe/1.0"},
		{implicit, "127.0.0.1", nil},
	}
	for _, tt := range tests {
		got := pollKey(t, ts, str(tt.rec, "id"), func(k map[string]any) bool { return k["last_used_at"] != nil })
		if got["last_used_ip"] != tt.wantIP {
			t.Errorf("%s: last_used_ip got %v, want %v", str(tt.rec, "name"), got["last_used_ip"], tt.wantIP)
		}
		if tt.wantUA != nil && got["last_used_user_agent"] != tt.wantUA {
			t.Errorf("%s: last_used_user_agent got %v, want %v", str(tt.rec, "name"), got["last_used_user_agent"], tt.wantUA)
		}
		if used, created := timeField(t, got, "last_used_at"), timeField(t, got, "created_at"); used.Before(*created) {
			t.Errorf("%s: last_used_at %v is before created_at %v", str(tt.rec, "name"), used, created)
		}
	}
	got := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/keys/"+str(unused, "id"), ts.RootKey, nil)
	for _, f := range []string{"last_used_at", "last_used_ip", "last_used_user_agent"} {
		if got[f] != nil {
			t.Errorf("never-verified key: %s got %v, want null", f, got[f])
		}
	}
}

// pollKey reads a key until done accepts it, for about two seconds.
func pollKey(tb testing.TB, ts *testServer, id string, done func(map[string]any) bool) map[string]any {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		k := mustDo(tb, http.StatusOK, http.MethodGet, ts.URL+"/v1/keys/"+id, ts.RootKey, nil)
		if done(k) {
			return k
		}
		if time.Now().After(deadline) {
			tb.Fatalf("key %s: condition not met within 2s: %v", id, k)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestErrorsAndRequestIDs(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	tests := []struct {
		name   string
		method string
		path   string
		key    string
		body   any
		want   int
	}{
		{"unknown route", http.MethodGet, "/v1/nope", ts.RootKey, nil, http.StatusNotFound},
		{"unknown route without a key", http.MethodGet, "/nope", "", nil, http.StatusNotFound},
		{"PUT /v1/keys", http.MethodPut, "/v1/keys", ts.RootKey, map[string]any{"name": "x"}, http.StatusMethodNotAllowed},
		{"DELETE /v1/keys", http.MethodDelete, "/v1/keys", ts.RootKey, nil, http.StatusMethodNotAllowed},
		{"GET /v1/verify", http.MethodGet, "/v1/verify", ts.RootKey, nil, http.StatusMethodNotAllowed},
		{"no key", http.MethodGet, "/v1/keys", "", nil, http.StatusUnauthorized},
		{"unknown key id", http.MethodGet, "/v1/keys/" + unknownID, ts.RootKey, nil, http.StatusNotFound},
		{"body over 64 KiB", http.MethodPost, "/v1/verify", ts.RootKey, `{"key":"` + strings.Repeat("k", 65<<10) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, tt.method, ts.URL+tt.path, tt.key, tt.body)
			checkProblem(t, status, h, body, tt.want)
		})
	}

	t.Run("405 names the allowed methods", func(t *testing.T) {
		_, h, _ := do(t, http.MethodPut, ts.URL+"/v1/keys", ts.RootKey, map[string]any{"name": "x"})
		if allow := h.Get("Allow"); !strings.Contains(allow, http.MethodGet) || !strings.Contains(allow, http.MethodPost) {
			t.Errorf("Allow: got %q, want GET and POST", allow)
		}
	})

	t.Run("every answer has a request id", func(t *testing.T) {
		seen := make(map[string]bool)
		for _, path := range []string{"/healthz", "/readyz", "/openapi.json", "/v1/whoami", "/v1/keys", "/nope"} {
			for _, key := range []string{ts.RootKey, ""} {
				_, h, _ := do(t, http.MethodGet, ts.URL+path, key, nil)
				id := h.Get("X-Request-Id")
				if id == "" {
					t.Errorf("GET %s: no X-Request-Id", path)
				} else if seen[id] {
					t.Errorf("GET %s: X-Request-Id %q repeats", path, id)
				}
				seen[id] = true
			}
		}
	})

	t.Run("incoming request id is echoed", func(t *testing.T) {
		for _, tt := range []struct {
			path, key string
			want      int
		}{
			{"/v1/whoami", ts.RootKey, http.StatusOK},
			{"/v1/whoami", "", http.StatusUnauthorized},
			{"/v1/keys/" + unknownID, ts.RootKey, http.StatusNotFound},
		} {
			req := newRequest(t, http.MethodGet, ts.URL+tt.path, tt.key, nil)
			req.Header.Set("X-Request-Id", "trace-42.abc_DEF")
			status, h, raw := send(t, req)
			if status != tt.want {
				t.Errorf("GET %s: got status %d, want %d", tt.path, status, tt.want)
			}
			if got := h.Get("X-Request-Id"); got != "trace-42.abc_DEF" {
				t.Errorf("GET %s: X-Request-Id got %q, want the incoming one", tt.path, got)
			}
			if status >= 400 {
				checkProblem(t, status, h, decodeObject(raw), tt.want)
			}
		}
	})

	t.Run("insane request id is replaced", func(t *testing.T) {
		req := newRequest(t, http.MethodGet, ts.URL+"/v1/whoami", ts.RootKey, nil)
		req.Header.Set("X-Request-Id", strings.Repeat("x", 500))
		_, h, _ := send(t, req)
		if got := h.Get("X-Request-Id"); got == "" || len(got) > 200 {
			t.Errorf("X-Request-Id: got %d characters, want a fresh id", len(got))
		}
	})
}

func TestHealthAndOpenAPI(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _, body := do(t, http.MethodGet, ts.URL+path, "", nil); status != http.StatusOK {
			t.Errorf("GET %s: got status %d, want 200 (body %v)", path, status, body)
		}
	}
	// SQLite has no change feed, and the server no Redis: the store is all
	// that readiness checks.
	want := map[string]any{"status": "ok", "checks": map[string]any{"database": "ok"}}
	if diff := cmp.Diff(want, mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/readyz", "", nil)); diff != "" {
		t.Errorf("readyz (-want +got):\n%s", diff)
	}

	doc := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/openapi.json", "", nil)
	if got := doc["openapi"]; got != "3.1.0" {
		t.Errorf("openapi: got %v, want 3.1.0", got)
	}
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatalf("paths: got %T, want an object", doc["paths"])
	}
	param := regexp.MustCompile(`\{[^}]*\}`)
	got := make(map[string]bool)
	for p, item := range paths {
		ops, _ := item.(map[string]any)
		for method := range ops {
			got[strings.ToUpper(method)+" "+param.ReplaceAllString(p, "{}")] = true
		}
	}
	for _, route := range []string{
		"POST /v1/keys", "GET /v1/keys", "GET /v1/keys/{}", "PATCH /v1/keys/{}", "DELETE /v1/keys/{}",
		"POST /v1/keys/{}/revoke", "POST /v1/verify", "GET /v1/whoami", "POST /v1/service-accounts",
		"GET /v1/service-accounts", "GET /v1/service-accounts/{}", "DELETE /v1/service-accounts/{}",
		"GET /v1/audit-events", "POST /v1/keys/{}/rotate", "POST /v1/keys/{}/credits", "GET /v1/keys/{}/usage",
		"GET /v1/owners/{}", "PUT /v1/owners/{}", "GET /v1/org/policy", "PUT /v1/org/policy", "GET /v1/usage",
	} {
		if !got[route] {
			t.Errorf("openapi.json lacks %s", route)
		}
	}
}

// keyURL is the URL of key id on ts.
func keyURL(ts *testServer, id string) string {
	return ts.URL + "/v1/keys/" + id
}

// verifyAll verifies req from n goroutines at once and counts the answer
// codes.
func verifyAll(tb testing.TB, ts *testServer, n int, req map[string]any) map[string]int {
	tb.Helper()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		codes = make(map[string]int)
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			status, _, raw := send(tb, newRequest(tb, http.MethodPost, ts.URL+"/v1/verify", ts.RootKey, req))
			code := fmt.Sprintf("status %d", status)
			if status == http.StatusOK {
				code = str(decodeObject(raw), "code")
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return codes
}

// creditsLeft returns the remaining credits of a key record or verify answer,
// or -1 when its credits are null.
func creditsLeft(tb testing.TB, m map[string]any) int64 {
	tb.Helper()
	c, ok := m["credits"].(map[string]any)
	if !ok {
		if m["credits"] != nil {
			tb.Fatalf("credits: got %v, want an object or null", m["credits"])
		}
		return -1
	}
	n, _ := c["remaining"].(float64)
	return int64(n)
}

// limitStates returns the rate_limits of a verify answer by name.
func limitStates(tb testing.TB, res map[string]any) map[string]map[string]any {
	tb.Helper()
	raw, ok := res["rate_limits"].([]any)
	if !ok {
		tb.Fatalf("rate_limits: got %v, want an array", res["rate_limits"])
	}
	out := make(map[string]map[string]any)
	for _, r := range raw {
		m, _ := r.(map[string]any)
		out[str(m, "name")] = m
	}
	return out
}

// remaining returns the remaining units of the named limit of a verify
// answer, or -1 when the answer does not hold it.
func remaining(tb testing.TB, res map[string]any, name string) int64 {
	tb.Helper()
	st, ok := limitStates(tb, res)[name]
	if !ok {
		return -1
	}
	n, _ := st["remaining"].(float64)
	return int64(n)
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	limited := createKey(t, ts, ts.RootKey, map[string]any{"name": "limited",
		"rate_limits": []any{map[string]any{"name": "default", "limit": 2, "window": 3600}}})
	secret := str(limited, "key")
	if diff := cmp.Diff([]any{map[string]any{"name": "default", "limit": 2.0, "window": 3600.0}}, limited["rate_limits"]); diff != "" {
		t.Errorf("create answer rate_limits (-want +got):\n%s", diff)
	}

	// GCRA: the two units may go at once and come back one per 30 minutes.
	steps := []struct {
		advance   time.Duration
		code      string
		remaining int64
		reset     time.Duration // from the clock's now
	}{
		{0, keyward.CodeValid, 1, 30 * time.Minute},
		{0, keyward.CodeValid, 0, time.Hour},
		{0, keyward.CodeRateLimited, 0, time.Hour},
		{29 * time.Minute, keyward.CodeRateLimited, 0, 31 * time.Minute},
		{time.Minute, keyward.CodeValid, 0, time.Hour},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		res := verifyKey(t, ts, ts.RootKey, map[string]any{"key": secret})
		state := limitStates(t, res)["default"]
		got := []any{str(res, "code"), remaining(t, res, "default"), state["limit"], timeField(t, state, "reset").Sub(clock.Now())}
		want := []any{st.code, st.remaining, 2.0, st.reset}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("verify #%d: code, remaining, limit, reset (-want +got):\n%s", i+1, diff)
		}
		if res["valid"] != (st.code == keyward.CodeValid) {
			t.Errorf("verify #%d: valid %v with code %s", i+1, res["valid"], st.code)
		}
	}

	t.Run("several limits are all-or-nothing", func(t *testing.T) {
		pair := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "pair", "rate_limits": []any{
			map[string]any{"name": "tight", "limit": 1, "window": 3600},
			map[string]any{"name": "loose", "limit": 3, "window": 3600}}}), "key")
		verifyKey(t, ts, ts.RootKey, map[string]any{"key": pair})
		denied := verifyKey(t, ts, ts.RootKey, map[string]any{"key": pair})
		if got := str(denied, "code"); got != keyward.CodeRateLimited {
			t.Fatalf("second verify: got %s, want %s", got, keyward.CodeRateLimited)
		}
		// The denied verify took nothing from loose: two units are left.
		res := verifyKey(t, ts, ts.RootKey, map[string]any{"key": pair, "rate_limits": []any{map[string]any{"name": "loose", "cost": 0}}})
		if got := remaining(t, res, "loose"); got != 2 {
			t.Errorf("loose after a denied verify: got %d remaining, want 2", got)
		}
		if _, ok := limitStates(t, res)["tight"]; ok {
			t.Errorf("verify naming loose only answered tight too")
		}
	})

	t.Run("concurrent verifies take exactly the limit", func(t *testing.T) {
		const limit, callers = 10, 50
		key := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "busy",
			"rate_limits": []any{map[string]any{"name": "default", "limit": limit, "window": 3600}}}), "key")
		got := verifyAll(t, ts, callers, map[string]any{"key": key})
		want := map[string]int{keyward.CodeValid: limit, keyward.CodeRateLimited: callers - limit}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("answers (-want +got):\n%s", diff)
		}
	})

	t.Run("bad verify input", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			uses  []any
			field string
		}{
			{"unknown limit", []any{map[string]any{"name": "nope"}}, "rate_limits[0].name"},
			{"negative cost", []any{map[string]any{"name": "default", "cost": -1}}, "rate_limits[0].cost"},
		} {
			status, h, body := do(t, http.MethodPost, ts.URL+"/v1/verify", ts.RootKey, map[string]any{"key": secret, "rate_limits": tt.uses})
			checkProblem(t, status, h, body, http.StatusBadRequest, tt.field)
		}
	})

	t.Run("bad limits create nothing", func(t *testing.T) {
		before := keyIDs(t, ts, ts.RootKey)
		many := make([]any, keyward.MaxRateLimits+1)
		for i := range many {
			many[i] = map[string]any{"name": fmt.Sprintf("l%d", i), "limit": 1, "window": 1}
		}
		for _, tt := range []struct {
			name   string
			limits []any
			field  string
		}{
			{"zero limit", []any{map[string]any{"name": "a", "limit": 0, "window": 60}}, "rate_limits[0].limit"},
			{"negative limit", []any{map[string]any{"name": "a", "limit": -5, "window": 60}}, "rate_limits[0].limit"},
			{"zero window", []any{map[string]any{"name": "a", "limit": 5, "window": 0}}, "rate_limits[0].window"},
			{"window over a day", []any{map[string]any{"name": "a", "limit": 5, "window": 86401}}, "rate_limits[0].window"},
			{"empty name", []any{map[string]any{"name": "", "limit": 5, "window": 60}}, "rate_limits[0].name"},
			{"name twice", []any{map[string]any{"name": "a", "limit": 5, "window": 60}, map[string]any{"name": "a", "limit": 1, "window": 1}}, "rate_limits[1].name"},
			{"too many", many, "rate_limits"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				status, h, body := do(t, http.MethodPost, ts.URL+"/v1/keys", ts.RootKey, map[string]any{"name": "bad", "rate_limits": tt.limits})
				checkProblem(t, status, h, body, http.StatusBadRequest, tt.field)
			})
		}
		if diff := cmp.Diff(before, keyIDs(t, ts, ts.RootKey)); diff != "" {
			t.Errorf("rejected creates changed the keys (-before +after):\n%s", diff)
		}
	})
}

func TestCredits(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	rec := createKey(t, ts, ts.RootKey, map[string]any{"name": "metered", "credits": map[string]any{"remaining": 3}})
	id, secret := str(rec, "id"), str(rec, "key")
	if got := creditsLeft(t, rec); got != 3 {
		t.Errorf("create answer: got %d credits, want 3", got)
	}

	steps := []struct {
		cost      any // nil sends none: cost 1
		code      string
		remaining int64
	}{
		{2, keyward.CodeValid, 1},
		{2, keyward.CodeUsageExceeded, 1},
		{0, keyward.CodeValid, 1},
		{nil, keyward.CodeValid, 0},
		{0, keyward.CodeUsageExceeded, 0},
		{nil, keyward.CodeUsageExceeded, 0},
	}
	for i, st := range steps {
		req := map[string]any{"key": secret}
		if st.cost != nil {
			req["cost"] = st.cost
		}
		res := verifyKey(t, ts, ts.RootKey, req)
		if got := []any{str(res, "code"), creditsLeft(t, res)}; !cmp.Equal(got, []any{st.code, st.remaining}) {
			t.Errorf("verify #%d (cost %v): got code, credits %v, want %s, %d", i+1, st.cost, got, st.code, st.remaining)
		}
	}

	creditsURL := keyURL(ts, id) + "/credits"
	for _, tt := range []struct {
		op     string
		amount int64
		want   int64
	}{
		{keyward.CreditsSet, 5, 5},
		{keyward.CreditsIncrement, 2, 7},
		{keyward.CreditsDecrement, 7, 0},
		{keyward.CreditsIncrement, 4, 4},
	} {
		got := mustDo(t, http.StatusOK, http.MethodPost, creditsURL, ts.RootKey, map[string]any{"op": tt.op, "amount": tt.amount})
		if c := creditsLeft(t, got); c != tt.want {
			t.Errorf("%s %d: got %d credits, want %d", tt.op, tt.amount, c, tt.want)
		}
	}
	if got := creditsLeft(t, verifyKey(t, ts, ts.RootKey, map[string]any{"key": secret})); got != 3 {
		t.Errorf("verify after the changes: got %d credits, want 3", got)
	}

	t.Run("bad changes change nothing", func(t *testing.T) {
		before := mustDo(t, http.StatusOK, http.MethodGet, keyURL(ts, id), ts.RootKey, nil)
		for _, tt := range []struct {
			name  string
			body  string
			field string
		}{
			{"unknown op", `{"op":"double","amount":1}`, "op"},
			{"negative amount", `{"op":"set","amount":-1}`, "amount"},
			{"below zero", `{"op":"decrement","amount":4}`, "amount"},
			{"amount of the wrong type", `{"op":"set","amount":"5"}`, "amount"},
			{"no amount", `{"op":"set"}`, "amount"},
		} {
			status, h, body := do(t, http.MethodPost, creditsURL, ts.RootKey, tt.body)
			checkProblem(t, status, h, body, http.StatusBadRequest, tt.field)
		}
		status, h, body := do(t, http.MethodPost, ts.URL+"/v1/verify", ts.RootKey, map[string]any{"key": secret, "cost": -1})
		checkProblem(t, status, h, body, http.StatusBadRequest, "cost")
		if diff := cmp.Diff(before, mustDo(t, http.StatusOK, http.MethodGet, keyURL(ts, id), ts.RootKey, nil)); diff != "" {
			t.Errorf("rejected changes changed the key (-before +after):\n%s", diff)
		}
	})

	t.Run("a key without credits is unlimited", func(t *testing.T) {
		free := createKey(t, ts, ts.RootKey, map[string]any{"name": "free"})
		if got := creditsLeft(t, verifyKey(t, ts, ts.RootKey, map[string]any{"key": str(free, "key"), "cost": 1000})); got != -1 {
			t.Errorf("verify of a key without credits: got %d credits, want null", got)
		}
		status, h, body := do(t, http.MethodPost, keyURL(ts, str(free, "id"))+"/credits", ts.RootKey, map[string]any{"op": "increment", "amount": 1})
		checkProblem(t, status, h, body, http.StatusConflict)
		got := mustDo(t, http.StatusOK, http.MethodPatch, keyURL(ts, id), ts.RootKey, map[string]any{"credits": nil})
		if c := creditsLeft(t, got); c != -1 {
			t.Errorf("PATCH credits null: got %d credits, want null", c)
		}
	})

	t.Run("refill on time", func(t *testing.T) {
		rec := createKey(t, ts, ts.RootKey, map[string]any{"name": "daily",
			"credits": map[string]any{"remaining": 1, "refill": map[string]any{"amount": 5, "interval": "daily"}}})
		key := str(rec, "key")
		verifyKey(t, ts, ts.RootKey, map[string]any{"key": key})
		if got := str(verifyKey(t, ts, ts.RootKey, map[string]any{"key": key}), "code"); got != keyward.CodeUsageExceeded {
			t.Fatalf("verify at zero: got %s, want %s", got, keyward.CodeUsageExceeded)
		}
		now := clock.Now()
		midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		clock.Advance(midnight.Sub(now))
		res := verifyKey(t, ts, ts.RootKey, map[string]any{"key": key})
		if got := []any{str(res, "code"), creditsLeft(t, res)}; !cmp.Equal(got, []any{keyward.CodeValid, int64(4)}) {
			t.Errorf("verify after midnight: got code, credits %v, want VALID, 4", got)
		}
	})

	t.Run("bad credits create nothing", func(t *testing.T) {
		before := keyIDs(t, ts, ts.RootKey)
		for _, tt := range []struct {
			name    string
			credits map[string]any
			field   string
		}{
			{"negative balance", map[string]any{"remaining": -1}, "credits.remaining"},
			{"neither balance nor refill", map[string]any{}, "credits.remaining"},
			{"zero refill", map[string]any{"remaining": 1, "refill": map[string]any{"amount": 0, "interval": "daily"}}, "credits.refill.amount"},
			{"weekly refill", map[string]any{"remaining": 1, "refill": map[string]any{"amount": 5, "interval": "weekly"}}, "credits.refill.interval"},
			{"monthly without a day", map[string]any{"remaining": 1, "refill": map[string]any{"amount": 5, "interval": "monthly"}}, "credits.refill.day"},
			{"day 32", map[string]any{"remaining": 1, "refill": map[string]any{"amount": 5, "interval": "monthly", "day": 32}}, "credits.refill.day"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				status, h, body := do(t, http.MethodPost, ts.URL+"/v1/keys", ts.RootKey, map[string]any{"name": "bad", "credits": tt.credits})
				checkProblem(t, status, h, body, http.StatusBadRequest, tt.field)
			})
		}
		if diff := cmp.Diff(before, keyIDs(t, ts, ts.RootKey)); diff != "" {
			t.Errorf("rejected creates changed the keys (-before +after):\n%s", diff)
		}
	})

	t.Run("concurrent verifies spend exactly the credits", func(t *testing.T) {
		// The limit admits 7 at a time, the credits 5: a verify denied
		// for credits gives its rate limit unit back, so how many callers
		// find the spare units held by one about to give it back depends
		// on timing. The first 7 all reach the credits.
		const limit, balance, callers = 7, 5, 40
		rec := createKey(t, ts, ts.RootKey, map[string]any{"name": "contended",
			"rate_limits": []any{map[string]any{"name": "default", "limit": limit, "window": 3600}},
			"credits":     map[string]any{"remaining": balance}})
		got := verifyAll(t, ts, callers, map[string]any{"key": str(rec, "key")})
		if got[keyward.CodeValid] != balance || got[keyward.CodeUsageExceeded] < limit-balance ||
			got[keyward.CodeValid]+got[keyward.CodeUsageExceeded]+got[keyward.CodeRateLimited] != callers {
			t.Errorf("answers: got %v, want %d VALID, at least %d USAGE_EXCEEDED and the rest RATE_LIMITED", got, balance, limit-balance)
		}
		// Only the valid answers kept their units.
		if code := verifyCode(t, ts, str(rec, "key")); code != keyward.CodeUsageExceeded {
			t.Errorf("verify after the rush: got %s, want %s", code, keyward.CodeUsageExceeded)
		}
		if c := creditsLeft(t, mustDo(t, http.StatusOK, http.MethodGet, keyURL(ts, str(rec, "id")), ts.RootKey, nil)); c != 0 {
			t.Errorf("after the rush: got %d credits, want 0", c)
		}
	})
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	old := createKey(t, ts, ts.RootKey, map[string]any{
		"name": "app", "description": "billing", "permissions": []string{"orders.read"},
		"allowed_ips": []string{"127.0.0.1"}, "owner_id": "user-1", "metadata": map[string]any{"plan": "pro"},
		"expires_in":  30 * 86400,
		"rate_limits": []any{map[string]any{"name": "default", "limit": 100, "window": 60}},
		"credits":     map[string]any{"remaining": 10, "refill": map[string]any{"amount": 10, "interval": "daily"}},
	})
	oldID, oldSecret := str(old, "id"), str(old, "key")
	oldURL := keyURL(ts, oldID)

	t.Run("bad grace periods change nothing", func(t *testing.T) {
		before := mustDo(t, http.StatusOK, http.MethodGet, oldURL, ts.RootKey, nil)
		keys := keyIDs(t, ts, ts.RootKey)
		for _, tt := range []struct {
			name, body, field string
		}{
			{"negative", `{"grace_period":-1}`, "grace_period"},
			{"over 30 days", `{"grace_period":2592001}`, "grace_period"},
			{"not a number", `{"grace_period":"1h"}`, "grace_period"},
			{"unknown field", `{"grace":60}`, "grace"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				status, h, body := do(t, http.MethodPost, oldURL+"/rotate", ts.RootKey, tt.body)
				checkProblem(t, status, h, body, http.StatusBadRequest, tt.field)
			})
		}
		if diff := cmp.Diff(before, mustDo(t, http.StatusOK, http.MethodGet, oldURL, ts.RootKey, nil)); diff != "" {
			t.Errorf("rejected rotations changed the key (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(keys, keyIDs(t, ts, ts.RootKey)); diff != "" {
			t.Errorf("rejected rotations changed the keys (-before +after):\n%s", diff)
		}
	})

	next := mustDo(t, http.StatusCreated, http.MethodPost, oldURL+"/rotate", ts.RootKey, map[string]any{"grace_period": 3600})
	nextID, nextSecret := str(next, "id"), str(next, "key")
	if diff := cmp.Diff(append(slices.Clone(keyRecordFields), "key"), fieldNames(next), sortStrings); diff != "" {
		t.Errorf("rotate answer fields (-want +got):\n%s", diff)
	}
	if nextSecret == "" || nextSecret == oldSecret || nextID == oldID {
		t.Fatalf("rotate answer: want a new id and a new secret")
	}
	same := []string{"name", "description", "permissions", "allowed_ips", "owner_id", "service_account_id",
		"metadata", "expires_at", "enabled", "rate_limits"}
	pick := func(m map[string]any) map[string]any {
		out := make(map[string]any)
		for _, f := range same {
			out[f] = m[f]
		}
		return out
	}
	if diff := cmp.Diff(pick(old), pick(next)); diff != "" {
		t.Errorf("settings of the new key (-old +new):\n%s", diff)
	}
	if diff := cmp.Diff(old["credits"].(map[string]any)["refill"], next["credits"].(map[string]any)["refill"]); diff != "" {
		t.Errorf("credit refill of the new key (-old +new):\n%s", diff)
	}
	if got := creditsLeft(t, next); got != 10 {
		t.Errorf("new key: got %d credits, want the old key's 10", got)
	}
	if got := []any{next["rotated_from"], next["rotated_to"]}; !cmp.Equal(got, []any{oldID, nil}) {
		t.Errorf("new key rotated_from, rotated_to: got %v, want %s, null", got, oldID)
	}
	oldNow := mustDo(t, http.StatusOK, http.MethodGet, oldURL, ts.RootKey, nil)
	if got := str(oldNow, "rotated_to"); got != nextID {
		t.Errorf("old key rotated_to: got %q, want %q", got, nextID)
	}
	if got, want := timeField(t, oldNow, "expires_at"), clock.Now().Add(time.Hour); got == nil || !got.Equal(want) {
		t.Errorf("old key expires_at: got %v, want the end of the grace period %v", got, want)
	}

	// Both keys work during the grace period and spend one balance.
	for i, st := range []struct {
		advance time.Duration
		secret  string
		code    string
		credits int64
	}{
		{0, oldSecret, keyward.CodeValid, 9},
		{0, nextSecret, keyward.CodeValid, 8},
		{time.Hour - time.Second, oldSecret, keyward.CodeValid, 7},
		{time.Second, oldSecret, keyward.CodeExpired, -2},
		{0, nextSecret, keyward.CodeValid, 6},
	} {
		clock.Advance(st.advance)
		res := verifyKey(t, ts, ts.RootKey, map[string]any{"key": st.secret})
		if got := str(res, "code"); got != st.code {
			t.Errorf("verify #%d: got %s, want %s", i+1, got, st.code)
		}
		if got := creditsLeft(t, res); st.credits >= 0 && got != st.credits {
			t.Errorf("verify #%d: got %d credits, want %d", i+1, got, st.credits)
		}
	}

	status, h, body := do(t, http.MethodPost, oldURL+"/rotate", ts.RootKey, map[string]any{"grace_period": 0})
	checkProblem(t, status, h, body, http.StatusConflict)

	var rotations []string
	for _, ev := range auditEvents(t, ts, ts.RootKey) {
		if str(ev, "action") == keyward.ActionKeyRotate {
			rotations = append(rotations, str(ev, "target_id"))
		}
	}
	if diff := cmp.Diff([]string{oldID}, rotations); diff != "" {
		t.Errorf("key.rotate events by target (-want +got):\n%s", diff)
	}

	t.Run("grace never extends the old expiry", func(t *testing.T) {
		short := createKey(t, ts, ts.RootKey, map[string]any{"name": "short", "expires_in": 60})
		mustDo(t, http.StatusCreated, http.MethodPost, keyURL(ts, str(short, "id"))+"/rotate", ts.RootKey, map[string]any{"grace_period": 3600})
		got := timeField(t, mustDo(t, http.StatusOK, http.MethodGet, keyURL(ts, str(short, "id")), ts.RootKey, nil), "expires_at")
		if want := timeField(t, short, "expires_at"); got == nil || !got.Equal(*want) {
			t.Errorf("old key expires_at: got %v, want its own %v", got, want)
		}
	})

	t.Run("needs create and update and the key's permissions", func(t *testing.T) {
		for _, tt := range []struct {
			perms []string
			want  int
		}{
			{[]string{keyward.PermKeysUpdate, "orders.read"}, http.StatusForbidden},
			{[]string{keyward.PermKeysCreate, "orders.read"}, http.StatusForbidden},
			{[]string{keyward.PermKeysCreate, keyward.PermKeysUpdate}, http.StatusForbidden},
			{[]string{keyward.PermKeysCreate, keyward.PermKeysUpdate, "orders.read"}, http.StatusCreated},
		} {
			target := createKey(t, ts, ts.RootKey, map[string]any{"name": "target", "permissions": []string{"orders.read"}})
			caller := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "caller", "permissions": tt.perms}), "key")
			status, h, body := do(t, http.MethodPost, keyURL(ts, str(target, "id"))+"/rotate", caller, map[string]any{"grace_period": 0})
			if tt.want != http.StatusCreated {
				checkProblem(t, status, h, body, tt.want)
			} else if status != tt.want {
				t.Errorf("caller holding %v: got status %d, want %d (body %v)", tt.perms, status, tt.want, body)
			}
		}
	})
}

func TestOwners(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	ownerURL := ts.URL + "/v1/owners/user-1"

	if diff := cmp.Diff([]any{"user-1", []any{}, nil}, func(o map[string]any) []any {
		return []any{o["owner_id"], o["rate_limits"], o["updated_at"]}
	}(mustDo(t, http.StatusOK, http.MethodGet, ownerURL, ts.RootKey, nil))); diff != "" {
		t.Errorf("owner without settings (-want +got):\n%s", diff)
	}

	limits := []any{map[string]any{"name": "default", "limit": 2.0, "window": 3600.0}}
	put := mustDo(t, http.StatusOK, http.MethodPut, ownerURL, ts.RootKey, map[string]any{"rate_limits": limits})
	if diff := cmp.Diff(limits, put["rate_limits"]); diff != "" {
		t.Errorf("PUT answer rate_limits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(put, mustDo(t, http.StatusOK, http.MethodGet, ownerURL, ts.RootKey, nil)); diff != "" {
		t.Errorf("GET after PUT (-put +get):\n%s", diff)
	}

	// The owner's limit is shared by its keys; a key's own limit of the
	// same name wins; other owners' keys are not limited.
	one := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "one", "owner_id": "user-1"}), "key")
	two := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "two", "owner_id": "user-1"}), "key")
	own := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "own", "owner_id": "user-1",
		"rate_limits": []any{map[string]any{"name": "default", "limit": 5, "window": 3600}}}), "key")
	other := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "other", "owner_id": "user-2"}), "key")
	for i, st := range []struct {
		secret    string
		code      string
		remaining int64
	}{
		{one, keyward.CodeValid, 1},
		{two, keyward.CodeValid, 0},
		{one, keyward.CodeRateLimited, 0},
		{own, keyward.CodeValid, 4},
		{other, keyward.CodeValid, -1},
	} {
		res := verifyKey(t, ts, ts.RootKey, map[string]any{"key": st.secret})
		if got := []any{str(res, "code"), remaining(t, res, "default")}; !cmp.Equal(got, []any{st.code, st.remaining}) {
			t.Errorf("verify #%d: got code, remaining %v, want %s, %d", i+1, got, st.code, st.remaining)
		}
	}

	t.Run("bad input changes nothing", func(t *testing.T) {
		before := mustDo(t, http.StatusOK, http.MethodGet, ownerURL, ts.RootKey, nil)
		for _, tt := range []struct {
			name, body, field string
		}{
			{"zero limit", `{"rate_limits":[{"name":"default","limit":0,"window":60}]}`, "rate_limits[0].limit"},
			{"window out of range", `{"rate_limits":[{"name":"default","limit":1,"window":86401}]}`, "rate_limits[0].window"},
			{"unknown field", `{"limits":[]}`, "limits"},
		} {
			status, h, body := do(t, http.MethodPut, ownerURL, ts.RootKey, tt.body)
			checkProblem(t, status, h, body, http.StatusBadRequest, tt.field)
		}
		status, h, body := do(t, http.MethodPut, ts.URL+"/v1/owners/"+strings.Repeat("u", 300), ts.RootKey, map[string]any{"rate_limits": []any{}})
		checkProblem(t, status, h, body, http.StatusBadRequest, "owner_id")
		if diff := cmp.Diff(before, mustDo(t, http.StatusOK, http.MethodGet, ownerURL, ts.RootKey, nil)); diff != "" {
			t.Errorf("rejected PUTs changed the owner (-before +after):\n%s", diff)
		}
	})

	mustDo(t, http.StatusOK, http.MethodPut, ownerURL, ts.RootKey, map[string]any{"rate_limits": []any{}})
	if got := str(verifyKey(t, ts, ts.RootKey, map[string]any{"key": one}), "code"); got != keyward.CodeValid {
		t.Errorf("verify after removing the owner's limits: got %s, want %s", got, keyward.CodeValid)
	}
	var updates int
	for _, ev := range auditEvents(t, ts, ts.RootKey) {
		if str(ev, "action") == keyward.ActionOwnerUpdate && str(ev, "target_id") == "user-1" {
			updates++
		}
	}
	if updates != 2 {
		t.Errorf("owner.update events for user-1: got %d, want 2", updates)
	}
}

func TestOrgPolicy(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	policyURL := ts.URL + "/v1/org/policy"

	want := map[string]any{"max_key_lifetime": nil, "default_key_lifetime": nil, "allowed_ips": []any{}, "allow_non_expiring": true}
	if diff := cmp.Diff(want, mustDo(t, http.StatusOK, http.MethodGet, policyURL, ts.RootKey, nil)); diff != "" {
		t.Errorf("default policy (-want +got):\n%s", diff)
	}

	policy := map[string]any{"max_key_lifetime": 30.0 * 86400, "default_key_lifetime": 86400.0,
		"allowed_ips": []any{"127.0.0.0/8"}, "allow_non_expiring": false}
	if diff := cmp.Diff(policy, mustDo(t, http.StatusOK, http.MethodPut, policyURL, ts.RootKey, policy)); diff != "" {
		t.Errorf("PUT answer (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(policy, mustDo(t, http.StatusOK, http.MethodGet, policyURL, ts.RootKey, nil)); diff != "" {
		t.Errorf("GET after PUT (-want +got):\n%s", diff)
	}

	// The default lifetime applies to a key created without an expiry.
	rec := createKey(t, ts, ts.RootKey, map[string]any{"name": "defaulted"})
	if got, want := timeField(t, rec, "expires_at"), clock.Now().Add(24*time.Hour); got == nil || !got.Equal(want) {
		t.Errorf("expires_at: got %v, want the default lifetime's %v", got, want)
	}

	t.Run("beyond the maximum is a 400 and writes nothing", func(t *testing.T) {
		keys := keyIDs(t, ts, ts.RootKey)
		before := mustDo(t, http.StatusOK, http.MethodGet, keyURL(ts, str(rec, "id")), ts.RootKey, nil)
		for _, tt := range []struct {
			name, method, url string
			body              map[string]any
			field             string
		}{
			{"create with expires_in", http.MethodPost, ts.URL + "/v1/keys", map[string]any{"name": "long", "expires_in": 31 * 86400}, "expires_in"},
			{"create with expires_at", http.MethodPost, ts.URL + "/v1/keys", map[string]any{"name": "long",
				"expires_at": clock.Now().Add(31 * 24 * time.Hour).Format(time.RFC3339)}, "expires_at"},
			{"update to never", http.MethodPatch, keyURL(ts, str(rec, "id")), map[string]any{"expires_at": nil}, "expires_at"},
			{"update beyond", http.MethodPatch, keyURL(ts, str(rec, "id")), map[string]any{"expires_in": 31 * 86400}, "expires_in"},
			{"rotate beyond", http.MethodPost, keyURL(ts, str(rec, "id")) + "/rotate", map[string]any{"grace_period": 0, "expires_in": 31 * 86400}, "expires_in"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				status, h, body := do(t, tt.method, tt.url, ts.RootKey, tt.body)
				checkProblem(t, status, h, body, http.StatusBadRequest, tt.field)
			})
		}
		if diff := cmp.Diff(keys, keyIDs(t, ts, ts.RootKey)); diff != "" {
			t.Errorf("rejected writes changed the keys (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(before, mustDo(t, http.StatusOK, http.MethodGet, keyURL(ts, str(rec, "id")), ts.RootKey, nil)); diff != "" {
			t.Errorf("rejected writes changed the key (-before +after):\n%s", diff)
		}
	})

	t.Run("the org's IPs are intersected with the key's", func(t *testing.T) {
		anywhere := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "anywhere"}), "key")
		inTen := str(createKey(t, ts, ts.RootKey, map[string]any{"name": "ten", "allowed_ips": []string{"10.0.0.0/8", "127.0.0.1"}}), "key")
		for _, tt := range []struct {
			secret, ip, want string
		}{
			{anywhere, "127.0.0.9", keyward.CodeValid},
			{anywhere, "10.1.2.3", keyward.CodeIPNotAllowed},
			{inTen, "127.0.0.1", keyward.CodeValid},
			{inTen, "127.0.0.9", keyward.CodeIPNotAllowed},
			{inTen, "10.1.2.3", keyward.CodeIPNotAllowed},
		} {
			if got := str(verifyKey(t, ts, ts.RootKey, map[string]any{"key": tt.secret, "ip": tt.ip}), "code"); got != tt.want {
				t.Errorf("verify from %s: got %s, want %s", tt.ip, got, tt.want)
			}
		}
	})

	t.Run("bad policies change nothing", func(t *testing.T) {
		for _, tt := range []struct {
			name, body, field string
		}{
			{"zero max", `{"max_key_lifetime":0}`, "max_key_lifetime"},
			{"negative default", `{"default_key_lifetime":-1}`, "default_key_lifetime"},
			{"default over max", `{"max_key_lifetime":60,"default_key_lifetime":120}`, "default_key_lifetime"},
			{"bad CIDR", `{"allowed_ips":["10.0.0.0/33"]}`, "allowed_ips[0]"},
			{"max with non-expiring keys", `{"max_key_lifetime":60,"allow_non_expiring":true}`, "allow_non_expiring"},
			{"a list that locks out the caller", `{"allowed_ips":["10.0.0.0/8"]}`, "allowed_ips"},
			{"unknown field", `{"max_lifetime":60}`, "max_lifetime"},
		} {
			status, h, body := do(t, http.MethodPut, policyURL, ts.RootKey, tt.body)
			checkProblem(t, status, h, body, http.StatusBadRequest, tt.field)
		}
		if diff := cmp.Diff(policy, mustDo(t, http.StatusOK, http.MethodGet, policyURL, ts.RootKey, nil)); diff != "" {
			t.Errorf("rejected PUTs changed the policy (-want +got):\n%s", diff)
		}
	})

	// An empty PUT puts the defaults back: keys may live for ever again.
	mustDo(t, http.StatusOK, http.MethodPut, policyURL, ts.RootKey, map[string]any{})
	if got := createKey(t, ts, ts.RootKey, map[string]any{"name": "forever"})["expires_at"]; got != nil {
		t.Errorf("expires_at under the default policy: got %v, want null", got)
	}
	var updates int
	for _, ev := range auditEvents(t, ts, ts.RootKey) {
		if str(ev, "action") == keyward.ActionOrgPolicyUpdate {
			updates++
		}
	}
	if updates != 2 {
		t.Errorf("org.policy.update events: got %d, want 2", updates)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	ts := runTestServer(t, withClock(clock))
	limited := createKey(t, ts, ts.RootKey, map[string]any{"name": "limited",
		"rate_limits": []any{map[string]any{"name": "default", "limit": 2, "window": 3600}}})
	other := createKey(t, ts, ts.RootKey, map[string]any{"name": "other"})
	for range 3 {
		verifyKey(t, ts, ts.RootKey, map[string]any{"key": str(limited, "key")})
	}
	verifyKey(t, ts, ts.RootKey, map[string]any{"key": str(other, "key")})
	verifyKey(t, ts, ts.RootKey, map[string]any{"key": unknownKey(t)})
	ts.Engine.Flush(t.Context())

	minute := clock.Now().Truncate(time.Minute)
	q := url.Values{"bucket": {"minute"}, "from": {minute.Add(-time.Minute).Format(time.RFC3339)}, "to": {minute.Add(time.Minute).Format(time.RFC3339)}}
	got := mustDo(t, http.StatusOK, http.MethodGet, keyURL(ts, str(limited, "id"))+"/usage?"+q.Encode(), ts.RootKey, nil)
	want := map[string]any{
		"key_id": str(limited, "id"), "bucket": "minute",
		"from": minute.Add(-time.Minute).Format(time.RFC3339), "to": minute.Add(time.Minute).Format(time.RFC3339),
		"data": []any{
			map[string]any{"start": minute.Add(-time.Minute).Format(time.RFC3339), "total": 0.0, "codes": map[string]any{}},
			map[string]any{"start": minute.Format(time.RFC3339), "total": 3.0, "codes": map[string]any{"VALID": 2.0, "RATE_LIMITED": 1.0}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("key usage (-want +got):\n%s", diff)
	}

	// The org's usage holds every key's, by hour over the last day by
	// default.
	org := mustDo(t, http.StatusOK, http.MethodGet, ts.URL+"/v1/usage", ts.RootKey, nil)
	data, _ := org["data"].([]any)
	var total float64
	for _, b := range data {
		total += b.(map[string]any)["total"].(float64)
	}
	if got := []any{org["key_id"], org["bucket"], len(data), total}; !cmp.Equal(got, []any{nil, "hour", 24, 4.0}) {
		t.Errorf("org usage key_id, bucket, buckets, total: got %v, want null, hour, 24, 4", got)
	}

	for _, tt := range []struct {
		name, query, field string
	}{
		{"unknown bucket", "bucket=week", "bucket"},
		{"from not a time", "from=yesterday", "from"},
		{"from after to", "from=" + minute.Format(time.RFC3339) + "&to=" + minute.Add(-time.Hour).Format(time.RFC3339), "from"},
		{"too many buckets", "bucket=minute&from=" + minute.Add(-48*time.Hour).Format(time.RFC3339) + "&to=" + minute.Format(time.RFC3339), "from"},
		{"unknown parameter", "key=x", "key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, http.MethodGet, ts.URL+"/v1/usage?"+tt.query, ts.RootKey, nil)
			checkProblem(t, status, h, body, http.StatusBadRequest, tt.field, "to")
		})
	}
	status, h, body := do(t, http.MethodGet, keyURL(ts, unknownID)+"/usage", ts.RootKey, nil)
	checkProblem(t, status, h, body, http.StatusNotFound)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	ts := runTestServer(t)
	verifyCode(t, ts, str(createKey(t, ts, ts.RootKey, map[string]any{"name": "m"}), "key"))
	status, _, raw := send(t, newRequest(t, http.MethodGet, ts.URL+"/metrics", "", nil))
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: got status %d, want 200", status)
	}
	for _, want := range []string{"go_goroutines ", "process_cpu_seconds_total ", "keyward_"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
}
