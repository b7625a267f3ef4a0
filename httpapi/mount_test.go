package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// mountedServer serves a mount that answers its own path and principal.
func mountedServer(t *testing.T, log io.Writer, doc string) *httptest.Server {
	t.Helper()
	s := &Server{Logger: slog.New(slog.NewJSONHandler(log, nil))}
	s.Mounts = []Mount{{
		Prefix: "/compat/test",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := WithPrincipal(w, r.Context(), &keyward.Principal{OrgID: "org-1", KeyID: "key-7"})
			_ = WriteJSON(w, http.StatusTeapot, map[string]string{
				"path":       r.URL.Path,
				"key_id":     keyward.PrincipalFromContext(ctx).KeyID,
				"request_id": keyward.RequestInfoFromContext(ctx).RequestID,
			})
		}),
		OpenAPI: []byte(doc),
	}}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

const mountDoc = `{"tags": [{"name": "compat-test"}], "paths": {"/compat/test/things": {"get": {"operationId": "testThings", "tags": ["compat-test"]}}}, "components": {"schemas": {"TestThing": {"type": "object"}}}}`

// A mount gets the whole path behind the same middleware as the routes:
// request id, access log with the key it named, no-store answers.
func TestMount_ServesSubtree(t *testing.T) {
	var log syncBuffer
	ts := mountedServer(t, &log, mountDoc)
	resp, err := http.Get(ts.URL + "/compat/test/things/1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTeapot || got["path"] != "/compat/test/things/1" || got["key_id"] != "key-7" {
		t.Errorf("got %d %v, want 418 from the mount with the whole path", resp.StatusCode, got)
	}
	if id := resp.Header.Get("X-Request-Id"); id == "" || id != got["request_id"] {
		t.Errorf("X-Request-Id %q, request id in context %q: want the same, not empty", id, got["request_id"])
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", cc)
	}
	if !strings.Contains(log.String(), `"key_id":"key-7"`) {
		t.Errorf("access log does not name the mount's key:\n%s", log.String())
	}

	// The bare prefix is no path of the mount: a 404 problem, not a redirect.
	resp, err = http.Get(ts.URL + "/compat/test")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("bare prefix: got %d, want 404", resp.StatusCode)
	}
}

// The served document holds the base paths and the mount's.
func TestMount_MergesOpenAPI(t *testing.T) {
	ts := mountedServer(t, io.Discard, mountDoc)
	resp, err := http.Get(ts.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Tags       []struct{ Name string } `json:"tags"`
		Paths      map[string]any          `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1/keys", "/compat/test/things"} {
		if doc.Paths[p] == nil {
			t.Errorf("path %s missing from the merged document", p)
		}
	}
	for _, s := range []string{"Key", "TestThing"} {
		if doc.Components.Schemas[s] == nil {
			t.Errorf("schema %s missing from the merged document", s)
		}
	}
	if last := doc.Tags[len(doc.Tags)-1].Name; last != "compat-test" {
		t.Errorf("last tag: got %q, want compat-test", last)
	}
}

// A mount cannot redefine what the base document or another mount has.
func TestMergeOpenAPI_RejectsDuplicates(t *testing.T) {
	for _, doc := range []string{
		`{"paths": {"/v1/keys": {}}}`,
		`{"components": {"schemas": {"Key": {}}}}`,
		`not json`,
	} {
		if _, err := mergeOpenAPI(openAPI, []Mount{{Prefix: "/compat/x", OpenAPI: []byte(doc)}}); err == nil {
			t.Errorf("mergeOpenAPI(%s): got no error", doc)
		}
	}
	twice := []Mount{{Prefix: "/a", OpenAPI: []byte(mountDoc)}, {Prefix: "/b", OpenAPI: []byte(mountDoc)}}
	if _, err := mergeOpenAPI(openAPI, twice); err == nil {
		t.Error("two mounts with one path: got no error")
	}
}

// What the server answers under a mount's prefix without the mount's
// handler (the bare prefix, a path not in canonical form, a panic) goes
// through the mount's WriteError, with the request id in the context.
// Elsewhere, and under a mount without one, it stays a problem.
func TestMount_WriteError(t *testing.T) {
	s := &Server{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	writeError := func(w http.ResponseWriter, r *http.Request, err error) {
		_ = WriteJSON(w, ErrorStatusCode(keyward.ErrorCode(err)), map[string]string{
			"mount_code": keyward.ErrorCode(err),
			"request_id": keyward.RequestInfoFromContext(r.Context()).RequestID,
		})
	}
	panics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	s.Mounts = []Mount{
		{Prefix: "/compat/shaped", Handler: panics, WriteError: writeError},
		{Prefix: "/compat/plain", Handler: panics},
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	tests := []struct {
		path   string
		status int
		shaped bool
	}{
		{"/compat/shaped", http.StatusNotFound, true},
		{"/compat/shaped/", http.StatusNotFound, true},
		{"/compat/shaped/things/", http.StatusNotFound, true},
		{"/compat/shaped//things", http.StatusNotFound, true},
		{"/compat/shaped/./things", http.StatusNotFound, true},
		{"/compat/shaped/x/../things", http.StatusNotFound, true},
		{"/compat/shaped/things", http.StatusInternalServerError, true},
		{"/compat/shapedx/", http.StatusNotFound, false},
		{"/compat/plain", http.StatusNotFound, false},
		{"/compat/plain/things/", http.StatusNotFound, false},
		{"/compat/plain/things", http.StatusInternalServerError, false},
		{"/v1/whoami/", http.StatusNotFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(ts.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tt.status)
			}
			if !tt.shaped {
				if ct := resp.Header.Get("Content-Type"); ct != problemType {
					t.Errorf("Content-Type: got %q, want %s", ct, problemType)
				}
				return
			}
			var got map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"mount_code": keyward.ENOTFOUND, "request_id": resp.Header.Get("X-Request-Id")}
			if tt.status == http.StatusInternalServerError {
				want["mount_code"] = keyward.EINTERNAL
			}
			if diff := cmp.Diff(want, got); diff != "" || want["request_id"] == "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}
