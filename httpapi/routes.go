package httpapi

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"keyward"
)

// route is one endpoint: a method and a ServeMux path pattern, whether it
// is served without a key, the query parameters it reads, and its handler.
type route struct {
	method  string
	path    string
	public  bool
	query   []string
	handler HandlerFunc
}

// routes lists the whole API surface. openapi.json describes exactly these
// routes and their query parameters; a test holds the two together.
func (s *Server) routes() []route {
	return []route{
		{http.MethodGet, "/healthz", true, nil, s.handleHealthz},
		{http.MethodGet, "/readyz", true, nil, s.handleReadyz},
		{http.MethodGet, "/openapi.json", true, nil, s.handleOpenAPI},
		{http.MethodGet, "/metrics", true, nil, s.handleMetrics},

		{http.MethodPost, "/v1/keys", false, nil, s.handleCreateKey},
		{http.MethodGet, "/v1/keys", false, []string{"owner_id", "service_account_id", "revoked", "prefix", "cursor", "limit"}, s.handleFindKeys},
		{http.MethodGet, "/v1/keys/{id}", false, nil, s.handleFindKeyByID},
		{http.MethodPatch, "/v1/keys/{id}", false, nil, s.handleUpdateKey},
		{http.MethodDelete, "/v1/keys/{id}", false, nil, s.handleDeleteKey},
		{http.MethodPost, "/v1/keys/{id}/revoke", false, nil, s.handleRevokeKey},
		{http.MethodPost, "/v1/keys/{id}/rotate", false, nil, s.handleRotateKey},
		{http.MethodPost, "/v1/keys/{id}/credits", false, nil, s.handleUpdateCredits},
		{http.MethodGet, "/v1/keys/{id}/usage", false, []string{"from", "to", "bucket"}, s.handleFindKeyUsage},

		{http.MethodGet, "/v1/owners/{owner_id}", false, nil, s.handleFindOwner},
		{http.MethodPut, "/v1/owners/{owner_id}", false, nil, s.handleUpdateOwner},

		{http.MethodGet, "/v1/org/policy", false, nil, s.handleFindOrgPolicy},
		{http.MethodPut, "/v1/org/policy", false, nil, s.handleUpdateOrgPolicy},
		{http.MethodGet, "/v1/usage", false, []string{"from", "to", "bucket"}, s.handleFindUsage},

		{http.MethodPost, "/v1/service-accounts", false, nil, s.handleCreateServiceAccount},
		{http.MethodGet, "/v1/service-accounts", false, []string{"cursor", "limit"}, s.handleFindServiceAccounts},
		{http.MethodGet, "/v1/service-accounts/{id}", false, nil, s.handleFindServiceAccountByID},
		{http.MethodDelete, "/v1/service-accounts/{id}", false, nil, s.handleDeleteServiceAccount},

		{http.MethodPost, verifyPath, false, nil, s.handleVerify},
		{http.MethodGet, "/v1/whoami", false, nil, s.handleWhoAmI},
		{http.MethodGet, "/v1/audit-events", false, []string{"action", "target_id", "cursor", "limit"}, s.handleFindAuditEvents},
	}
}

// verifyPath is the hot path's route, which the access log treats apart.
const verifyPath = "/v1/verify"

// HandlerFunc is a handler that returns its error rather than writing it,
// so that one error writer alone shapes every error answer.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Adapt makes h an http.Handler that answers h's error with writeError.
func Adapt(h HandlerFunc, writeError func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, err)
		}
	})
}

// adapt makes h an http.Handler that answers h's error as a problem.
func (s *Server) adapt(h HandlerFunc) http.Handler {
	return Adapt(h, s.writeError)
}

// CheckQuery makes h reject a query string with a parameter that is not
// one of names, or with one given twice, as an EINVALID error naming each
// (at most ten): a misspelt filter such as owner=alice must not silently
// list everything, and a repeated one has no single meaning.
func CheckQuery(names []string, h HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		// Most requests, verify's among them, have no query at all.
		if r.URL.RawQuery != "" {
			if err := queryError(r.URL.RawQuery, names); err != nil {
				return err
			}
		}
		return h(w, r)
	}
}

// queryError returns the validation error of the query string raw, or nil
// when it holds only names, each once.
func queryError(raw string, names []string) error {
	values, err := url.ParseQuery(raw)
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
			errs = appendFieldError(errs, name, "is not a known query parameter")
		case len(values[name]) > 1:
			errs = appendFieldError(errs, name, "must not be repeated")
		}
	}
	if errs != nil {
		return keyward.Invalid(errs...)
	}
	return nil
}

// newMux registers every route and every mount.
func (s *Server) newMux() *http.ServeMux {
	var endpoints []Endpoint
	for _, rt := range s.routes() {
		h := CheckQuery(rt.query, rt.handler)
		if !rt.public {
			h = Authenticate(s.Auth, apiKey, h)
		}
		endpoints = append(endpoints, Endpoint{Method: rt.method, Path: rt.path, Handler: s.adapt(h)})
	}
	mux := NewMux(endpoints, "/", s.writeError)
	for _, m := range s.Mounts {
		mux.Handle(m.Prefix+"/", m.Handler)
		// Without this, ServeMux would redirect the bare prefix to the
		// subtree.
		mux.Handle(m.Prefix, Adapt(notFound, s.writeErrorAt))
	}
	return mux
}

// Endpoint is the handler of one method on one ServeMux path pattern.
type Endpoint struct {
	Method  string
	Path    string
	Handler http.Handler
}

// NewMux returns a ServeMux that serves endpoints and answers every other
// request to the subtree pattern root, such as "/" or "/compat/x/",
// through writeError. ServeMux itself answers unknown paths and wrong
// methods in plain text, so each path also gets a method-less pattern,
// which ServeMux prefers less than the method-specific ones, answering a
// 405 EMETHOD error with an Allow header; and root answers a 404 ENOTFOUND
// error.
func NewMux(endpoints []Endpoint, root string, writeError func(http.ResponseWriter, *http.Request, error)) *http.ServeMux {
	mux := http.NewServeMux()
	methods := make(map[string][]string)
	var paths []string
	for _, ep := range endpoints {
		mux.Handle(ep.Method+" "+ep.Path, ep.Handler)
		if _, ok := methods[ep.Path]; !ok {
			paths = append(paths, ep.Path)
		}
		methods[ep.Path] = append(methods[ep.Path], ep.Method)
		if ep.Method == http.MethodGet {
			// A GET pattern serves HEAD too.
			methods[ep.Path] = append(methods[ep.Path], http.MethodHead)
		}
	}
	for _, path := range paths {
		mux.Handle(path, Adapt(methodNotAllowed(methods[path]), writeError))
	}
	mux.Handle(root, Adapt(notFound, writeError))
	return mux
}

// methodNotAllowed answers a known path asked with another method.
func methodNotAllowed(methods []string) HandlerFunc {
	allow := strings.Join(slices.Sorted(slices.Values(methods)), ", ")
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return &keyward.Error{Code: keyward.EMETHOD, Message: "This endpoint allows only " + allow + "."}
	}
}

// notFound answers a path that no route serves.
func notFound(w http.ResponseWriter, r *http.Request) error {
	return keyward.Errorf(keyward.ENOTFOUND, "No such endpoint.")
}
