package authz

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckPermission(t *testing.T) {
	tests := []struct {
		p       string
		wantErr string // "" for valid
	}{
		{"nodes.read.own", ""},
		{"admin:api-keys:create", ""},
		{"admin:*", ""},
		{"*", ""},
		{"a.*.c", ""},
		{"*.*", ""},
		{"mixed.style:ok", ""},
		{"UPPER_lower-09", ""},
		{strings.Repeat("a", MaxPermissionLen), ""},
		{"", "permission is empty"},
		{strings.Repeat("a", MaxPermissionLen+1), "permission is longer than 255 characters"},
		{".a", "empty segment at position 1"},
		{"a.", "empty segment at position 2"},
		{"a..b", "empty segment at position 3"},
		{"a.:b", "empty segment at position 3"},
		{":", "empty segment at position 1"},
		{"a.b!", "invalid character '!' at position 4"},
		{"a b", "invalid character ' ' at position 2"},
		{"a/b", "invalid character '/' at position 2"},
		{"nodes.réad", "invalid character 'é' at position 8"},
		{"ad*", `"*" must be a whole segment at position 3`},
		{"admin:*x", `"*" must be a whole segment at position 7`},
		{"**", `"*" must be a whole segment at position 1`},
	}
	for _, tt := range tests {
		t.Run(tt.p, func(t *testing.T) {
			err := CheckPermission(tt.p)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("got %q, want %q", got, tt.wantErr)
			}
			if ok := valid(tt.p); ok != (tt.wantErr == "") {
				t.Errorf("valid = %v, disagrees with CheckPermission", ok)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		granted, requested string
		want               bool
	}{
		// The examples the rest of Keyward relies on.
		{"*", "admin:api-keys:create", true},
		{"*", "a", true},
		{"*", "*", true},
		{"*", "a.*.c", true},
		{"admin:*", "admin:api-keys:create", true},
		{"admin:*", "admin", false},
		{"admin:api-keys:create", "*", false},
		{"admin:*", "admin:api-keys:*", true},
		{"admin:api-keys:*", "admin:*", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.*.c", true},
		{"a.b.c", "a.*.c", false},

		// Regressions: separators used to be interchangeable, which let a
		// customer's own admin.* cover Keyward's management permissions.
		{"admin.*", "admin:api-keys:create", false},
		{"admin.*", "admin:audit:read", false},
		{"nodes.read", "nodes:read", false},

		// Exact matches and near misses.
		{"nodes.read", "nodes.read", true},
		{"nodes.read", "nodes.write", false},
		{"nodes.read", "nodes.read.own", false},
		{"nodes.read.own", "nodes.read", false},
		{"nodes.read", "Nodes.read", false},
		{"admin", "admin:api-keys", false},

		// Middle wildcards match exactly one segment.
		{"a.*.c", "a.c", false},
		{"a.*.c", "a.b.b.c", false},
		{"a.*.c", "a.b.d", false},
		{"a.*.c", "a.b.c.d", false},
		{"*.read", "nodes.read", true},
		{"*.read", "read", false},
		{"*.read", "*.read", true},
		{"*.read", "*", false},
		{"a.*.*", "a.b.c", true},
		{"a.*.*", "a.b.c.d", true},
		{"a.*.*", "a.b", false},
		{"a.*.*", "a.*", false},

		// A trailing wildcard needs at least one more segment.
		{"a.*", "a.b", true},
		{"a.*", "a.b.c.d", true},
		{"a.*", "a.*.c", true},
		{"a.*", "a.*", true},
		{"a.*", "a", false},
		{"a.*", "b.c", false},
		{"a.b.*", "a.*", false},
		{"a.b.*", "a.*.c", false},
		{"a.*", "*", false},

		// Separators are significant, position by position, and one
		// permission may mix them.
		{"nodes:read", "nodes.read", false},
		{"admin.*", "admin.users.read", true},
		{"admin.*", "admin:*", false},
		{"admin:*", "admin.*", false},
		{"admin:*", "admin.x", false},
		{"admin:api-keys:create", "admin.api-keys.create", false},
		{"admin:api-keys.create", "admin.api-keys:create", false},
		{"admin:api-keys.create", "admin:api-keys:create", false},
		{"admin:api-keys.create", "admin:api-keys.create", true},
		{"*.read", "nodes:read", false},
		{"*:read", "nodes:read", true},
		{"a.*.c", "a:b.c", false},
		{"a.*.c", "a.b:c", false},
		{"a.*:c", "a.b:c", true},
		{"a.*:c", "a.*:c", true},
		{"a.*:c", "a.*.c", false},
		{"a:*.*", "a:b.c:d", true},
		{"a:*.*", "a:b:c", false},

		// A trailing wildcard takes the rest whatever its separators, but
		// the separator before it must match.
		{"admin:*", "admin:a.b", true},
		{"admin:*", "admin:api-keys.*", true},
		{"admin:*", "admin:*.x", true},
		{"a.*", "a.*:c", true},
		{"a.b:*", "a.b:c.d:e", true},
		{"a.b:*", "a.b.c", false},
		{"*", "admin.x:y", true},
		{"*", "a:*", true},

		// Invalid permissions cover nothing and are covered by nothing.
		{"", "", false},
		{"*", "", false},
		{"*", "a..b", false},
		{"*", "ad*", false},
		{"ad*", "ad*", false},
		{"a.", "a.", false},
		{"", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.granted+" covers "+tt.requested, func(t *testing.T) {
			if got := Covers(tt.granted, tt.requested); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCoversIsLanguageInclusion checks Covers exhaustively against its
// definition on a small universe: granted covers requested exactly when
// every concrete permission that requested matches, granted matches too.
func TestCoversIsLanguageInclusion(t *testing.T) {
	// Patterns of 1..3 segments over {x, y, *}; concrete permissions of
	// 1..4 segments over {x, y, z}; both with every mix of separators. z
	// appears in no pattern, so it stands for "any other segment"; four
	// segments exceed every pattern by one, enough to tell a trailing "*"
	// from a middle one and to vary the separators after a trailing "*".
	patterns := permissions([]string{"x", "y", "*"}, 3)
	concrete := permissions([]string{"x", "y", "z"}, 4)
	// matched[i][k] reports whether patterns[i] matches concrete[k].
	matched := make([][]bool, len(patterns))
	for i, p := range patterns {
		matched[i] = make([]bool, len(concrete))
		for k, c := range concrete {
			matched[i][k] = matches(p, c)
		}
	}
	for i, g := range patterns {
		for j, r := range patterns {
			want := true
			for k := range concrete {
				if matched[j][k] && !matched[i][k] {
					want = false
					break
				}
			}
			if got := Covers(g, r); got != want {
				t.Errorf("Covers(%q, %q) = %v, want %v", g, r, got, want)
			}
		}
	}
}

// permissions returns every permission of 1..maxLen segments from
// alphabet, joined by every combination of '.' and ':'.
func permissions(alphabet []string, maxLen int) []string {
	out := append([]string(nil), alphabet...)
	prev := alphabet
	for range maxLen - 1 {
		var next []string
		for _, p := range prev {
			for _, sep := range []string{".", ":"} {
				for _, a := range alphabet {
					next = append(next, p+sep+a)
				}
			}
		}
		out = append(out, next...)
		prev = next
	}
	return out
}

// split returns the segments of a valid permission and the separators
// between them, written independently of the package's own parsing.
func split(p string) (segs []string, seps []byte) {
	start := 0
	for i := range len(p) {
		if p[i] == '.' || p[i] == ':' {
			segs = append(segs, p[start:i])
			seps = append(seps, p[i])
			start = i + 1
		}
	}
	return append(segs, p[start:]), seps
}

// matches is the definition of a pattern matching a concrete permission,
// written independently of Covers: segment by segment, a "*" matching any
// one segment and a trailing "*" any one or more; separator by separator,
// every separator of the pattern matching the concrete one at the same
// position, so that those after a trailing "*" are free.
func matches(pattern, concrete string) bool {
	ps, pd := split(pattern)
	cs, cd := split(concrete)
	last := len(ps) - 1
	if ps[last] == "*" {
		if len(cs) < len(ps) {
			return false
		}
	} else if len(cs) != len(ps) {
		return false
	}
	for i, seg := range ps {
		if seg != "*" && seg != cs[i] {
			return false
		}
	}
	for i, sep := range pd {
		if sep != cd[i] {
			return false
		}
	}
	return true
}

func TestAllowed(t *testing.T) {
	tests := []struct {
		name      string
		granted   []string
		requested string
		want      bool
	}{
		{"nothing granted", nil, "nodes.read", false},
		{"root", []string{"*"}, "admin:api-keys:create", true},
		{"exact", []string{"nodes.read", "nodes.write"}, "nodes.write", true},
		{"other separator", []string{"nodes.read"}, "nodes:read", false},
		{"namespace wildcard", []string{"billing.read", "admin:*"}, "admin:audit:read", true},
		{"customer admin namespace is not management", []string{"admin.*"}, "admin:audit:read", false},
		{"customer admin namespace", []string{"admin.*"}, "admin.audit.read", true},
		{"not granted", []string{"billing.read", "admin:*"}, "billing.write", false},
		{"invalid granted entry skipped", []string{"ad*", "nodes.read"}, "nodes.read", true},
		{"invalid requested", []string{"*"}, "a..b", false},
		{"empty requested", []string{"*"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Allowed(tt.granted, tt.requested); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUncovered(t *testing.T) {
	tests := []struct {
		name               string
		granted, requested []string
		want               []string
	}{
		{
			name:      "narrow key cannot mint root",
			granted:   []string{"admin:api-keys:create"},
			requested: []string{"*"},
			want:      []string{"*"},
		},
		{
			name:      "narrow key cannot mint a sibling permission",
			granted:   []string{"admin:api-keys:create"},
			requested: []string{"admin:api-keys:create", "admin:audit:read"},
			want:      []string{"admin:audit:read"},
		},
		{
			name:      "narrow key cannot mint a wildcard over its own permission",
			granted:   []string{"admin:api-keys:create"},
			requested: []string{"admin:api-keys:*"},
			want:      []string{"admin:api-keys:*"},
		},
		{
			name:      "namespace key mints inside the namespace",
			granted:   []string{"admin:*"},
			requested: []string{"admin:audit:read", "admin:api-keys:*"},
		},
		{
			name:      "namespace key cannot mint outside it",
			granted:   []string{"admin:*"},
			requested: []string{"admin:audit:read", "billing.read", "admin"},
			want:      []string{"billing.read", "admin"},
		},
		{
			name:      "root mints anything",
			granted:   []string{"*"},
			requested: []string{"*", "a.b.c", "x:*"},
		},
		{
			name:      "union of grants",
			granted:   []string{"nodes.read", "billing:*"},
			requested: []string{"nodes.read", "billing:invoices.read", "nodes.write"},
			want:      []string{"nodes.write"},
		},
		{
			name:      "customer admin namespace key cannot mint management permissions",
			granted:   []string{"admin.*"},
			requested: []string{"admin.users.read", "admin:api-keys:create", "admin:*", "*"},
			want:      []string{"admin:api-keys:create", "admin:*", "*"},
		},
		{
			name:      "other separator is another permission",
			granted:   []string{"nodes.read"},
			requested: []string{"nodes:read"},
			want:      []string{"nodes:read"},
		},
		{
			name:      "nothing requested",
			granted:   []string{"nodes.read"},
			requested: nil,
		},
		{
			name:      "nothing granted",
			granted:   nil,
			requested: []string{"nodes.read"},
			want:      []string{"nodes.read"},
		},
		{
			name:      "invalid requested is never covered",
			granted:   []string{"*"},
			requested: []string{"a..b"},
			want:      []string{"a..b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Uncovered(tt.granted, tt.requested)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Uncovered mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllowedZeroAllocations(t *testing.T) {
	granted := []string{"nodes.read", "billing:*", "admin:api-keys:*"}
	if got := testing.AllocsPerRun(100, func() { Allowed(granted, "admin:api-keys:create") }); got != 0 {
		t.Errorf("got %v allocations, want 0", got)
	}
}

func FuzzCovers(f *testing.F) {
	seeds := [][3]string{
		{"*", "admin:*", "admin:api-keys:create"},
		{"a.*", "a.*.c", "a.b.c"},
		{"a.*.*", "a.*.c", "a.b.c"},
		{"*.b", "a.b", "a:b"},
		{"a.*.c", "a.b.c", "a.b.c.d"},
		{"admin.*", "admin:api-keys:create", "admin:audit:read"},
		{"admin:*", "admin:a.b", "admin.x"},
		{"ad*", "", "a..b"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		for _, p := range []string{a, b, c} {
			valid := CheckPermission(p) == nil
			if valid != Covers(p, p) {
				t.Errorf("CheckPermission(%q) valid = %v, but Covers(p, p) = %v", p, valid, !valid)
			}
			if valid != Covers("*", p) {
				t.Errorf("CheckPermission(%q) valid = %v, but Covers(\"*\", p) = %v", p, valid, !valid)
			}
		}
		ab := Covers(a, b)
		if ab && (CheckPermission(a) != nil || CheckPermission(b) != nil) {
			t.Errorf("Covers(%q, %q) = true for an invalid permission", a, b)
		}
		if CheckPermission(a) == nil && CheckPermission(b) == nil {
			if want := coversReference(a, b); ab != want {
				t.Errorf("Covers(%q, %q) = %v, want %v", a, b, ab, want)
			}
		}
		if ab && Covers(b, c) && !Covers(a, c) {
			t.Errorf("Covers(%q, %q) and Covers(%q, %q), but not Covers(%q, %q)", a, b, b, c, a, c)
		}
		// Every separator of a permission comes before its trailing "*",
		// if it has one, so no wildcard can excuse a different one: a
		// permission and its copy with one separator swapped never cover
		// each other.
		if CheckPermission(a) == nil {
			for i := range len(a) {
				if a[i] != '.' && a[i] != ':' {
					continue
				}
				swapped := a[:i] + swapSeparators(a[i:i+1]) + a[i+1:]
				if Covers(a, swapped) || Covers(swapped, a) {
					t.Errorf("Covers(%q, %q) = %v and the reverse = %v, want false both ways",
						a, swapped, Covers(a, swapped), Covers(swapped, a))
				}
			}
		}
		// Which separator is which does not matter, only where they agree:
		// swapping them all on both sides changes nothing.
		if got := Covers(swapSeparators(a), swapSeparators(b)); got != ab {
			t.Errorf("Covers(%q, %q) = %v, but %v with all separators swapped", a, b, ab, got)
		}
	})
}

// coversReference is a reference implementation of Covers on valid
// permissions, kept simple rather than fast: a granted trailing "*" needs
// requested to be at least as long; otherwise the lengths must be equal and
// requested must not end in "*"; the segments before a granted trailing "*"
// must match one to one, a granted "*" matching anything; and every
// separator of granted must equal requested's at the same position.
func coversReference(granted, requested string) bool {
	g, gsep := split(granted)
	r, rsep := split(requested)
	n := len(g)
	if g[n-1] == "*" {
		if len(r) < n {
			return false
		}
		n--
	} else if r[len(r)-1] == "*" || len(r) != n {
		return false
	}
	for i := range n {
		if g[i] != "*" && g[i] != r[i] {
			return false
		}
	}
	return string(gsep) == string(rsep[:len(gsep)])
}

func swapSeparators(p string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return ':'
		case ':':
			return '.'
		}
		return r
	}, p)
}

func BenchmarkAllowed(b *testing.B) {
	granted := []string{"nodes.read.own", "nodes.write.own", "billing:invoices:read", "admin:api-keys:*"}
	for _, bb := range []struct{ name, requested string }{
		{"last grant", "admin:api-keys:create"},
		{"denied", "admin:audit:read"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Allowed(granted, bb.requested)
			}
		})
	}
}

func ExampleCovers() {
	fmt.Println(Covers("admin:*", "admin:api-keys:create"))
	fmt.Println(Covers("admin:*", "admin"))
	fmt.Println(Covers("a.b.c", "a.*.c"))
	fmt.Println(Covers("nodes.read", "nodes:read"))
	fmt.Println(Covers("admin.*", "admin:api-keys:create"))
	// Output:
	// true
	// false
	// false
	// false
	// false
}
