package httpapi

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"keyward"
)

// openAPIDoc is the part of openapi.json the tests check.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Required   []string                   `json:"required"`
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

func TestOpenAPI_Version(t *testing.T) {
	if doc := loadOpenAPI(t); doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi: got %q, want 3.1.0", doc.OpenAPI)
	}
}

// The document describes exactly the routed operations, each with an
// operationId, and lets the public ones through without a key.
func TestOpenAPI_MatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	routed := make(map[string]bool)
	for _, rt := range (&Server{}).routes() {
		routed[rt.method+" "+rt.path] = rt.public
	}
	documented := make(map[string]bool)
	ids := make(map[string]bool)
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				OperationID string            `json:"operationId"`
				Security    *[]map[string]any `json:"security"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			name := strings.ToUpper(method) + " " + path
			documented[name] = op.Security != nil && len(*op.Security) == 0
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s: operationId %q is missing or repeated", name, op.OperationID)
			}
			ids[op.OperationID] = true
		}
	}
	if diff := cmp.Diff(routed, documented); diff != "" {
		t.Errorf("routes (-routed +documented; the value says public):\n%s", diff)
	}
}

// Each operation documents exactly the query parameters its route reads,
// the only ones it accepts, and the 400 that answers any other.
func TestOpenAPI_QueryParameters(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]openAPIParameter `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for _, rt := range (&Server{}).routes() {
		var op struct {
			Parameters []openAPIParameter         `json:"parameters"`
			Responses  map[string]json.RawMessage `json:"responses"`
		}
		if err := json.Unmarshal(doc.Paths[rt.path][strings.ToLower(rt.method)], &op); err != nil {
			t.Fatalf("%s %s: %v", rt.method, rt.path, err)
		}
		var documented []string
		for _, p := range op.Parameters {
			if p.Ref != "" {
				p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
			}
			if p.In == "query" {
				documented = append(documented, p.Name)
			}
		}
		if diff := cmp.Diff(slices.Sorted(slices.Values(rt.query)), slices.Sorted(slices.Values(documented)), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s %s: query parameters (-routed +documented):\n%s", rt.method, rt.path, diff)
		}
		if _, ok := op.Responses["400"]; !ok {
			t.Errorf("%s %s: no 400 response", rt.method, rt.path)
		}
	}
}

// openAPIParameter is a parameter object or a reference to one.
type openAPIParameter struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

// Every $ref points at a component that exists.
func TestOpenAPI_RefsResolve(t *testing.T) {
	var doc any
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				target := doc
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
	walk(doc)
}

// The schemas name exactly the JSON members the Go types read and write,
// so the document cannot drift from the code.
func TestOpenAPI_SchemasMatchTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	full := testKeyRecord()
	full.ServiceAccountID = "sa-1"
	full.RevokedAt, full.DeletedAt = &testTime, &testTime
	tests := []struct {
		schema string
		value  any
		// required says that every member is always present.
		required bool
	}{
		{"Key", full, true},
		{"ServiceAccount", &keyward.ServiceAccount{}, true},
		{"AuditEvent", &keyward.AuditEvent{Details: json.RawMessage(`{}`)}, false},
		{"VerifyResult", &keyward.VerifyResult{KeyID: "k", Name: "n", OwnerID: "o", ServiceAccountID: "s",
			Permissions: []string{"p"}, Metadata: json.RawMessage(`{}`), ExpiresAt: &testTime}, false},
		{"KeyCreate", &keyward.KeyCreate{Name: "n", Description: "d", Permissions: []string{"p"}, AllowedIPs: []string{"i"},
			ExpiresAt: &testTime, ExpiresIn: new(int64(1)), OwnerID: "o", ServiceAccountID: "s", Metadata: json.RawMessage(`{}`),
			Enabled: new(true), Prefix: "p"}, false},
		{"KeyUpdate", &keyward.KeyUpdate{Name: new("n"), Description: new("d"), Permissions: new([]string{}), AllowedIPs: new([]string{}),
			ExpiresAt: keyward.OptionalTime{Set: true}, ExpiresIn: new(int64(1)), Metadata: json.RawMessage(`{}`), Enabled: new(true)}, false},
		{"VerifyRequest", &keyward.VerifyRequest{Key: "k", Permissions: "p", IP: "i", UserAgent: "u"}, false},
		{"ServiceAccountCreate", &keyward.ServiceAccountCreate{Name: "n", Description: "d"}, false},
		{"KeyPage", keyward.Page[*keyward.Key]{}, true},
		{"FieldError", keyward.FieldError{}, true},
		{"Problem", problem{Errors: []keyward.FieldError{{}}}, false},
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
			schema, ok := doc.Components.Schemas[tt.schema]
			if !ok {
				t.Fatalf("no schema %s", tt.schema)
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

// The reason codes of VerifyResult and the error codes of Problem list
// exactly what the server answers.
func TestOpenAPI_Enums(t *testing.T) {
	doc := loadOpenAPI(t)
	enum := func(schema, prop string) []string {
		var p struct {
			Enum []string `json:"enum"`
		}
		if err := json.Unmarshal(doc.Components.Schemas[schema].Properties[prop], &p); err != nil {
			t.Fatal(err)
		}
		return slices.Sorted(slices.Values(p.Enum))
	}
	reasons := []string{keyward.CodeValid, keyward.CodeNotFound, keyward.CodeRevoked, keyward.CodeDisabled, keyward.CodeExpired,
		keyward.CodeIPNotAllowed, keyward.CodeInsufficientPermissions, keyward.CodeRateLimited, keyward.CodeUsageExceeded}
	if diff := cmp.Diff(slices.Sorted(slices.Values(reasons)), enum("VerifyResult", "code")); diff != "" {
		t.Errorf("VerifyResult.code (-Go +schema):\n%s", diff)
	}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(codes)), enum("Problem", "code")); diff != "" {
		t.Errorf("Problem.code (-Go +schema):\n%s", diff)
	}
}

// Every routed operation is reachable: an authenticated one answers 401
// without a key (so it is neither unrouted nor public by mistake), and a
// public one answers without a key.
func TestRoutes_Reachable(t *testing.T) {
	s := MustOpenServer(t)
	for _, rt := range s.routes() {
		path := strings.ReplaceAll(rt.path, "{id}", "x1")
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			res := s.do(t, rt.method, path, "", header("Authorization", ""))
			if rt.public {
				wantStatus(t, res, http.StatusOK)
				return
			}
			wantProblem(t, res, http.StatusUnauthorized, keyward.EUNAUTHORIZED)
		})
	}
}
