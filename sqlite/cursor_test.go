package sqlite

import (
	"strings"
	"testing"

	"keyward"
)

func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor("01938a6e-7b1c-7cc2-9d4e-0a1b2c3d4e5f"))
	f.Add("")
	f.Add("!!!")
	f.Add("a")
	f.Add("YQ==")
	f.Add("YR")
	f.Fuzz(func(t *testing.T, cursor string) {
		id, err := decodeCursor(cursor)
		if err != nil {
			if fields := keyward.ErrorFields(err); len(fields) != 1 || fields[0].Field != "cursor" {
				t.Fatalf("decodeCursor(%q) error fields = %+v, want cursor", cursor, fields)
			}
			return
		}
		// An accepted cursor is the encoding of exactly one id, so that two
		// spellings never page from the same place differently.
		if got := encodeCursor(id); got != cursor {
			t.Errorf("encodeCursor(decodeCursor(%q)) = %q", cursor, got)
		}
	})
}

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
