package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
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
		Schemas map[string]*schemaObject `json:"schemas"`
	} `json:"components"`
}

// schemaObject is the part of a JSON schema the tests follow.
type schemaObject struct {
	Ref           string                   `json:"$ref"`
	Required      []string                 `json:"required"`
	Properties    map[string]*schemaObject `json:"properties"`
	Items         *schemaObject            `json:"items"`
	AllOf         []*schemaObject          `json:"allOf"`
	AnyOf         []*schemaObject          `json:"anyOf"`
	PropertyNames *schemaObject            `json:"propertyNames"`
	Enum          []string                 `json:"enum"`
}

// resolve follows s's $ref, and picks the branch of an anyOf that is not
// null.
func (doc openAPIDoc) resolve(t *testing.T, s *schemaObject) *schemaObject {
	t.Helper()
	for s != nil {
		switch {
		case s.Ref != "":
			name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
			if doc.Components.Schemas[name] == nil {
				t.Fatalf("$ref %s: no such schema", s.Ref)
			}
			s = doc.Components.Schemas[name]
		case len(s.AnyOf) > 0:
			var branch *schemaObject
			for _, b := range s.AnyOf {
				if b.Ref != "" || b.Properties != nil || b.Items != nil {
					branch = b
				}
			}
			s = branch
		default:
			return s
		}
	}
	return nil
}

// properties returns the properties of s, those of its allOf included.
func (doc openAPIDoc) properties(t *testing.T, s *schemaObject) map[string]*schemaObject {
	t.Helper()
	s = doc.resolve(t, s)
	if s == nil {
		return nil
	}
	props := maps.Clone(s.Properties)
	for _, part := range s.AllOf {
		if props == nil {
			props = make(map[string]*schemaObject)
		}
		maps.Copy(props, doc.properties(t, part))
	}
	return props
}

// matchMembers fails unless every object in v, a decoded JSON value, has
// exactly the properties of the schema s that describes it, at any depth.
// An object schema without properties is free-form (metadata, counts).
func (doc openAPIDoc) matchMembers(t *testing.T, path string, v any, s *schemaObject) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		props := doc.properties(t, s)
		if len(props) == 0 {
			return
		}
		if diff := cmp.Diff(slices.Sorted(maps.Keys(v)), slices.Sorted(maps.Keys(props))); diff != "" {
			t.Errorf("%s: properties (-Go +schema):\n%s", path, diff)
		}
		for name, member := range v {
			if p, ok := props[name]; ok {
				doc.matchMembers(t, path+"."+name, member, p)
			}
		}
	case []any:
		s = doc.resolve(t, s)
		if s == nil || s.Items == nil {
			t.Errorf("%s: an array, but the schema has no items", path)
			return
		}
		for i, e := range v {
			doc.matchMembers(t, fmt.Sprintf("%s[%d]", path, i), e, s.Items)
		}
	}
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

