package sqlite

import (
	"context"
	"database/sql"

	"keyward"
)

// CountOrgs returns how many organizations exist.
func (db *DB) CountOrgs(ctx context.Context) (n int, err error) {
	defer wrap(&err, "CountOrgs")
	err = db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM organizations`).Scan(&n)
	return n, err
}

// CreateOrg inserts org, its root key and ev in one transaction. Returns
// ECONFLICT when an org of that name exists.
func (db *DB) CreateOrg(ctx context.Context, org *keyward.Organization, root *keyward.Key, ev *keyward.AuditEvent) (err error) {
	defer wrap(&err, "CreateOrg(%q)", org.Name)
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)`,
			org.ID, org.Name, org.CreatedAt.UnixMicro()); err != nil {
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
	var (
		org     keyward.Organization
		created int64
	)
	if err := db.reader.QueryRowContext(ctx, `SELECT id, name, created_at FROM organizations WHERE name = ?`, name).
		Scan(&org.ID, &org.Name, &created); err != nil {
		return nil, err
	}
	org.CreatedAt = fromMicros(created)
	return &org, nil
}

// findOrg returns sql.ErrNoRows when the org does not exist.
func findOrg(ctx context.Context, q queryer, orgID string) error {
	var one int
	return q.QueryRowContext(ctx, `SELECT 1 FROM organizations WHERE id = ?`, orgID).Scan(&one)
}

// findOrgPolicySQL reads an org's policy; NULLs when it has none.
const findOrgPolicySQL = `SELECT p.max_key_lifetime, p.default_key_lifetime, p.allowed_ips, p.allow_non_expiring
	FROM organizations o LEFT JOIN org_policies p ON p.org_id = o.id WHERE o.id = ?`

// FindOrgPolicy returns the org's policy, DefaultOrgPolicy when it set
// none, or ENOTFOUND when the org does not exist.
func (db *DB) FindOrgPolicy(ctx context.Context, orgID string) (_ *keyward.OrgPolicy, err error) {
	defer wrap(&err, "FindOrgPolicy(%q)", orgID)
	var (
		maxLife, defaultLife, nonExpiring sql.NullInt64
		ips                               sql.NullString
	)
	if err := db.orgPolicy.QueryRowContext(ctx, orgID).Scan(&maxLife, &defaultLife, &ips, &nonExpiring); err != nil {
		return nil, err
	}
	// The column is NOT NULL, so NULL means that the join found no policy.
	if !ips.Valid {
		return keyward.DefaultOrgPolicy(), nil
	}
	p := &keyward.OrgPolicy{AllowNonExpiring: nonExpiring.Int64 != 0}
	if maxLife.Valid {
		p.MaxKeyLifetime = &maxLife.Int64
	}
	if defaultLife.Valid {
		p.DefaultKeyLifetime = &defaultLife.Int64
	}
	if p.AllowedIPs, err = fromListValue(ips); err != nil {
		return nil, err
	}
	return p, nil
}

// UpdateOrgPolicy replaces the org's policy and writes ev in one
// transaction. Returns ENOTFOUND when the org does not exist.
func (db *DB) UpdateOrgPolicy(ctx context.Context, orgID string, p *keyward.OrgPolicy, ev *keyward.AuditEvent) (err error) {
	defer wrap(&err, "UpdateOrgPolicy(%q)", orgID)
	// listValue would store a nil list as NULL, which the column refuses.
	ips, err := listValue(append([]string{}, p.AllowedIPs...))
	if err != nil {
		return err
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := findOrg(ctx, tx, orgID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO org_policies (org_id, max_key_lifetime, default_key_lifetime, allowed_ips, allow_non_expiring)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (org_id) DO UPDATE SET max_key_lifetime = excluded.max_key_lifetime,
				default_key_lifetime = excluded.default_key_lifetime, allowed_ips = excluded.allowed_ips,
				allow_non_expiring = excluded.allow_non_expiring`,
			orgID, nullInt(p.MaxKeyLifetime), nullInt(p.DefaultKeyLifetime), ips, p.AllowNonExpiring); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, ev)
	})
}

func nullInt(n *int64) any {
	if n == nil {
		return nil
	}
	return *n
}
