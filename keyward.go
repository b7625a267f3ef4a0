// Package keyward holds Keyward's domain: keys, service accounts,
// organizations, audit events, verification answers, the error type and the
// interfaces that the store backends, the HTTP transport and the Go client
// implement. It imports nothing but the standard library.
package keyward

import (
	"context"
	"encoding/base64"
	"time"
)

// Organization is a tenant. Every key, service account and audit event
// belongs to exactly one.
type Organization struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// DefaultOrgName is the organization that `keyward serve` creates on an
// empty database.
const DefaultOrgName = "default"

// Page is one page of a cursor-paginated list.
type Page[T any] struct {
	Data []T `json:"data"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"next_cursor"`
}

// Pagination limits shared by every list.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 1000
)

// EncodeCursor returns the cursor of a page whose last item is id: its
// base64url, opaque to clients.
func EncodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// DecodeCursor returns the id that cursor names. It accepts only what
// EncodeCursor writes, so that one cursor has one spelling: the decoder
// alone would also take padding bits and line breaks. Returns EINVALID.
func DecodeCursor(cursor string) (string, error) {
	id, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(id) == 0 || EncodeCursor(string(id)) != cursor {
		return "", Invalid(FieldError{Field: "cursor", Message: "malformed cursor"})
	}
	return string(id), nil
}

// PageLimit applies the default to a zero or negative limit and the cap to
// a large one.
func PageLimit(limit int) int {
	if limit <= 0 {
		return DefaultPageLimit
	}
	return min(limit, MaxPageLimit)
}

