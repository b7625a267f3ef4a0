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
		{"nodes.read", "nodes:read", true},

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

		// Separators are interchangeable, even within one permission.
		{"admin.*", "admin:audit:read", true},
		{"admin:api-keys:create", "admin.api-keys.create", true},
		{"admin:api-keys.create", "admin.api-keys:create", true},

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
	// 1..4 segments over {x, y, z}. z appears in no pattern, so it stands
	// for "any other segment"; four segments exceed every pattern by one,
	// enough to tell a trailing "*" from a middle one.
	patterns := sequences([]string{"x", "y", "*"}, 3)
	concrete := sequences([]string{"x", "y", "z"}, 4)
	seps := []string{".", ":"}
	for i, g := range patterns {
		for j, r := range patterns {
			want := true
			for _, c := range concrete {
				if matches(r, c) && !matches(g, c) {
					want = false
					break
				}
			}
			// Vary the separators so that the answer cannot depend on them.
			gs := strings.Join(g, seps[i%2])
			rs := strings.Join(r, seps[j%2])
			if got := Covers(gs, rs); got != want {
				t.Errorf("Covers(%q, %q) = %v, want %v", gs, rs, got, want)
			}
		}
	}
}

// sequences returns every sequence of 1..maxLen elements of alphabet.
func sequences(alphabet []string, maxLen int) [][]string {
	var out [][]string
	prev := [][]string{nil}
	for range maxLen {
		var next [][]string
		for _, p := range prev {
			for _, a := range alphabet {
				next = append(next, append(append([]string(nil), p...), a))
			}
		}
		out = append(out, next...)
		prev = next
	}
	return out
}

// matches is the definition of a pattern matching a concrete permission,
// written independently of Covers.
func matches(pattern, concrete []string) bool {
	last := len(pattern) - 1
	if pattern[last] == "*" {
		if len(concrete) < len(pattern) {
			return false
		}
	} else if len(concrete) != len(pattern) {
		return false
	}
	for i, seg := range pattern {
		if seg != "*" && seg != concrete[i] {
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
		{"other separator", []string{"nodes.read"}, "nodes:read", true},
		{"namespace wildcard", []string{"billing.read", "admin:*"}, "admin:audit:read", true},
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
			requested: []string{"nodes:read", "billing.invoices.read", "nodes.write"},
			want:      []string{"nodes.write"},
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
			if want := coversBySegments(segments(a), segments(b)); ab != want {
				t.Errorf("Covers(%q, %q) = %v, want %v", a, b, ab, want)
			}
		}
		if ab && Covers(b, c) && !Covers(a, c) {
			t.Errorf("Covers(%q, %q) and Covers(%q, %q), but not Covers(%q, %q)", a, b, b, c, a, c)
		}
		// Swapping separators never changes the answer.
		if got, want := Covers(swapSeparators(a), b), Covers(a, b); got != want {
			t.Errorf("Covers(%q, %q) = %v, but %v with separators swapped", a, b, want, got)
		}
	})
}

// segments splits a valid permission.
func segments(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '.' || r == ':' })
}

// coversBySegments is a reference implementation of Covers on split, valid
// permissions, kept simple rather than fast: a granted trailing "*" needs
// requested to be at least as long; otherwise the lengths must be equal and
// requested must not end in "*"; the segments before a granted trailing "*"
// must match one to one, a granted "*" matching anything.
func coversBySegments(g, r []string) bool {
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
	return true
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
	fmt.Println(Covers("nodes.read", "nodes:read"))
	fmt.Println(Covers("a.b.c", "a.*.c"))
	// Output:
	// true
	// false
	// true
	// false
}
