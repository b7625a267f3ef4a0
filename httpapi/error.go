package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"keyward"
)

// codes maps each keyward error code to its HTTP status. It is the only
// place where that mapping lives: problem bodies carry the code itself, so
// the Go client needs no reverse table but for answers that are not
// problems (a proxy's 502, say).
var codes = map[string]int{
	keyward.EINVALID:      http.StatusBadRequest,
	keyward.EUNAUTHORIZED: http.StatusUnauthorized,
	keyward.EFORBIDDEN:    http.StatusForbidden,
	keyward.ENOTFOUND:     http.StatusNotFound,
	keyward.EMETHOD:       http.StatusMethodNotAllowed,
	keyward.ECONFLICT:     http.StatusConflict,
	keyward.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	keyward.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	keyward.EINTERNAL:     http.StatusInternalServerError,
	keyward.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// ErrorStatusCode returns the HTTP status of a keyward error code; unknown
// codes are internal errors.
func ErrorStatusCode(code string) int {
	if status, ok := codes[code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// problem is an RFC 9457 problem document with Keyward's extension members:
// the stable error code, the request id and the invalid fields.
type problem struct {
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Status    int                  `json:"status"`
	Detail    string               `json:"detail"`
	Code      string               `json:"code"`
	RequestID string               `json:"request_id"`
	Errors    []keyward.FieldError `json:"errors,omitempty"`
}

// writeError answers err as a problem document. Errors that are not a
// *keyward.Error are unexpected: they are logged with their text, and the
// client sees only "Internal error.". Keys are redacted from the answer:
// a message may quote input, and answers pass through proxies that log.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := keyward.ErrorCode(err)
	status := ErrorStatusCode(code)
	info := keyward.RequestInfoFromContext(r.Context())
	LogUnexpected(s.logger(), r, err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	p := problem{
		// about:blank says the problem means no more than its status; the
		// code member carries Keyward's finer meaning.
		Type:      "about:blank",
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    redactKeys(keyward.ErrorMessage(err)),
		Code:      code,
		RequestID: info.RequestID,
		Errors:    redactFields(keyward.ErrorFields(err)),
	}
	// A problem holds only strings and numbers: encoding it cannot fail.
	_ = writeBody(w, status, problemType, p)
}

// LogUnexpected logs err, with keys redacted, when it is not a
// *keyward.Error, or is an unavailable store: the client is answered only
// "Internal error." or that the database is unreachable, so the cause must
// be in the log. An outage fails every request at once, so unavailable
// errors are logged at most once per unavailableLogEvery, with the number
// left out since. Mounts that shape their own error answers call it too. A
// nil logger means slog.Default().
func LogUnexpected(logger *slog.Logger, r *http.Request, err error) {
	unavailable := keyward.ErrorCode(err) == keyward.EUNAVAILABLE
	// Any other *keyward.Error is an answer, not a fault.
	if errors.As(err, new(*keyward.Error)) && !unavailable {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", redactKeys(r.URL.Path)),
		slog.String("request_id", keyward.RequestInfoFromContext(r.Context()).RequestID),
		slog.String("error", redactKeys(err.Error())),
	}
	if unavailable {
		skipped, ok := unavailableLog.allow(time.Now())
		if !ok {
			return
		}
		attrs = append(attrs, slog.Int64("similar_not_logged", skipped))
	}
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(r.Context(), slog.LevelError, "request failed", attrs...)
}

// unavailableLogEvery spaces the log lines of an outage.
const unavailableLogEvery = time.Second

var unavailableLog logSampler

// logSampler lets one line through per unavailableLogEvery and counts the
// others.
type logSampler struct {
	mu      sync.Mutex
	last    time.Time
	skipped int64
}

// allow reports whether a line may be logged at now, and how many were
// left out since the last one that was.
func (s *logSampler) allow(now time.Time) (skipped int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.last) < unavailableLogEvery {
		s.skipped++
		return 0, false
	}
	skipped, s.skipped, s.last = s.skipped, 0, now
	return skipped, true
}
