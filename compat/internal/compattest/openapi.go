package compattest

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"keyward"
	"keyward/compat/internal/compatapi"
	"keyward/httpapi"
)

// documentedStatuses are the answers every profile operation documents
// besides its success: each needs a key, checks its input and its
// caller's permissions, has a path that allows other methods no answer,
// and may fail.
var documentedStatuses = []string{"400", "401", "403", "405", "500"}

// CheckOpenAPIRoutes checks a profile's OpenAPI fragment against its
// routes. Its one tag, compat-<profile>, has a description; it describes
// exactly the routed operations and the query parameters each reads, each
// tagged compat-<profile>, with a unique operationId that starts with
// <profile>, a security requirement and the documented error statuses;
// and its component names start with <Profile>, so that they cannot
// collide with the base document's or another profile's.
func CheckOpenAPIRoutes(t *testing.T, fragment []byte, routes []compatapi.Route, profile string) {
	t.Helper()
	var doc struct {
		Tags       []map[string]any                      `json:"tags"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(fragment, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	tag := "compat-" + profile
	if len(doc.Tags) != 1 || doc.Tags[0]["name"] != tag || doc.Tags[0]["description"] == nil {
		t.Errorf("tags: got %v, want %s alone, with a description", doc.Tags, tag)
	}
	routed := make(map[string][]string)
	for _, rt := range routes {
		routed[rt.Method+" "+rt.Path] = slices.Sorted(slices.Values(rt.Query))
	}
	documented := make(map[string][]string)
	ids := make(map[string]bool)
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				OperationID string           `json:"operationId"`
				Tags        []string         `json:"tags"`
				Security    []map[string]any `json:"security"`
				Parameters  []struct {
					Name string `json:"name"`
					In   string `json:"in"`
				} `json:"parameters"`
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			name := strings.ToUpper(method) + " " + path
			var query []string
			for _, p := range op.Parameters {
				if p.In == "query" {
					query = append(query, p.Name)
				}
			}
			documented[name] = slices.Sorted(slices.Values(query))
			if !strings.HasPrefix(op.OperationID, profile) || ids[op.OperationID] {
				t.Errorf("%s: operationId %q does not start with %s or is repeated", name, op.OperationID, profile)
			}
			ids[op.OperationID] = true
			if !slices.Equal(op.Tags, []string{tag}) {
				t.Errorf("%s: tags %v, want [%s]", name, op.Tags, tag)
			}
			if len(op.Security) == 0 {
				t.Errorf("%s: no security requirement, but every route needs a key", name)
			}
			for _, status := range documentedStatuses {
				if _, ok := op.Responses[status]; !ok {
					t.Errorf("%s: no %s response", name, status)
				}
			}
		}
	}
	if diff := cmp.Diff(routed, documented, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("operations and their query parameters (-routed +documented):\n%s", diff)
	}
	prefix := strings.ToUpper(profile[:1]) + profile[1:]
	for kind, comps := range doc.Components {
		for name := range comps {
			if !strings.HasPrefix(name, prefix) {
				t.Errorf("components.%s.%s: not prefixed %s", kind, name, prefix)
			}
		}
	}
}

// CheckSchema checks that the fragment's schema lists as properties
// exactly the JSON members of value, a Go value as the profile writes or
// reads it, and, when required is set, lists them all as required.
func CheckSchema(t *testing.T, fragment []byte, schema string, value any, required bool) {
	t.Helper()
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(fragment, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	raw, ok := doc.Components.Schemas[schema]
	if !ok {
		t.Fatalf("no schema %s", schema)
	}
	var s struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("schema %s: %v", schema, err)
	}
	want := Members(t, value)
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(s.Properties))); diff != "" {
		t.Errorf("%s properties (-Go +schema):\n%s", schema, diff)
	}
	if required {
		if diff := cmp.Diff(want, slices.Sorted(slices.Values(s.Required))); diff != "" {
			t.Errorf("%s required (-Go +schema):\n%s", schema, diff)
		}
	}
}

// Members returns the sorted JSON member names of v.
func Members(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(m))
}

// CheckOpenAPIMerged checks that the server's /openapi.json holds the
// fragment's paths and schemas as they are, that every $ref in it, those
// of the fragment included, resolves, and so does every security scheme
// that the fragment's operations name.
func CheckOpenAPIMerged(t *testing.T, e *Env, fragment []byte) {
	t.Helper()
	res := e.Do(t, http.MethodGet, "/openapi.json", nil, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("/openapi.json: status %d: %s", res.Status, res.Body)
	}
	merged := res.JSON(t).(map[string]any)
	var part map[string]any
	if err := json.Unmarshal(fragment, &part); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"paths", "components/schemas"} {
		want, _ := lookup(part, kind).(map[string]any)
		got, _ := lookup(merged, kind).(map[string]any)
		for name, v := range want {
			if diff := cmp.Diff(v, got[name]); diff != "" {
				t.Errorf("%s %s (-fragment +served):\n%s", kind, name, diff)
			}
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !strings.HasPrefix(ref, "#/") || lookup(merged, strings.TrimPrefix(ref, "#/")) == nil {
					t.Errorf("$ref %q resolves to nothing", ref)
				}
			}
			if sec, ok := v["security"].([]any); ok {
				for _, req := range sec {
					for name := range req.(map[string]any) {
						if lookup(merged, "components/securitySchemes/"+name) == nil {
							t.Errorf("security scheme %q is not in the served document", name)
						}
					}
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(merged)
}

// lookup follows a slash-separated path of members.
func lookup(v any, path string) any {
	for seg := range strings.SplitSeq(path, "/") {
		m, _ := v.(map[string]any)
		v = m[seg]
	}
	return v
}

// CheckClientError fails t unless err is a *keyward.Error answered with a
// 4xx status: however malformed, a request body is the client's mistake.
func CheckClientError(t *testing.T, err error) {
	t.Helper()
	var e *keyward.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *keyward.Error", err)
	}
	if status := httpapi.ErrorStatusCode(e.Code); status < 400 || status > 499 {
		t.Fatalf("error %v answers %d, want a 4xx", err, status)
	}
}
