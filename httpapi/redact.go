package httpapi

import (
	"keyward"
	"keyward/keyformat"
)

// keyChars marks the bytes an API key is made of: [A-Za-z0-9_].
var keyChars = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
	}
	return t
}()

// redactKeys returns s with every API key in it cut to its display prefix
// and an ellipsis. Clients paste keys where they do not belong, such as
// GET /v1/keys/<key>, and what they sent ends up in logs and error
// answers. A key is a maximal run of key characters that keyformat.Parse
// accepts, so a path segment that is a key is always replaced, and so is a
// key with punctuation around it. It allocates only when s holds a key.
func redactKeys(s string) string {
	var b []byte
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); {
		if !keyChars[s[i]] {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && keyChars[s[j]] {
			j++
		}
		if _, ok := keyformat.Parse(s[i:j]); ok {
			b = append(b, s[done:i]...)
			b = append(b, keyformat.DisplayPrefix(s[i:j])...)
			b = append(b, "…"...)
			done = j
		}
		i = j
	}
	if b == nil {
		return s
	}
	return string(append(b, s[done:]...))
}

// redactFields returns fields with keys redacted from their names and
// messages, copying them only when one holds a key.
func redactFields(fields []keyward.FieldError) []keyward.FieldError {
	var out []keyward.FieldError
	for i, f := range fields {
		r := keyward.FieldError{Field: redactKeys(f.Field), Message: redactKeys(f.Message)}
		if out == nil && r != f {
			out = append(make([]keyward.FieldError, 0, len(fields)), fields[:i]...)
		}
		if out != nil {
			out = append(out, r)
		}
	}
	if out == nil {
		return fields
	}
	return out
}
