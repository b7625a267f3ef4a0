package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// TestDecode covers the body rules of every route that reads one, through
// POST /v1/keys and PATCH /v1/keys/{id}.
func TestDecode(t *testing.T) {
	// exactly builds a create body of exactly n bytes.
	exactly := func(n int) string {
		const head, tail = `{"name":"`, `"}`
		return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
	}
	json := []func(*http.Request){header("Content-Type", "application/json; charset=utf-8")}
	tests := []struct {
		name   string
		method string
		body   string
		opts   []func(*http.Request)
		status int
		code   string
		fields []string
	}{
		{"largest body", http.MethodPost, exactly(maxBodySize), nil, http.StatusCreated, "", nil},
		{"charset", http.MethodPost, `{"name":"a"}`, json, http.StatusCreated, "", nil},
		{"too large", http.MethodPost, exactly(maxBodySize + 1), nil, http.StatusRequestEntityTooLarge, keyward.ETOOLARGE, nil},
		{"text/plain", http.MethodPost, `{"name":"a"}`, []func(*http.Request){header("Content-Type", "text/plain")}, http.StatusUnsupportedMediaType, keyward.EUNSUPPORTED, nil},
		{"no content type", http.MethodPost, `{"name":"a"}`, []func(*http.Request){header("Content-Type", "")}, http.StatusUnsupportedMediaType, keyward.EUNSUPPORTED, nil},
		{"form", http.MethodPost, `name=a`, []func(*http.Request){header("Content-Type", "application/x-www-form-urlencoded")}, http.StatusUnsupportedMediaType, keyward.EUNSUPPORTED, nil},
		{"json suffix", http.MethodPost, `{"name":"a"}`, []func(*http.Request){header("Content-Type", "application/json-seq")}, http.StatusUnsupportedMediaType, keyward.EUNSUPPORTED, nil},
		{"empty", http.MethodPost, "", nil, http.StatusBadRequest, keyward.EINVALID, nil},
		{"whitespace", http.MethodPost, " \n\t", nil, http.StatusBadRequest, keyward.EINVALID, nil},
		{"empty patch", http.MethodPatch, "", nil, http.StatusBadRequest, keyward.EINVALID, nil},
		{"unknown field", http.MethodPost, `{"name":"a","scopes":["x"]}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"scopes"}},
		{"unknown field patch", http.MethodPatch, `{"key_prefix":"x"}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"key_prefix"}},
		{"string type", http.MethodPost, `{"name":5}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"name"}},
		{"array type", http.MethodPost, `{"name":"a","permissions":"x"}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"permissions"}},
		{"array element type", http.MethodPost, `{"name":"a","allowed_ips":[1]}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"allowed_ips"}},
		{"integer type", http.MethodPost, `{"name":"a","expires_in":1.5}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"expires_in"}},
		{"integer overflow", http.MethodPost, `{"name":"a","expires_in":1e40}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"expires_in"}},
		{"bool type", http.MethodPatch, `{"enabled":"yes"}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"enabled"}},
		{"bad time", http.MethodPost, `{"name":"a","expires_at":"tomorrow"}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"expires_at"}},
		{"time not a string", http.MethodPost, `{"name":"a","expires_at":5}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"expires_at"}},
		{"bad time patch", http.MethodPatch, `{"name":"a","expires_at":"2030-13-01T00:00:00Z"}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"expires_at"}},
		{"trailing object", http.MethodPost, `{"name":"a"}{"name":"b"}`, nil, http.StatusBadRequest, keyward.EINVALID, nil},
		{"trailing garbage", http.MethodPost, `{"name":"a"} x`, nil, http.StatusBadRequest, keyward.EINVALID, nil},
		{"not an object", http.MethodPost, `["name"]`, nil, http.StatusBadRequest, keyward.EINVALID, nil},
		{"null", http.MethodPost, `null`, nil, http.StatusBadRequest, keyward.EINVALID, nil},
		{"syntax", http.MethodPost, `{"name":}`, nil, http.StatusBadRequest, keyward.EINVALID, nil},
		{"truncated", http.MethodPost, `{"name":"a"`, nil, http.StatusBadRequest, keyward.EINVALID, nil},
		// Member names match exactly: encoding/json alone would take these.
		{"upper case", http.MethodPost, `{"NAME":"a"}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"NAME"}},
		{"title case patch", http.MethodPatch, `{"Enabled":false}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"Enabled"}},
		{"case variant beside exact", http.MethodPost, `{"name":"a","Name":"b"}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"Name"}},
		{"unicode fold", http.MethodPost, `{"name":"a","ſervice_account_id":"sa"}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"ſervice_account_id"}},
		{"escaped exact name", http.MethodPost, `{"n\u0061me":"a"}`, nil, http.StatusCreated, "", nil},
		{"duplicate", http.MethodPost, `{"name":"a","name":"b"}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"name"}},
		{"duplicate escaped", http.MethodPost, `{"name":"a","n\u0061me":"b"}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"name"}},
		{"duplicate patch", http.MethodPatch, `{"enabled":true,"name":"x","enabled":false}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"enabled"}},
		{"every bad name once", http.MethodPost, `{"A":1,"name":"a","b":{"c":[2]},"name":"b","A":3,"name":"c"}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"A", "b", "name"}},
		{"bad name before bad value", http.MethodPost, `{"NAME":5}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"NAME"}},
		{"nested names are values", http.MethodPost, `{"name":"a","metadata":{"NAME":1,"x":{"x":2},"x":3}}`, nil, http.StatusCreated, "", nil},
		// Members of nested objects are as strict, and named by path.
		{"nested", http.MethodPost, `{"name":"a","rate_limits":[{"name":"d","limit":1,"window":60}],"credits":{"remaining":1,"refill":{"amount":1,"interval":"monthly","day":1}}}`, nil, http.StatusCreated, "", nil},
		{"nested null element", http.MethodPost, `{"name":"a","rate_limits":[null]}`, nil, http.StatusCreated, "", nil},
		{"nested unknown", http.MethodPost, `{"name":"a","rate_limits":[{"name":"d","limt":1,"window":60}]}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"rate_limits[0].limt"}},
		{"nested case", http.MethodPost, `{"name":"a","rate_limits":[{"name":"a","limit":1,"window":1},{"name":"b","limit":1,"Window":1}]}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"rate_limits[1].Window"}},
		{"nested duplicate", http.MethodPost, `{"name":"a","rate_limits":[{"name":"a","limit":1,"limit":2,"window":1}]}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"rate_limits[0].limit"}},
		{"nested twice", http.MethodPost, `{"name":"a","credits":{"remaining":1,"refill":{"amount":1,"interval":"monthly","dya":1}}}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"credits.refill.dya"}},
		{"nested optional", http.MethodPatch, `{"credits":{"remaning":5}}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"credits.remaning"}},
		{"nested pointer to list", http.MethodPatch, `{"rate_limits":[{"nmae":"x"}]}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"rate_limits[0].nmae"}},
		{"nested at every level", http.MethodPost, `{"x":1,"rate_limits":[{"y":1},{"name":"b"},{"z":1}],"credits":{"w":1}}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"x", "rate_limits[0].y", "rate_limits[2].z", "credits.w"}},
		{"nested type", http.MethodPost, `{"name":"a","rate_limits":[{"name":"d","limit":1,"window":"60"}]}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"rate_limits[0].window"}},
		{"nested element type", http.MethodPost, `{"name":"a","rate_limits":[{"name":"a","limit":1,"window":1},5]}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"rate_limits[1]"}},
		{"nested list type", http.MethodPost, `{"name":"a","rate_limits":{"name":"a"}}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"rate_limits"}},
		{"nested object type", http.MethodPost, `{"name":"a","credits":{"remaining":1,"refill":"daily"}}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"credits.refill"}},
		{"nested optional type", http.MethodPatch, `{"credits":{"refill":{"day":"1"}}}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"credits.refill.day"}},
		{"nested optional not an object", http.MethodPatch, `{"credits":[]}`, nil, http.StatusBadRequest, keyward.EINVALID, []string{"credits"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			s.keys.CreateKeyFn = func(ctx context.Context, in keyward.KeyCreate) (*keyward.CreatedKey, error) {
				return &keyward.CreatedKey{Key: &keyward.Key{ID: "k1", Name: in.Name}, Secret: "s"}, nil
			}
			path := "/v1/keys"
			if tt.method == http.MethodPatch {
				path = "/v1/keys/k1"
			}
			res := s.do(t, tt.method, path, tt.body, tt.opts...)
			if tt.code == "" {
				wantStatus(t, res, tt.status)
				return
			}
			wantProblem(t, res, tt.status, tt.code, tt.fields...)
		})
	}
}

