// Package compatapi holds what the compatibility profiles share: serving a
// profile's routes so that every answer under its prefix, errors included,
// has the profile's shape, and reading a list request's page.
package compatapi

import (
	"fmt"
	"net/http"
	"strconv"

	"keyward"
	"keyward/httpapi"
)

// Route is one endpoint of a profile: a method, a full ServeMux path
// pattern, the query parameters it reads (any other is rejected) and its
// handler. Every route needs a key.
type Route struct {
	Method  string
	Path    string
	Query   []string
	Handler httpapi.HandlerFunc
}

// Profile is what a profile serves and how it answers.
type Profile struct {
	// Prefix is the path the profile is served under, such as
	// "/compat/dispersed"; every route's path starts with it.
	Prefix string
	Routes []Route
	// OpenAPI is the profile's fragment of /openapi.json.
	OpenAPI []byte
	// Auth turns the presented key into the caller.
	Auth keyward.Authenticator
	// Credential returns the key a request presents, or the EUNAUTHORIZED
	// error to answer when it presents none where the profile reads it.
	Credential func(*http.Request) (string, error)
	// WriteError answers every error under Prefix in the profile's shape.
	WriteError func(http.ResponseWriter, *http.Request, error)
}

// Mount returns p as a mount of the REST API server. Each route
// authenticates first, then checks its query parameters; a known path
// asked with another method answers 405, any other path under the prefix
// 404, and the server's own answers under the prefix (the bare prefix, an
// unclean path, a panic) go through WriteError too.
func Mount(p Profile) httpapi.Mount {
	endpoints := make([]httpapi.Endpoint, 0, len(p.Routes))
	for _, rt := range p.Routes {
		h := httpapi.Authenticate(p.Auth, p.Credential, httpapi.CheckQuery(rt.Query, rt.Handler))
		endpoints = append(endpoints, httpapi.Endpoint{Method: rt.Method, Path: rt.Path, Handler: httpapi.Adapt(h, p.WriteError)})
	}
	return httpapi.Mount{
		Prefix:     p.Prefix,
		Handler:    httpapi.NewMux(endpoints, p.Prefix+"/", p.WriteError),
		OpenAPI:    p.OpenAPI,
		WriteError: p.WriteError,
	}
}

// KeyPage returns the page of keys a list request asks for with its query
// parameters cursor, the previous page's next cursor, and limit, an
// integer from 1 to keyward.MaxPageLimit (the service's default when
// absent).
func KeyPage(r *http.Request) (keyward.KeyFilter, error) {
	q := r.URL.Query()
	f := keyward.KeyFilter{Cursor: q.Get("cursor")}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > keyward.MaxPageLimit {
			return keyward.KeyFilter{}, keyward.Invalid(keyward.FieldError{Field: "limit", Message: fmt.Sprintf("must be an integer from 1 to %d", keyward.MaxPageLimit)})
		}
		f.Limit = n
	}
	return f, nil
}

// NonNil returns s, or an empty slice when s is nil, so that a list member
// of an answer is [] rather than null.
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