// Each path documents exactly the path parameters its pattern names, at
// the path or the operation level.
func TestOpenAPI_PathParameters(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]openAPIParameter `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	wildcard := regexp.MustCompile(`\{([a-z_]+)\}`)
	for _, rt := range (&Server{}).routes() {
		var want []string
		for _, m := range wildcard.FindAllStringSubmatch(rt.path, -1) {
			want = append(want, m[1])
		}
		var shared []openAPIParameter
		if raw, ok := doc.Paths[rt.path]["parameters"]; ok {
			if err := json.Unmarshal(raw, &shared); err != nil {
				t.Fatal(err)
			}
		}
		var op struct {
			Parameters []openAPIParameter `json:"parameters"`
		}
		if err := json.Unmarshal(doc.Paths[rt.path][strings.ToLower(rt.method)], &op); err != nil {
			t.Fatalf("%s %s: %v", rt.method, rt.path, err)
		}
		var got []string
		for _, p := range append(shared, op.Parameters...) {
			if p.Ref != "" {
				p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
			}
			if p.In == "path" {
				got = append(got, p.Name)
			}
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s %s: path parameters (-routed +documented):\n%s", rt.method, rt.path, diff)
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
// nested objects included, so the document cannot drift from the code.
// Each value sets every field, so that every member is written.
func TestOpenAPI_SchemasMatchTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	full := testKeyRecord()
	full.ServiceAccountID = "sa-1"
	full.RevokedAt, full.DeletedAt = &testTime, &testTime
	limits := []keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}}
	refill := &keyward.CreditRefill{Amount: 10, Interval: keyward.RefillMonthly, Day: 1}
	credits := &keyward.CreditsInput{Remaining: new(int64(5)), Refill: refill}
	tests := []struct {
		schema string
		value  any
		// required says that every member is always present.
		required bool
	}{
		{"Key", full, true},
		{"CreatedKey", &keyward.CreatedKey{Key: full, Secret: "s"}, false},
		{"ServiceAccount", &keyward.ServiceAccount{}, true},
		{"AuditEvent", &keyward.AuditEvent{Details: json.RawMessage(`{}`)}, false},
		{"VerifyResult", &keyward.VerifyResult{KeyID: "k", Name: "n", OwnerID: "o", ServiceAccountID: "s",
			Permissions: []string{"p"}, Metadata: json.RawMessage(`{}`), ExpiresAt: &testTime,
			RateLimits: []keyward.RateLimitState{{Name: "default", Limit: 100, Remaining: 99, Reset: testTime}},
			Credits:    &keyward.CreditsState{Remaining: 4}}, false},
		{"KeyCreate", &keyward.KeyCreate{Name: "n", Description: "d", Permissions: []string{"p"}, AllowedIPs: []string{"i"},
			ExpiresAt: &testTime, ExpiresIn: new(int64(1)), OwnerID: "o", ServiceAccountID: "s", Metadata: json.RawMessage(`{}`),
			Enabled: new(true), Prefix: "p", RateLimits: limits, Credits: credits}, false},
		{"KeyUpdate", &keyward.KeyUpdate{Name: new("n"), Description: new("d"), Permissions: new([]string{}), AllowedIPs: new([]string{}),
			ExpiresAt: keyward.OptionalTime{Set: true}, ExpiresIn: new(int64(1)), Metadata: json.RawMessage(`{}`), Enabled: new(true),
			RateLimits: &limits, Credits: keyward.Optional[keyward.CreditsInput]{Set: true, Value: credits}}, false},
		{"VerifyRequest", &keyward.VerifyRequest{Key: "k", Permissions: "p", IP: "i", UserAgent: "u", Cost: new(int64(2)),
			RateLimits: []keyward.RateLimitUse{{Name: "default", Cost: new(int64(3))}}}, false},
		{"ServiceAccountCreate", &keyward.ServiceAccountCreate{Name: "n", Description: "d"}, false},
		{"KeyPage", keyward.Page[*keyward.Key]{Data: []*keyward.Key{full}}, true},
		{"FieldError", keyward.FieldError{}, true},
		{"Problem", problem{Errors: []keyward.FieldError{{}}}, false},
		{"RateLimit", limits[0], true},
		{"RateLimitUse", keyward.RateLimitUse{Name: "n", Cost: new(int64(1))}, false},
		{"RateLimitState", keyward.RateLimitState{}, true},
		{"Credits", full.Credits, true},
		{"CreditRefill", refill, false},
		{"CreditsInput", credits, false},
		{"CreditsUpdate", keyward.CreditsUpdate{Op: keyward.CreditsSet, Amount: new(int64(1))}, true},
		{"CreditsState", keyward.CreditsState{}, true},
		{"KeyRotate", keyward.KeyRotate{GracePeriod: 1, ExpiresAt: &testTime, ExpiresIn: new(int64(1))}, false},
		{"Owner", &keyward.Owner{ID: "u1", OrgID: "org-1", RateLimits: limits, UpdatedAt: &testTime}, true},
		{"OwnerUpdate", keyward.OwnerUpdate{RateLimits: limits}, false},
		{"OrgPolicy", &keyward.OrgPolicy{MaxKeyLifetime: new(int64(1)), DefaultKeyLifetime: new(int64(1)), AllowedIPs: []string{"i"}}, true},
		{"OrgPolicyUpdate", keyward.OrgPolicyUpdate{MaxKeyLifetime: new(int64(1)), DefaultKeyLifetime: new(int64(1)),
			AllowedIPs: []string{"i"}, AllowNonExpiring: new(true)}, false},
		{"Usage", &keyward.Usage{KeyID: new("k"), Bucket: keyward.BucketHour, From: testTime, To: testTime,
			Data: []keyward.UsageBucket{{Start: testTime, Total: 1, Codes: map[string]int64{keyward.CodeValid: 1}}}}, true},
		{"UsageBucket", keyward.UsageBucket{Codes: map[string]int64{}}, true},
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
			doc.matchMembers(t, tt.schema, members, schema)
			if tt.required {
				want := slices.Sorted(maps.Keys(members))
				if diff := cmp.Diff(want, slices.Sorted(slices.Values(schema.Required))); diff != "" {
					t.Errorf("required (-Go +schema):\n%s", diff)
				}
			}
		})
	}
}

// The enums list exactly the values the server reads and answers: reason
// codes, error codes, refill intervals, credit operations and usage
// buckets.
func TestOpenAPI_Enums(t *testing.T) {
	doc := loadOpenAPI(t)
	enum := func(schema string, path ...string) []string {
		s := doc.Components.Schemas[schema]
		for _, p := range path {
			if p == "propertyNames" {
				s = doc.resolve(t, s).PropertyNames
				continue
			}
			s = doc.properties(t, s)[p]
		}
		if s = doc.resolve(t, s); s == nil {
			t.Fatalf("%s %v: no schema", schema, path)
		}
		return slices.Sorted(slices.Values(s.Enum))
	}
	sorted := func(values ...string) []string { return slices.Sorted(slices.Values(values)) }
	reasons := sorted(keyward.CodeValid, keyward.CodeNotFound, keyward.CodeRevoked, keyward.CodeDisabled, keyward.CodeExpired,
		keyward.CodeIPNotAllowed, keyward.CodeInsufficientPermissions, keyward.CodeRateLimited, keyward.CodeUsageExceeded)
	buckets := sorted(keyward.BucketMinute, keyward.BucketHour, keyward.BucketDay)
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"VerifyResult.code", enum("VerifyResult", "code"), reasons},
		{"UsageBucket.codes names", enum("UsageBucket", "codes", "propertyNames"), reasons},
		{"Problem.code", enum("Problem", "code"), slices.Sorted(maps.Keys(codes))},
		{"CreditRefill.interval", enum("CreditRefill", "interval"), sorted(keyward.RefillDaily, keyward.RefillMonthly)},
		{"CreditsUpdate.op", enum("CreditsUpdate", "op"), sorted(keyward.CreditsSet, keyward.CreditsIncrement, keyward.CreditsDecrement)},
		{"Usage.bucket", enum("Usage", "bucket"), buckets},
		{"bucket parameter", enum("UsageBucketWidth"), buckets},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s (-Go +schema):\n%s", tt.name, diff)
		}
	}
}

// Every routed operation is reachable: an authenticated one answers 401
// without a key (so it is neither unrouted nor public by mistake), and a
// public one answers without a key.
func TestRoutes_Reachable(t *testing.T) {
	s := MustOpenServer(t)
	s.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	wildcard := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, rt := range s.routes() {
		path := wildcard.ReplaceAllString(rt.path, "x1")
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
