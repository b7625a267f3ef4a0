package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"keyward"
)

// Media types of the bodies the API reads and writes.
const (
	jsonType    = "application/json"
	problemType = "application/problem+json"
)

// jsonSpace is the whitespace that JSON allows around a value.
const jsonSpace = " \t\r\n"

// maxBodySize bounds every request body. The largest legitimate input, a
// key with its permissions, IP ranges and metadata, fits many times over.
const maxBodySize = 64 << 10

// maxPooledBuffer keeps a buffer that grew for one large answer (a page of
// a thousand keys) from being held by the pool for the life of the process.
const maxPooledBuffer = 1 << 20

// buffers recycles request and response buffers: the verify route reads and
// writes one body per call and should not allocate a new buffer each time.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer {
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	return buf
}

func putBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuffer {
		buffers.Put(buf)
	}
}

// writeJSON answers v as a JSON document with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	return writeBody(w, status, jsonType, v)
}

// writeBody encodes v before writing the status line, so that an encoding
// failure still becomes a clean 500 problem rather than a truncated 2xx.
// It returns only encoding errors: a failed write means the client has gone
// and there is nobody left to tell.
func writeBody(w http.ResponseWriter, status int, contentType string, v any) error {
	buf := getBuffer()
	defer putBuffer(buf)
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// decodeJSON reads r's JSON body into v, a pointer to a struct. The body is
// at most maxBodySize bytes, must be declared application/json and must be
// a single object with known fields only. An empty body is an error unless
// optional is set, in which case v is left as it is. Every failure is a
// *keyward.Error with a 4xx code; bad input names its field.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	buf := getBuffer()
	defer putBuffer(buf)
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBodySize)); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return keyward.Errorf(keyward.ETOOLARGE, "The request body exceeds %d KiB.", maxBodySize>>10)
		}
		return keyward.Errorf(keyward.EINVALID, "The request body could not be read.")
	}
	body := bytes.Trim(buf.Bytes(), jsonSpace)
	if len(body) == 0 {
		if optional {
			return nil
		}
		return keyward.Errorf(keyward.EINVALID, "A JSON request body is required.")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != jsonType {
		return keyward.Errorf(keyward.EUNSUPPORTED, "The request body must be sent as Content-Type: application/json.")
	}
	return decodeBody(body, v)
}

// decodeBody decodes body, which is not empty, into v.
func decodeBody(body []byte, v any) error {
	if body[0] != '{' {
		return keyward.Errorf(keyward.EINVALID, "The request body must be a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(body, v, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return keyward.Errorf(keyward.EINVALID, "The request body must hold one JSON object and nothing after it.")
	}
	return nil
}

// decodeError turns an error of decoding body into v into a client error,
// naming the offending field whenever the input has one.
func decodeError(body []byte, v any, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return keyward.Errorf(keyward.EINVALID, "The request body is not valid JSON: %s (at byte %d).", syntax.Error(), syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return keyward.Errorf(keyward.EINVALID, "The request body is not valid JSON: it ends too early.")
	case errors.As(err, &typ) && typ.Field != "":
		return fieldError(v, typ.Field)
	}
	if name, ok := unknownField(err); ok {
		return keyward.Invalid(keyward.FieldError{Field: name, Message: "is not a known field"})
	}
	// A field's own UnmarshalJSON (time.Time, keyward.OptionalTime) fails
	// without saying which field it was: find it by decoding field by field.
	if name, ok := failingField(body, v); ok {
		return fieldError(v, name)
	}
	return keyward.Errorf(keyward.EINVALID, "The request body is invalid.")
}

// unknownField returns the name in the error that DisallowUnknownFields
// causes; encoding/json has no error type for it.
func unknownField(err error) (string, bool) {
	quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return "", false
	}
	name, err := strconv.Unquote(quoted)
	return name, err == nil
}

// failingField returns the name of the first member of the object body
// that does not decode on its own into a new value of v's type.
func failingField(body []byte, v any) (string, bool) {
	t := reflect.TypeOf(v).Elem()
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return "", false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", false
		}
		one, err := json.Marshal(map[string]json.RawMessage{name: raw})
		if err != nil {
			return "", false
		}
		if json.Unmarshal(one, reflect.New(t).Interface()) != nil {
			return name, true
		}
	}
	return "", false
}

// fieldError is the validation error of the member name of v, saying what
// its value must be.
func fieldError(v any, name string) error {
	return keyward.Invalid(keyward.FieldError{Field: name, Message: expectation(fieldType(reflect.TypeOf(v).Elem(), name))})
}

// fieldType returns the type of the field of struct type t that decodes
// the JSON member name, matched the way encoding/json matches it; nil when
// there is none.
func fieldType(t reflect.Type, name string) reflect.Type {
	var folded reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f.Type
		}
		if folded == nil && strings.EqualFold(tag, name) {
			folded = f.Type
		}
	}
	return folded
}

var (
	timeType         = reflect.TypeFor[time.Time]()
	optionalTimeType = reflect.TypeFor[keyward.OptionalTime]()
)

// expectation describes the JSON values a field of type t accepts.
func expectation(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "has an invalid value"
	}
	if t == timeType || t == optionalTimeType {
		return "must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z"
	}
	switch t.Kind() {
	case reflect.String:
		return "must be a string"
	case reflect.Bool:
		return "must be true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "must be an integer"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "must be an array of strings"
		}
		return "must be an array"
	case reflect.Map, reflect.Struct:
		return "must be an object"
	}
	return "has an invalid value"
}

// query reads URL query parameters, collecting every invalid one so that a
// single answer names them all.
type query struct {
	values url.Values
	errs   []keyward.FieldError
}

func newQuery(r *http.Request) *query {
	return &query{values: r.URL.Query()}
}

// get returns a parameter; absent and empty are the same.
func (q *query) get(name string) string {
	return q.values.Get(name)
}

// limit returns the page size, 0 (the service's default) when absent.
func (q *query) limit() int {
	if !q.values.Has("limit") {
		return 0
	}
	n, err := strconv.Atoi(q.values.Get("limit"))
	if err != nil || n < 1 || n > keyward.MaxPageLimit {
		q.errs = append(q.errs, keyward.FieldError{Field: "limit", Message: fmt.Sprintf("must be an integer from 1 to %d", keyward.MaxPageLimit)})
		return 0
	}
	return n
}

// boolean returns a true|false parameter, nil when absent.
func (q *query) boolean(name string) *bool {
	if !q.values.Has(name) {
		return nil
	}
	switch q.values.Get(name) {
	case "true":
		return new(true)
	case "false":
		return new(false)
	}
	q.errs = append(q.errs, keyward.FieldError{Field: name, Message: "must be true or false"})
	return nil
}

// err returns the validation error of every invalid parameter read.
func (q *query) err() error {
	if len(q.errs) == 0 {
		return nil
	}
	return keyward.Invalid(q.errs...)
}
