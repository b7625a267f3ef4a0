package service

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"keyward"
	"keyward/authz"
	"keyward/verify"
)

// maxVerifyCost bounds a verification's cost, of credits and of each rate
// limit.
const maxVerifyCost = 1_000_000_000

// Verify implements keyward.VerifyService.
func (s *Service) Verify(ctx context.Context, req keyward.VerifyRequest) (*keyward.VerifyResult, error) {
	p, err := authorize(ctx, keyward.PermKeysVerify)
	if err != nil {
		return nil, err
	}
	var v validator
	if req.Key == "" {
		v.add("key", "is required")
	}
	var query *authz.Query
	if strings.TrimSpace(req.Permissions) != "" {
		if query, err = authz.ParseQuery(req.Permissions); err != nil {
			v.add("permissions", err.Error())
		}
	}
	ip := keyward.RequestInfoFromContext(ctx).RemoteIP
	if req.IP != "" {
		if ip, err = netip.ParseAddr(req.IP); err != nil || ip.Zone() != "" {
			v.add("ip", "must be an IPv4 or IPv6 address")
		}
	}
	v.verifyCost("cost", req.Cost)
	v.rateLimitUses(req.RateLimits)
	if err := v.err(); err != nil {
		return nil, err
	}
	return s.engine.Verify(ctx, p.OrgID, verify.Input{
		Secret:     req.Key,
		IP:         ip,
		UserAgent:  req.UserAgent,
		Query:      query,
		Cost:       req.Cost,
		RateLimits: req.RateLimits,
	})
}

// verifyCost checks an optional cost; absent means 1.
func (v *validator) verifyCost(field string, cost *int64) {
	if cost != nil && (*cost < 0 || *cost > maxVerifyCost) {
		v.add(field, fmt.Sprintf("must be between 0 and %d", maxVerifyCost))
	}
}

// rateLimitUses checks the limits a verification names. Whether the key
// has them is the engine's to say, once it has found the key.
func (v *validator) rateLimitUses(uses []keyward.RateLimitUse) {
	eachRateLimit(v, uses, func(u keyward.RateLimitUse) string { return u.Name },
		func(name string) bool { return name != "" }, "is required",
		func(u keyward.RateLimitUse, field string) { v.verifyCost(field+"cost", u.Cost) })
}