// The message of a field error says what the field must be.
func TestDecode_FieldMessages(t *testing.T) {
	tests := []struct {
		body string
		want keyward.FieldError
	}{
		{`{"name":5}`, keyward.FieldError{Field: "name", Message: "must be a string"}},
		{`{"permissions":{}}`, keyward.FieldError{Field: "permissions", Message: "must be an array of strings"}},
		{`{"expires_in":"1h"}`, keyward.FieldError{Field: "expires_in", Message: "must be an integer"}},
		{`{"enabled":1}`, keyward.FieldError{Field: "enabled", Message: "must be true or false"}},
		{`{"expires_at":"tomorrow"}`, keyward.FieldError{Field: "expires_at", Message: "must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z"}},
		{`{"name":"a","expires_at":[]}`, keyward.FieldError{Field: "expires_at", Message: "must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z"}},
		{`{"Expires_At":"tomorrow"}`, keyward.FieldError{Field: "Expires_At", Message: "is not a known field"}},
		{`{"nope":1}`, keyward.FieldError{Field: "nope", Message: "is not a known field"}},
		{`{"name":"a","name":"a"}`, keyward.FieldError{Field: "name", Message: "is a duplicate member"}},
		{`{"rate_limits":[{"limit":"x"}]}`, keyward.FieldError{Field: "rate_limits[0].limit", Message: "must be an integer"}},
		{`{"rate_limits":{}}`, keyward.FieldError{Field: "rate_limits", Message: "must be an array of objects"}},
		{`{"rate_limits":[{},1]}`, keyward.FieldError{Field: "rate_limits[1]", Message: "must be an object"}},
		{`{"credits":5}`, keyward.FieldError{Field: "credits", Message: "must be an object"}},
		{`{"credits":{"refill":{"interval":1}}}`, keyward.FieldError{Field: "credits.refill.interval", Message: "must be a string"}},
		{`{"credits":{"refill":{"dya":1}}}`, keyward.FieldError{Field: "credits.refill.dya", Message: "is not a known field"}},
		{`{"rate_limits":[{"name":"a","name":"b"}]}`, keyward.FieldError{Field: "rate_limits[0].name", Message: "is a duplicate member"}},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			var upd keyward.KeyUpdate
			err := decodeBody([]byte(tt.body), &upd)
			got := keyward.ErrorFields(err)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("fields: got %+v, want [%+v]", got, tt.want)
			}
		})
	}
}

