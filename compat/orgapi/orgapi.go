// Package orgapi serves seed 001's API key API under /compat/orgapi: every
// answer is the envelope {code, data, message, requestId}, and a key's
// scope (read | read-write) is the Keyward permissions ["read"] or
// ["read", "write"] of an ordinary key, made, read and revoked through
// keyward.KeyService.
package orgapi

import (
	_ "embed"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"keyward"
	"keyward/compat/internal/compatapi"
	"keyward/httpapi"
)

// Prefix is the path under which the profile is served.
const Prefix = "/compat/orgapi"

// Config holds the services the profile adapts.
type Config struct {
	Keys keyward.KeyService
	Auth keyward.Authenticator
	// Logger receives unexpected (non-*keyward.Error) errors, redacted; the
	// client sees only a generic message. Nil means slog.Default().
	Logger *slog.Logger
}

//go:embed openapi.json
var openAPI []byte

// New returns the profile as a mount of the REST API server.
func New(cfg Config) httpapi.Mount {
	s := &server{keys: cfg.Keys, logger: cfg.Logger}
	return compatapi.Mount(compatapi.Profile{
		Prefix:     Prefix,
		Routes:     s.routes(),
		OpenAPI:    openAPI,
		Auth:       cfg.Auth,
		Credential: credential,
		WriteError: s.writeError,
	})
}

// server answers the profile's routes.
type server struct {
	keys   keyward.KeyService
	logger *slog.Logger
}

// routes lists the profile's whole surface; openapi.json describes exactly
// these, and a test holds the two together.
func (s *server) routes() []compatapi.Route {
	return []compatapi.Route{
		{Method: http.MethodPost, Path: Prefix + "/v1/api-keys", Handler: s.handleCreate},
		{Method: http.MethodGet, Path: Prefix + "/v1/api-keys", Query: []string{"cursor", "limit"}, Handler: s.handleList},
		{Method: http.MethodGet, Path: Prefix + "/v1/api-keys/{id}", Handler: s.handleGet},
		{Method: http.MethodDelete, Path: Prefix + "/v1/api-keys/{id}", Handler: s.handleRevoke},
		{Method: http.MethodPost, Path: Prefix + "/v1/api-keys/{id}/revoke", Handler: s.handleRevoke},
	}
}

// credential returns the key of "Authorization: Bearer <key>", the
// document's scheme, or of "X-API-Key: <key>", which /v1 accepts too.
func credential(r *http.Request) (string, error) {
	return httpapi.Credential(r, "An API key is required: send it as Authorization: Bearer <key>.")
}

// envelope is the shape of every answer, errors included. NextCursor is
// set on list answers only.
type envelope struct {
	Code       int     `json:"code"`
	Data       any     `json:"data"`
	Message    string  `json:"message"`
	RequestID  string  `json:"requestId"`
	NextCursor *string `json:"nextCursor,omitempty"`
}

// successMessage is the message of every successful answer.
const successMessage = "success"

// writeData answers data in the envelope with status 200. nextCursor is
// nil but in list answers.
func writeData(w http.ResponseWriter, r *http.Request, data any, nextCursor *string) error {
	return httpapi.WriteJSON(w, http.StatusOK, envelope{
		Code:       http.StatusOK,
		Data:       data,
		Message:    successMessage,
		RequestID:  keyward.RequestInfoFromContext(r.Context()).RequestID,
		NextCursor: nextCursor,
	})
}

// errorData is the data of an error that names input fields.
type errorData struct {
	Errors []keyward.FieldError `json:"errors"`
}

// writeError answers err in the envelope: code is the HTTP status, data is
// null or the invalid fields, and the message names them too. Errors that
// are not a *keyward.Error are logged and answered with a generic message.
// Keys are redacted: messages may quote input.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.LogUnexpected(s.logger, r, err)
	status := httpapi.ErrorStatusCode(keyward.ErrorCode(err))
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	var data any
	if fields := keyward.ErrorFields(err); len(fields) > 0 {
		data = errorData{Errors: httpapi.RedactFields(fields)}
	}
	// The envelope holds only strings and numbers: encoding cannot fail.
	_ = httpapi.WriteJSON(w, status, envelope{
		Code:      status,
		Data:      data,
		Message:   httpapi.RedactKeys(keyward.ErrorMessage(err)),
		RequestID: keyward.RequestInfoFromContext(r.Context()).RequestID,
	})
}

// memberNames maps the service's names of the fields the profile sets to
// the profile's members.
var memberNames = map[string]string{
	"permissions":        "scope",
	"expires_at":         "expiresAt",
	"service_account_id": "serviceAccountId",
}

// serviceError renames the fields of an error of the KeyService to the
// profile's members, each once. Only the service's errors pass through
// it: the decoder already names the profile's members, and an unknown
// member "permissions" must stay so named.
func serviceError(err error) error {
	var e *keyward.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	var fields []keyward.FieldError
	seen := make(map[string]bool)
	for _, f := range e.Fields {
		// permissions[i] is the scope as a whole.
		name, _, _ := strings.Cut(f.Field, "[")
		if m, ok := memberNames[name]; ok {
			name = m
		}
		if !seen[name] {
			seen[name] = true
			fields = append(fields, keyward.FieldError{Field: name, Message: f.Message})
		}
	}
	// The service's message quotes its own field names (or none, for the
	// 403 of non-escalation): say which member of ours it is about.
	return &keyward.Error{Code: e.Code, Message: keyward.Invalid(fields...).Message, Fields: fields}
}
