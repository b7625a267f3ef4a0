package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"

	"keyward"
)

// middleware wraps a handler with behaviour that many routes share.
type middleware func(http.Handler) http.Handler

// chain wraps h in mws; the first one is the outermost.
func chain(h http.Handler, mws ...middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// requestIDHeader carries a request's id both ways, so that a caller's own
// id appears in Keyward's logs and audit rows.
const requestIDHeader = "X-Request-Id"

// nosniff is the X-Content-Type-Options of every answer.
var nosniff = []string{"nosniff"}

// maxRequestIDLen bounds a reused incoming request id.
const maxRequestIDLen = 128

// withRequestInfo names the request, answers its id on every response and
// puts the keyward.RequestInfo that services record into the context: the
// client's address (see clientIP) and user agent. The user agent, which
// lands in audit rows, is bounded and made printable.
func (s *Server) withRequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !validRequestID(id) {
			// crypto/rand cannot fail (Go 1.24+), so neither can NewV7.
			id = uuid.Must(uuid.NewV7()).String()
		}
		h := w.Header()
		// Assigned rather than Set: the names are canonical already, and a
		// shared value saves an allocation on every request.
		h[requestIDHeader] = []string{id}
		h["X-Content-Type-Options"] = nosniff
		info := keyward.RequestInfo{RequestID: id, RemoteIP: s.clientIP(r), UserAgent: keyward.CleanUserAgent(r.UserAgent())}
		next.ServeHTTP(w, r.WithContext(keyward.NewContextWithRequestInfo(r.Context(), info)))
	})
}

// validRequestID reports whether an incoming id is safe to reuse: short,
// and made of characters that cannot forge a log line or a header.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// responseRecorder remembers the status of a response and the key that
// made the request, for the access log.
type responseRecorder struct {
	http.ResponseWriter
	status int
	keyID  string
}

// WriteHeader records the first status written.
func (w *responseRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write records the implicit 200 of a body written without WriteHeader.
func (w *responseRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *responseRecorder) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

// recorderOf returns the responseRecorder that w is or wraps, or nil.
func recorderOf(w http.ResponseWriter) *responseRecorder {
	for {
		switch v := w.(type) {
		case *responseRecorder:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// logRequests writes one access log line per request, with the client's
// address: at debug level for a verification answered 200, whatever its
// verdict, and at info for every other request. It logs the path, with
// keys redacted, but never the query string, headers or bodies: any of them
// may hold a key.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &responseRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelInfo
		if status == http.StatusOK && r.Method == http.MethodPost && r.URL.Path == verifyPath {
			// Verifications are the bulk of the traffic, and their answers
			// are counted in the metrics and the usage figures.
			level = slog.LevelDebug
		}
		if !s.logger().Enabled(r.Context(), level) {
			return
		}
		info := keyward.RequestInfoFromContext(r.Context())
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", redactKeys(r.URL.Path)),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", info.RequestID),
		}
		if info.RemoteIP.IsValid() {
			attrs = append(attrs, slog.String("remote_ip", info.RemoteIP.String()))
		}
		if rec.keyID != "" {
			attrs = append(attrs, slog.String("key_id", rec.keyID))
		}
		s.logger().LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

// recoverPanics turns a panicking handler into a logged 500 problem, or a
// 500 in the shape of the mount it is under, so one bad request cannot take
// the connection's other work down with it.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				// net/http's own signal to drop the connection silently.
				panic(v)
			}
			s.logger().LogAttrs(r.Context(), slog.LevelError, "panic",
				slog.String("method", r.Method),
				slog.String("path", redactKeys(r.URL.Path)),
				slog.String("request_id", keyward.RequestInfoFromContext(r.Context()).RequestID),
				// The panic may quote the input it choked on.
				slog.String("panic", redactKeys(fmt.Sprint(v))),
				slog.String("stack", string(debug.Stack())),
			)
			if rec, ok := w.(*responseRecorder); ok && rec.status != 0 {
				// The status line is out: the client sees a cut-off answer.
				return
			}
			s.writeErrorAt(w, r, keyward.Errorf(keyward.EINTERNAL, "Internal error."))
		}()
		next.ServeHTTP(w, r)
	})
}

// rejectUncleanPaths answers 404 to a path that is not in canonical form:
// one with an empty, "." or ".." segment or a trailing slash. ServeMux
// would answer those with a redirect in HTML to the cleaned path. No route
// ends in a slash, so one that does names nothing. Checking the unescaped
// path suffices: an unclean escaped path (what ServeMux cleans) unescapes
// to an unclean path, and an escaped "%2E%2E" segment is refused too.
func (s *Server) rejectUncleanPaths(next http.Handler) http.Handler {
	unclean := Adapt(notFound, s.writeErrorAt)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != path.Clean(p) {
			unclean.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeErrorAt answers err with the WriteError of the mount whose prefix
// r's path is under, and as a problem elsewhere. It writes the answers that
// httpapi gives in a mount's place (its bare prefix, an unclean path, a
// panic), so that a client of a mount sees one error shape. The path is
// matched as sent: "/compat/x/../v1" is under "/compat/x".
func (s *Server) writeErrorAt(w http.ResponseWriter, r *http.Request, err error) {
	for _, m := range s.Mounts {
		if m.WriteError != nil && (r.URL.Path == m.Prefix || strings.HasPrefix(r.URL.Path, m.Prefix+"/")) {
			m.WriteError(w, r, err)
			return
		}
	}
	s.writeError(w, r, err)
}

// Authenticate makes next admit only requests that present a key, as
// credential returns it, that auth accepts, with its Principal in the
// context (see WithPrincipal). Which permissions a route needs is the
// services' business, not the transport's.
func Authenticate(auth keyward.Authenticator, credential func(*http.Request) (string, error), next HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		key, err := credential(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		p, err := auth.Authenticate(ctx, key, keyward.RequestInfoFromContext(ctx).RemoteIP)
		if err != nil {
			return err
		}
		return next(w, r.WithContext(WithPrincipal(w, ctx, p)))
	}
}

// MissingKeyMessage is the message of the EUNAUTHORIZED error of a /v1
// request that presents no key; a mount that reads the key where /v1 does
// answers it too.
const MissingKeyMessage = "An API key is required: send it as Authorization: Bearer <key> or as X-API-Key: <key>."

// apiKey returns the key of a /v1 request.
func apiKey(r *http.Request) (string, error) {
	return Credential(r, MissingKeyMessage)
}

// Credential returns the key presented as "Authorization: Bearer <key>" or
// as "X-API-Key: <key>", the two ways /v1 accepts. Without either, it
// returns an EUNAUTHORIZED error with the message missing, which tells the
// client where the key goes.
func Credential(r *http.Request, missing string) (string, error) {
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
	return "", &keyward.Error{Code: keyward.EUNAUTHORIZED, Message: missing}
}