// checkDecode fails unless decoding body into v either succeeds or fails
// with a 4xx *keyward.Error.
func checkDecode(t *testing.T, body []byte, v any) {
	// A bare request keeps each run cheap, so the fuzzer spends its time on
	// inputs rather than on building requests.
	req := &http.Request{Header: http.Header{"Content-Type": {jsonType}}, Body: io.NopCloser(bytes.NewReader(body))}
	err := decodeJSON(httptest.NewRecorder(), req, v, false)
	if err == nil {
		checkMemberNames(t, body, v)
		return
	}
	var e *keyward.Error
	if !errors.As(err, &e) {
		t.Fatalf("decode %q: got %T %v, want a *keyward.Error", body, err, err)
	}
	if status := ErrorStatusCode(e.Code); status < 400 || status > 499 {
		t.Fatalf("decode %q: got code %s (status %d), want a 4xx", body, e.Code, status)
	}
}

// checkMemberNames fails unless every member of the decoded object body,
// and of the objects nested in it that checkMembers checks, is named
// exactly as one of its type's fields, once. It walks the members with
// encoding/json, independently of objectScanner.
func checkMemberNames(t *testing.T, body []byte, v any) {
	t.Helper()
	checkObjectNames(t, body, body, fieldsOf(reflect.TypeOf(v).Elem()))
}

