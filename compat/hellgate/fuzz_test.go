package hellgate

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"keyward"
	"keyward/compat/internal/compattest"
	"keyward/httpapi"
)

// FuzzCreateRequest feeds the create operation's parsing, the strict
// decode and the mapping onto the service's input: it never panics, every
// error is a 4xx *keyward.Error, and what it accepts is within the
// document's rules.
func FuzzCreateRequest(f *testing.F) {
	for _, seed := range []string{
		`{"expires_in": 3600, "scopes": ["admin:api-keys:create", "admin:api-keys:update"]}`,
		`{"scopes": ["pci:tokens:read"]}`,
		`{"scopes": ["network:tokens:use", "network:tokens:use"], "expires_in": 7776000}`,
		`{"scopes": ["admin:everything"], "expires_in": 0}`,
		`{"scopes": [], "expires_in": 1.5}`,
		`{"scopes": null, "expires_in": "60"}`,
		`{"Scopes": ["pci:tokens:read"], "scopes": ["pci:tokens:read"]}`,
		`[1, 2]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, keysPath, strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		var req createRequest
		err := httpapi.DecodeJSON(httptest.NewRecorder(), r, &req)
		var in keyward.KeyCreate
		if err == nil {
			in, err = req.keyCreate()
		}
		if err != nil {
			compattest.CheckClientError(t, err)
			return
		}
		if len(in.Permissions) == 0 {
			t.Fatal("accepted no scopes")
		}
		for _, p := range in.Permissions {
			if !slices.Contains(scopes, p) {
				t.Fatalf("accepted scope %q", p)
			}
		}
		if in.ExpiresIn != nil && (*in.ExpiresIn < 1 || *in.ExpiresIn > MaxExpiresIn) {
			t.Fatalf("accepted expires_in %d", *in.ExpiresIn)
		}
		if in.Name != KeyName || in.ExpiresAt != nil {
			t.Fatalf("mapped to %+v", in)
		}
	})
}
