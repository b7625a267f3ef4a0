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
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"keyward"
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
	s := &server{keys: cfg.Keys, auth: cfg.Auth, logger: cfg.Logger}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	return httpapi.Mount{Prefix: Prefix, Handler: s.newMux(), OpenAPI: openAPI}
}

// server answers the profile's routes.
type server struct {
	keys   keyward.KeyService
	auth   keyward.Authenticator
	logger *slog.Logger
}

// route is one endpoint: a method, a full ServeMux path pattern, the query
// parameters it reads and its handler. Every route needs a key.
type route struct {
	method  string
	path    string
	query   []string
	handler handlerFunc
}

// routes lists the profile's whole surface; openapi.json describes exactly
// these, and a test holds the two together.
func (s *server) routes() []route {
	return []route{
		{http.MethodPost, Prefix + "/v1/api-keys", nil, s.handleCreate},
		{http.MethodGet, Prefix + "/v1/api-keys", []string{"cursor", "limit"}, s.handleList},
		{http.MethodGet, Prefix + "/v1/api-keys/{id}", nil, s.handleGet},
		{http.MethodDelete, Prefix + "/v1/api-keys/{id}", nil, s.handleRevoke},
		{http.MethodPost, Prefix + "/v1/api-keys/{id}/revoke", nil, s.handleRevoke},
	}
}

// handlerFunc is a handler that returns its error for adapt to answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// newMux registers every route, a method-less pattern per path that
// answers 405 for the other methods, and a 404 for the rest of the prefix,
// so that nothing under the prefix answers ServeMux's plain text.
func (s *server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	methods := make(map[string][]string)
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.path, s.adapt(s.authenticate(checkQuery(rt.query, rt.handler))))
		methods[rt.path] = append(methods[rt.path], rt.method)
		if rt.method == http.MethodGet {
			// A GET pattern serves HEAD too.
			methods[rt.path] = append(methods[rt.path], http.MethodHead)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(methods)) {
		mux.Handle(path, s.adapt(methodNotAllowed(methods[path])))
	}
	mux.Handle(Prefix+"/", s.adapt(notFound))
	return mux
}

// adapt makes h an http.Handler that answers h's error in the envelope.
func (s *server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
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

// writeData answers data in the envelope with status 200.
func writeData(w http.ResponseWriter, r *http.Request, data any) error {
	return httpapi.WriteJSON(w, http.StatusOK, envelope{
		Code:      http.StatusOK,
		Data:      data,
		Message:   successMessage,
		RequestID: keyward.RequestInfoFromContext(r.Context()).RequestID,
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
	info := keyward.RequestInfoFromContext(r.Context())
	if !errors.As(err, new(*keyward.Error)) {
		s.logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method),
			slog.String("path", httpapi.RedactKeys(r.URL.Path)),
			slog.String("request_id", info.RequestID),
			slog.String("error", httpapi.RedactKeys(err.Error())),
		)
	}
	status := httpapi.ErrorStatusCode(keyward.ErrorCode(err))
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	var data any
	if fields := keyward.ErrorFields(err); len(fields) > 0 {
		redacted := make([]keyward.FieldError, len(fields))
		for i, f := range fields {
			redacted[i] = keyward.FieldError{Field: httpapi.RedactKeys(f.Field), Message: httpapi.RedactKeys(f.Message)}
		}
		data = errorData{Errors: redacted}
	}
	// The envelope holds only strings and numbers: encoding cannot fail.
	_ = httpapi.WriteJSON(w, status, envelope{
		Code:      status,
		Data:      data,
		Message:   httpapi.RedactKeys(keyward.ErrorMessage(err)),
		RequestID: info.RequestID,
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

// authenticate admits requests that present a key the Authenticator
// accepts, with its Principal in the context. Failures come out in the
// envelope.
func (s *server) authenticate(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		key, err := credential(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		p, err := s.auth.Authenticate(ctx, key, keyward.RequestInfoFromContext(ctx).RemoteIP)
		if err != nil {
			return err
		}
		return next(w, r.WithContext(httpapi.WithPrincipal(w, ctx, p)))
	}
}

// credential returns the key of "Authorization: Bearer <key>", the
// document's scheme, or of "X-API-Key: <key>", which /v1 accepts too.
func credential(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, key, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", keyward.Errorf(keyward.EUNAUTHORIZED, "The Authorization header must use the Bearer scheme.")
		}
		if key = strings.TrimSpace(key); key == "" {
			return "", keyward.Errorf(keyward.EUNAUTHORIZED, "The Bearer token is empty.")
		}
		return key, nil
	}
	if key := strings.TrimSpace(r.Header.Get("X-API-Key")); key != "" {
		return key, nil
	}
	return "", keyward.Errorf(keyward.EUNAUTHORIZED, "An API key is required: send it as Authorization: Bearer <key>.")
}

// checkQuery makes h reject a query parameter that is not one of names,
// or one given twice: a misspelt page size must not silently list the
// default page.
func checkQuery(names []string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.RawQuery == "" {
			return h(w, r)
		}
		values, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			// The parser's message quotes the input, which may hold a key.
			return keyward.Errorf(keyward.EINVALID, "The query string is malformed.")
		}
		var fields []keyward.FieldError
		for _, name := range slices.Sorted(maps.Keys(values)) {
			if len(fields) == maxFieldErrors {
				break
			}
			switch {
			case !slices.Contains(names, name):
				fields = append(fields, keyward.FieldError{Field: name, Message: "is not a known query parameter"})
			case len(values[name]) > 1:
				fields = append(fields, keyward.FieldError{Field: name, Message: "must not be repeated"})
			}
		}
		if fields != nil {
			return keyward.Invalid(fields...)
		}
		return h(w, r)
	}
}

// maxFieldErrors bounds the fields named in one answer, so that a query of
// thousands of bad names cannot make a much larger answer.
const maxFieldErrors = 10

// methodNotAllowed answers a known path asked with another method.
func methodNotAllowed(methods []string) handlerFunc {
	allow := strings.Join(slices.Sorted(slices.Values(methods)), ", ")
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return keyward.Errorf(keyward.EMETHOD, "This endpoint allows only %s.", allow)
	}
}

// notFound answers a path under the prefix that no route serves.
func notFound(w http.ResponseWriter, r *http.Request) error {
	return keyward.Errorf(keyward.ENOTFOUND, "No such endpoint.")
}
