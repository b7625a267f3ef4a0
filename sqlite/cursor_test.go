package sqlite

import (
	"strings"
	"testing"
)

func FuzzPrefixEnd(f *testing.F) {
	f.Add("kw_live_a1b2c3d4", "kw_live_")
	f.Add("kw_live", "kw_live_")
	f.Add("kwxlive_", "kw_")
	f.Add("\xff\xff", "\xff")
	f.Add("a\xff\x00", "a\xff")
	f.Add("b", "a\xff")
	f.Fuzz(func(t *testing.T, s, prefix string) {
		// Go compares strings byte-wise, as SQLite's binary collation does.
		end, ok := prefixEnd(prefix)
		inRange := s >= prefix && (!ok || s < end)
		if want := strings.HasPrefix(s, prefix); inRange != want {
			t.Errorf("%q in the range of prefix %q (end %q, %v) = %v, want %v", s, prefix, end, ok, inRange, want)
		}
	})
}
