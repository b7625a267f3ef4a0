package keyward

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// The appenders below write what encoding/json writes for the same values,
// byte for byte, HTML-safe escaping included, so that a hand-written
// encoding and a reflected one cannot be told apart by a client.

const hex = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; <, >, & and the line and paragraph separators are escaped, as
// encoding/json does by default.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONNullString appends s as a JSON string, or null when it is empty.
func appendJSONNullString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

// appendJSONTime appends t as encoding/json writes a time.Time: RFC 3339
// with nanoseconds, quoted.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONRaw appends raw, a JSON value, as encoding/json writes a
// json.RawMessage: compacted, with <, >, & and the line and paragraph
// separators escaped. Stored JSON is compact already (it is compacted on
// write), so the common case is one scan and one copy.
func appendJSONRaw(b []byte, raw json.RawMessage) []byte {
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case ' ', '\t', '\r', '\n', '<', '>', '&', 0xe2:
			// Whitespace to drop, a character to escape, or the first
			// byte of U+2028 or U+2029: leave it to encoding/json.
			return appendJSONCompact(b, raw)
		}
	}
	return append(b, raw...)
}

// appendJSONCompact is appendJSONRaw's slow path.
func appendJSONCompact(b []byte, raw json.RawMessage) []byte {
	out, err := json.Marshal(raw)
	if err != nil {
		// Not JSON: stored values are validated on write, so this is a
		// store that hands back what it was not given.
		return append(b, "null"...)
	}
	return append(b, out...)
}
