package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"keyward"
)

const serviceAccountColumns = `id, org_id, name, description, created_at, created_by, deleted_at`

func scanServiceAccount(s scanner) (*keyward.ServiceAccount, error) {
	var (
		sa        keyward.ServiceAccount
		createdBy pgtype.Text
	)
	if err := s.Scan(&sa.ID, &sa.OrgID, &sa.Name, &sa.Description, &sa.CreatedAt, &createdBy, &sa.DeletedAt); err != nil {
		return nil, err
	}
	sa.CreatedBy = createdBy.String
	return &sa, nil
}

// CreateServiceAccount inserts sa and ev in one transaction.
func (db *DB) CreateServiceAccount(ctx context.Context, sa *keyward.ServiceAccount, ev *keyward.AuditEvent) (err error) {
	defer wrap(&err, "CreateServiceAccount(%q)", sa.ID)
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO service_accounts (`+serviceAccountColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			sa.ID, sa.OrgID, sa.Name, sa.Description, timeValue(sa.CreatedAt), nullString(sa.CreatedBy), nullTime(sa.DeletedAt)); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, ev)
	})
}

// FindServiceAccountByID returns ENOTFOUND when missing, deleted or of
// another org.
func (db *DB) FindServiceAccountByID(ctx context.Context, orgID, id string) (_ *keyward.ServiceAccount, err error) {
	defer wrap(&err, "FindServiceAccountByID(%q)", id)
	if !storable(orgID, id) {
		return nil, pgx.ErrNoRows
	}
	return scanServiceAccount(db.pool.QueryRow(ctx,
		`SELECT `+serviceAccountColumns+` FROM service_accounts WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL`, orgID, id))
}

// shareServiceAccount locks the org's live service account id against
// DeleteServiceAccount until tx ends, so that a key joining it is either
// seen by a delete or refused after one; pgx.ErrNoRows when there is no
// such account. A delete holds the account's row lock from before it lists
// the keys to its commit: a share lock waits for it and then finds the
// account deleted, and a delete waits for the share lock's holder to
// commit its key.
func shareServiceAccount(ctx context.Context, tx pgx.Tx, orgID, id string) error {
	var one int
	return tx.QueryRow(ctx, `SELECT 1 FROM service_accounts WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL FOR SHARE`, orgID, id).Scan(&one)
}

// FindServiceAccounts lists the org's live service accounts by id.
func (db *DB) FindServiceAccounts(ctx context.Context, orgID string, f keyward.ServiceAccountFilter) (_ keyward.Page[*keyward.ServiceAccount], err error) {
	defer wrap(&err, "FindServiceAccounts(%q)", orgID)
	var c conds
	c.addArg("org_id = $%d", orgID)
	c.add("deleted_at IS NULL")
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return keyward.Page[*keyward.ServiceAccount]{}, err
		}
		c.addArg("id > $%d", after)
	}
	query := `SELECT ` + serviceAccountColumns + ` FROM service_accounts WHERE ` + c.where() + ` ORDER BY id`
	return page(ctx, db.pool, query, c.args, keyward.PageLimit(f.Limit), scanServiceAccount, func(sa *keyward.ServiceAccount) string { return sa.ID })
}

// DeleteServiceAccount marks the account deleted and revokes its live,
// unrevoked keys at the same instant at, in one transaction with ev and
// the revoked keys' announcement, once check accepts those keys. It
// returns the keys it revoked, by id.
//
// The account's row stays locked from the start, so that no key joins it
// meanwhile (see shareServiceAccount), and so do its keys, so that check
// sees them as they are revoked.
func (db *DB) DeleteServiceAccount(ctx context.Context, orgID, id string, at time.Time, check func(keys []*keyward.Key) error, ev *keyward.AuditEvent) (_ []*keyward.Key, err error) {
	defer wrap(&err, "DeleteServiceAccount(%q)", id)
	if !storable(orgID, id) {
		return nil, pgx.ErrNoRows
	}
	var revoked []*keyward.Key
	err = db.writeTx(ctx, func(tx pgx.Tx) error {
		// FOR NO KEY UPDATE is the lock the UPDATE below takes anyway: it
		// excludes shareServiceAccount, yet not the foreign key checks of
		// keys that already name the account.
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM service_accounts WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL FOR NO KEY UPDATE`,
			orgID, id).Scan(&one); err != nil {
			return err
		}
		keys, err := queryKeys(ctx, tx, `SELECT `+keyColumns+` FROM keys
			WHERE org_id = $1 AND service_account_id = $2 AND revoked_at IS NULL AND deleted_at IS NULL ORDER BY id FOR UPDATE`, orgID, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(keys); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE service_accounts SET deleted_at = $1 WHERE org_id = $2 AND id = $3`,
			timeValue(at), orgID, id); err != nil {
			return err
		}
		// Revoke by id exactly the keys that check accepted, so that no key
		// it did not see can be revoked in its name.
		ids := make([]string, 0, len(keys))
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		revoked, err = queryKeys(ctx, tx, `UPDATE keys SET revoked_at = $1, updated_at = $1
			WHERE org_id = $2 AND id = ANY ($3)
			RETURNING `+keyColumns, timeValue(at), orgID, ids)
		if err != nil {
			return err
		}
		if err := insertAuditEvent(ctx, tx, ev); err != nil {
			return err
		}
		return notify(ctx, tx, db.channel, keyChanges(revoked...))
	})
	if err != nil {
		return nil, err
	}
	// RETURNING yields rows in no particular order.
	slices.SortFunc(revoked, func(a, b *keyward.Key) int { return cmp.Compare(a.ID, b.ID) })
	return revoked, nil
}

// queryKeys returns every key that query yields.
func queryKeys(ctx context.Context, q querier, query string, args ...any) ([]*keyward.Key, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*keyward.Key, error) { return scanKey(r) })
}
