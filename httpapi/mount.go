package httpapi

import (
	"context"
	"net/http"

	"keyward"
)

// Mount is a handler served under Prefix, such as "/compat/dispersed"; it
// sees the whole path. OpenAPI, when set, is a JSON object whose "tags",
// "paths" and "components" members join those of /openapi.json.
type Mount struct {
	Prefix  string
	Handler http.Handler
	OpenAPI []byte
	// WriteError, when set, answers in the mount's shape the errors that
	// the server answers under Prefix without reaching Handler: a 404
	// ENOTFOUND for the bare prefix and for a path that is not in canonical
	// form, and a 500 EINTERNAL for a panic. Nil answers them as RFC 9457
	// problems.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
}

// The helpers below, with Adapt, Authenticate, Credential, CheckQuery and
// NewMux, give a mount the same strict decoding, buffered encoding,
// authentication, query checking, redaction and access logging as the
// routes of routes.go, while it shapes its own answers.

// DecodeJSON reads r's body into v, a pointer to a struct, as every route
// does: at most 64 KiB, Content-Type application/json, one object with the
// member names of v's json tags only, each once. Every failure is a
// *keyward.Error with a 4xx code; bad input names its member.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSON(w, r, v, false)
}

// WriteJSON answers v as a JSON document with the given status; it returns
// only encoding errors, before anything is written.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	return writeJSON(w, status, v)
}

// RedactKeys replaces every well-formed key in s with a redaction mark;
// errors that quote input pass through it before they are answered.
func RedactKeys(s string) string {
	return redactKeys(s)
}

// RedactFields returns fields with RedactKeys applied to each name and
// message, copying them only when one holds a key.
func RedactFields(fields []keyward.FieldError) []keyward.FieldError {
	return redactFields(fields)
}

// noStore is the Cache-Control of every authenticated answer.
var noStore = []string{"no-store"}

// WithPrincipal returns ctx carrying p, the caller a mount has
// authenticated, and names p's key in the request's access log line. It
// marks the answer no-store: it describes keys and may hold a secret.
func WithPrincipal(w http.ResponseWriter, ctx context.Context, p *keyward.Principal) context.Context {
	if rec := recorderOf(w); rec != nil {
		rec.keyID = p.KeyID
	}
	w.Header()["Cache-Control"] = noStore
	return keyward.NewContextWithPrincipal(ctx, p)
}
