package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"keyward"
)

// FindOwner returns the settings of the org's owner ownerID, or ENOTFOUND
// when none were set.
func (db *DB) FindOwner(ctx context.Context, orgID, ownerID string) (_ *keyward.Owner, err error) {
	defer wrap(&err, "FindOwner(%q)", ownerID)
	if !storable(orgID, ownerID) {
		return nil, pgx.ErrNoRows
	}
	var limits string
	o := &keyward.Owner{ID: ownerID, OrgID: orgID}
	if err := db.pool.QueryRow(ctx, `SELECT rate_limits, updated_at FROM owners WHERE org_id = $1 AND owner_id = $2`, orgID, ownerID).
		Scan(&limits, &o.UpdatedAt); err != nil {
		return nil, err
	}
	if o.RateLimits, err = fromRateLimits(limits); err != nil {
		return nil, err
	}
	return o, nil
}

// UpsertOwner writes o, creating it if needed, writes ev and announces the
// change in one transaction. Returns ENOTFOUND when o's org does not exist.
func (db *DB) UpsertOwner(ctx context.Context, o *keyward.Owner, ev *keyward.AuditEvent) (err error) {
	defer wrap(&err, "UpsertOwner(%q)", o.ID)
	limits, err := rateLimitsValue(o.RateLimits)
	if err != nil {
		return err
	}
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if err := findOrg(ctx, tx, o.OrgID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO owners (org_id, owner_id, rate_limits, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id, owner_id) DO UPDATE SET rate_limits = excluded.rate_limits, updated_at = excluded.updated_at`,
			o.OrgID, o.ID, limits, nullTime(o.UpdatedAt)); err != nil {
			return err
		}
		if err := insertAuditEvent(ctx, tx, ev); err != nil {
			return err
		}
		return notify(ctx, tx, db.channel, []keyward.Change{{Kind: keyward.ChangeOwner, OrgID: o.OrgID, OwnerID: o.ID}})
	})
}
