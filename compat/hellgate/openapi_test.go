package hellgate

import (
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
	"keyward/compat/internal/compattest"
	"keyward/httpapi"
)

// The fragment describes exactly the routed operations and their query
// parameters, with the profile's tag, operationIds and component names.
func TestOpenAPI_MatchesRoutes(t *testing.T) {
	compattest.CheckOpenAPIRoutes(t, openAPI, (&server{}).routes(), "hellgate")
}

// openAPISchema is the part of a schema the error and scope checks read.
type openAPISchema struct {
	Enum       []string                 `json:"enum"`
	Required   []string                 `json:"required"`
	Properties map[string]openAPISchema `json:"properties"`
}

// The schemas name exactly the members the Go types read and write; the
// error's members are all required, its codes are Keyward's, and the
// scope enum is the document's.
func TestOpenAPI_SchemasMatchTypes(t *testing.T) {
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
			compattest.CheckSchema(t, openAPI, tt.schema, tt.value, false)
		})
	}
	var doc struct {
		Components struct {
			Schemas map[string]openAPISchema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	errSchema := doc.Components.Schemas["HellgateError"].Properties["error"]
	want := compattest.Members(t, errorDetail{})
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

// The server's /openapi.json holds the fragment, and every $ref in it
// resolves there: the base document's own security scheme and header
// included.
func TestOpenAPI_Merged(t *testing.T) {
	e := compattest.Start(t, func(e *compattest.Env, logger *slog.Logger) []httpapi.Mount {
		return []httpapi.Mount{New(Config{Keys: e.Service, Auth: e.Engine, Logger: logger})}
	})
	compattest.CheckOpenAPIMerged(t, e, openAPI)
}
