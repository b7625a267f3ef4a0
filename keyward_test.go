package keyward_test

import (
	"testing"

	"keyward"
)

func FuzzDecodeCursor(f *testing.F) {
	f.Add(keyward.EncodeCursor("01938a6e-7b1c-7cc2-9d4e-0a1b2c3d4e5f"))
	f.Add("")
	f.Add("!!!")
	f.Add("a")
	f.Add("YQ==")
	f.Add("YR")
	f.Fuzz(func(t *testing.T, cursor string) {
		id, err := keyward.DecodeCursor(cursor)
		if err != nil {
			if fields := keyward.ErrorFields(err); len(fields) != 1 || fields[0].Field != "cursor" {
				t.Fatalf("DecodeCursor(%q) error fields = %+v, want cursor", cursor, fields)
			}
			return
		}
		// An accepted cursor is the encoding of exactly one id, so that two
		// spellings never page from the same place differently.
		if got := keyward.EncodeCursor(id); got != cursor {
			t.Errorf("EncodeCursor(DecodeCursor(%q)) = %q", cursor, got)
		}
	})
}

func TestPageLimit(t *testing.T) {
	tests := []struct {
		limit, want int
	}{
		{-1, keyward.DefaultPageLimit},
		{0, keyward.DefaultPageLimit},
		{1, 1},
		{keyward.MaxPageLimit, keyward.MaxPageLimit},
		{keyward.MaxPageLimit + 1, keyward.MaxPageLimit},
	}
	for _, tt := range tests {
		if got := keyward.PageLimit(tt.limit); got != tt.want {
			t.Errorf("PageLimit(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}
