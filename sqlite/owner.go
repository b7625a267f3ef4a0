package sqlite

import (
	"context"
	"database/sql"

	"keyward"
)

// FindOwner returns the settings of the org's owner ownerID, or ENOTFOUND
// when none were set.
func (db *DB) FindOwner(ctx context.Context, orgID, ownerID string) (_ *keyward.Owner, err error) {
	defer wrap(&err, "FindOwner(%q)", ownerID)
	var (
		limits  string
		updated int64
	)
	o := &keyward.Owner{ID: ownerID, OrgID: orgID}
	if err := db.reader.QueryRowContext(ctx, `SELECT rate_limits, updated_at FROM owners WHERE org_id = ? AND owner_id = ?`, orgID, ownerID).
		Scan(&limits, &updated); err != nil {
		return nil, err
	}
	if o.RateLimits, err = fromRateLimits(limits); err != nil {
		return nil, err
	}
	t := fromMicros(updated)
	o.UpdatedAt = &t
	return o, nil
}

// UpsertOwner writes o, creating it if needed, and ev in one transaction.
// Returns ENOTFOUND when o's org does not exist.
func (db *DB) UpsertOwner(ctx context.Context, o *keyward.Owner, ev *keyward.AuditEvent) (err error) {
	defer wrap(&err, "UpsertOwner(%q)", o.ID)
	limits, err := rateLimitsValue(o.RateLimits)
	if err != nil {
		return err
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := findOrg(ctx, tx, o.OrgID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO owners (org_id, owner_id, rate_limits, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (org_id, owner_id) DO UPDATE SET rate_limits = excluded.rate_limits, updated_at = excluded.updated_at`,
			o.OrgID, o.ID, limits, o.UpdatedAt.UnixMicro()); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, ev)
	})
}
