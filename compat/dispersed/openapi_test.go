package dispersed

import (
	"log/slog"
	"testing"

	"keyward/compat/internal/compattest"
	"keyward/httpapi"
)

// The fragment describes exactly the routed operations and their query
// parameters, with the profile's tag, operationIds and component names.
func TestOpenAPI_MatchesRoutes(t *testing.T) {
	compattest.CheckOpenAPIRoutes(t, openAPI, (&server{}).routes(), "dispersed")
}

// The schemas list exactly the members that the Go types read and write,
// all required in the answers.
func TestOpenAPI_Schemas(t *testing.T) {
	tests := []struct {
		schema      string
		value       any
		allRequired bool
	}{
		{"DispersedAPIKey", apiKey{}, true},
		{"DispersedAPIKeyCreate", createRequest{}, false},
		{"DispersedAPIKeyList", list{}, true},
		{"DispersedErrorParam", paramError{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			compattest.CheckSchema(t, openAPI, tt.schema, tt.value, tt.allRequired)
		})
	}
}

// The server's /openapi.json holds the fragment, and every $ref of the
// merged document, those of the fragment included, resolves.
func TestOpenAPI_Merged(t *testing.T) {
	e := compattest.Start(t, func(e *compattest.Env, logger *slog.Logger) []httpapi.Mount {
		return []httpapi.Mount{New(Config{Keys: e.Service, Auth: e.Engine, Logger: logger})}
	})
	compattest.CheckOpenAPIMerged(t, e, openAPI)
}
