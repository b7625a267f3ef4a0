package keyward

import (
	"errors"
	"net/netip"
	"strings"
)

// ParseIPRange parses an allowed-IP entry: an IPv4 or IPv6 address, or a
// CIDR. Host bits are cleared ("192.168.1.1/24" is 192.168.1.0/24) and
// IPv4-mapped IPv6 forms become IPv4, so that one range has one spelling
// and matching needs no special cases. Zones are rejected.
func ParseIPRange(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("empty address")
	}
	if !strings.Contains(s, "/") {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or CIDR")
		}
		if addr.Zone() != "" {
			return netip.Prefix{}, errors.New("IPv6 zones are not allowed")
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP address or CIDR")
	}
	addr, bits := p.Addr(), p.Bits()
	if addr.Is4In6() {
		if bits < 96 {
			return netip.Prefix{}, errors.New("IPv4-mapped CIDR must be /96 or longer")
		}
		addr, bits = addr.Unmap(), bits-96
	}
	return netip.PrefixFrom(addr, bits).Masked(), nil
}

// FormatIPRange writes a range the way it is stored and shown: a single
// address without its /32 or /128, anything wider as a CIDR.
func FormatIPRange(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}
