package keyward

import (
	"context"
	"net/netip"
)

type contextKey int

const (
	principalContextKey contextKey = iota
	requestInfoContextKey
)

// Principal is the authenticated caller of the management API: a key.
type Principal struct {
	OrgID       string
	KeyID       string
	Permissions []string
}

// NewContextWithPrincipal returns a copy of ctx carrying p.
func NewContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalContextKey, p)
}

// PrincipalFromContext returns the caller, or nil when unauthenticated.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalContextKey).(*Principal)
	return p
}

// RequestInfo describes the HTTP request behind a call, for audit rows and
// for the default IP at verification.
type RequestInfo struct {
	RequestID string
	RemoteIP  netip.Addr
	UserAgent string
}

// NewContextWithRequestInfo returns a copy of ctx carrying info.
func NewContextWithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoContextKey, info)
}

// RequestInfoFromContext returns the request info, zero when absent.
func RequestInfoFromContext(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestInfoContextKey).(RequestInfo)
	return info
}
