package keyward

import (
	"strings"
	"unicode/utf8"
)

// MaxUserAgentLen bounds a stored user agent. The header comes from anyone
// on the internet (through the caller's own API for last use) and lands in
// audit rows and CLI tables.
const MaxUserAgentLen = 256

// CleanUserAgent makes an untrusted user agent safe to store and print: at
// most MaxUserAgentLen bytes, cut on a UTF-8 boundary, with control
// characters, bidi overrides and invalid UTF-8 replaced by U+FFFD, so that
// it cannot rewrite a terminal or reorder text around it.
func CleanUserAgent(s string) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean && len(s) <= MaxUserAgentLen {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > MaxUserAgentLen {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unsafeRune reports whether r may not be stored as is in text that people
// read: C0 and C1 controls, DEL, bidi embeddings, overrides and isolates,
// and invalid UTF-8 (decoded as RuneError).
func unsafeRune(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) ||
		r == utf8.RuneError
}

// PrintableText reports whether s is safe to store and print as is: valid
// UTF-8 with no control characters or bidi overrides. Names, descriptions
// and owner ids must be.
func PrintableText(s string) bool {
	return strings.IndexFunc(s, unsafeRune) < 0
}
