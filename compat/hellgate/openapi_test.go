package hellgate

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"keyward"
	"keyward/compat/internal/compattest"
	"keyward/httpapi"
)

// openAPIDoc is the part of openapi.json the tests check.
type openAPIDoc struct {
	Tags []struct {
		Name string `json:"name"`
	} `json:"tags"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]openAPISchema `json:"schemas"`
	} `json:"components"`
}

type openAPISchema struct {
	Enum       []string                 `json:"enum"`
	Required   []string                 `json:"required"`
	Properties map[string]openAPISchema `json:"properties"`
}

// operation is the part of an operation object the tests check.
type operation struct {
	OperationID string   `json:"operationId"`
	Tags        []string `json:"tags"`
	Parameters  []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	Responses map[string]json.RawMessage `json:"responses"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// The fragment describes exactly the routes, each operation tagged, with
// a unique operationId of the profile, its query parameters, and its
// errors.
func TestOpenAPI_MatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	if got := len(doc.Tags); got != 1 || doc.Tags[0].Name != "compat-hellgate" {
		t.Errorf("tags: got %+v, want compat-hellgate alone", doc.Tags)
	}
	routes := make(map[string][]string)
	for _, rt := range (&server{}).routes() {
		routes[rt.method+" "+rt.path] = rt.query
	}
	documented := make(map[string][]string)
	ids := make(map[string]bool)
	for path, item := range doc.Paths {
		for method, raw := range item {
			var op operation
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
			documented[name] = query
			if !strings.HasPrefix(op.OperationID, "hellgate") || ids[op.OperationID] {
				t.Errorf("%s: operationId %q is not the profile's or is repeated", name, op.OperationID)
			}
			ids[op.OperationID] = true
			if !cmp.Equal(op.Tags, []string{"compat-hellgate"}) {
				t.Errorf("%s: tags %v, want [compat-hellgate]", name, op.Tags)
			}
			for _, status := range []string{"400", "401", "403", "405", "500"} {
				if _, ok := op.Responses[status]; !ok {
					t.Errorf("%s: no %s response", name, status)
				}
			}
		}
	}
	if diff := cmp.Diff(routes, documented, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("routes and their query parameters (-routed +documented):\n%s", diff)
	}
}

// Schema names carry the profile's name, so that they cannot collide with
// the base document's or another profile's, and name exactly the members
// the Go types read and write.
func TestOpenAPI_SchemasMatchTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for name := range doc.Components.Schemas {
		if !strings.HasPrefix(name, "Hellgate") {
			t.Errorf("schema %s: name lacks the Hellgate prefix", name)
		}
	}
	now := time.Now()
	tests := []struct {
		schema string
		value  any
	}{
		{"HellgateCreateAPIKeyRequest", createRequest{ExpiresIn: new(int64(1))}},
		{"HellgateCreatedAPIKey", createdKey{ExpiresAt: &now}},
		{"HellgateAPIKey", apiKey{ExpiresAt: &now}},
		{"HellgateAPIKeyList", keyList{}},
		{"HellgateError", errorBody{}},
	}
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			schema, ok := doc.Components.Schemas[tt.schema]
			if !ok {
				t.Fatalf("no schema %s", tt.schema)
			}
			if diff := cmp.Diff(members(t, tt.value), slices.Sorted(maps.Keys(schema.Properties))); diff != "" {
				t.Errorf("properties (-Go +schema):\n%s", diff)
			}
		})
	}
	errSchema := doc.Components.Schemas["HellgateError"].Properties["error"]
	want := members(t, errorDetail{})
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(errSchema.Properties))); diff != "" {
		t.Errorf("HellgateError.error properties (-Go +schema):\n%s", diff)
	}
	if diff := cmp.Diff(want, slices.Sorted(slices.Values(errSchema.Required))); diff != "" {
		t.Errorf("HellgateError.error required (-Go +schema):\n%s", diff)
	}
	codes := []string{keyward.EINVALID, keyward.EUNAUTHORIZED, keyward.EFORBIDDEN, keyward.ENOTFOUND, keyward.EMETHOD,
		keyward.ECONFLICT, keyward.ETOOLARGE, keyward.EUNSUPPORTED, keyward.EINTERNAL, keyward.EUNAVAILABLE}
	if diff := cmp.Diff(slices.Sorted(slices.Values(codes)), slices.Sorted(slices.Values(errSchema.Properties["code"].Enum))); diff != "" {
		t.Errorf("HellgateError.error.code (-Go +schema):\n%s", diff)
	}
	if diff := cmp.Diff(scopes, doc.Components.Schemas["HellgateScope"].Enum); diff != "" {
		t.Errorf("HellgateScope (-Go +schema):\n%s", diff)
	}
}

// members returns the sorted JSON member names of v.
func members(t *testing.T, v any) []string {
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

// The server's /openapi.json holds the fragment, and every $ref in it
// resolves there: the base document's own security scheme and header
// included.
func TestOpenAPI_Merged(t *testing.T) {
	e := compattest.Start(t, func(e *compattest.Env, logger *slog.Logger) []httpapi.Mount {
		return []httpapi.Mount{New(Config{Keys: e.Service, Auth: e.Engine, Logger: logger})}
	})
	res := e.Do(t, http.MethodGet, "/openapi.json", nil, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("status %d", res.Status)
	}
	merged := res.JSON(t).(map[string]any)
	var part map[string]any
	if err := json.Unmarshal(openAPI, &part); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"paths", "components/schemas"} {
		want, got := lookup(part, kind).(map[string]any), lookup(merged, kind).(map[string]any)
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
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(part)
	var security func(v any)
	security = func(v any) {
		if m, ok := v.(map[string]any); ok {
			if sec, ok := m["security"].([]any); ok {
				for _, req := range sec {
					for name := range req.(map[string]any) {
						if lookup(merged, "components/securitySchemes/"+name) == nil {
							t.Errorf("security scheme %q is not in the served document", name)
						}
					}
				}
			}
			for _, e := range m {
				security(e)
			}
		}
	}
	security(part["paths"])
}

// lookup follows a slash-separated path of members.
func lookup(v any, path string) any {
	for _, seg := range strings.Split(path, "/") {
		m, _ := v.(map[string]any)
		v = m[seg]
	}
	return v
}
