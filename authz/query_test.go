package authz

import (
	"fmt"
	"strings"
	"testing"
)

func mustParseQuery(tb testing.TB, s string) *Query {
	tb.Helper()
	q, err := ParseQuery(s)
	if err != nil {
		tb.Fatalf("ParseQuery(%q): %v", s, err)
	}
	return q
}

func TestQueryEval(t *testing.T) {
	tests := []struct {
		query   string
		granted []string
		want    bool
	}{
		{"a.read", []string{"a.read"}, true},
		{"a.read", []string{"a:read"}, false},
		{"a.read", []string{"a.write"}, false},
		{"a.read", nil, false},
		{"a.read AND b.write", []string{"a.read", "b.write"}, true},
		{"a.read AND b.write", []string{"a.read"}, false},
		{"a.read OR b.write", []string{"b.write"}, true},
		{"a.read OR b.write", []string{"c.read"}, false},
		{"a.read AND (b.write OR admin:*)", []string{"a.read", "admin:*"}, true},
		{"a.read AND (b.write OR admin:*)", []string{"a.read", "b.write"}, true},
		{"a.read AND (b.write OR admin:*)", []string{"a.read", "b:write"}, false},
		{"a.read AND (b.write OR admin:*)", []string{"a.read", "admin.*"}, false},
		{"a.read AND (b.write OR admin:*)", []string{"a.read", "admin"}, false},
		{"a.read AND (b.write OR admin:*)", []string{"a.read", "admin:audit"}, false},
		{"a.read AND (b.write OR admin:*)", []string{"admin:audit"}, false},
		{"a.read AND (b.write OR admin:*)", []string{"*"}, true},
		// AND binds tighter than OR: x OR (y AND z).
		{"x OR y AND z", []string{"x"}, true},
		{"x OR y AND z", []string{"y"}, false},
		{"x OR y AND z", []string{"y", "z"}, true},
		{"y AND z OR x", []string{"x"}, true},
		// Parentheses override it: (x OR y) AND z.
		{"(x OR y) AND z", []string{"x"}, false},
		{"(x OR y) AND z", []string{"x", "z"}, true},
		{"((x))", []string{"x"}, true},
		{"(a OR b) AND (c OR d) AND e", []string{"b", "c", "e"}, true},
		{"(a OR b) AND (c OR d) AND e", []string{"b", "c"}, false},
		// A wildcard in the query is checked for coverage, not matched.
		{"a.*", []string{"a.b"}, false},
		{"a.*", []string{"a.*"}, true},
		{"\ta.read\nAND\r\nb.write ", []string{"a.read", "b.write"}, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s with %v", tt.query, tt.granted), func(t *testing.T) {
			q := mustParseQuery(t, tt.query)
			if got := q.Eval(tt.granted); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQueryString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a.read", "a.read"},
		{"  a.read  ", "a.read"},
		{"a.read AND b.write", "a.read AND b.write"},
		{"a   AND\tb", "a AND b"},
		{"x OR y AND z", "x OR y AND z"},
		{"(x OR y) AND z", "(x OR y) AND z"},
		{"x OR (y AND z)", "x OR y AND z"},
		{"(a AND b) AND c", "a AND b AND c"},
		{"a AND (b AND c)", "a AND b AND c"},
		{"a OR (b OR (c OR d))", "a OR b OR c OR d"},
		{"((a))", "a"},
		{"(a.read)AND(b.write OR admin:*)", "a.read AND (b.write OR admin:*)"},
		{"a AND ((b OR c) AND d)", "a AND (b OR c) AND d"},
		{"(a OR (b AND (c OR d)))", "a OR b AND (c OR d)"},
		{"nodes:read OR nodes.write", "nodes:read OR nodes.write"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := mustParseQuery(t, tt.in).String()
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if again := mustParseQuery(t, got).String(); again != got {
				t.Errorf("String of reparsed String = %q, want %q", again, got)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "query is empty"},
		{"blank", " \t\n", "query is empty"},
		{"too long", strings.Repeat("a", MaxQueryLen+1), "query is longer than 4096 characters"},
		{"unclosed", "(a OR b", `position 1: unbalanced parenthesis: "(" is never closed`},
		{"unclosed inner", "(a AND (b OR c)", `position 1: unbalanced parenthesis: "(" is never closed`},
		{"lone open", "(", `position 2: expected a permission or "(", found end of query`},
		{"extra close", "a OR b)", `position 7: unbalanced parenthesis: ")" without "("`},
		{"leading close", ")", `position 1: expected a permission or "(", found ")"`},
		{"empty parentheses", "a AND ()", "position 8: empty parentheses"},
		{"leading operator", "AND a", `position 1: expected a permission or "(", found "AND"`},
		{"double operator", "a AND OR b", `position 7: expected a permission or "(", found "OR"`},
		{"trailing operator", "a AND", "position 3: trailing operator AND has no right operand"},
		{"trailing operator in parentheses", "(a OR )", `position 7: expected a permission or "(", found ")"`},
		{"missing operator", "a b", `position 3: expected AND or OR, found "b"`},
		{"missing operator before parenthesis", "a (b)", `position 3: expected AND or OR, found "("`},
		{"missing operator in parentheses", "(a b)", `position 4: expected AND, OR or ")", found "b"`},
		{"lower-case operator", "a and b", `position 3: expected AND or OR, found "and": operators are upper case`},
		{"mixed-case operand", "a AND Or", `position 7: found "Or": operators are upper case`},
		{"bad character", "a.read AND b!", `position 13: invalid character '!' in permission "b!"`},
		{"empty segment", "a..b", `position 3: empty segment in permission "a..b"`},
		{"partial wildcard", "x OR ad*", `position 8: "*" must be a whole segment in permission "ad*"`},
		{"long permission", strings.Repeat("p", MaxPermissionLen+1), "position 1: permission is longer than 255 characters"},
		{"too deep", strings.Repeat("(", MaxQueryDepth+1) + "a" + strings.Repeat(")", MaxQueryDepth+1), "position 33: parentheses nested deeper than 32"},
		{"too many terms", strings.Repeat("a OR ", MaxQueryTerms) + "a", "position 1281: query has more than 256 permissions"},
		{"long word quoted short", "a " + strings.Repeat("b", 100), `position 3: expected AND or OR, found "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"...`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuery(tt.in)
			if err == nil {
				t.Fatalf("got query %q, want error %q", q, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseQueryLimitsAccepted(t *testing.T) {
	tests := []struct{ name, in string }{
		{"max depth", strings.Repeat("(", MaxQueryDepth) + "a" + strings.Repeat(")", MaxQueryDepth)},
		{"max terms", strings.Repeat("a OR ", MaxQueryTerms-1) + "a"},
		{"max length", strings.Repeat("p", MaxPermissionLen) + strings.Repeat(" ", MaxQueryLen-MaxPermissionLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseQuery(tt.in); err != nil {
				t.Errorf("got error %v, want none", err)
			}
		})
	}
}

func TestQueryEvalZeroAllocations(t *testing.T) {
	q := mustParseQuery(t, "a.read AND (b.write OR admin:*) AND (c OR d OR e.*)")
	granted := []string{"a.read", "admin:*", "e.*"}
	if !q.Eval(granted) {
		t.Fatalf("Eval = false, want true")
	}
	if got := testing.AllocsPerRun(100, func() { q.Eval(granted) }); got != 0 {
		t.Errorf("got %v allocations, want 0", got)
	}
}

func TestZeroQueryGrantsNothing(t *testing.T) {
	var q Query
	if q.Eval([]string{"*"}) {
		t.Errorf("zero Query.Eval([*]) = true, want false")
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"a.read",
		"a.read AND (b.write OR admin:*)",
		"x OR y AND z",
		"(a OR (b AND (c OR d)))",
		"(a.read)AND(b.write OR admin:*)",
		"a AND",
		"((a)",
		"a and b",
		"ad* OR a..b",
	} {
		f.Add(s)
	}
	granted := []string{"a.read", "admin:*", "x"}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s)
		if err != nil {
			if q != nil {
				t.Errorf("ParseQuery returned both a query and error %v", err)
			}
			return
		}
		canonical := q.String()
		if len(canonical) > MaxQueryLen {
			// Documented: String adds the spaces an input may omit next to
			// parentheses, which can push it over the length limit.
			return
		}
		q2, err := ParseQuery(canonical)
		if err != nil {
			t.Fatalf("ParseQuery(String()) = %v; String() = %q", err, canonical)
		}
		if got := q2.String(); got != canonical {
			t.Errorf("String() not stable: %q became %q", canonical, got)
		}
		if q.Eval(granted) != q2.Eval(granted) {
			t.Errorf("%q and its canonical form %q evaluate differently", s, canonical)
		}
	})
}

func BenchmarkQueryEval(b *testing.B) {
	q := mustParseQuery(b, "nodes.read.own AND (billing:invoices:write OR admin:*)")
	granted := []string{"nodes.read.own", "nodes.write.own", "billing:invoices:read", "admin:api-keys:*"}
	b.ReportAllocs()
	for b.Loop() {
		q.Eval(granted)
	}
}

func BenchmarkParseQuery(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseQuery("nodes.read.own AND (billing:invoices:write OR admin:*)"); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleParseQuery() {
	q, err := ParseQuery("nodes.read AND (billing:write OR admin:*)")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.Eval([]string{"nodes.read", "admin:*"}))
	fmt.Println(q.Eval([]string{"nodes.read", "billing.write"}))
	_, err = ParseQuery("nodes.read AND")
	fmt.Println(err)
	// Output:
	// true
	// false
	// position 12: trailing operator AND has no right operand
}