// checkObjectNames checks the members of data, an object within body.
func checkObjectNames(t *testing.T, body, data []byte, fields *structFields) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatalf("decode %q: accepted, but %v", body, err)
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("decode %q: accepted, but %v", body, err)
		}
		name := tok.(string)
		if fields.typeOf(name) == nil || seen[name] {
			t.Fatalf("decode %q: accepted member %q, unknown or repeated", body, name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("decode %q: accepted, but %v", body, err)
		}
		i := fields.index[name]
		obj := fields.objects[i]
		switch {
		case obj == nil:
		case raw[0] == '{':
			checkObjectNames(t, body, raw, fieldsOf(obj))
		case raw[0] == '[' && fields.elems[i] != nil:
			var elems []json.RawMessage
			if err := json.Unmarshal(raw, &elems); err != nil {
				t.Fatalf("decode %q: accepted, but %v", body, err)
			}
			for _, e := range elems {
				if e[0] == '{' {
					checkObjectNames(t, body, e, fieldsOf(obj))
				}
			}
		}
	}
}

var fuzzSeeds = []string{
	`{"name":"a"}`,
	`{"name":"a","permissions":["x.read"],"allowed_ips":["10.0.0.0/8"],"expires_at":"2030-01-02T15:04:05Z","metadata":{"a":[1]},"enabled":true}`,
	`{"expires_at":null,"expires_in":60}`,
	`{"expires_at":"tomorrow"}`,
	`{"key":"kw_live_x","permissions":"a AND b","ip":"::1","user_agent":"u"}`,
	`{"name":1}`,
	`{"x":1}`,
	`{"NAME":"a","\u212aey":"k","n\u0061me":"a"}`,
	`{"name":"a","name":"b"}`,
	`{"metadata":{"a":"}\"]","b":[{}]},"name":"x"}`,
	`{"name":"a","rate_limits":[{"name":"d","limit":1,"window":60},null],"credits":{"remaining":1,"refill":{"amount":1,"interval":"monthly","day":1}}}`,
	`{"rate_limits":[{"name":"d","cost":2},{"NAME":"x","limit":1}],"credits":null,"cost":3}`,
	`{"credits":{"refill":{"dya":1,"day":"x"}},"rate_limits":[[{}],{"window":1,"window":2}]}`,
	`{} {}`,
	`[]`,
	`{"a":`,
	``,
}

func FuzzDecodeKeyCreate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in keyward.KeyCreate
		checkDecode(t, body, &in)
	})
}

func FuzzDecodeKeyUpdate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var upd keyward.KeyUpdate
		checkDecode(t, body, &upd)
	})
}

func FuzzDecodeVerifyRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"key":"kw_live_x","cost":-0,"ip":"::1","user_agent":"a/1","permissions":"a.read"}`))
	f.Add([]byte(`{"key":"k","cost":12,}`))
	f.Add([]byte(`{"key":"\u006b","ip":"\xff"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req keyward.VerifyRequest
		checkDecode(t, body, &req)
		// The hot path's decoder takes only bodies that the general one
		// decodes the same.
		var fast keyward.VerifyRequest
		if !decodeVerifyRequest(body, &fast) {
			return
		}
		var want keyward.VerifyRequest
		trimmed := bytes.Trim(body, jsonSpace)
		if len(trimmed) == 0 {
			t.Fatalf("decodeVerifyRequest took the empty body %q", body)
		}
		if err := decodeBody(trimmed, &want); err != nil {
			t.Fatalf("decodeVerifyRequest took %q, which decodeBody rejects: %v", body, err)
		}
		if diff := cmp.Diff(want, fast); diff != "" {
			t.Fatalf("decodeVerifyRequest(%q) (-decodeBody +fast):\n%s", body, diff)
		}
	})
}

// The verify route, whose callers are other services' code rather than
// people, reads its members as strictly as the management routes.
func TestVerify_StrictMembers(t *testing.T) {
	tests := []struct {
		body   string
		fields []string
	}{
		{`{"KEY":"k"}`, []string{"KEY"}},
		{`{"\u212aey":"k"}`, []string{"\u212aey"}},
		{`{"key":"k","Permissions":"admin:*"}`, []string{"Permissions"}},
		{`{"key":"k","permissions":"a.read","permissions":""}`, []string{"permissions"}},
		{`{"key":"a","key":"b"}`, []string{"key"}},
		{`{"key":"k","rate_limits":[{"name":"a","cots":2}]}`, []string{"rate_limits[0].cots"}},
		{`{"key":"k","rate_limits":[{"name":"a","cost":"2"}]}`, []string{"rate_limits[0].cost"}},
		{`{"key":"k","cost":"1"}`, []string{"cost"}},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			// The verifier mock has no function: reaching it panics.
			s := MustOpenServer(t)
			wantProblem(t, s.do(t, http.MethodPost, "/v1/verify", tt.body), http.StatusBadRequest, keyward.EINVALID, tt.fields...)
		})
	}
}

