package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"keyward"
)

// forwardedForHeader is where proxies note the client they forward for:
// each appends the address of its own peer, so the nearest hop is last.
const forwardedForHeader = "X-Forwarded-For"

// ParseTrustedProxies parses a comma-separated list of IP addresses and
// CIDRs, as the allowlists take them (keyward.ParseIPRange), for
// Server.TrustedProxies. A blank list trusts no proxy; an entry that does
// not parse, or that holds every address (a /0, which would let anyone
// name any client), is an error that quotes it.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var nets []netip.Prefix
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		p, err := keyward.ParseIPRange(entry)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %v", entry, err)
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("entry %q: trusts every address, so any client could claim any address", entry)
		}
		nets = append(nets, p)
	}
	return nets, nil
}

// clientIP is the address of the client behind r: its TCP peer's, unless
// that peer is a trusted proxy, which says in X-Forwarded-For whom it
// forwards for. The header of any other peer is ignored: a client can
// write whatever it likes there.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	peer := remoteIP(r)
	if !inNets(s.TrustedProxies, peer) {
		return peer
	}
	return forwardedClient(peer, r.Header.Values(forwardedForHeader), s.TrustedProxies)
}

// remoteIP is the address of the peer; IPv4-mapped IPv6 becomes IPv4 so it
// matches IPv4 allow lists. It is the zero Addr when unknown.
func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// forwardedClient returns the client that the X-Forwarded-For lines of a
// request from peer, a trusted proxy, name. Only the trusted hops are
// believed, so it walks the entries from the nearest hop outwards, past
// those in trusted, and takes the first one that is not. An entry that
// does not parse ends the walk at the last trusted hop: what lies beyond
// it cannot be read. When every entry is trusted it takes the leftmost,
// the farthest hop known.
func forwardedClient(peer netip.Addr, lines []string, trusted []netip.Prefix) netip.Addr {
	client := peer
	for i := len(lines) - 1; i >= 0; i-- {
		// Entries are taken from the right of rest, so that a long header
		// costs no allocation.
		rest := lines[i]
		for done := false; !done; {
			entry := rest
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				done = true
			}
			addr, err := netip.ParseAddr(strings.TrimSpace(entry))
			if err != nil || addr.Zone() != "" {
				return client
			}
			client = addr.Unmap()
			if !inNets(trusted, client) {
				return client
			}
		}
	}
	return client
}

// inNets reports whether addr is in one of nets.
func inNets(nets []netip.Prefix, addr netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}
