package keyformat

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash/crc32"
	"strings"
	"testing"
)

// knownKey was assembled by hand: CRC32("kw_test_" + 43 zeros) is 0x10db9177
// (Python's zlib.crc32), "0J8hip" in 6-digit base62. It pins the format
// against an implementation other than this package.
const knownKey = "kw_test_" + "0000000000000000000000000000000000000000000" + "0J8hip"

// maxBase62 is 2^256-1 in base62, also computed with Python.
const maxBase62 = "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1"

func crcOf(s string) uint32 { return crc32.ChecksumIEEE([]byte(s)) }

func mustGenerate(tb testing.TB, prefix string) string {
	tb.Helper()
	key, err := Generate(prefix)
	if err != nil {
		tb.Fatalf("Generate(%q): %v", prefix, err)
	}
	return key
}

func TestGenerateParseRoundTrip(t *testing.T) {
	for _, prefix := range []string{DefaultPrefix, TestPrefix, "a", "my_app_live", "_", "abcdefghij_12345", "kw_"} {
		t.Run(prefix, func(t *testing.T) {
			key := mustGenerate(t, prefix)
			if got, want := len(key), len(prefix)+1+RandomLen+ChecksumLen; got != want {
				t.Errorf("len(key) = %d, want %d", got, want)
			}
			if !strings.HasPrefix(key, prefix+"_") {
				t.Errorf("key does not start with %q", prefix+"_")
			}
			got, ok := Parse(key)
			if !ok {
				t.Fatalf("Parse rejected a generated key")
			}
			if got != prefix {
				t.Errorf("Parse prefix = %q, want %q", got, prefix)
			}
		})
	}
}

func TestGenerateIsRandom(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		key := mustGenerate(t, DefaultPrefix)
		if seen[key] {
			t.Fatalf("Generate returned the same key twice")
		}
		seen[key] = true
	}
}

func TestGenerateUsesWholeAlphabet(t *testing.T) {
	// Guards the base62 encoder: a bug in the long division shows up as
	// digits that never occur or as a constant leading digit.
	counts := make(map[rune]int)
	for range 200 {
		key := mustGenerate(t, DefaultPrefix)
		for _, c := range key[len(DefaultPrefix)+1 : len(key)-ChecksumLen] {
			counts[c]++
		}
	}
	for _, c := range alphabet {
		if counts[c] == 0 {
			t.Errorf("digit %q never generated in 200 keys", c)
		}
	}
	for c := range counts {
		if !strings.ContainsRune(alphabet, c) {
			t.Errorf("generated non-base62 character %q", c)
		}
	}
}

func TestGenerateRejectsInvalidPrefix(t *testing.T) {
	for _, prefix := range []string{"", "KW_live", "kw-live", "abcdefghijklmnopq"} {
		if key, err := Generate(prefix); err == nil {
			t.Errorf("Generate(%q) = %d-char key, want error", prefix, len(key))
		}
	}
}

