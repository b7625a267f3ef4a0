package keyward

import (
	"context"
	"net/netip"
)

// Management permissions. A key holding them may call Keyward's own API for
// its org; `*` and `admin:*` cover them all.
const (
	PermKeysCreate            = "admin:api-keys:create"
	PermKeysRead              = "admin:api-keys:read"
	PermKeysUpdate            = "admin:api-keys:update"
	PermKeysDelete            = "admin:api-keys:delete"
	PermKeysVerify            = "admin:api-keys:verify"
	PermServiceAccountsCreate = "admin:service-accounts:create"
	PermServiceAccountsRead   = "admin:service-accounts:read"
	PermServiceAccountsDelete = "admin:service-accounts:delete"
	PermAuditRead             = "admin:audit:read"
	PermOrgRead               = "admin:org:read"
	PermOrgUpdate             = "admin:org:update"
	PermUsageRead             = "admin:usage:read"
	// PermRoot is what the first key of an org holds.
	PermRoot = "*"
)

// Authenticator turns a key presented to the management API into the
// Principal that calls it.
type Authenticator interface {
	// Authenticate returns EUNAUTHORIZED for a missing, unknown, revoked,
	// disabled, expired or deleted key, and EFORBIDDEN when the key's
	// allowed IPs exclude remoteIP.
	Authenticate(ctx context.Context, key string, remoteIP netip.Addr) (*Principal, error)
}
