package keyward

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// Verification reason codes, one per answer. Checks run in this order:
// not found, revoked, disabled, expired, IP, permissions, rate limits,
// credits.
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
	// Cost is what a valid verification spends of the key's credits;
	// default 1, 0 checks the balance without spending.
	Cost *int64 `json:"cost,omitempty"`
	// RateLimits names the limits to apply and their costs; absent means
	// every limit of the key and its owner, at cost 1. A name that neither
	// has is invalid.
	RateLimits []RateLimitUse `json:"rate_limits,omitempty"`
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
	// RateLimits holds the applied limits, once the checks reach them.
	RateLimits []RateLimitState `json:"rate_limits,omitempty"`
	// Credits is nil for a key without credits.
	Credits *CreditsState `json:"credits,omitempty"`
}

// MarshalJSON writes the answer's fixed shape (see AppendJSON).
func (r VerifyResult) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(nil), nil
}

// AppendJSON appends the answer to b as encoding/json would write it:
// every field, null or empty where the key has none, or only valid and
// code for NOT_FOUND. Written by hand because it is the hot path's answer,
// where reflection would cost more than the verification itself.
func (r *VerifyResult) AppendJSON(b []byte) []byte {
	b = append(b, `{"valid":`...)
	b = strconv.AppendBool(b, r.Valid)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, r.Code)
	if r.Code == CodeNotFound {
		return append(b, '}')
	}
	b = append(b, `,"key_id":`...)
	b = appendJSONString(b, r.KeyID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, r.Name)
	b = append(b, `,"owner_id":`...)
	b = appendJSONNullString(b, r.OwnerID)
	b = append(b, `,"service_account_id":`...)
	b = appendJSONNullString(b, r.ServiceAccountID)
	b = append(b, `,"permissions":[`...)
	for i, p := range r.Permissions {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, p)
	}
	b = append(b, `],"metadata":`...)
	if len(r.Metadata) == 0 {
		b = append(b, "{}"...)
	} else {
		b = appendJSONRaw(b, r.Metadata)
	}
	b = append(b, `,"expires_at":`...)
	if r.ExpiresAt == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONTime(b, *r.ExpiresAt)
	}
	b = append(b, `,"rate_limits":[`...)
	for i, l := range r.RateLimits {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, l.Name)
		b = append(b, `,"limit":`...)
		b = strconv.AppendInt(b, l.Limit, 10)
		b = append(b, `,"remaining":`...)
		b = strconv.AppendInt(b, l.Remaining, 10)
		b = append(b, `,"reset":`...)
		b = appendJSONTime(b, l.Reset)
		b = append(b, '}')
	}
	b = append(b, `],"credits":`...)
	if r.Credits == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"remaining":`...)
		b = strconv.AppendInt(b, r.Credits.Remaining, 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// VerifyService answers verifications for the caller's org.
type VerifyService interface {
	// Verify needs admin:api-keys:verify. A key of another org answers
	// NOT_FOUND. Returns EINVALID for a malformed request (a bad permission
	// query, IP, cost, or a rate limit that the key does not have), never
	// for a bad key.
	Verify(ctx context.Context, req VerifyRequest) (*VerifyResult, error)
}
