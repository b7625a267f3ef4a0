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
	"slices"
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
	fields := fieldsOf(reflect.TypeOf(v).Elem())
	// The member check alone decides which names are known: encoding/json
	// would match them regardless of case, so DisallowUnknownFields is no
	// help.
	if err := checkMembers(body, fields); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return decodeError(body, fields, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return keyward.Errorf(keyward.EINVALID, "The request body must hold one JSON object and nothing after it.")
	}
	return nil
}

// maxFieldErrors bounds the field errors of one answer, so that a body or
// query string of thousands of bad names cannot make a much larger answer.
const maxFieldErrors = 10

// checkMembers rejects the members of the object body that encoding/json
// would take but the API does not: a name that is not exactly a field's
// JSON name (encoding/json ignores case, and folds "ſ" to "s"), and a name
// that appears again (encoding/json keeps the last value). Where body stops
// being JSON the check stops too, and leaves the decoder to say why.
func checkMembers(body []byte, fields *structFields) error {
	var seen uint64
	var errs []keyward.FieldError
	sc := newObjectScanner(body)
	for len(errs) < maxFieldErrors {
		quoted, _, ok := sc.next()
		if !ok {
			break
		}
		name, ok := unquoteName(quoted)
		if !ok {
			break
		}
		i, known := fields.index[string(name)]
		switch {
		case !known:
			errs = appendFieldError(errs, string(name), "is not a known field")
		case seen&(1<<i) != 0:
			errs = appendFieldError(errs, string(name), "is a duplicate member")
		default:
			seen |= 1 << i
		}
	}
	if errs != nil {
		return keyward.Invalid(errs...)
	}
	return nil
}

// appendFieldError adds the error of a name the client sent, once: the
// name is echoed in the answer, so a key sent as one is redacted.
func appendFieldError(errs []keyward.FieldError, name, message string) []keyward.FieldError {
	fe := keyward.FieldError{Field: redactKeys(name), Message: message}
	if slices.Contains(errs, fe) {
		return errs
	}
	return append(errs, fe)
}

// unquoteName returns the member name of a quoted JSON string. Only names
// with escapes are decoded, and allocate.
func unquoteName(quoted []byte) ([]byte, bool) {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return quoted[1 : len(quoted)-1], true
	}
	var name string
	if json.Unmarshal(quoted, &name) != nil {
		return nil, false
	}
	return []byte(name), true
}

// structFields describes the members a struct type decodes: exactly the
// JSON names of its fields, and each field's type.
type structFields struct {
	index map[string]int
	types []reflect.Type
}

// fieldCache maps each decoded type to its *structFields, computed once.
var fieldCache sync.Map

// fieldsOf returns the members of struct type t. The API's input types
// embed no structs, so promoted fields are not looked for.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{index: make(map[string]int)}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		f.index[name] = len(f.types)
		f.types = append(f.types, sf.Type)
	}
	if len(f.types) > 64 {
		// checkMembers tracks the members seen in a uint64.
		panic("httpapi: " + t.String() + " has more than 64 JSON fields")
	}
	v, _ := fieldCache.LoadOrStore(t, f)
	return v.(*structFields)
}

// typeOf returns the type of the field named name, nil when there is none.
func (f *structFields) typeOf(name string) reflect.Type {
	if i, ok := f.index[name]; ok {
		return f.types[i]
	}
	return nil
}

// decodeError turns an error of decoding body into a client error, naming
// the offending field whenever the input has one.
func decodeError(body []byte, fields *structFields, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return keyward.Errorf(keyward.EINVALID, "The request body is not valid JSON: %s (at byte %d).", syntax.Error(), syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return keyward.Errorf(keyward.EINVALID, "The request body is not valid JSON: it ends too early.")
	case errors.As(err, &typ) && typ.Field != "":
		return fieldError(fields, typ.Field)
	}
	// A field's own UnmarshalJSON (time.Time, keyward.OptionalTime) fails
	// without saying which field it was: find it by decoding field by field.
	if name, ok := failingField(body, fields); ok {
		return fieldError(fields, name)
	}
	return keyward.Errorf(keyward.EINVALID, "The request body is invalid.")
}

// failingField returns the name of the first member of the object body
// whose value does not decode on its own into its field's type.
func failingField(body []byte, fields *structFields) (string, bool) {
	sc := newObjectScanner(body)
	for {
		quoted, raw, ok := sc.next()
		if !ok {
			return "", false
		}
		name, ok := unquoteName(quoted)
		if !ok {
			return "", false
		}
		t := fields.typeOf(string(name))
		if t != nil && json.Unmarshal(raw, reflect.New(t).Interface()) != nil {
			return string(name), true
		}
	}
}

// fieldError is the validation error of the member name, saying what its
// value must be.
func fieldError(fields *structFields, name string) error {
	return keyward.Invalid(keyward.FieldError{Field: name, Message: expectation(fields.typeOf(name))})
}

// objectScanner walks the members of a JSON object without decoding them.
// It checks only as much syntax as it needs to find where each member
// starts and ends: of a well-formed object it finds exactly the members
// encoding/json finds, and of anything else it stops somewhere.
type objectScanner struct {
	data    []byte
	pos     int
	members int
	done    bool
}

func newObjectScanner(data []byte) objectScanner {
	s := objectScanner{data: data}
	s.space()
	s.done = !s.eat('{')
	return s
}

// next returns the quoted name and the raw value of the next member; ok is
// false at the end of the object and where data stops being JSON.
func (s *objectScanner) next() (name, value []byte, ok bool) {
	if s.done {
		return nil, nil, false
	}
	s.space()
	if s.eat('}') || (s.members > 0 && !s.eat(',')) {
		s.done = true
		return nil, nil, false
	}
	s.space()
	start := s.pos
	if !s.str() {
		s.done = true
		return nil, nil, false
	}
	name = s.data[start:s.pos]
	s.space()
	if !s.eat(':') {
		s.done = true
		return nil, nil, false
	}
	s.space()
	start = s.pos
	if !s.value() {
		s.done = true
		return nil, nil, false
	}
	s.members++
	return name, s.data[start:s.pos], true
}

// space skips JSON whitespace.
func (s *objectScanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// eat skips c if it comes next.
func (s *objectScanner) eat(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// str skips a string, quotes included.
func (s *objectScanner) str() bool {
	if !s.eat('"') {
		return false
	}
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case '\\':
			s.pos += 2
			continue
		case '"':
			s.pos++
			return true
		}
		s.pos++
	}
	return false
}

// value skips a value. Brackets are counted, not matched: the decoder
// rejects a mismatch.
func (s *objectScanner) value() bool {
	if s.pos >= len(s.data) {
		return false
	}
	switch s.data[s.pos] {
	case '"':
		return s.str()
	case '{', '[':
		depth := 0
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case '"':
				if !s.str() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					s.pos++
					return true
				}
			}
			s.pos++
		}
		return false
	}
	start := s.pos
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return s.pos > start
		}
		s.pos++
	}
	return s.pos > start
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
