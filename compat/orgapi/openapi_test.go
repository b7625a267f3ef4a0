package orgapi

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"keyward"
	"keyward/compat/internal/compattest"
	"keyward/httpapi"
)

// fragment is the part of openapi.json the tests check.
type fragment struct {
	Tags       []map[string]any                      `json:"tags"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

// operation is the part of an operation the tests check.
type operation struct {
	OperationID string           `json:"operationId"`
	Tags        []string         `json:"tags"`
	Security    []map[string]any `json:"security"`
	Parameters  []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
}

func loadFragment(t *testing.T) fragment {
	t.Helper()
	var doc fragment
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// The fragment describes exactly the routed operations, each tagged
// compat-orgapi with a unique orgapi-prefixed operationId, a key required,
// and exactly the query parameters its route reads.
func TestOpenAPI_MatchesRoutes(t *testing.T) {
	doc := loadFragment(t)
	if len(doc.Tags) != 1 || doc.Tags[0]["name"] != "compat-orgapi" || doc.Tags[0]["description"] == nil {
		t.Errorf("tags: got %v, want compat-orgapi with a description", doc.Tags)
	}
	routed := make(map[string][]string)
	for _, rt := range (&server{}).routes() {
		routed[rt.method+" "+rt.path] = slices.Sorted(slices.Values(rt.query))
	}
	documented := make(map[string][]string)
	ids := make(map[string]bool)
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			name := strings.ToUpper(method) + " " + path
			if !strings.HasPrefix(op.OperationID, "orgapi") || ids[op.OperationID] {
				t.Errorf("%s: operationId %q is not orgapi-prefixed or is repeated", name, op.OperationID)
			}
			ids[op.OperationID] = true
			if !slices.Equal(op.Tags, []string{"compat-orgapi"}) {
				t.Errorf("%s: tags %v, want [compat-orgapi]", name, op.Tags)
			}
			if len(op.Security) == 0 {
				t.Errorf("%s: no security requirement, but every route needs a key", name)
			}
			var query []string
			for _, p := range op.Parameters {
				if p.In == "query" {
					query = append(query, p.Name)
				}
			}
			documented[name] = slices.Sorted(slices.Values(query))
		}
	}
	if diff := cmp.Diff(routed, documented, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("routes and their query parameters (-routed +documented):\n%s", diff)
	}
}

// Component names carry the profile's prefix, so that they cannot collide
// with the base document's or another profile's.
func TestOpenAPI_ComponentNames(t *testing.T) {
	for kind, comps := range loadFragment(t).Components {
		for name := range comps {
			if !strings.HasPrefix(name, "Orgapi") {
				t.Errorf("components.%s.%s: want an Orgapi prefix", kind, name)
			}
		}
	}
}

// The schemas name exactly the JSON members the Go types read and write;
// required lists them all where every member is always present.
func TestOpenAPI_SchemasMatchTypes(t *testing.T) {
	doc := loadFragment(t)
	tests := []struct {
		schema   string
		value    any
		required bool
	}{
		{"OrgapiAPIKey", &apiKey{}, true},
		{"OrgapiCreateAPIKeyRequest", &createRequest{}, false},
		{"OrgapiAPIKeyResponse", envelope{}, true},
		{"OrgapiAPIKeyListResponse", envelope{NextCursor: new(string)}, true},
		{"OrgapiErrorResponse", envelope{}, true},
		{"OrgapiErrorData", errorData{}, true},
		{"OrgapiFieldError", keyward.FieldError{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			b, err := json.Marshal(tt.value)
			if err != nil {
				t.Fatal(err)
			}
			var members map[string]any
			if err := json.Unmarshal(b, &members); err != nil {
				t.Fatal(err)
			}
			var schema struct {
				Required   []string                   `json:"required"`
				Properties map[string]json.RawMessage `json:"properties"`
			}
			raw, ok := doc.Components["schemas"][tt.schema]
			if !ok {
				t.Fatalf("no schema %s", tt.schema)
			}
			if err := json.Unmarshal(raw, &schema); err != nil {
				t.Fatal(err)
			}
			want := slices.Sorted(maps.Keys(members))
			if diff := cmp.Diff(want, slices.Sorted(maps.Keys(schema.Properties))); diff != "" {
				t.Errorf("properties (-Go +schema):\n%s", diff)
			}
			if tt.required {
				if diff := cmp.Diff(want, slices.Sorted(slices.Values(schema.Required))); diff != "" {
					t.Errorf("required (-Go +schema):\n%s", diff)
				}
			}
		})
	}
}

// The server's /openapi.json holds the profile's paths, and every $ref in
// the merged document resolves.
func TestOpenAPI_Merged(t *testing.T) {
	e := compattest.Start(t, func(e *compattest.Env, logger *slog.Logger) []httpapi.Mount {
		return []httpapi.Mount{New(Config{Keys: e.Service, Auth: e.Engine, Logger: logger})}
	})
	res := e.Do(t, http.MethodGet, "/openapi.json", nil, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("/openapi.json: status %d", res.Status)
	}
	var doc map[string]any
	if err := json.Unmarshal(res.Body, &doc); err != nil {
		t.Fatal(err)
	}
	paths, _ := doc["paths"].(map[string]any)
	for path := range loadFragment(t).Paths {
		if _, ok := paths[path]; !ok {
			t.Errorf("/openapi.json lacks %s", path)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var target any = doc
				for seg := range strings.SplitSeq(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := target.(map[string]any)
					target = m[seg]
				}
				if !strings.HasPrefix(ref, "#/") || target == nil {
					t.Errorf("$ref %q resolves to nothing", ref)
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
	walk(doc)
}