// A body of thousands of bad names answers a bounded number of errors.
func TestDecode_ManyBadMembers(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"name":"a"`)
	for i := range 1000 {
		fmt.Fprintf(&b, `,"x%d":1,"name":"a"`, i)
	}
	b.WriteString("}")
	var in keyward.KeyCreate
	fields := keyward.ErrorFields(decodeBody([]byte(b.String()), &in))
	if len(fields) != maxFieldErrors {
		t.Errorf("field errors: got %d, want %d", len(fields), maxFieldErrors)
	}
	if want := (keyward.FieldError{Field: "name", Message: "is a duplicate member"}); fields[1] != want {
		t.Errorf("second field error: got %+v, want %+v", fields[1], want)
	}
}

// Bad names in nested objects count towards the same bound.
func TestDecode_ManyBadNestedMembers(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"name":"a","rate_limits":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"x":1}`)
	}
	b.WriteString("]}")
	var in keyward.KeyCreate
	fields := keyward.ErrorFields(decodeBody([]byte(b.String()), &in))
	if len(fields) != maxFieldErrors {
		t.Errorf("field errors: got %d, want %d", len(fields), maxFieldErrors)
	}
	if want := (keyward.FieldError{Field: "rate_limits[9].x", Message: "is not a known field"}); fields[len(fields)-1] != want {
		t.Errorf("last field error: got %+v, want %+v", fields[len(fields)-1], want)
	}
}

// elements finds the elements that encoding/json finds, with the same raw
// values, in every well-formed array.
func FuzzElements(f *testing.F) {
	for _, s := range []string{`[]`, ` [ 1 , "a]" , {"b":[2]} , [[]] , null ] `, `[1,]`, `[,1]`, `[1 2]`, `["\"]`, `[{"a":"\\"}]`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []string
		elements(data, func(i int, raw []byte) bool {
			if i != len(got) {
				t.Fatalf("%q: element %d after %d elements", data, i, len(got))
			}
			got = append(got, string(raw))
			return true
		})
		trimmed := bytes.TrimLeft(data, jsonSpace)
		if !json.Valid(data) || len(trimmed) == 0 || trimmed[0] != '[' {
			return
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(data, &raws); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, r := range raws {
			want = append(want, string(r))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q: elements (-encoding/json +elements):\n%s", data, diff)
		}
	})
}

// objectScanner finds the members that encoding/json finds, with the same
// raw values, in every well-formed object.
func FuzzObjectScanner(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{` { } `, `{"a":{"b":["}",{"c":"\\"}]},"d":-1.5e3,"e":null}`, `{"a\"b":true , "c" : false}`, `{"a":1,}`, `{"a" 1}`, `{"a":"\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		type member struct{ Name, Value string }
		var got []member
		sc := newObjectScanner(data)
		for {
			quoted, raw, ok := sc.next()
			if !ok {
				break
			}
			name, ok := unquoteName(quoted)
			if !ok {
				break
			}
			got = append(got, member{string(name), string(raw)})
		}
		trimmed := bytes.TrimLeft(data, jsonSpace)
		if !json.Valid(data) || len(trimmed) == 0 || trimmed[0] != '{' {
			return
		}
		if rest := bytes.Trim(data[sc.pos:], jsonSpace); len(rest) != 0 {
			t.Errorf("%q: scan stopped before %q", data, rest)
		}
		var want []member
		dec := json.NewDecoder(bytes.NewReader(data))
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatal(err)
			}
			want = append(want, member{tok.(string), string(raw)})
		}
		// encoding/json decodes each invalid UTF-8 byte of a name as
		// U+FFFD; the scanner keeps the bytes, which match no field either
		// way.
		for i := range got {
			got[i].Name = string([]rune(got[i].Name))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q: members (-encoding/json +scanner):\n%s", data, diff)
		}
	})
}
