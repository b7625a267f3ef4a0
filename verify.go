package keyward

import (
	"context"
	"encoding/json"
	"time"
)

// Verification reason codes, one per answer. Checks run in this order:
// not found, revoked, disabled, expired, IP, permissions.
const (
	CodeValid                   = "VALID"
	CodeNotFound                = "NOT_FOUND"
	CodeRevoked                 = "REVOKED"
	CodeDisabled                = "DISABLED"
	CodeExpired                 = "EXPIRED"
	CodeIPNotAllowed            = "IP_NOT_ALLOWED"
	CodeInsufficientPermissions = "INSUFFICIENT_PERMISSIONS"
	CodeRateLimited             = "RATE_LIMITED"
	CodeUsageExceeded           = "USAGE_EXCEEDED"
)

// VerifyRequest asks whether a presented key is valid.
type VerifyRequest struct {
	Key string `json:"key"`
	// Permissions is a query such as "a.read AND (b.write OR admin:*)".
	Permissions string `json:"permissions,omitempty"`
	// IP and UserAgent describe the client of the caller's own API. When IP
	// is empty the verify request's remote address counts.
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// VerifyResult is the answer. A NOT_FOUND answer carries only Valid and
// Code: it must not tell a guesser anything. Every other answer carries
// every field, null or empty where the key has no value.
type VerifyResult struct {
	Valid            bool            `json:"valid"`
	Code             string          `json:"code"`
	KeyID            string          `json:"key_id,omitempty"`
	Name             string          `json:"name,omitempty"`
	OwnerID          string          `json:"owner_id,omitempty"`
	ServiceAccountID string          `json:"service_account_id,omitempty"`
	Permissions      []string        `json:"permissions,omitempty"`
	Metadata         json.RawMessage `json:"metadata,omitempty"`
	ExpiresAt        *time.Time      `json:"expires_at,omitempty"`
}

// MarshalJSON writes the answer's fixed shape.
func (r VerifyResult) MarshalJSON() ([]byte, error) {
	if r.Code == CodeNotFound {
		return json.Marshal(struct {
			Valid bool   `json:"valid"`
			Code  string `json:"code"`
		}{r.Valid, r.Code})
	}
	metadata := r.Metadata
	if len(metadata) == 0 {
		metadata = json.RawMessage("{}")
	}
	return json.Marshal(struct {
		Valid            bool            `json:"valid"`
		Code             string          `json:"code"`
		KeyID            string          `json:"key_id"`
		Name             string          `json:"name"`
		OwnerID          *string         `json:"owner_id"`
		ServiceAccountID *string         `json:"service_account_id"`
		Permissions      []string        `json:"permissions"`
		Metadata         json.RawMessage `json:"metadata"`
		ExpiresAt        *time.Time      `json:"expires_at"`
	}{r.Valid, r.Code, r.KeyID, r.Name, nullString(r.OwnerID), nullString(r.ServiceAccountID),
		nonNil(r.Permissions), metadata, r.ExpiresAt})
}

// VerifyService answers verifications for the caller's org.
type VerifyService interface {
	// Verify needs admin:api-keys:verify. A key of another org answers
	// NOT_FOUND. Returns EINVALID for a malformed request (a bad permission
	// query or IP), never for a bad key.
	Verify(ctx context.Context, req VerifyRequest) (*VerifyResult, error)
}