func TestEncodeRandom(t *testing.T) {
	tests := []struct {
		name string
		in   [randomBytes]byte
		want string
	}{
		{"zero", [randomBytes]byte{}, strings.Repeat("0", RandomLen)},
		{"one", [randomBytes]byte{randomBytes - 1: 1}, strings.Repeat("0", RandomLen-1) + "1"},
		{"62", [randomBytes]byte{randomBytes - 1: 62}, strings.Repeat("0", RandomLen-2) + "10"},
		{"255", [randomBytes]byte{randomBytes - 1: 255}, strings.Repeat("0", RandomLen-2) + "47"},
		{"max", [randomBytes]byte{
			255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
			255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
		}, maxBase62},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, RandomLen)
			encodeRandom(dst, &tt.in)
			if got := string(dst); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseKnownKey(t *testing.T) {
	got, ok := Parse(knownKey)
	if !ok || got != TestPrefix {
		t.Errorf("Parse(known key) = %q, %v; want %q, true", got, ok, TestPrefix)
	}
}

func TestParseRejectsEverySingleCharChange(t *testing.T) {
	key := mustGenerate(t, "my_app_live")
	// Every printable ASCII byte plus a few bytes that are not.
	var repl []byte
	for c := byte(0x20); c < 0x7f; c++ {
		repl = append(repl, c)
	}
	repl = append(repl, 0, '\n', 0x80, 0xff)
	for i := range len(key) {
		for _, c := range repl {
			if c == key[i] {
				continue
			}
			mutated := key[:i] + string(c) + key[i+1:]
			if _, ok := Parse(mutated); ok {
				t.Errorf("Parse accepted the key with byte %d changed to %q", i, c)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	valid := mustGenerate(t, DefaultPrefix)
	random := valid[len(DefaultPrefix)+1 : len(valid)-ChecksumLen]
	// withChecksum builds prefix_random with a correct checksum, so that the
	// only fault is the one under test.
	withChecksum := func(body string) string {
		dst := make([]byte, ChecksumLen)
		encodeChecksum(dst, crcOf(body))
		return body + string(dst)
	}
	tests := []struct {
		name string
		key  string
	}{
		{"empty", ""},
		{"prefix only", DefaultPrefix + "_"},
		{"one char short", valid[1:]},
		{"truncated", valid[:len(valid)-1]},
		{"one char long", valid + "0"},
		{"doubled", valid + valid},
		{"empty prefix", withChecksum("_" + random)},
		{"upper-case prefix", withChecksum("KW_live_" + random)},
		{"prefix with dash", withChecksum("kw-live_" + random)},
		{"prefix too long", withChecksum(strings.Repeat("a", MaxPrefixLen+1) + "_" + random)},
		{"no separator", withChecksum("kwlivex" + random)},
		{"bad char in random", withChecksum(DefaultPrefix + "_" + random[:10] + "-" + random[11:])},
		{"space in random", withChecksum(DefaultPrefix + "_" + random[:10] + " " + random[11:])},
		{"non-ASCII in random", withChecksum(DefaultPrefix + "_" + random[:10] + "\xc3" + random[11:])},
		{"bad char in checksum", valid[:len(valid)-1] + "-"},
		// zzzzzz is 62^6-1, above 2^32: it must not wrap onto a valid CRC.
		{"checksum overflow", valid[:len(valid)-ChecksumLen] + "zzzzzz"},
		{"surrounding space", " " + valid[1:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if prefix, ok := Parse(tt.key); ok {
				t.Errorf("Parse accepted it with prefix %q", prefix)
			}
		})
	}
}

func TestValidPrefix(t *testing.T) {
	tests := []struct {
		prefix string
		want   bool
	}{
		{"kw_live", true},
		{"kw_test", true},
		{"a", true},
		{"0", true},
		{"_", true},
		{"my_app_live", true},
		{strings.Repeat("z", 16), true},
		{"", false},
		{strings.Repeat("z", 17), false},
		{"KW_LIVE", false},
		{"kw_Live", false},
		{"kw-live", false},
		{"kw live", false},
		{"kw.live", false},
		{"kw_lívé", false},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			if got := ValidPrefix(tt.prefix); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDisplayPrefix(t *testing.T) {
	for _, prefix := range []string{DefaultPrefix, "my_app_live", "a"} {
		t.Run(prefix, func(t *testing.T) {
			key := mustGenerate(t, prefix)
			got := DisplayPrefix(key)
			want := prefix + "_" + key[len(prefix)+1:len(prefix)+1+DisplayRandomLen]
			if got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	if got := DisplayPrefix(knownKey); got != "kw_test_00000000" {
		t.Errorf("DisplayPrefix(known key) = %q, want %q", got, "kw_test_00000000")
	}
	if got := DisplayPrefix("short"); got != "" {
		t.Errorf("DisplayPrefix(short) = %q, want empty", got)
	}
}

func TestHasher(t *testing.T) {
	key := mustGenerate(t, DefaultPrefix)
	pepper := []byte("server pepper, kept out of the database")

	plain := NewHasher(nil)
	if got, want := plain.Hash(key), sha256.Sum256([]byte(key)); got != want {
		t.Errorf("SHA-256: got %x, want %x", got, want)
	}
	var zero Hasher
	if got, want := zero.Hash(key), plain.Hash(key); got != want {
		t.Errorf("zero Hasher: got %x, want %x", got, want)
	}

	peppered := NewHasher(pepper)
	mac := hmac.New(sha256.New, pepper)
	mac.Write([]byte(key))
	var want [32]byte
	copy(want[:], mac.Sum(nil))
	for i := range 3 {
		// Repeated calls reuse pooled state: each must start from scratch.
		if got := peppered.Hash(key); got != want {
			t.Errorf("HMAC call %d: got %x, want %x", i, got, want)
		}
	}
	if peppered.Hash(key) == plain.Hash(key) {
		t.Errorf("HMAC digest equals plain SHA-256 digest")
	}
	if NewHasher([]byte("another pepper")).Hash(key) == peppered.Hash(key) {
		t.Errorf("different peppers give the same digest")
	}
	other := mustGenerate(t, DefaultPrefix)
	if peppered.Hash(other) == peppered.Hash(key) {
		t.Errorf("different keys give the same digest")
	}
}

func TestHasherCopiesPepper(t *testing.T) {
	pepper := []byte("pepper")
	h := NewHasher(pepper)
	before := h.Hash(knownKey)
	pepper[0] = 'X'
	if got := h.Hash(knownKey); got != before {
		t.Errorf("changing the caller's pepper slice changed the digest")
	}
}

func TestHasherConcurrent(t *testing.T) {
	h := NewHasher([]byte("pepper"))
	keys := make([]string, 8)
	want := make([][32]byte, len(keys))
	for i := range keys {
		keys[i] = mustGenerate(t, DefaultPrefix)
		want[i] = h.Hash(keys[i])
	}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for n := range 500 {
				i := (g + n) % len(keys)
				if got := h.Hash(keys[i]); got != want[i] {
					t.Errorf("concurrent Hash(key %d) = %x, want %x", i, got, want[i])
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func TestZeroAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	key := mustGenerate(t, DefaultPrefix)
	sha, mac := NewHasher(nil), NewHasher([]byte("pepper"))
	mac.Hash(key) // fill the pool
	tests := []struct {
		name string
		fn   func()
	}{
		{"Parse", func() { Parse(key) }},
		{"DisplayPrefix", func() { DisplayPrefix(key) }},
		{"Hash SHA-256", func() { sha.Hash(key) }},
		{"Hash HMAC", func() { mac.Hash(key) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.fn); got != 0 {
				t.Errorf("got %v allocations, want 0", got)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(knownKey)
	f.Add(mustGenerate(f, DefaultPrefix))
	f.Add(mustGenerate(f, "my_app_live"))
	f.Add("")
	f.Add("kw_live_")
	f.Add(strings.Repeat("_", MaxLen))
	f.Fuzz(func(t *testing.T, key string) {
		prefix, ok := Parse(key)
		if !ok {
			if prefix != "" {
				t.Errorf("rejected key came with prefix %q", prefix)
			}
			return
		}
		if !ValidPrefix(prefix) {
			t.Errorf("accepted key has invalid prefix %q", prefix)
		}
		if got, want := len(key), len(prefix)+1+RandomLen+ChecksumLen; got != want {
			t.Errorf("accepted key has length %d, want %d", got, want)
		}
		if !strings.HasPrefix(DisplayPrefix(key), prefix+"_") {
			t.Errorf("DisplayPrefix does not start with the parsed prefix")
		}
		// Any valid prefix the fuzzer found must also generate parseable keys.
		generated := mustGenerate(t, prefix)
		if got, ok := Parse(generated); !ok || got != prefix {
			t.Errorf("Parse(Generate(%q)) = %q, %v", prefix, got, ok)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	key := mustGenerate(b, DefaultPrefix)
	b.ReportAllocs()
	for b.Loop() {
		Parse(key)
	}
}

func BenchmarkHash(b *testing.B) {
	key := mustGenerate(b, DefaultPrefix)
	for _, bb := range []struct {
		name string
		h    *Hasher
	}{
		{"sha256", NewHasher(nil)},
		{"hmac", NewHasher([]byte("0123456789abcdef0123456789abcdef"))},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bb.h.Hash(key)
			}
		})
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(DefaultPrefix); err != nil {
			b.Fatal(err)
		}
	}
}
