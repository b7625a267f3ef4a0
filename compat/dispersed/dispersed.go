// Package dispersed serves seed 000's API, Dispersed's "Create API Key",
// under /compat/dispersed, with the list, get and revoke routes that a
// client of it needs. It is a thin adapter: each request maps onto
// keyward.KeyService and each keyward.Key onto Dispersed's api_key object,
// while every rule (validation, non-escalation, audit, tenancy) stays the
// service's. Errors come out in a Stripe-like {"error": {...}} shape, which
// fits an API whose objects carry an "object" member.
package dispersed

import (
	_ "embed"
	"log/slog"
	"net/http"

	"keyward"
	"keyward/compat/internal/compatapi"
	"keyward/httpapi"
)

// Prefix is the path under which the profile is served.
const Prefix = "/compat/dispersed"

// openAPI describes exactly the routes of routes(); a test holds the two
// together.
//
//go:embed openapi.json
var openAPI []byte

// Config holds the services the profile adapts.
type Config struct {
	// Keys serves every route; it checks the caller's permissions itself.
	Keys keyward.KeyService
	// Auth turns the presented key into the caller.
	Auth keyward.Authenticator
	// Logger receives unexpected (non-*keyward.Error) errors, redacted;
	// the client sees only a generic message. Nil means slog.Default().
	Logger *slog.Logger
}

// New returns the profile as a mount of the REST API server.
func New(cfg Config) httpapi.Mount {
	s := &server{cfg: cfg}
	return compatapi.Mount(compatapi.Profile{
		Prefix:     Prefix,
		Routes:     s.routes(),
		OpenAPI:    openAPI,
		Auth:       cfg.Auth,
		Credential: credential,
		WriteError: s.writeError,
	})
}

// server serves the profile's routes.
type server struct {
	cfg Config
}

// routes lists the profile's whole surface.
func (s *server) routes() []compatapi.Route {
	return []compatapi.Route{
		{Method: http.MethodPost, Path: Prefix + "/v1/api-keys", Handler: s.handleCreate},
		{Method: http.MethodGet, Path: Prefix + "/v1/api-keys", Query: []string{"limit", "cursor"}, Handler: s.handleList},
		{Method: http.MethodGet, Path: Prefix + "/v1/api-keys/{id}", Handler: s.handleGet},
		{Method: http.MethodDelete, Path: Prefix + "/v1/api-keys/{id}", Handler: s.handleRevoke},
	}
}

// credential returns the key presented as "Authorization: Bearer <key>" or
// as "X-API-Key: <key>", the two ways /v1 accepts: the document shows no
// authentication, so a client keeps whichever it already sends.
func credential(r *http.Request) (string, error) {
	return httpapi.Credential(r, httpapi.MissingKeyMessage)
}

// errorBody is the profile's error answer, in the style of Stripe, whose
// "object" convention the document's api_key follows.
type errorBody struct {
	Error apiError `json:"error"`
}

// apiError describes one failed request. Param names the first invalid
// member (null when the error is not about one); Errors lists every one.
type apiError struct {
	Type      string       `json:"type"`
	Code      string       `json:"code"`
	Message   string       `json:"message"`
	Param     *string      `json:"param"`
	Errors    []paramError `json:"errors"`
	RequestID string       `json:"request_id"`
}

// paramError is one invalid member or query parameter.
type paramError struct {
	Param   string `json:"param"`
	Message string `json:"message"`
}

// Error types, Stripe's names for the classes of Keyward's codes.
const (
	typeInvalidRequest = "invalid_request_error"
	typeAuthentication = "authentication_error"
	typePermission     = "permission_error"
	typeAPI            = "api_error"
)

// errorType returns the error type of a Keyward error code.
func errorType(code string) string {
	switch code {
	case keyward.EUNAUTHORIZED:
		return typeAuthentication
	case keyward.EFORBIDDEN:
		return typePermission
	case keyward.EINTERNAL, keyward.EUNAVAILABLE:
		return typeAPI
	}
	return typeInvalidRequest
}

// writeError answers err in the profile's shape, with the status of
// httpapi's one table. Keyward's field names are already this profile's
// member names (name, permissions[i], allowed_ips[i], expires_at, limit,
// cursor), so they pass through as params. Errors that are not a
// *keyward.Error are logged, redacted, and answered generically; every
// message and param is redacted, since they may quote input.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := keyward.ErrorCode(err)
	status := httpapi.ErrorStatusCode(code)
	httpapi.LogUnexpected(s.cfg.Logger, r, err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	e := apiError{
		Type:      errorType(code),
		Code:      code,
		Message:   httpapi.RedactKeys(keyward.ErrorMessage(err)),
		Errors:    []paramError{},
		RequestID: keyward.RequestInfoFromContext(r.Context()).RequestID,
	}
	for _, f := range httpapi.RedactFields(keyward.ErrorFields(err)) {
		e.Errors = append(e.Errors, paramError{Param: f.Field, Message: f.Message})
	}
	if len(e.Errors) > 0 {
		e.Param = &e.Errors[0].Param
	}
	// The body holds only strings: encoding it cannot fail.
	_ = httpapi.WriteJSON(w, status, errorBody{Error: e})
}
