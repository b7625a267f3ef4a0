package sqlite

// TEMPORARY scaffolding while issue 4's store methods are written: the
// helper building them deletes this file, method by method.

import (
	"context"
	"time"

	"keyward"
)

var errPending = keyward.Errorf(keyward.EINTERNAL, "not yet")

func (db *DB) RotateKey(ctx context.Context, orgID, id string, next *keyward.Key, rotate func(old *keyward.Key) error, ev *keyward.AuditEvent) (*keyward.Key, error) {
	return nil, errPending
}

func (db *DB) SpendCredits(ctx context.Context, orgID, id string, cost int64, now time.Time) (int64, bool, error) {
	return 0, false, errPending
}

func (db *DB) RefillCredits(ctx context.Context, now time.Time) ([]*keyward.Key, error) {
	return nil, errPending
}

func (db *DB) FindOwner(ctx context.Context, orgID, ownerID string) (*keyward.Owner, error) {
	return nil, errPending
}

func (db *DB) UpsertOwner(ctx context.Context, o *keyward.Owner, ev *keyward.AuditEvent) error {
	return errPending
}

func (db *DB) FindOrgPolicy(ctx context.Context, orgID string) (*keyward.OrgPolicy, error) {
	return nil, errPending
}

func (db *DB) UpdateOrgPolicy(ctx context.Context, orgID string, p *keyward.OrgPolicy, ev *keyward.AuditEvent) error {
	return errPending
}

func (db *DB) AddUsage(ctx context.Context, counts []keyward.UsageCount) error {
	return errPending
}

func (db *DB) FindUsage(ctx context.Context, orgID string, f keyward.UsageFilter) ([]keyward.UsageBucket, error) {
	return nil, errPending
}
