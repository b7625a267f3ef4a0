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
