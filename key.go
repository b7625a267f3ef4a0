package keyward

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Key is an API key's record. The secret itself is never part of it: only
// its hash, which is never serialized.
type Key struct {
	ID          string          `json:"id"`
	OrgID       string          `json:"org_id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	KeyPrefix   string          `json:"key_prefix"`
	Permissions []string        `json:"permissions"`
	AllowedIPs  []string        `json:"allowed_ips"`
	ExpiresAt   *time.Time      `json:"expires_at"`
	Enabled     bool            `json:"enabled"`
	Metadata    json.RawMessage `json:"metadata"`
	// RateLimits are the key's own named limits.
	RateLimits []RateLimit `json:"rate_limits"`
	// Credits is nil for a key that may be used without limit.
	Credits *Credits `json:"credits"`

	// OwnerID is the customer's own user id; ServiceAccountID a service
	// account of the org. At most one is set. Empty serializes as null.
	OwnerID          string `json:"owner_id"`
	ServiceAccountID string `json:"service_account_id"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// CreatedBy is the id of the key that created this one; empty for a root
	// key made by `keyward init` or the first `serve`.
	CreatedBy string `json:"created_by"`

	LastUsedAt        *time.Time `json:"last_used_at"`
	LastUsedIP        string     `json:"last_used_ip"`
	LastUsedUserAgent string     `json:"last_used_user_agent"`
	RevokedAt         *time.Time `json:"revoked_at"`
	DeletedAt         *time.Time `json:"deleted_at"`
	// RotatedFrom is the key this one replaced; RotatedTo the key that
	// replaced it. Empty serializes as null.
	RotatedFrom string `json:"rotated_from"`
	RotatedTo   string `json:"rotated_to"`
	// LineID is the id of the first key of the rotation line this key
	// belongs to; empty for a key that was never rotated (its line is
	// itself). The keys of one line share rate limit counters and spend the
	// credits of the line's newest key.
	LineID string `json:"-"`

	// Hash is the SHA-256 (or HMAC-SHA-256) of the secret.
	Hash []byte `json:"-"`
}

// keyJSON is the wire form of a Key: every field always present, in the
// order of the record, empty optional strings as null.
type keyJSON struct {
	ID                string          `json:"id"`
	OrgID             string          `json:"org_id"`
	Name              string          `json:"name"`
	Description       string          `json:"description"`
	KeyPrefix         string          `json:"key_prefix"`
	Permissions       []string        `json:"permissions"`
	AllowedIPs        []string        `json:"allowed_ips"`
	ExpiresAt         *time.Time      `json:"expires_at"`
	Enabled           bool            `json:"enabled"`
	OwnerID           *string         `json:"owner_id"`
	ServiceAccountID  *string         `json:"service_account_id"`
	Metadata          json.RawMessage `json:"metadata"`
	RateLimits        []RateLimit     `json:"rate_limits"`
	Credits           *Credits        `json:"credits"`
	CreatedAt         time.Time       `json:"created_at"`
	UpdatedAt         time.Time       `json:"updated_at"`
	CreatedBy         *string         `json:"created_by"`
	LastUsedAt        *time.Time      `json:"last_used_at"`
	LastUsedIP        *string         `json:"last_used_ip"`
	LastUsedUserAgent *string         `json:"last_used_user_agent"`
	RevokedAt         *time.Time      `json:"revoked_at"`
	DeletedAt         *time.Time      `json:"deleted_at"`
	RotatedFrom       *string         `json:"rotated_from"`
	RotatedTo         *string         `json:"rotated_to"`
}

