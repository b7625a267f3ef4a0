package dispersed

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"keyward/compat/internal/compattest"
	"keyward/httpapi"
)

// fragment is the part of openapi.json the tests check.
type fragment struct {
	Tags       []struct{ Name string } `json:"tags"`
	Paths      map[string]map[string]operation
	Components map[string]map[string]json.RawMessage `json:"components"`
}

type operation struct {
	OperationID string   `json:"operationId"`
	Tags        []string `json:"tags"`
	Parameters  []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	Responses map[string]json.RawMessage `json:"responses"`
}

func loadFragment(t *testing.T) fragment {
	t.Helper()
	var doc fragment
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// The fragment describes exactly the routed operations and their query
// parameters, each tagged compat-dispersed with a unique operationId named
// after the profile, and its components are named after the profile too,
// so that they cannot collide with the base document's or another
// profile's.
func TestOpenAPI_MatchesRoutes(t *testing.T) {
	doc := loadFragment(t)
	if len(doc.Tags) != 1 || doc.Tags[0].Name != "compat-dispersed" {
		t.Errorf("tags: got %+v, want just compat-dispersed", doc.Tags)
	}
	routed := make(map[string][]string)
	for _, rt := range (&server{}).routes() {
		routed[rt.method+" "+rt.path] = slices.Sorted(slices.Values(rt.query))
	}
	documented := make(map[string][]string)
	ids := make(map[string]bool)
	for path, item := range doc.Paths {
		for method, op := range item {
			name := strings.ToUpper(method) + " " + path
			var query []string
			for _, p := range op.Parameters {
				if p.In == "query" {
					query = append(query, p.Name)
				}
			}
			documented[name] = slices.Sorted(slices.Values(query))
			if !strings.HasPrefix(op.OperationID, "dispersed") || ids[op.OperationID] {
				t.Errorf("%s: operationId %q is not dispersed-prefixed or is repeated", name, op.OperationID)
			}
			ids[op.OperationID] = true
			if !slices.Equal(op.Tags, []string{"compat-dispersed"}) {
				t.Errorf("%s: tags %v, want [compat-dispersed]", name, op.Tags)
			}
			for _, status := range []string{"400", "401", "500"} {
				if _, ok := op.Responses[status]; !ok {
					t.Errorf("%s: no %s response", name, status)
				}
			}
		}
	}
	if diff := cmp.Diff(routed, documented, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("operations and their query parameters (-routed +documented):\n%s", diff)
	}
	for kind, comps := range doc.Components {
		for name := range comps {
			if !strings.HasPrefix(name, "Dispersed") {
				t.Errorf("components.%s.%s: not prefixed Dispersed", kind, name)
			}
		}
	}
}

// The schemas list exactly the members that the Go types read and write,
// all required in the answers.
func TestOpenAPI_Schemas(t *testing.T) {
	doc := loadFragment(t)
	tests := []struct {
		schema      string
		typ         reflect.Type
		allRequired bool
	}{
		{"DispersedAPIKey", reflect.TypeFor[apiKey](), true},
		{"DispersedAPIKeyCreate", reflect.TypeFor[createRequest](), false},
		{"DispersedAPIKeyList", reflect.TypeFor[list](), true},
		{"DispersedErrorParam", reflect.TypeFor[paramError](), true},
	}
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			var s struct {
				Required   []string                   `json:"required"`
				Properties map[string]json.RawMessage `json:"properties"`
			}
			if err := json.Unmarshal(doc.Components["schemas"][tt.schema], &s); err != nil {
				t.Fatal(err)
			}
			var members []string
			for i := range tt.typ.NumField() {
				name, _, _ := strings.Cut(tt.typ.Field(i).Tag.Get("json"), ",")
				members = append(members, name)
			}
			var props []string
			for name := range s.Properties {
				props = append(props, name)
			}
			slices.Sort(members)
			slices.Sort(props)
			if diff := cmp.Diff(members, props); diff != "" {
				t.Errorf("properties (-Go +schema):\n%s", diff)
			}
			if tt.allRequired {
				if diff := cmp.Diff(members, slices.Sorted(slices.Values(s.Required))); diff != "" {
					t.Errorf("required (-Go +schema):\n%s", diff)
				}
			}
		})
	}
}

// The server's /openapi.json holds the fragment's paths, and every $ref of
// the merged document, those of the fragment included, resolves.
func TestOpenAPI_Merged(t *testing.T) {
	e := compattest.Start(t, func(e *compattest.Env, logger *slog.Logger) []httpapi.Mount {
		return []httpapi.Mount{New(Config{Keys: e.Service, Auth: e.Engine, Logger: logger})}
	})
	res := e.Do(t, http.MethodGet, "/openapi.json", nil, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	merged := res.JSON(t).(map[string]any)
	paths := merged["paths"].(map[string]any)
	for path := range loadFragment(t).Paths {
		if paths[path] == nil {
			t.Errorf("%s: not in /openapi.json", path)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var target any = merged
				for _, seg := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
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
	var frag any
	if err := json.Unmarshal(openAPI, &frag); err != nil {
		t.Fatal(err)
	}
	walk(frag)
}
