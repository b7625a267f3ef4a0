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
	return httpapi.Mount{Prefix: Prefix, Handler: s.newMux(), OpenAPI: openAPI}
}

// server serves the profile's routes.
type server struct {
	cfg Config
}

func (s *server) logger() *slog.Logger {
	if s.cfg.Logger != nil {
		return s.cfg.Logger
	}
	return slog.Default()
}

// handlerFunc is a handler that returns its error, so that adapt alone
// writes errors in the profile's shape.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one endpoint: a method, a ServeMux path pattern, the query
// parameters it reads (any other is rejected) and its handler. Every route
// needs a key.
type route struct {
	method  string
	path    string
	query   []string
	handler handlerFunc
}

// routes lists the profile's whole surface.
func (s *server) routes() []route {
	return []route{
		{http.MethodPost, Prefix + "/v1/api-keys", nil, s.handleCreate},
		{http.MethodGet, Prefix + "/v1/api-keys", []string{"limit", "cursor"}, s.handleList},
		{http.MethodGet, Prefix + "/v1/api-keys/{id}", nil, s.handleGet},
		{http.MethodDelete, Prefix + "/v1/api-keys/{id}", nil, s.handleRevoke},
	}
}

// newMux registers every route. ServeMux answers unknown paths and wrong
// methods in plain text, so each path also gets a method-less pattern
// answering 405, and the prefix's subtree a 404, both in the profile's
// error shape.
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
	for _, p := range paths {
		mux.Handle(p, s.adapt(methodNotAllowed(methods[p])))
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

// authenticate admits requests whose key the Authenticator accepts, with
// its Principal in the context for the service. Which permissions a route
// needs is the service's business.
func (s *server) authenticate(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		key, err := credential(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		p, err := s.cfg.Auth.Authenticate(ctx, key, keyward.RequestInfoFromContext(ctx).RemoteIP)
		if err != nil {
			return err
		}
		return next(w, r.WithContext(httpapi.WithPrincipal(w, ctx, p)))
	}
}

// credential returns the key presented as "Authorization: Bearer <key>" or
// as "X-API-Key: <key>", the two ways /v1 accepts: the document shows no
// authentication, so a client keeps whichever it already sends.
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
	return "", keyward.Errorf(keyward.EUNAUTHORIZED, "An API key is required: send it as Authorization: Bearer <key> or as X-API-Key: <key>.")
}

// maxParamErrors bounds the errors of one answer, so that a query string
// of thousands of bad names cannot make a much larger answer.
const maxParamErrors = 10

// checkQuery makes h reject a query parameter that is not one of names, or
// one given twice, as /v1 does: a misspelt parameter must not silently
// change what is listed.
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
			if len(errs) == maxParamErrors {
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
	info := keyward.RequestInfoFromContext(r.Context())
	if !errors.As(err, new(*keyward.Error)) {
		s.logger().LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method),
			slog.String("path", httpapi.RedactKeys(r.URL.Path)),
			slog.String("request_id", info.RequestID),
			slog.String("error", httpapi.RedactKeys(err.Error())),
		)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	e := apiError{
		Type:      errorType(code),
		Code:      code,
		Message:   httpapi.RedactKeys(keyward.ErrorMessage(err)),
		Errors:    []paramError{},
		RequestID: info.RequestID,
	}
	for _, f := range keyward.ErrorFields(err) {
		e.Errors = append(e.Errors, paramError{Param: httpapi.RedactKeys(f.Field), Message: httpapi.RedactKeys(f.Message)})
	}
	if len(e.Errors) > 0 {
		e.Param = &e.Errors[0].Param
	}
	// The body holds only strings: encoding it cannot fail.
	_ = httpapi.WriteJSON(w, status, errorBody{Error: e})
}
