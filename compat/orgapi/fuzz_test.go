package orgapi

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"keyward"
	"keyward/compat/internal/compattest"
)

// FuzzParseCreate feeds create bodies to the decoding and mapping: they
// never panic, every failure is a 4xx *keyward.Error, and what they accept
// maps to one of the two scopes and reads back the same.
func FuzzParseCreate(f *testing.F) {
	for _, body := range []string{
		`{}`,
		`{"name": "ci-deploy", "description": "Deploys from CI", "expiresAt": "2030-01-02T15:04:05Z", "scope": "read"}`,
		`{"name": "pipeline", "scope": "read-write", "serviceAccountId": "sa-1"}`,
		`{"name": "x", "expiresAt": "", "scope": "", "serviceAccountId": null}`,
		`{"name": "x", "scope": 5}`,
		`{"name": "x", "expiresAt": "2030-01-02T15:04:05.123456789+02:00"}`,
		`{"name": "x", "name": "y"}`,
		`{"Name": "x"}`,
		`[]`,
		``,
	} {
		f.Add(body, "application/json")
	}
	f.Add(`{"name": "x"}`, "text/plain")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		r := httptest.NewRequest(http.MethodPost, Prefix+"/v1/api-keys", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		in, err := parseCreate(httptest.NewRecorder(), r)
		if err != nil {
			compattest.CheckClientError(t, err)
			return
		}
		if !slices.Equal(in.Permissions, []string{"read"}) && !slices.Equal(in.Permissions, []string{"read", "write"}) {
			t.Fatalf("permissions %q are neither scope's", in.Permissions)
		}
		got := newAPIKey(&keyward.Key{Name: in.Name, Description: in.Description, Permissions: in.Permissions,
			ExpiresAt: in.ExpiresAt, ServiceAccountID: in.ServiceAccountID}, "")
		if got.Name != in.Name || got.Description != in.Description || got.ServiceAccountID != in.ServiceAccountID {
			t.Fatalf("read back %+v from %+v", got, in)
		}
		if want := map[int]string{1: "read", 2: "read-write"}[len(in.Permissions)]; got.Scope != want {
			t.Fatalf("scope: read back %q from %q", got.Scope, in.Permissions)
		}
		if in.ExpiresAt != nil {
			back, err := time.Parse(time.RFC3339Nano, got.ExpiresAt)
			if err != nil || !back.Equal(*in.ExpiresAt) {
				t.Fatalf("expiresAt: read back %q from %v", got.ExpiresAt, in.ExpiresAt)
			}
		}
	})
}
