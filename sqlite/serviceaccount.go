package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"keyward"
)

const serviceAccountColumns = `id, org_id, name, description, created_at, created_by, deleted_at`

func scanServiceAccount(s scanner) (*keyward.ServiceAccount, error) {
	var (
		sa        keyward.ServiceAccount
		created   int64
		createdBy sql.NullString
		deleted   sql.NullInt64
	)
	if err := s.Scan(&sa.ID, &sa.OrgID, &sa.Name, &sa.Description, &created, &createdBy, &deleted); err != nil {
		return nil, err
	}
	sa.CreatedAt = fromMicros(created)
	sa.CreatedBy = createdBy.String
	sa.DeletedAt = fromNullMicros(deleted)
	return &sa, nil
}

// CreateServiceAccount inserts sa and ev in one transaction.
func (db *DB) CreateServiceAccount(ctx context.Context, sa *keyward.ServiceAccount, ev *keyward.AuditEvent) (err error) {
	defer wrap(&err, "CreateServiceAccount(%q)", sa.ID)
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO service_accounts (`+serviceAccountColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			sa.ID, sa.OrgID, sa.Name, sa.Description, sa.CreatedAt.UnixMicro(), nullString(sa.CreatedBy), nullTime(sa.DeletedAt)); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, ev)
	})
}

// FindServiceAccountByID returns ENOTFOUND when missing, deleted or of
// another org.
func (db *DB) FindServiceAccountByID(ctx context.Context, orgID, id string) (_ *keyward.ServiceAccount, err error) {
	defer wrap(&err, "FindServiceAccountByID(%q)", id)
	return findServiceAccount(ctx, db.reader, orgID, id)
}

func findServiceAccount(ctx context.Context, q queryer, orgID, id string) (*keyward.ServiceAccount, error) {
	return scanServiceAccount(q.QueryRowContext(ctx,
		`SELECT `+serviceAccountColumns+` FROM service_accounts WHERE org_id = ? AND id = ? AND deleted_at IS NULL`, orgID, id))
}

// FindServiceAccounts lists the org's live service accounts by id.
func (db *DB) FindServiceAccounts(ctx context.Context, orgID string, f keyward.ServiceAccountFilter) (_ keyward.Page[*keyward.ServiceAccount], err error) {
	defer wrap(&err, "FindServiceAccounts(%q)", orgID)
	where := []string{"org_id = ?", "deleted_at IS NULL"}
	args := []any{orgID}
	if f.Cursor != "" {
		after, err := keyward.DecodeCursor(f.Cursor)
		if err != nil {
			return keyward.Page[*keyward.ServiceAccount]{}, err
		}
		where = append(where, "id > ?")
		args = append(args, after)
	}
	query := `SELECT ` + serviceAccountColumns + ` FROM service_accounts WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id LIMIT ?`
	return page(ctx, db.reader, query, args, keyward.PageLimit(f.Limit), scanServiceAccount, func(sa *keyward.ServiceAccount) string { return sa.ID })
}

// DeleteServiceAccount marks the account deleted and revokes its live,
// unrevoked keys at the same instant at, in one transaction with ev, once
// check accepts those keys. It returns the keys it revoked, by id.
func (db *DB) DeleteServiceAccount(ctx context.Context, orgID, id string, at time.Time, check func(keys []*keyward.Key) error, ev *keyward.AuditEvent) (_ []*keyward.Key, err error) {
	defer wrap(&err, "DeleteServiceAccount(%q)", id)
	var revoked []*keyward.Key
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := findServiceAccount(ctx, tx, orgID, id); err != nil {
			return err
		}
		keys, err := queryKeys(ctx, tx, `SELECT `+keyColumns+` FROM keys
			WHERE org_id = ? AND service_account_id = ? AND revoked_at IS NULL AND deleted_at IS NULL ORDER BY id`, orgID, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(keys); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE service_accounts SET deleted_at = ? WHERE org_id = ? AND id = ?`,
			at.UnixMicro(), orgID, id); err != nil {
			return err
		}
		// Revoke by id exactly the keys that check accepted, so that no key
		// it did not see can be revoked in its name.
		ids := make([]string, 0, len(keys))
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		list, err := listValue(ids)
		if err != nil {
			return err
		}
		revoked, err = queryKeys(ctx, tx, `UPDATE keys SET revoked_at = ?1, updated_at = ?1
			WHERE org_id = ?2 AND id IN (SELECT value FROM json_each(?3))
			RETURNING `+keyColumns, at.UnixMicro(), orgID, list)
		if err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, ev)
	})
	if err != nil {
		return nil, err
	}
	// RETURNING yields rows in no particular order.
	slices.SortFunc(revoked, func(a, b *keyward.Key) int { return cmp.Compare(a.ID, b.ID) })
	return revoked, nil
}

// queryKeys returns every key that query yields.
func queryKeys(ctx context.Context, q queryer, query string, args ...any) ([]*keyward.Key, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []*keyward.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}
