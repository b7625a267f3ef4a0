package keyward_test

import (
	"testing"

	"keyward"
)

func TestParseIPRange(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"10.0.0.1", "10.0.0.1"},
		{"10.0.0.1/32", "10.0.0.1"},
		{"192.168.1.1/24", "192.168.1.0/24"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"2001:db8::1", "2001:db8::1"},
		{"2001:db8::1/64", "2001:db8::/64"},
		{"::ffff:10.1.2.3", "10.1.2.3"},
		{"::ffff:10.1.2.3/104", "10.0.0.0/8"},
		{"::/0", "::/0"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			p, err := keyward.ParseIPRange(tt.in)
			if err != nil {
				t.Fatalf("ParseIPRange(%q): %v", tt.in, err)
			}
			if got := keyward.FormatIPRange(p); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseIPRangeRejects(t *testing.T) {
	for _, in := range []string{"", "10.0.0", "10.0.0.256", "10.0.0.1/33", "2001:db8::/129", "fe80::1%eth0", "::ffff:10.0.0.0/64", "example.com", "10.0.0.1/", "/24", " 10.0.0.1"} {
		if p, err := keyward.ParseIPRange(in); err == nil {
			t.Errorf("ParseIPRange(%q) = %v, want an error", in, p)
		}
	}
}

func FuzzParseIPRange(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "192.168.1.1/24", "2001:db8::1/64", "::ffff:1.2.3.4/120", "fe80::1%eth0", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := keyward.ParseIPRange(s)
		if err != nil {
			return
		}
		// The stored spelling must parse back to the same range.
		again, err := keyward.ParseIPRange(keyward.FormatIPRange(p))
		if err != nil || again != p {
			t.Fatalf("%q: normalized %q parses to %v, %v; want %v", s, keyward.FormatIPRange(p), again, err, p)
		}
		if p.Addr().Is4In6() || p != p.Masked() {
			t.Fatalf("%q: %v is not normalized", s, p)
		}
	})
}
