package service

import (
	"context"
	"net/netip"
	"strings"

	"keyward"
	"keyward/authz"
)

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
	if err := v.err(); err != nil {
		return nil, err
	}
	return s.engine.Verify(ctx, p.OrgID, req.Key, ip, req.UserAgent, query)
}
