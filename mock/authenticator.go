package mock

import (
	"context"
	"net/netip"

	"keyward"
)

var _ keyward.Authenticator = (*Authenticator)(nil)

// Authenticator is a mock of keyward.Authenticator.
type Authenticator struct {
	AuthenticateFn func(ctx context.Context, key string, remoteIP netip.Addr) (*keyward.Principal, error)
}

// Authenticate calls AuthenticateFn.
func (a *Authenticator) Authenticate(ctx context.Context, key string, remoteIP netip.Addr) (*keyward.Principal, error) {
	return a.AuthenticateFn(ctx, key, remoteIP)
}
