package orgapi

import (
	"log/slog"
	"testing"

	"keyward"
	"keyward/compat/internal/compattest"
	"keyward/httpapi"
)

// The fragment describes exactly the routed operations and their query
// parameters, with the profile's tag, operationIds and component names.
func TestOpenAPI_MatchesRoutes(t *testing.T) {
	compattest.CheckOpenAPIRoutes(t, openAPI, (&server{}).routes(), "orgapi")
}

// The schemas name exactly the JSON members the Go types read and write;
// required lists them all where every member is always present.
func TestOpenAPI_SchemasMatchTypes(t *testing.T) {
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
			compattest.CheckSchema(t, openAPI, tt.schema, tt.value, tt.required)
		})
	}
}

// The server's /openapi.json holds the profile's paths, and every $ref in
// the merged document resolves.
func TestOpenAPI_Merged(t *testing.T) {
	e := compattest.Start(t, func(e *compattest.Env, logger *slog.Logger) []httpapi.Mount {
		return []httpapi.Mount{New(Config{Keys: e.Service, Auth: e.Engine, Logger: logger})}
	})
	compattest.CheckOpenAPIMerged(t, e, openAPI)
}
