package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"keyward"
)

// route is one endpoint: a method and a ServeMux path pattern, whether it
// is served without a key, and its handler.
type route struct {
	method  string
	path    string
	public  bool
	handler handlerFunc
}

// routes lists the whole API surface. openapi.json describes exactly these
// routes; a test holds the two together.
func (s *Server) routes() []route {
	return []route{
		{http.MethodGet, "/healthz", true, s.handleHealthz},
		{http.MethodGet, "/readyz", true, s.handleReadyz},
		{http.MethodGet, "/openapi.json", true, s.handleOpenAPI},

		{http.MethodPost, "/v1/keys", false, s.handleCreateKey},
		{http.MethodGet, "/v1/keys", false, s.handleFindKeys},
		{http.MethodGet, "/v1/keys/{id}", false, s.handleFindKeyByID},
		{http.MethodPatch, "/v1/keys/{id}", false, s.handleUpdateKey},
		{http.MethodDelete, "/v1/keys/{id}", false, s.handleDeleteKey},
		{http.MethodPost, "/v1/keys/{id}/revoke", false, s.handleRevokeKey},

		{http.MethodPost, "/v1/service-accounts", false, s.handleCreateServiceAccount},
		{http.MethodGet, "/v1/service-accounts", false, s.handleFindServiceAccounts},
		{http.MethodGet, "/v1/service-accounts/{id}", false, s.handleFindServiceAccountByID},
		{http.MethodDelete, "/v1/service-accounts/{id}", false, s.handleDeleteServiceAccount},

		{http.MethodPost, "/v1/verify", false, s.handleVerify},
		{http.MethodGet, "/v1/whoami", false, s.handleWhoAmI},
		{http.MethodGet, "/v1/audit-events", false, s.handleFindAuditEvents},
	}
}

// handlerFunc is a handler that returns its error rather than writing it,
// so that adapt alone turns errors into problem documents.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// adapt makes h an http.Handler that answers h's error as a problem.
func (s *Server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// newMux registers every route. ServeMux answers unknown paths and wrong
// methods in plain text, so each path also gets a method-less pattern, which
// ServeMux prefers less than the method-specific ones, answering a 405
// problem; and "/" catches the rest with a 404 problem.
func (s *Server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	methods := make(map[string][]string)
	var paths []string
	for _, rt := range s.routes() {
		h := s.adapt(rt.handler)
		if !rt.public {
			h = s.authenticate(h)
		}
		mux.Handle(rt.method+" "+rt.path, h)
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
	mux.Handle("/", s.adapt(notFound))
	return mux
}

// methodNotAllowed answers a known path asked with another method.
func methodNotAllowed(methods []string) handlerFunc {
	methods = slices.Sorted(slices.Values(methods))
	allow := strings.Join(methods, ", ")
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return &keyward.Error{Code: keyward.EMETHOD, Message: "This endpoint allows only " + allow + "."}
	}
}

// notFound answers a path that no route serves.
func notFound(w http.ResponseWriter, r *http.Request) error {
	return keyward.Errorf(keyward.ENOTFOUND, "No such endpoint.")
}
