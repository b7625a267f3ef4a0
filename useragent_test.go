package keyward_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"keyward"
)

func TestCleanUserAgent(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"curl/8.5.0", "curl/8.5.0"},
		{"", ""},
		{"evil\x1b[2J\r\nnext", "evil\uFFFD[2J\uFFFD\uFFFDnext"},
		{"a\u202Eb\u2066c\x7f\u0085", "a\uFFFDb\uFFFDc\uFFFD\uFFFD"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"Mozilla/5.0 (Ünïcode)", "Mozilla/5.0 (Ünïcode)"},
	} {
		if got := keyward.CleanUserAgent(tt.in); got != tt.want {
			t.Errorf("CleanUserAgent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := keyward.CleanUserAgent(strings.Repeat("é", 1000))
	if len(long) > keyward.MaxUserAgentLen || !utf8.ValidString(long) || len(long) < keyward.MaxUserAgentLen-1 {
		t.Errorf("long agent: %d bytes, valid=%v", len(long), utf8.ValidString(long))
	}
}

func FuzzCleanUserAgent(f *testing.F) {
	for _, s := range []string{"curl/8", "\x1b]0;x\x07", "\xff\xfe", strings.Repeat("ü", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := keyward.CleanUserAgent(s)
		if len(got) > keyward.MaxUserAgentLen || !utf8.ValidString(got) {
			t.Fatalf("%q: %q is %d bytes, valid=%v", s, got, len(got), utf8.ValidString(got))
		}
		if keyward.CleanUserAgent(got) != got {
			t.Fatalf("%q: cleaning twice changes %q", s, got)
		}
		for _, r := range got {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				t.Fatalf("%q: %q keeps %U", s, got, r)
			}
		}
	})
}

func TestPrintableText(t *testing.T) {
	for s, want := range map[string]bool{
		"acme production": true, "Ünïcode 名前": true, "": true,
		"tab\there": false, "x\x1b[31m": false, "rtl\u202Eevil": false, "bad\xff": false, "nbsp\u00a0ok": true,
	} {
		if got := keyward.PrintableText(s); got != want {
			t.Errorf("PrintableText(%q) = %v, want %v", s, got, want)
		}
	}
}
