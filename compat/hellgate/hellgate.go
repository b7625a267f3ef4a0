// Package hellgate serves seed 002's API, Hellgate's "create API key"
// (POST /api/admin/api-keys, authenticated by an x-api-key header), under
// /compat/hellgate, with list, get and delete siblings. It maps shapes only:
// each scope is the Keyward permission of the same name, expires_in the
// key's lifetime and key_value its secret, and every rule (validation,
// non-escalation, audit, cache invalidation) is keyward.KeyService's.
package hellgate

import (
	_ "embed"
	"log/slog"
	"net/http"
	"strings"

	"keyward"
	"keyward/compat/internal/compatapi"
	"keyward/httpapi"
)

// Prefix is the path under which the profile is mounted.
const Prefix = "/compat/hellgate"

// keysPath is the document's create path, and the collection of the
// siblings.
const keysPath = Prefix + "/api/admin/api-keys"

// openAPI describes exactly the routes of routes(); a test holds the two
// together.
//
//go:embed openapi.json
var openAPI []byte

// Config holds what the profile serves from.
type Config struct {
	Keys keyward.KeyService
	Auth keyward.Authenticator
	// Logger receives unexpected (non-*keyward.Error) errors, redacted;
	// nil means slog.Default().
	Logger *slog.Logger
}

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

type server struct {
	keys   keyward.KeyService
	logger *slog.Logger
}

// routes lists the whole surface of the profile.
func (s *server) routes() []compatapi.Route {
	return []compatapi.Route{
		{Method: http.MethodPost, Path: keysPath, Handler: s.handleCreateKey},
		{Method: http.MethodGet, Path: keysPath, Query: []string{"cursor", "limit"}, Handler: s.handleFindKeys},
		{Method: http.MethodGet, Path: keysPath + "/{id}", Handler: s.handleFindKeyByID},
		{Method: http.MethodDelete, Path: keysPath + "/{id}", Handler: s.handleRevokeKey},
	}
}

// credential returns the key of the x-api-key header. The document's only
// credential is that header, so an Authorization header is not read: a
// client sending one alone is told where the key goes.
func credential(r *http.Request) (string, error) {
	if key := strings.TrimSpace(r.Header.Get("x-api-key")); key != "" {
		return key, nil
	}
	if r.Header.Get("Authorization") != "" {
		return "", keyward.Errorf(keyward.EUNAUTHORIZED, "This API reads the key from the x-api-key header only, not from Authorization.")
	}
	return "", keyward.Errorf(keyward.EUNAUTHORIZED, "An API key is required in the x-api-key header.")
}

// maxFieldErrors bounds the field errors of one answer, so that thousands
// of bad scopes cannot make a much larger answer.
const maxFieldErrors = 10

// errorBody is the profile's error answer. The document shows none, so it
// is small and in the document's snake_case: Keyward's stable code, a
// message, the first offending request member (null when none) and the
// request id.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string  `json:"code"`
	Message   string  `json:"message"`
	Field     *string `json:"field"`
	RequestID string  `json:"request_id"`
}

// writeError answers err in the profile's shape, with the status of
// httpapi's one table. Errors that are not a *keyward.Error are logged and
// answered generically. Field names are the document's members, and keys
// are redacted: a message may quote input.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := keyward.ErrorCode(err)
	status := httpapi.ErrorStatusCode(code)
	httpapi.LogUnexpected(s.logger, r, err)
	msg := keyward.ErrorMessage(err)
	var field *string
	if fields := keyward.ErrorFields(err); len(fields) > 0 {
		name := memberName(fields[0].Field)
		// keyward.Invalid's message starts with the Keyward name of the
		// field: say the document's.
		if rest, ok := strings.CutPrefix(msg, fields[0].Field+": "); ok {
			msg = name + ": " + rest
		}
		name = httpapi.RedactKeys(name)
		field = &name
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `APIKey header="x-api-key"`)
	}
	body := errorBody{Error: errorDetail{
		Code:      code,
		Message:   httpapi.RedactKeys(msg),
		Field:     field,
		RequestID: keyward.RequestInfoFromContext(r.Context()).RequestID,
	}}
	// The body holds only strings: encoding it cannot fail.
	_ = httpapi.WriteJSON(w, status, body)
}

// memberName is the request member of the document that a Keyward field
// name stands for: permissions are scopes, and the only expiry the profile
// passes is expires_in.
func memberName(field string) string {
	if rest, ok := strings.CutPrefix(field, "permissions"); ok && (rest == "" || rest[0] == '[') {
		return "scopes" + rest
	}
	if field == "expires_at" {
		return "expires_in"
	}
	return field
}
