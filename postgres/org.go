package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"keyward"
)

// CountOrgs returns how many organizations exist.
func (db *DB) CountOrgs(ctx context.Context) (n int, err error) {
	defer wrap(&err, "CountOrgs")
	err = db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM organizations`).Scan(&n)
	return n, err
}

// CreateOrg inserts org, its root key and ev in one transaction. Returns
// ECONFLICT when an org of that name exists, also when another node
// creates it at the same time: the unique index decides.
func (db *DB) CreateOrg(ctx context.Context, org *keyward.Organization, root *keyward.Key, ev *keyward.AuditEvent) (err error) {
	defer wrap(&err, "CreateOrg(%q)", org.Name)
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)`,
			org.ID, org.Name, timeValue(org.CreatedAt)); err != nil {
			return err
		}
		if err := insertKey(ctx, tx, root); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, ev)
	})
}

// FindOrgByName returns ENOTFOUND when there is none.
func (db *DB) FindOrgByName(ctx context.Context, name string) (_ *keyward.Organization, err error) {
	defer wrap(&err, "FindOrgByName(%q)", name)
	var org keyward.Organization
	if err := db.pool.QueryRow(ctx, `SELECT id, name, created_at FROM organizations WHERE name = $1`, name).
		Scan(&org.ID, &org.Name, &org.CreatedAt); err != nil {
		return nil, err
	}
	return &org, nil
}

// findOrg returns pgx.ErrNoRows when the org does not exist.
func findOrg(ctx context.Context, q querier, orgID string) error {
	var one int
	return q.QueryRow(ctx, `SELECT 1 FROM organizations WHERE id = $1`, orgID).Scan(&one)
}

// FindOrgPolicy returns the org's policy, DefaultOrgPolicy when it set
// none, or ENOTFOUND when the org does not exist.
func (db *DB) FindOrgPolicy(ctx context.Context, orgID string) (_ *keyward.OrgPolicy, err error) {
	defer wrap(&err, "FindOrgPolicy(%q)", orgID)
	if !storable(orgID) {
		return nil, pgx.ErrNoRows
	}
	var (
		found       bool
		ips         []string
		nonExpiring *bool
		p           keyward.OrgPolicy
	)
	if err := db.pool.QueryRow(ctx, `SELECT p.org_id IS NOT NULL, p.max_key_lifetime, p.default_key_lifetime, p.allowed_ips, p.allow_non_expiring
		FROM organizations o LEFT JOIN org_policies p ON p.org_id = o.id WHERE o.id = $1`, orgID).
		Scan(&found, &p.MaxKeyLifetime, &p.DefaultKeyLifetime, &ips, &nonExpiring); err != nil {
		return nil, err
	}
	if !found {
		return keyward.DefaultOrgPolicy(), nil
	}
	p.AllowedIPs = ips
	p.AllowNonExpiring = *nonExpiring
	return &p, nil
}

// UpdateOrgPolicy replaces the org's policy, writes ev and announces the
// change in one transaction. Returns ENOTFOUND when the org does not
// exist.
func (db *DB) UpdateOrgPolicy(ctx context.Context, orgID string, p *keyward.OrgPolicy, ev *keyward.AuditEvent) (err error) {
	defer wrap(&err, "UpdateOrgPolicy(%q)", orgID)
	if !storable(orgID) {
		return pgx.ErrNoRows
	}
	// A nil list would be stored as NULL, which the column refuses.
	ips := append([]string{}, p.AllowedIPs...)
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if err := findOrg(ctx, tx, orgID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO org_policies (org_id, max_key_lifetime, default_key_lifetime, allowed_ips, allow_non_expiring)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (org_id) DO UPDATE SET max_key_lifetime = excluded.max_key_lifetime,
				default_key_lifetime = excluded.default_key_lifetime, allowed_ips = excluded.allowed_ips,
				allow_non_expiring = excluded.allow_non_expiring`,
			orgID, p.MaxKeyLifetime, p.DefaultKeyLifetime, ips, p.AllowNonExpiring); err != nil {
			return err
		}
		if err := insertAuditEvent(ctx, tx, ev); err != nil {
			return err
		}
		return notify(ctx, tx, db.channel, []keyward.Change{{Kind: keyward.ChangePolicy, OrgID: orgID}})
	})
}