// Store is the persistence a backend (sqlite, postgres) provides. Every
// method but FindKeyByHash, CountOrgs and FindOrgByName is scoped by org: an
// id of another org answers ENOTFOUND exactly like a missing one. Writes that
// take an *AuditEvent insert it in the same transaction, so a change and its
// audit row land together or not at all. A backend may run a write
// transaction again after a serialization failure or deadlock, so the
// callbacks of UpdateKey, RotateKey and DeleteServiceAccount may run more
// than once, each time on a freshly read record, and must depend on nothing
// else they changed.
type Store interface {
	// CountOrgs returns how many organizations exist.
	CountOrgs(ctx context.Context) (int, error)
	// CreateOrg creates org and its first (root) key atomically. Returns
	// ECONFLICT when an org of that name exists.
	CreateOrg(ctx context.Context, org *Organization, root *Key, ev *AuditEvent) error
	// FindOrgByName returns ENOTFOUND when there is none.
	FindOrgByName(ctx context.Context, name string) (*Organization, error)

	// CreateKey inserts k. Returns EINVALID (field service_account_id) when
	// k names a service account that is not in k.OrgID or is deleted.
	CreateKey(ctx context.Context, k *Key, ev *AuditEvent) error
	// FindKeyByID returns the key, deleted or not, or ENOTFOUND.
	FindKeyByID(ctx context.Context, orgID, id string) (*Key, error)
	// FindKeyByHash returns the key of any org with that secret hash, or
	// ENOTFOUND. It is the verification path's only store call.
	FindKeyByHash(ctx context.Context, hash []byte) (*Key, error)
	// FindKeys lists the org's keys that are not deleted, by id ascending.
	FindKeys(ctx context.Context, orgID string, f KeyFilter) (Page[*Key], error)
	// UpdateKey loads the key (ENOTFOUND if missing or deleted), lets update
	// change it, then writes every mutable field (name, description,
	// permissions, allowed IPs, expiry, enabled, metadata, rate limits,
	// credits, updated, revoked and deleted times) and ev in one
	// transaction. An error from update
	// aborts it; ErrNoChange commits nothing (ev included) and returns the
	// key as it is. update runs inside the write transaction and must not
	// call the store.
	UpdateKey(ctx context.Context, orgID, id string, update func(k *Key) error, ev *AuditEvent) (*Key, error)
	// TouchKeys records last use, scoped by org like every write. A
	// timestamp never moves backwards; uses of missing keys are dropped.
	TouchKeys(ctx context.Context, uses []KeyUse) error
	// RotateKey loads the live key id (ENOTFOUND otherwise), lets rotate
	// change it and fill next from it, then writes the old key's mutable
	// fields and rotated_to, inserts next and writes ev, in one
	// transaction. The old key's credits move to next, refill included
	// (its own balance becomes 0, without refill). An error from rotate
	// aborts it. rotate runs inside the write transaction and must not
	// call the store. It sets next.LineID to the old key's LineID, or its
	// id when empty. It returns the old key as written; next then holds the
	// successor as inserted.
	RotateKey(ctx context.Context, orgID, id string, next *Key, rotate func(old *Key) error, ev *AuditEvent) (*Key, error)
	// SpendCredits refills the credits of key id if a refill is due at now,
	// then takes cost from them if at least cost remain, atomically: two
	// spends never both see the same balance. A rotated key spends from the
	// newest key of its line (the one not rotated). It returns the balance after and
	// whether cost was taken; a key without credits returns ok and -1.
	// Returns ENOTFOUND for a missing or deleted key, EINVALID for a
	// negative cost.
	SpendCredits(ctx context.Context, orgID, id string, cost int64, now time.Time) (remaining int64, ok bool, err error)
	// RefillCredits applies every refill due at now, so that idle keys
	// show their balance, and returns the keys it refilled, hash included,
	// so that caches can drop them.
	RefillCredits(ctx context.Context, now time.Time) ([]*Key, error)

	// FindOwner returns the owner's settings, or ENOTFOUND when none were
	// set.
	FindOwner(ctx context.Context, orgID, ownerID string) (*Owner, error)
	// UpsertOwner writes o (creating it if needed) and ev.
	UpsertOwner(ctx context.Context, o *Owner, ev *AuditEvent) error

	// FindOrgPolicy returns the org's policy; DefaultOrgPolicy when none
	// was set. Returns ENOTFOUND for a missing org.
	FindOrgPolicy(ctx context.Context, orgID string) (*OrgPolicy, error)
	// UpdateOrgPolicy replaces the org's policy and writes ev.
	UpdateOrgPolicy(ctx context.Context, orgID string, p *OrgPolicy, ev *AuditEvent) error

	// AddUsage adds counts to the stored ones (same org, key, minute and
	// code add up).
	AddUsage(ctx context.Context, counts []UsageCount) error
	// FindUsage sums the org's counts (one key's when f.KeyID is set) into
	// buckets of f.Bucket from f.From to f.To; buckets without counts are
	// absent.
	FindUsage(ctx context.Context, orgID string, f UsageFilter) ([]UsageBucket, error)

	// CreateServiceAccount inserts sa.
	CreateServiceAccount(ctx context.Context, sa *ServiceAccount, ev *AuditEvent) error
	// FindServiceAccountByID returns ENOTFOUND when missing or deleted.
	FindServiceAccountByID(ctx context.Context, orgID, id string) (*ServiceAccount, error)
	// FindServiceAccounts lists the org's live service accounts by id.
	FindServiceAccounts(ctx context.Context, orgID string, f ServiceAccountFilter) (Page[*ServiceAccount], error)
	// DeleteServiceAccount marks it deleted (ENOTFOUND if missing or
	// deleted) and revokes its keys that are neither revoked nor deleted,
	// at the same instant at, with ev, in one transaction. It returns the
	// revoked keys, hash included, so that caches can drop them. check, when
	// not nil, first gets those keys and may veto the whole delete by
	// returning an error, which aborts the transaction and is returned: it
	// is how a caller enforces rules on each key without a window in which
	// another key joins the account. check runs inside the write
	// transaction and must not call the store; ev is written after it
	// returns, so check may fill ev.Details.
	DeleteServiceAccount(ctx context.Context, orgID, id string, at time.Time, check func(keys []*Key) error, ev *AuditEvent) ([]*Key, error)

	// FindAuditEvents lists the org's audit events, newest first.
	FindAuditEvents(ctx context.Context, orgID string, f AuditFilter) (Page[*AuditEvent], error)

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}

// ErrNoChange is returned by an UpdateKey callback to commit nothing and
// return the key as it is.
var ErrNoChange = &Error{Code: ECONFLICT, Message: "no change"}
