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
	writeEncoded(w, status, contentType, buf.Bytes())
	return nil
}

// Header values shared by every answer: assigned rather than Set, which
// would allocate a slice for each. net/http only reads them.
var (
	jsonTypeHeader    = []string{jsonType}
	problemTypeHeader = []string{problemType}
)

// writeEncoded answers body, an encoded document of contentType.
func writeEncoded(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	switch contentType {
	case jsonType:
		h["Content-Type"] = jsonTypeHeader
	case problemType:
		h["Content-Type"] = problemTypeHeader
	default:
		h.Set("Content-Type", contentType)
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// decodeJSON reads r's JSON body into v, a pointer to a struct. The body is
// at most maxBodySize bytes, must be declared application/json and must be
// a single object with known fields only. An empty body is an error unless
// optional is set, in which case v is left as it is. Every failure is a
// *keyward.Error with a 4xx code; bad input names its field.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	return readJSON(w, r, optional, func(body []byte) error { return decodeBody(body, v) })
}

// readJSON reads r's body as decodeJSON documents and, unless it is empty,
// hands it to decode. The body is valid only during the call: its buffer
// goes back to the pool.
func readJSON(w http.ResponseWriter, r *http.Request, optional bool, decode func(body []byte) error) error {
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
	if !isJSONType(r.Header.Get("Content-Type")) {
		return keyward.Errorf(keyward.EUNSUPPORTED, "The request body must be sent as Content-Type: application/json.")
	}
	return decode(body)
}

// isJSONType reports whether a Content-Type header declares JSON. The
// header as clients almost always send it is matched without parsing.
func isJSONType(header string) bool {
	if header == jsonType {
		return true
	}
	mt, _, err := mime.ParseMediaType(header)
	return err == nil && mt == jsonType
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

// maxPathDepth bounds how deep checkMembers follows nested objects. The
// input types nest three deep (credits.refill.day); the bound only keeps a
// type that refers to itself from recursing without end.
const maxPathDepth = 8

// checkMembers rejects the members of the object body that encoding/json
// would take but the API does not: a name that is not exactly a field's
// JSON name (encoding/json ignores case, and folds "ſ" to "s"), and a name
// that appears again (encoding/json keeps the last value). It checks the
// objects nested in body too, wherever a field is a struct or a list of
// them, and names their members by path, such as rate_limits[0].limt: a
// misspelt refill.dya would otherwise be dropped in silence. Where body
// stops being JSON the check stops too, and leaves the decoder to say why.
func checkMembers(body []byte, fields *structFields) error {
	// Paths are built in place and become strings only in an error.
	var buf [64]byte
	var errs []keyward.FieldError
	checkObject(body, fields, buf[:0], 0, &errs)
	if errs != nil {
		return keyward.Invalid(errs...)
	}
	return nil
}

// checkObject adds to errs the bad member names of the object data, whose
// members are those of fields and whose own path is path.
func checkObject(data []byte, fields *structFields, path []byte, depth int, errs *[]keyward.FieldError) {
	var seen uint64
	sc := newObjectScanner(data)
	for len(*errs) < maxFieldErrors {
		quoted, raw, ok := sc.next()
		if !ok {
			return
		}
		name, ok := unquoteName(quoted)
		if !ok {
			return
		}
		i, known := fields.index[string(name)]
		switch {
		case !known:
			*errs = appendFieldError(*errs, string(memberPath(path, name)), "is not a known field")
		case seen&(1<<i) != 0:
			*errs = appendFieldError(*errs, string(memberPath(path, name)), "is a duplicate member")
		default:
			seen |= 1 << i
			if obj := fields.objects[i]; obj != nil && depth < maxPathDepth {
				checkNested(raw, obj, fields.elems[i] != nil, memberPath(path, name), depth+1, errs)
			}
		}
	}
}

// checkNested checks the members of raw, the value at path, when it is an
// object of type obj, or, for a list, of each of its elements that is.
// Values of any other shape are the decoder's to reject.
func checkNested(raw []byte, obj reflect.Type, list bool, path []byte, depth int, errs *[]keyward.FieldError) {
	if !list {
		if raw[0] == '{' {
			checkObject(raw, fieldsOf(obj), path, depth, errs)
		}
		return
	}
	elements(raw, func(i int, elem []byte) bool {
		if elem[0] == '{' {
			checkObject(elem, fieldsOf(obj), indexPath(path, i), depth, errs)
		}
		return len(*errs) < maxFieldErrors
	})
}

// memberPath is the path of member name inside the object at path.
func memberPath(path, name []byte) []byte {
	if len(path) > 0 {
		path = append(path, '.')
	}
	return append(path, name...)
}

// indexPath is the path of element i of the list at path.
func indexPath(path []byte, i int) []byte {
	path = append(path, '[')
	path = strconv.AppendInt(path, int64(i), 10)
	return append(path, ']')
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
// JSON names of its fields, each field's type and, for fields that hold
// objects of their own, what checkMembers checks in them.
type structFields struct {
	index map[string]int
	types []reflect.Type
	// objects[i] is the struct type of the object that field i holds, or
	// of each element of the list it holds; nil when its value has no
	// members to check (scalars, metadata, times).
	objects []reflect.Type
	// elems[i] is the element type of field i when it is a list of
	// objects, and nil otherwise.
	elems []reflect.Type
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
		obj, elem := objectOf(sf.Type)
		f.index[name] = len(f.types)
		f.types = append(f.types, sf.Type)
		f.objects = append(f.objects, obj)
		f.elems = append(f.elems, elem)
	}
	if len(f.types) > 64 {
		// checkMembers tracks the members seen in a uint64.
		panic("httpapi: " + t.String() + " has more than 64 JSON fields")
	}
	v, _ := fieldCache.LoadOrStore(t, f)
	return v.(*structFields)
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// objectOf returns the struct type whose members a value of type t holds,
// and, when t is a list of such values, its element type. A type that
// decodes itself (time.Time, json.RawMessage) holds none, but
// keyward.Optional holds what its value does.
func objectOf(t reflect.Type) (obj, elem reflect.Type) {
	t = valueType(t)
	if t.Kind() == reflect.Slice && !reflect.PointerTo(t).Implements(unmarshalerType) {
		elem = t.Elem()
		t = valueType(elem)
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil, nil
	}
	return t, elem
}

// valueType is the type of the JSON value that t decodes: t without its
// pointers, and a keyward.Optional's value type.
func valueType(t reflect.Type) reflect.Type {
	for {
		switch {
		case t.Kind() == reflect.Pointer:
			t = t.Elem()
		case isOptional(t):
			t = t.Field(optionalValue).Type
		default:
			return t
		}
	}
}

// isOptional reports whether t is an instance of keyward.Optional.
func isOptional(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.PkgPath() == optionalTimeType.PkgPath() &&
		strings.HasPrefix(t.Name(), "Optional[")
}

// optionalValue is the index of keyward.Optional's Value field.
var optionalValue = func() int {
	f, _ := optionalTimeType.FieldByName("Value")
	return f.Index[0]
}()

// typeOf returns the type of the field named name, nil when there is none.
func (f *structFields) typeOf(name string) reflect.Type {
	if i, ok := f.index[name]; ok {
		return f.types[i]
	}
	return nil
}

// decodeError turns an error of decoding body into a client error, naming
// the offending member whenever the input has one.
func decodeError(body []byte, fields *structFields, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return keyward.Errorf(keyward.EINVALID, "The request body is not valid JSON: %s (at byte %d).", syntax.Error(), syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return keyward.Errorf(keyward.EINVALID, "The request body is not valid JSON: it ends too early.")
	}
	// encoding/json names a nested member without its list index
	// (rate_limits.window), and a field's own UnmarshalJSON (time.Time,
	// keyward.Optional) fails without naming one: find it by decoding
	// member by member.
	if path, t, ok := failingMember(body, fields, nil, 0); ok {
		return keyward.Invalid(keyward.FieldError{Field: string(path), Message: expectation(t)})
	}
	if errors.As(err, &typ) && typ.Field != "" {
		return keyward.Invalid(keyward.FieldError{Field: typ.Field, Message: expectation(nil)})
	}
	return keyward.Errorf(keyward.EINVALID, "The request body is invalid.")
}

// failingMember returns the path and type of the innermost member of the
// object data, at path, whose value does not decode on its own into its
// field's type: the first such member, and within it the first such
// element or member.
func failingMember(data []byte, fields *structFields, path []byte, depth int) ([]byte, reflect.Type, bool) {
	sc := newObjectScanner(data)
	for {
		quoted, raw, ok := sc.next()
		if !ok {
			return nil, nil, false
		}
		name, ok := unquoteName(quoted)
		if !ok {
			return nil, nil, false
		}
		i, known := fields.index[string(name)]
		if !known || json.Unmarshal(raw, reflect.New(fields.types[i]).Interface()) == nil {
			continue
		}
		p := memberPath(path, name)
		obj, elem := fields.objects[i], fields.elems[i]
		if obj == nil || depth >= maxPathDepth {
			return p, fields.types[i], true
		}
		if elem == nil {
			if inner, t, ok := failingMember(raw, fieldsOf(obj), p, depth+1); ok {
				return inner, t, true
			}
			return p, fields.types[i], true
		}
		var found []byte
		var ft reflect.Type
		elements(raw, func(j int, e []byte) bool {
			if json.Unmarshal(e, reflect.New(elem).Interface()) == nil {
				return true
			}
			ep := indexPath(p, j)
			if inner, t, ok := failingMember(e, fieldsOf(obj), ep, depth+1); ok {
				found, ft = inner, t
				return false
			}
			found, ft = ep, elem
			return false
		})
		if found != nil {
			return found, ft, true
		}
		return p, fields.types[i], true
	}
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

// elements calls fn with the index and raw value of each element of the
// JSON array data, until fn returns false or data stops being JSON.
func elements(data []byte, fn func(i int, raw []byte) bool) {
	s := objectScanner{data: data}
	s.space()
	if !s.eat('[') {
		return
	}
	for i := 0; ; i++ {
		s.space()
		if s.eat(']') || (i > 0 && !s.eat(',')) {
			return
		}
		s.space()
		start := s.pos
		if !s.value() || !fn(i, s.data[start:s.pos]) {
			return
		}
	}
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
	if t == nil {
		return "has an invalid value"
	}
	t = valueType(t)
	if t == timeType {
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
		switch valueType(t.Elem()).Kind() {
		case reflect.String:
			return "must be an array of strings"
		case reflect.Struct:
			return "must be an array of objects"
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

// dateTime returns an RFC 3339 date-time parameter, nil when absent.
func (q *query) dateTime(name string) *time.Time {
	if !q.values.Has(name) {
		return nil
	}
	t, err := time.Parse(time.RFC3339, q.values.Get(name))
	if err != nil {
		// An unescaped + of an offset arrives as a space.
		q.errs = append(q.errs, keyward.FieldError{Field: name, Message: "must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z (escape + as %2B)"})
		return nil
	}
	return &t
}

// oneOf returns a parameter that must be one of values, "" when absent.
func (q *query) oneOf(name string, values ...string) string {
	if !q.values.Has(name) {
		return ""
	}
	v := q.values.Get(name)
	if !slices.Contains(values, v) {
		q.errs = append(q.errs, keyward.FieldError{Field: name, Message: "must be one of " + strings.Join(values, ", ")})
		return ""
	}
	return v
}

// err returns the validation error of every invalid parameter read.
func (q *query) err() error {
	if len(q.errs) == 0 {
		return nil
	}
	return keyward.Invalid(q.errs...)
}
