package httpapi

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
	"keyward/keyformat"
)

// mustGenerate returns a real key, made at run time so that no secret sits
// in the source.
func mustGenerate(tb testing.TB, prefix string) string {
	tb.Helper()
	key, err := keyformat.Generate(prefix)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func TestRedactKeys(t *testing.T) {
	live, test := mustGenerate(t, keyformat.DefaultPrefix), mustGenerate(t, "acme_prod")
	shown := func(key string) string { return keyformat.DisplayPrefix(key) + "…" }
	// One character changed breaks the checksum: a look-alike is no key.
	i, c := len(keyformat.DefaultPrefix)+1, "A"
	if live[i] == 'A' {
		c = "B"
	}
	lookalike := live[:i] + c + live[i+1:]
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"no key", "/v1/keys/01950000-0000-7000-8000-000000000001", "/v1/keys/01950000-0000-7000-8000-000000000001"},
		{"segment", "/v1/keys/" + live, "/v1/keys/" + shown(live)},
		{"middle segment", "/v1/keys/" + live + "/revoke", "/v1/keys/" + shown(live) + "/revoke"},
		{"whole", live, shown(live)},
		{"two keys", "/" + live + "/x/" + test, "/" + shown(live) + "/x/" + shown(test)},
		{"with punctuation", `Key "` + live + `.json" not found.`, `Key "` + shown(live) + `.json" not found.`},
		{"look-alike", "/v1/keys/" + lookalike, "/v1/keys/" + lookalike},
		{"glued to more key characters", "/v1/keys/" + live + "x", "/v1/keys/" + live + "x"},
		{"only the prefix", "/v1/keys/" + keyformat.DisplayPrefix(live), "/v1/keys/" + keyformat.DisplayPrefix(live)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactKeys(tt.in); got != tt.want {
				t.Errorf("redactKeys(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// Logging a path without a key, every request's case, costs nothing.
func TestRedactKeys_NoAllocations(t *testing.T) {
	for _, path := range []string{"/v1/verify", "/v1/keys/01950000-0000-7000-8000-000000000001/revoke", "/v1/keys/" + testSecret} {
		if n := testing.AllocsPerRun(100, func() { redactKeys(path) }); n != 0 {
			t.Errorf("redactKeys(%q): %v allocations, want 0", path, n)
		}
	}
}

func TestRedactFields(t *testing.T) {
	key := mustGenerate(t, keyformat.DefaultPrefix)
	clean := []keyward.FieldError{{Field: "name", Message: "must be a string"}}
	if got := redactFields(clean); &got[0] != &clean[0] {
		t.Error("fields without a key were copied")
	}
	in := []keyward.FieldError{{Field: "name", Message: "must be a string"}, {Field: key, Message: "is not a known field"}}
	want := []keyward.FieldError{{Field: "name", Message: "must be a string"}, {Field: keyformat.DisplayPrefix(key) + "…", Message: "is not a known field"}}
	if diff := cmp.Diff(want, redactFields(in)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if in[1].Field != key {
		t.Error("redactFields changed its input")
	}
}

func FuzzRedactKeys(f *testing.F) {
	key := mustGenerate(f, keyformat.DefaultPrefix)
	for _, s := range []string{"", "/v1/verify", "/v1/keys/" + key, key + "/" + key, "é" + key + "\xff", strings.Repeat("a_", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := redactKeys(s)
		// No key survives: every run of key characters fails to parse.
		for run := range strings.FieldsFuncSeq(got, func(r rune) bool { return r > 0x7f || !keyChars[r] }) {
			if _, ok := keyformat.Parse(run); ok {
				t.Fatalf("redactKeys(%q) = %q keeps the key %q", s, got, run)
			}
		}
		if redactKeys(got) != got {
			t.Fatalf("redactKeys(%q) = %q changes again", s, got)
		}
		if !strings.Contains(got, "…") && got != s {
			t.Fatalf("redactKeys(%q) = %q changes a string without a key", s, got)
		}
	})
}
