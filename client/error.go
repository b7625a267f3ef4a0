package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"keyward"
)

// APIError is a call the server answered with a non-2xx status. It unwraps
// to the *keyward.Error the server reported, so keyward.ErrorCode,
// keyward.ErrorMessage, keyward.ErrorFields and errors.As work on it.
type APIError struct {
	// Err holds the code, message and field errors.
	Err *keyward.Error
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// RequestID names the request in the server's logs and audit rows;
	// empty when the answer carried none.
	RequestID string
}

// Error returns the message with its code, status and request id.
func (e *APIError) Error() string {
	s := fmt.Sprintf("keyward: %s (code %s, status %d", e.Err.Message, e.Err.Code, e.StatusCode)
	if e.RequestID != "" {
		s += ", request " + e.RequestID
	}
	return s + ")"
}

// Unwrap returns the domain error.
func (e *APIError) Unwrap() error { return e.Err }

// RequestID returns the server's request id of a failed call, and "" when
// err holds no *APIError or the server sent none.
func RequestID(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		return e.RequestID
	}
	return ""
}

// requestIDHeader is where the server repeats a request's id; it is the
// fallback when an error body is not a problem document.
const requestIDHeader = "X-Request-Id"

// maxErrorBody bounds how much of an error answer is read: enough for any
// problem document, little enough that a misbehaving proxy cannot make the
// client buffer a large page.
const maxErrorBody = 64 << 10

// problem holds the members of an RFC 9457 problem document that the
// client uses: the standard title and detail, and Keyward's extensions.
type problem struct {
	Title     string               `json:"title"`
	Detail    string               `json:"detail"`
	Code      string               `json:"code"`
	RequestID string               `json:"request_id"`
	Errors    []keyward.FieldError `json:"errors"`
}

// statusCodes maps the statuses a server or a proxy in front of it may
// answer without a problem body to the code the server would have used.
var statusCodes = map[int]string{
	http.StatusBadRequest:            keyward.EINVALID,
	http.StatusUnauthorized:          keyward.EUNAUTHORIZED,
	http.StatusForbidden:             keyward.EFORBIDDEN,
	http.StatusNotFound:              keyward.ENOTFOUND,
	http.StatusMethodNotAllowed:      keyward.EMETHOD,
	http.StatusConflict:              keyward.ECONFLICT,
	http.StatusRequestEntityTooLarge: keyward.ETOOLARGE,
	http.StatusUnsupportedMediaType:  keyward.EUNSUPPORTED,
	http.StatusServiceUnavailable:    keyward.EUNAVAILABLE,
}

// codeForStatus returns the code of an answer that did not name one.
func codeForStatus(status int) string {
	if code, ok := statusCodes[status]; ok {
		return code
	}
	return keyward.EINTERNAL
}

// responseError builds the *APIError of a non-2xx answer. A problem body
// gives the code, message, fields and request id; anything else (a proxy's
// page, a plain-text error) is mapped from the status alone.
func responseError(res *http.Response) *APIError {
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	e := &APIError{
		Err:        &keyward.Error{Code: codeForStatus(res.StatusCode)},
		StatusCode: res.StatusCode,
		RequestID:  res.Header.Get(requestIDHeader),
	}
	if p, ok := parseProblem(res.Header.Get("Content-Type"), body); ok {
		if p.Code != "" {
			e.Err.Code = p.Code
		}
		e.Err.Message = p.Detail
		if e.Err.Message == "" {
			e.Err.Message = p.Title
		}
		e.Err.Fields = p.Errors
		if p.RequestID != "" {
			e.RequestID = p.RequestID
		}
	}
	if e.Err.Message == "" {
		e.Err.Message = fallbackMessage(res, body)
	}
	return e
}

// parseProblem decodes body when it is a JSON object of problem members.
func parseProblem(contentType string, body []byte) (problem, bool) {
	var p problem
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "application/problem+json" && mt != "application/json" {
		return p, false
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, false
	}
	return p, p.Code != "" || p.Title != "" || p.Detail != ""
}

// fallbackMessage is the message of an answer without a problem: a short
// plain-text body (what http.Error writes), else the status text.
func fallbackMessage(res *http.Response, body []byte) string {
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if text := strings.TrimSpace(string(body)); mt == "text/plain" && text != "" && len(text) <= 200 && !strings.Contains(text, "\n") {
		return text
	}
	if text := http.StatusText(res.StatusCode); text != "" {
		return text
	}
	return res.Status
}