// MarshalJSON writes empty optional strings as null, empty lists as [] and
// absent metadata as {} so that every field is always present and typed.
func (k *Key) MarshalJSON() ([]byte, error) {
	out := keyJSON{
		ID:                k.ID,
		OrgID:             k.OrgID,
		Name:              k.Name,
		Description:       k.Description,
		KeyPrefix:         k.KeyPrefix,
		Permissions:       nonNil(k.Permissions),
		AllowedIPs:        nonNil(k.AllowedIPs),
		ExpiresAt:         k.ExpiresAt,
		Enabled:           k.Enabled,
		OwnerID:           nullString(k.OwnerID),
		ServiceAccountID:  nullString(k.ServiceAccountID),
		Metadata:          k.Metadata,
		RateLimits:        nonNil(k.RateLimits),
		Credits:           k.Credits,
		CreatedAt:         k.CreatedAt,
		UpdatedAt:         k.UpdatedAt,
		CreatedBy:         nullString(k.CreatedBy),
		LastUsedAt:        k.LastUsedAt,
		LastUsedIP:        nullString(k.LastUsedIP),
		LastUsedUserAgent: nullString(k.LastUsedUserAgent),
		RevokedAt:         k.RevokedAt,
		DeletedAt:         k.DeletedAt,
		RotatedFrom:       nullString(k.RotatedFrom),
		RotatedTo:         nullString(k.RotatedTo),
	}
	if len(out.Metadata) == 0 {
		out.Metadata = json.RawMessage("{}")
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes, so that the Go client gets
// back the same record.
func (k *Key) UnmarshalJSON(data []byte) error {
	var in keyJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*k = Key{
		ID:                in.ID,
		OrgID:             in.OrgID,
		Name:              in.Name,
		Description:       in.Description,
		KeyPrefix:         in.KeyPrefix,
		Permissions:       in.Permissions,
		AllowedIPs:        in.AllowedIPs,
		ExpiresAt:         in.ExpiresAt,
		Enabled:           in.Enabled,
		OwnerID:           deref(in.OwnerID),
		ServiceAccountID:  deref(in.ServiceAccountID),
		Metadata:          in.Metadata,
		RateLimits:        in.RateLimits,
		Credits:           in.Credits,
		CreatedAt:         in.CreatedAt,
		UpdatedAt:         in.UpdatedAt,
		CreatedBy:         deref(in.CreatedBy),
		LastUsedAt:        in.LastUsedAt,
		LastUsedIP:        deref(in.LastUsedIP),
		LastUsedUserAgent: deref(in.LastUsedUserAgent),
		RevokedAt:         in.RevokedAt,
		DeletedAt:         in.DeletedAt,
		RotatedFrom:       deref(in.RotatedFrom),
		RotatedTo:         deref(in.RotatedTo),
	}
	return nil
}

// Status reports the key's lifecycle state at now, in the order that
// verification checks it: REVOKED, DISABLED, EXPIRED, or VALID. A deleted
// key answers NOT_FOUND.
func (k *Key) Status(now time.Time) string {
	switch {
	case k.DeletedAt != nil:
		return CodeNotFound
	case k.RevokedAt != nil:
		return CodeRevoked
	case !k.Enabled:
		return CodeDisabled
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return CodeExpired
	}
	return CodeValid
}

// LinkRotation is a store's part of a rotation, the same in every backend.
// old is a copy of stored, the rotated key as read in the write
// transaction, that a rotate callback changed; next is its successor. old
// keeps stored's identity (id, org, hash, line); the two are linked; next
// joins old's rotation line, named by the line's first key, which itself
// keeps an empty LineID; and old's credits, refill included, move whole to
// next, leaving old a balance of 0 that spends from next, so that the grace
// period never doubles them. next's credits are set even when old has none,
// so that a transaction run again starts from what it read. It returns an
// error when next is of another org.
func LinkRotation(stored, old, next *Key) error {
	if next.OrgID != stored.OrgID {
		return fmt.Errorf("successor of org %q, want %q", next.OrgID, stored.OrgID)
	}
	old.ID, old.OrgID, old.Hash, old.LineID = stored.ID, stored.OrgID, stored.Hash, stored.LineID
	old.RotatedTo, next.RotatedFrom = next.ID, old.ID
	next.LineID = cmp.Or(old.LineID, old.ID)
	next.Credits = old.Credits
	if old.Credits != nil {
		old.Credits = &Credits{}
	}
	return nil
}

// Clone returns a deep copy of k, so that a store can hand out its records
// without a caller's change reaching what it holds.
func (k *Key) Clone() *Key {
	c := *k
	c.Permissions = slices.Clone(k.Permissions)
	c.AllowedIPs = slices.Clone(k.AllowedIPs)
	c.Metadata = slices.Clone(k.Metadata)
	c.Hash = slices.Clone(k.Hash)
	c.ExpiresAt = clonePtr(k.ExpiresAt)
	c.LastUsedAt = clonePtr(k.LastUsedAt)
	c.RevokedAt = clonePtr(k.RevokedAt)
	c.DeletedAt = clonePtr(k.DeletedAt)
	c.RateLimits = slices.Clone(k.RateLimits)
	if k.Credits != nil {
		cr := *k.Credits
		cr.Refill = clonePtr(k.Credits.Refill)
		cr.RefilledAt = clonePtr(k.Credits.RefilledAt)
		c.Credits = &cr
	}
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// CreatedKey is a new key's record plus its secret, shown this once.
type CreatedKey struct {
	*Key
	Secret string `json:"key"`
}

// MarshalJSON flattens the record and the secret into one object.
func (c *CreatedKey) MarshalJSON() ([]byte, error) {
	rec, err := c.Key.MarshalJSON()
	if err != nil {
		return nil, err
	}
	secret, err := json.Marshal(c.Secret)
	if err != nil {
		return nil, err
	}
	// rec is a non-empty JSON object: splice "key" in before its closing brace.
	out := make([]byte, 0, len(rec)+len(secret)+8)
	out = append(out, rec[:len(rec)-1]...)
	out = append(out, `,"key":`...)
	out = append(out, secret...)
	return append(out, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *CreatedKey) UnmarshalJSON(data []byte) error {
	c.Key = &Key{}
	if err := json.Unmarshal(data, c.Key); err != nil {
		return err
	}
	var s struct {
		Secret string `json:"key"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	c.Secret = s.Secret
	return nil
}

// KeyCreate is the input of KeyService.CreateKey.
type KeyCreate struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Permissions []string   `json:"permissions,omitempty"`
	AllowedIPs  []string   `json:"allowed_ips,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	// ExpiresIn is a lifetime in seconds; exclusive with ExpiresAt.
	ExpiresIn        *int64          `json:"expires_in,omitempty"`
	OwnerID          string          `json:"owner_id,omitempty"`
	ServiceAccountID string          `json:"service_account_id,omitempty"`
	Metadata         json.RawMessage `json:"metadata,omitempty"`
	Enabled          *bool           `json:"enabled,omitempty"`
	// Prefix replaces the default key prefix (kw_live), [a-z0-9_]{1,16}.
	Prefix     string        `json:"prefix,omitempty"`
	RateLimits []RateLimit   `json:"rate_limits,omitempty"`
	Credits    *CreditsInput `json:"credits,omitempty"`
}

// KeyUpdate is the input of KeyService.UpdateKey; nil fields are unchanged.
type KeyUpdate struct {
	Name        *string   `json:"name,omitempty"`
	Description *string   `json:"description,omitempty"`
	Permissions *[]string `json:"permissions,omitempty"`
	AllowedIPs  *[]string `json:"allowed_ips,omitempty"`
	// ExpiresAt set to null makes the key non-expiring.
	ExpiresAt OptionalTime `json:"expires_at,omitzero"`
	ExpiresIn *int64       `json:"expires_in,omitempty"`
	// Metadata replaces the whole object; null clears it.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Enabled  *bool           `json:"enabled,omitempty"`
	// RateLimits replaces the key's own limits; [] removes them.
	RateLimits *[]RateLimit `json:"rate_limits,omitempty"`
	// Credits replaces the balance and refill; null makes the key
	// unlimited.
	Credits Optional[CreditsInput] `json:"credits,omitzero"`
}

// Optional is a PATCH field that tells "absent" from "null".
type Optional[T any] struct {
	Set   bool
	Value *T
}

// OptionalTime is an optional time, such as a new expiry.
type OptionalTime = Optional[time.Time]

// IsZero reports whether the field was absent, for omitzero.
func (o Optional[T]) IsZero() bool { return !o.Set }

// MarshalJSON writes the value or null.
func (o Optional[T]) MarshalJSON() ([]byte, error) { return json.Marshal(o.Value) }

// UnmarshalJSON marks the field present, null included.
func (o *Optional[T]) UnmarshalJSON(data []byte) error {
	o.Set = true
	return json.Unmarshal(data, &o.Value)
}

// KeyRotate is the input of KeyService.RotateKey.
type KeyRotate struct {
	// GracePeriod is how many seconds the old key keeps working, 0 to
	// MaxGracePeriod; it never extends the old key's expiry.
	GracePeriod int64 `json:"grace_period"`
	// ExpiresAt or ExpiresIn give the new key another expiry than the old
	// one's.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	ExpiresIn *int64     `json:"expires_in,omitempty"`
}

// MaxGracePeriod bounds a rotation's grace period, in seconds: 30 days.
const MaxGracePeriod = 30 * 24 * 3600

// KeyFilter selects keys in FindKeys.
type KeyFilter struct {
	OwnerID          string
	ServiceAccountID string
	// Revoked, when set, keeps only revoked (true) or unrevoked (false) keys.
	Revoked *bool
	// Prefix keeps keys whose key_prefix starts with it.
	Prefix string
	Cursor string
	Limit  int
}

// KeyUse is one observed use of a key, written behind the verify path.
type KeyUse struct {
	OrgID     string
	KeyID     string
	At        time.Time
	IP        string
	UserAgent string
}

// KeyService manages the keys of the caller's org. The caller is the
// Principal in ctx; each method needs the admin:api-keys permission named.
type KeyService interface {
	// CreateKey needs admin:api-keys:create and permissions that cover every
	// requested one. Returns EINVALID, EFORBIDDEN.
	CreateKey(ctx context.Context, in KeyCreate) (*CreatedKey, error)
	// FindKeyByID needs admin:api-keys:read. Returns EFORBIDDEN, ENOTFOUND.
	FindKeyByID(ctx context.Context, id string) (*Key, error)
	// FindKeys needs admin:api-keys:read. Returns EFORBIDDEN, and EINVALID
	// for a bad cursor or limit.
	FindKeys(ctx context.Context, f KeyFilter) (Page[*Key], error)
	// UpdateKey needs admin:api-keys:update and permissions that cover the
	// key's and any new ones. Returns EINVALID, EFORBIDDEN, ENOTFOUND,
	// ECONFLICT (revoked key, or a new expiry or credits for a rotated
	// key).
	UpdateKey(ctx context.Context, id string, upd KeyUpdate) (*Key, error)
	// RevokeKey needs admin:api-keys:delete and permissions that cover the
	// key's; it is irreversible and idempotent. Returns EFORBIDDEN,
	// ENOTFOUND.
	RevokeKey(ctx context.Context, id string) (*Key, error)
	// DeleteKey needs admin:api-keys:delete and permissions that cover the
	// key's. Returns EFORBIDDEN, ENOTFOUND.
	DeleteKey(ctx context.Context, id string) (*Key, error)
	// RotateKey needs admin:api-keys:create and :update and permissions
	// that cover the key's. It creates a successor with every setting of
	// the key (permissions, IPs, owner, metadata, limits, remaining
	// credits, expiry unless given) and lets the old key work until the
	// grace period ends. Credits move to the successor: the old key spends
	// from it during the grace period. Returns EINVALID, EFORBIDDEN,
	// ENOTFOUND, ECONFLICT (revoked, expired or already rotated).
	RotateKey(ctx context.Context, id string, in KeyRotate) (*CreatedKey, error)
	// UpdateCredits needs admin:api-keys:update and permissions that cover
	// the key's. The balance never goes below zero. Returns EINVALID,
	// EFORBIDDEN, ENOTFOUND, ECONFLICT (revoked key, or a key without
	// credits for increment or decrement).
	UpdateCredits(ctx context.Context, id string, upd CreditsUpdate) (*Key, error)
	// WhoAmI returns the caller's own record. Returns EUNAUTHORIZED.
	WhoAmI(ctx context.Context) (*Key, error)
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
