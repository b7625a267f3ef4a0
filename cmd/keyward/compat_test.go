package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// The server serves the three seed profiles over one store: a key made
// through any of them is an ordinary key that every other one, and /v1,
// lists, verifies and revokes.
func TestCompatProfiles(t *testing.T) {
	ts := runTestServer(t)

	dispersed := mustDo(t, http.StatusCreated, http.MethodPost, ts.URL+"/compat/dispersed/v1/api-keys", ts.RootKey,
		map[string]any{"name": "from dispersed", "permissions": []string{"nodes.read.own"}})
	orgapi := mustDo(t, http.StatusOK, http.MethodPost, ts.URL+"/compat/orgapi/v1/api-keys", ts.RootKey,
		map[string]any{"name": "from orgapi", "scope": "read"})["data"].(map[string]any)
	req := newRequest(t, http.MethodPost, ts.URL+"/compat/hellgate/api/admin/api-keys", "", map[string]any{"scopes": []string{"pci:tokens:read"}, "expires_in": 3600})
	req.Header.Set("x-api-key", ts.RootKey)
	status, _, raw := send(t, req)
	if status != http.StatusOK {
		t.Fatalf("hellgate create: got status %d, want 200", status)
	}
	hellgate := decodeObject(raw)

	made := []struct{ name, id, secret string }{
		{"dispersed", str(dispersed, "uuid"), str(dispersed, "secret_key")},
		{"orgapi", str(orgapi, "id"), str(orgapi, "key")},
		{"hellgate", str(hellgate, "id"), str(hellgate, "key_value")},
	}
	listed := keyIDs(t, ts, ts.RootKey)
	for _, k := range made {
		if k.id == "" || k.secret == "" {
			t.Fatalf("%s: create answer lacks its id or secret", k.name)
		}
		if !slices.Contains(listed, k.id) {
			t.Errorf("%s key %s is not in /v1/keys", k.name, k.id)
		}
		if code := verifyCode(t, ts, k.secret); code != "VALID" {
			t.Errorf("%s key: verify got %s, want VALID", k.name, code)
		}
	}

	// Each profile revokes the key another one made.
	mustDo(t, http.StatusOK, http.MethodDelete, ts.URL+"/compat/dispersed/v1/api-keys/"+made[1].id, ts.RootKey, nil)
	mustDo(t, http.StatusOK, http.MethodDelete, ts.URL+"/compat/orgapi/v1/api-keys/"+made[2].id, ts.RootKey, nil)
	req = newRequest(t, http.MethodDelete, ts.URL+"/compat/hellgate/api/admin/api-keys/"+made[0].id, "", nil)
	req.Header.Set("x-api-key", ts.RootKey)
	if status, _, _ := send(t, req); status != http.StatusNoContent {
		t.Fatalf("hellgate revoke: got status %d, want 204", status)
	}
	for _, k := range made {
		if code := verifyCode(t, ts, k.secret); code != "REVOKED" {
			t.Errorf("%s key: verify after revoke got %s, want REVOKED", k.name, code)
		}
	}

	var doc struct {
		Tags []struct{ Name string } `json:"tags"`
	}
	status, _, raw = send(t, newRequest(t, http.MethodGet, ts.URL+"/openapi.json", "", nil))
	if status != http.StatusOK {
		t.Fatalf("openapi.json: got status %d", status)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var tags []string
	for _, tag := range doc.Tags {
		tags = append(tags, tag.Name)
	}
	for _, want := range []string{"compat-dispersed", "compat-orgapi", "compat-hellgate"} {
		if !slices.Contains(tags, want) {
			t.Errorf("openapi.json tags %v lack %s", tags, want)
		}
	}
}
