// Package hellgate serves seed 002's API, Hellgate's "create API key"
// (POST /api/admin/api-keys, authenticated by an x-api-key header), under
// /compat/hellgate, with list, get and delete siblings. It maps shapes only:
// each scope is the Keyward permission of the same name, expires_in the
// key's lifetime and key_value its secret, and every rule (validation,
// non-escalation, audit, cache invalidation) is keyward.KeyService's.
package hellgate

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
	s := &server{keys: cfg.Keys, auth: cfg.Auth, logger: cfg.Logger}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	return httpapi.Mount{Prefix: Prefix, Handler: s.newMux(), OpenAPI: openAPI}
}

type server struct {
	keys   keyward.KeyService
	auth   keyward.Authenticator
	logger *slog.Logger
}

// route is one endpoint: a method, a ServeMux path pattern, the query
// parameters it reads and its handler. Every route needs a key.
type route struct {
	method  string
	path    string
	query   []string
	handler handlerFunc
}

// routes lists the whole surface of the profile.
func (s *server) routes() []route {
	return []route{
		{http.MethodPost, keysPath, nil, s.handleCreateKey},
		{http.MethodGet, keysPath, []string{"cursor", "limit"}, s.handleFindKeys},
		{http.MethodGet, keysPath + "/{id}", nil, s.handleFindKeyByID},
		{http.MethodDelete, keysPath + "/{id}", nil, s.handleRevokeKey},
	}
}

// handlerFunc returns its error rather than writing it, so that adapt
// alone writes errors, in the profile's shape.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// newMux registers every route. A method-less pattern per path answers
// other methods with 405, and the prefix's subtree answers 404, so that
// ServeMux's plain-text answers never reach a client.
func (s *server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	methods := make(map[string][]string)
	var paths []string
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.path, s.adapt(s.authenticate(checkQuery(rt.query, rt.handler))))
		if _, ok := methods[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
		if rt.method == http.MethodGet {
			// A GET pattern serves HEAD too.
			methods[rt.path] = append(methods[rt.path], http.MethodHead)
		}
	}
	for _, path := range paths {
		mux.Handle(path, s.adapt(methodNotAllowed(methods[path])))
	}
	mux.Handle(Prefix+"/", s.adapt(notFound))
	return mux
}

// adapt makes h an http.Handler that answers h's error in the profile's
// shape.
func (s *server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// authenticate admits a request whose x-api-key header holds a key the
// Authenticator accepts. The document's only credential is that header, so
// an Authorization header is not read: a client sending one alone is told
// where the key goes.
func (s *server) authenticate(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		key := strings.TrimSpace(r.Header.Get("x-api-key"))
		if key == "" {
			if r.Header.Get("Authorization") != "" {
				return keyward.Errorf(keyward.EUNAUTHORIZED, "This API reads the key from the x-api-key header only, not from Authorization.")
			}
			return keyward.Errorf(keyward.EUNAUTHORIZED, "An API key is required in the x-api-key header.")
		}
		ctx := r.Context()
		p, err := s.auth.Authenticate(ctx, key, keyward.RequestInfoFromContext(ctx).RemoteIP)
		if err != nil {
			return err
		}
		return next(w, r.WithContext(httpapi.WithPrincipal(w, ctx, p)))
	}
}

// maxFieldErrors bounds the field errors of one answer, so that thousands
// of bad names or scopes cannot make a much larger answer.
const maxFieldErrors = 10

// checkQuery makes h reject a query parameter that is not one of names, or
// one given twice: a misspelt parameter must not be silently ignored.
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
		var errs []keyward.FieldError
		for _, name := range slices.Sorted(maps.Keys(values)) {
			if len(errs) == maxFieldErrors {
				break
			}
			switch {
			case !slices.Contains(names, name):
				errs = append(errs, keyward.FieldError{Field: name, Message: "is not a known query parameter"})
			case len(values[name]) > 1:
				errs = append(errs, keyward.FieldError{Field: name, Message: "must not be repeated"})
			}
		}
		if errs != nil {
			return keyward.Invalid(errs...)
		}
		return h(w, r)
	}
}

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
	info := keyward.RequestInfoFromContext(r.Context())
	if !errors.As(err, new(*keyward.Error)) {
		s.logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method),
			slog.String("path", httpapi.RedactKeys(r.URL.Path)),
			slog.String("request_id", info.RequestID),
			slog.String("error", httpapi.RedactKeys(err.Error())),
		)
	}
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
		RequestID: info.RequestID,
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
