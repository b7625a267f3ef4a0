package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"  ", nil, ""},
		{"127.0.0.1", []string{"127.0.0.1/32"}, ""},
		{"10.0.0.0/8, 192.168.1.7/24 ,::1,2001:db8::/32", []string{"10.0.0.0/8", "192.168.1.0/24", "::1/128", "2001:db8::/32"}, ""},
		{"::ffff:10.0.0.1", []string{"10.0.0.1/32"}, ""},
		{"10.0.0.1,nginx", nil, `entry "nginx": not an IP address or CIDR`},
		{"10.0.0.1,", nil, `entry "": empty address`},
		{"10.0.0.0/33", nil, `entry "10.0.0.0/33": not an IP address or CIDR`},
		{"fe80::1%eth0", nil, `entry "fe80::1%eth0": IPv6 zones are not allowed`},
		{"10.0.0.1, 0.0.0.0/0", nil, `entry "0.0.0.0/0": trusts every address, so any client could claim any address`},
		{"::/0", nil, `entry "::/0": trusts every address, so any client could claim any address`},
		{"::ffff:0:0/96", nil, `entry "::ffff:0:0/96": trusts every address, so any client could claim any address`},
	}
	for _, tt := range tests {
		got, err := ParseTrustedProxies(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseTrustedProxies(%q): got error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTrustedProxies(%q): %v", tt.in, err)
			continue
		}
		var gotS []string
		for _, p := range got {
			gotS = append(gotS, p.String())
		}
		if diff := cmp.Diff(tt.want, gotS); diff != "" {
			t.Errorf("ParseTrustedProxies(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// The client address that services see, the access log shows and
// allowlists check is the peer's, or, from a trusted proxy, the nearest
// address in X-Forwarded-For that is not a trusted proxy.
func TestClientIP(t *testing.T) {
	const trusted = "10.0.0.0/8, 2001:db8::/32"
	tests := []struct {
		name    string
		trusted string
		peer    string   // RemoteAddr
		xff     []string // X-Forwarded-For lines, in order
		want    string   // "" for none
	}{
		{"no header", trusted, "10.0.0.1:5000", nil, "10.0.0.1"},
		{"no trusted proxies", "", "10.0.0.1:5000", []string{"203.0.113.5"}, "10.0.0.1"},
		{"spoof from an untrusted peer", trusted, "198.51.100.7:5000", []string{"203.0.113.5"}, "198.51.100.7"},
		{"one proxy", trusted, "10.0.0.1:5000", []string{"203.0.113.5"}, "203.0.113.5"},
		{"chain of proxies", trusted, "10.0.0.1:5000", []string{"203.0.113.5, 10.0.0.2, 10.0.0.3"}, "203.0.113.5"},
		{"client's own entry ignored", trusted, "10.0.0.1:5000", []string{"1.2.3.4, 203.0.113.5, 10.0.0.2"}, "203.0.113.5"},
		{"several lines", trusted, "10.0.0.1:5000", []string{"1.2.3.4", "203.0.113.5", "10.0.0.2"}, "203.0.113.5"},
		{"every entry trusted", trusted, "10.0.0.1:5000", []string{"10.0.0.5, 10.0.0.2"}, "10.0.0.5"},
		{"spaces", trusted, "10.0.0.1:5000", []string{"  203.0.113.5 ,10.0.0.2  "}, "203.0.113.5"},
		{"IPv6", trusted, "[2001:db8::1]:443", []string{"2a00:1450::1, 2001:db8::2"}, "2a00:1450::1"},
		{"IPv6 peer untrusted", trusted, "[2a00:1450::9]:443", []string{"2a00:1450::1"}, "2a00:1450::9"},
		{"IPv4-mapped peer and entries", trusted, "[::ffff:10.0.0.1]:5000", []string{"::ffff:203.0.113.5, ::ffff:10.0.0.2"}, "203.0.113.5"},
		{"malformed entry stops at the last trusted hop", trusted, "10.0.0.1:5000", []string{"203.0.113.5, garbage, 10.0.0.2"}, "10.0.0.2"},
		{"malformed nearest entry", trusted, "10.0.0.1:5000", []string{"203.0.113.5, garbage"}, "10.0.0.1"},
		{"entry with a port", trusted, "10.0.0.1:5000", []string{"203.0.113.5:1234"}, "10.0.0.1"},
		{"entry with a zone", trusted, "10.0.0.1:5000", []string{"fe80::1%eth0"}, "10.0.0.1"},
		{"empty entry", trusted, "10.0.0.1:5000", []string{"203.0.113.5,"}, "10.0.0.1"},
		{"empty header", trusted, "10.0.0.1:5000", []string{""}, "10.0.0.1"},
		{"blank header", trusted, "10.0.0.1:5000", []string{"   "}, "10.0.0.1"},
		{"unknown peer", trusted, "@", []string{"203.0.113.5"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			var err error
			if s.TrustedProxies, err = ParseTrustedProxies(tt.trusted); err != nil {
				t.Fatal(err)
			}
			var got netip.Addr
			s.keys.WhoAmIFn = func(ctx context.Context) (*keyward.Key, error) {
				got = keyward.RequestInfoFromContext(ctx).RemoteIP
				return testKeyRecord(), nil
			}
			req := httptest.NewRequest(http.MethodGet, "/v1/whoami", nil)
			req.RemoteAddr = tt.peer
			req.Header.Set("Authorization", "Bearer "+testSecret)
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status: got %d, want 200: %s", rec.Code, rec.Body)
			}
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Errorf("client address: got %v, want %v", got, want)
			}
			s.Close()
			var logged any
			for _, line := range s.log.lines(t) {
				if line["msg"] == "http request" {
					logged = line["remote_ip"]
				}
			}
			var wantLogged any // absent for an unknown peer
			if tt.want != "" {
				wantLogged = tt.want
			}
			if logged != wantLogged {
				t.Errorf("access log remote_ip: got %v, want %v", logged, wantLogged)
			}
		})
	}
}

// forwardedClient, which walks the header in place, picks the entry that a
// plain split of the header picks, and never an address that is neither
// the peer nor in the header.
func FuzzForwardedClient(f *testing.F) {
	for _, s := range []string{"", "203.0.113.5", "1.2.3.4, 203.0.113.5, 10.0.0.2", "10.0.0.5,10.0.0.2", "203.0.113.5, x, 10.0.0.2",
		"a\n203.0.113.5", "::ffff:10.0.0.2, 2a00::1", "fe80::1%eth0", ",,", " 10.0.0.1 ,\n\n"} {
		f.Add(s)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	peer := netip.MustParseAddr("10.0.0.1")
	f.Fuzz(func(t *testing.T, header string) {
		lines := strings.Split(header, "\n")
		got := forwardedClient(peer, lines, trusted)

		want := peer
		entries := strings.Split(strings.Join(lines, ","), ",")
		for i := len(entries) - 1; i >= 0; i-- {
			addr, err := netip.ParseAddr(strings.TrimSpace(entries[i]))
			if err != nil || addr.Zone() != "" {
				break
			}
			want = addr.Unmap()
			if !inNets(trusted, want) {
				break
			}
		}
		if got != want {
			t.Errorf("forwardedClient(%q) = %v, want %v", lines, got, want)
		}
		if got.Is4In6() || got.Zone() != "" {
			t.Errorf("forwardedClient(%q) = %v, want an unmapped address without a zone", lines, got)
		}
	})
}
