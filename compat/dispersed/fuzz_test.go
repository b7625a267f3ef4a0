package dispersed

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"keyward/compat/internal/compattest"
)

// FuzzDecodeCreate feeds request bodies to the create route's decoding and
// mapping: it never panics, every failure is a 4xx *keyward.Error, and a
// success maps only the document's members, with at least one permission.
func FuzzDecodeCreate(f *testing.F) {
	for _, seed := range []string{
		`{"name": "My API Key", "permissions": ["nodes.read.own", "nodes.update.own", "jobs.read.own", "job_runs.read.own", "job_runs.update.own"], "allowed_ips": ["127.0.0.1", "192.168.1.1/24"], "expires_at": "2023-01-01T00:00:00Z"}`,
		`{"name": "My API Key", "permissions": ["nodes.read.own"], "expires_at": null}`,
		`{"name": 5, "permissions": "x"}`,
		`{"Name": "x", "scope": "read", "name": "a", "name": "b"}`,
		`{"expires_at": "2023-01-01T00:00:00+25:00"}`,
		`[]`,
		`{"name": "\u017f", "permissions": [null]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, Prefix+"/v1/api-keys", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		in, err := decodeCreate(httptest.NewRecorder(), r)
		if err != nil {
			compattest.CheckClientError(t, err)
			return
		}
		if len(in.Permissions) == 0 {
			t.Fatal("decoded without permissions")
		}
		rest := in
		rest.Name, rest.Permissions, rest.AllowedIPs, rest.ExpiresAt = "", nil, nil, nil
		if !reflect.ValueOf(rest).IsZero() {
			t.Fatalf("mapped more than the document's members: %+v", in)
		}
	})
}
