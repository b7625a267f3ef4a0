package postgres

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"keyward"
)

const keyColumns = `id, org_id, name, description, key_prefix, hash, permissions, allowed_ips, expires_at, enabled, metadata,
	owner_id, service_account_id, created_at, updated_at, created_by,
	last_used_at, last_used_ip, last_used_user_agent, revoked_at, deleted_at,
	rate_limits, credits_remaining, credits_refill, credits_refilled_at, rotated_from, rotated_to, line_id`

func scanKey(s scanner) (*keyward.Key, error) {
	var (
		k                                           keyward.Key
		metadata, refill                            *string
		owner, serviceAccount, createdBy, ip, agent pgtype.Text
		rotatedFrom, rotatedTo, lineID              pgtype.Text
		limits                                      string
		remaining                                   *int64
		refilled                                    *time.Time
	)
	if err := s.Scan(&k.ID, &k.OrgID, &k.Name, &k.Description, &k.KeyPrefix, &k.Hash, &k.Permissions, &k.AllowedIPs, &k.ExpiresAt, &k.Enabled, &metadata,
		&owner, &serviceAccount, &k.CreatedAt, &k.UpdatedAt, &createdBy,
		&k.LastUsedAt, &ip, &agent, &k.RevokedAt, &k.DeletedAt,
		&limits, &remaining, &refill, &refilled, &rotatedFrom, &rotatedTo, &lineID); err != nil {
		return nil, err
	}
	var err error
	if k.RateLimits, err = fromRateLimits(limits); err != nil {
		return nil, err
	}
	if k.Credits, err = fromCredits(remaining, refill, refilled); err != nil {
		return nil, err
	}
	k.Metadata = fromNullJSON(metadata)
	k.OwnerID = owner.String
	k.ServiceAccountID = serviceAccount.String
	k.CreatedBy = createdBy.String
	k.LastUsedIP = ip.String
	k.LastUsedUserAgent = agent.String
	k.RotatedFrom = rotatedFrom.String
	k.RotatedTo = rotatedTo.String
	k.LineID = lineID.String
	return &k, nil
}

// encodedKey holds the columns of a key that are stored as JSON.
type encodedKey struct {
	limits  string
	credits creditColumns
}

// encodeKey encodes k's JSON columns for an insert or an update. Lists
// need none: a nil []string is stored as NULL and an empty one as '{}',
// and both read back as they were.
func encodeKey(k *keyward.Key) (e encodedKey, err error) {
	if e.limits, err = rateLimitsValue(k.RateLimits); err != nil {
		return e, err
	}
	e.credits, err = creditsValues(k.Credits)
	return e, err
}

func insertKey(ctx context.Context, tx pgx.Tx, k *keyward.Key) error {
	e, err := encodeKey(k)
	if err != nil {
		return err
	}
	c := e.credits
	_, err = tx.Exec(ctx, `INSERT INTO keys (`+keyColumns+`, credits_refill_due)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
			$21, $22, $23, $24, $25, $26, $27, $28, $29)`,
		k.ID, k.OrgID, k.Name, k.Description, k.KeyPrefix, k.Hash, k.Permissions, k.AllowedIPs, nullTime(k.ExpiresAt), k.Enabled, nullJSON(k.Metadata),
		nullString(k.OwnerID), nullString(k.ServiceAccountID), timeValue(k.CreatedAt), timeValue(k.UpdatedAt), nullString(k.CreatedBy),
		nullTime(k.LastUsedAt), nullString(k.LastUsedIP), nullString(k.LastUsedUserAgent), nullTime(k.RevokedAt), nullTime(k.DeletedAt),
		e.limits, c.remaining, c.refill, c.refilledAt, nullString(k.RotatedFrom), nullString(k.RotatedTo), nullString(k.LineID), c.due)
	return err
}

// updateKey writes k's mutable fields: those UpdateKey documents, and
// rotated_to, which only RotateKey changes. A key's line never changes.
func updateKey(ctx context.Context, tx pgx.Tx, k *keyward.Key) error {
	e, err := encodeKey(k)
	if err != nil {
		return err
	}
	c := e.credits
	_, err = tx.Exec(ctx, `UPDATE keys SET name = $1, description = $2, permissions = $3, allowed_ips = $4, expires_at = $5,
			enabled = $6, metadata = $7, updated_at = $8, revoked_at = $9, deleted_at = $10, rate_limits = $11,
			credits_remaining = $12, credits_refill = $13, credits_refilled_at = $14, credits_refill_due = $15, rotated_to = $16
		WHERE org_id = $17 AND id = $18`,
		k.Name, k.Description, k.Permissions, k.AllowedIPs, nullTime(k.ExpiresAt),
		k.Enabled, nullJSON(k.Metadata), timeValue(k.UpdatedAt), nullTime(k.RevokedAt), nullTime(k.DeletedAt), e.limits,
		c.remaining, c.refill, c.refilledAt, c.due, nullString(k.RotatedTo),
		k.OrgID, k.ID)
	return err
}

// findLiveKey loads the org's key id in tx unless it is deleted, and locks
// it until tx ends, so that a read-modify-write of one key by several
// nodes applies one after the other.
func findLiveKey(ctx context.Context, tx pgx.Tx, orgID, id string) (*keyward.Key, error) {
	return scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM keys WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE`, orgID, id))
}

// CreateKey inserts k and ev in one transaction. Returns EINVALID (field
// service_account_id) when k names a service account that is not a live one
// of k.OrgID, and ECONFLICT when its id or hash exists.
func (db *DB) CreateKey(ctx context.Context, k *keyward.Key, ev *keyward.AuditEvent) (err error) {
	defer wrap(&err, "CreateKey(%q)", k.ID)
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if k.ServiceAccountID != "" {
			err := shareServiceAccount(ctx, tx, k.OrgID, k.ServiceAccountID)
			if errors.Is(err, pgx.ErrNoRows) {
				return keyward.Invalid(keyward.FieldError{Field: "service_account_id", Message: "service account not found"})
			}
			if err != nil {
				return err
			}
		}
		if err := insertKey(ctx, tx, k); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, ev)
	})
}

// FindKeyByID returns the org's key, deleted or not, or ENOTFOUND.
func (db *DB) FindKeyByID(ctx context.Context, orgID, id string) (_ *keyward.Key, err error) {
	defer wrap(&err, "FindKeyByID(%q)", id)
	if !storable(orgID, id) {
		return nil, pgx.ErrNoRows
	}
	return scanKey(db.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM keys WHERE org_id = $1 AND id = $2`, orgID, id))
}

// FindKeyByHash returns the key, of any org and deleted or not, whose
// secret has that hash, or ENOTFOUND. pgx prepares the statement once per
// connection and reuses it.
func (db *DB) FindKeyByHash(ctx context.Context, hash []byte) (_ *keyward.Key, err error) {
	defer wrap(&err, "FindKeyByHash")
	return scanKey(db.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM keys WHERE hash = $1`, hash))
}

// FindKeys lists the org's keys that are not deleted, by id ascending.
// Returns EINVALID (field cursor) for a malformed cursor.
func (db *DB) FindKeys(ctx context.Context, orgID string, f keyward.KeyFilter) (_ keyward.Page[*keyward.Key], err error) {
	defer wrap(&err, "FindKeys(%q)", orgID)
	var c conds
	c.addArg("org_id = $%d", orgID)
	c.add("deleted_at IS NULL")
	if f.OwnerID != "" {
		c.addArg("owner_id = $%d", f.OwnerID)
	}
	if f.ServiceAccountID != "" {
		c.addArg("service_account_id = $%d", f.ServiceAccountID)
	}
	if f.Revoked != nil {
		if *f.Revoked {
			c.add("revoked_at IS NOT NULL")
		} else {
			c.add("revoked_at IS NULL")
		}
	}
	if f.Prefix != "" {
		// ^@ (starts with) rather than LIKE, which reads the '_' of every
		// key prefix as a wildcard; on the "C" column it is case-sensitive
		// and byte-wise. The lower bound lets a generic plan, which cannot
		// derive one from ^@ with a parameter, start the index scan there.
		c.addArg("key_prefix >= $%[1]d AND key_prefix ^@ $%[1]d", f.Prefix)
	}
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return keyward.Page[*keyward.Key]{}, err
		}
		c.addArg("id > $%d", after)
	}
	query := `SELECT ` + keyColumns + ` FROM keys WHERE ` + c.where() + ` ORDER BY id`
	return page(ctx, db.pool, query, c.args, keyward.PageLimit(f.Limit), scanKey, func(k *keyward.Key) string { return k.ID })
}

// UpdateKey loads and locks the org's live key, lets update change it,
// then writes every mutable field, ev and the change's notice in one
// transaction, so that concurrent updates of one key, from any node, apply
// one after the other. An error from update writes nothing; ErrNoChange
// also writes nothing but returns the key as stored.
func (db *DB) UpdateKey(ctx context.Context, orgID, id string, update func(k *keyward.Key) error, ev *keyward.AuditEvent) (_ *keyward.Key, err error) {
	defer wrap(&err, "UpdateKey(%q)", id)
	if !storable(orgID, id) {
		return nil, pgx.ErrNoRows
	}
	var stored, k *keyward.Key
	err = db.writeTx(ctx, func(tx pgx.Tx) error {
		var err error
		stored, err = findLiveKey(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		// update gets a copy, so that the stored record can still be
		// returned if it changes the copy and then returns ErrNoChange.
		k = stored.Clone()
		if err := update(k); err != nil {
			return err
		}
		// The row's identity, secret, rotation link and line are not
		// update's to change.
		k.ID, k.OrgID, k.Hash, k.RotatedTo, k.LineID = stored.ID, stored.OrgID, stored.Hash, stored.RotatedTo, stored.LineID
		if err := updateKey(ctx, tx, k); err != nil {
			return err
		}
		if err := insertAuditEvent(ctx, tx, ev); err != nil {
			return err
		}
		return notify(ctx, tx, db.channel, keyChanges(k))
	})
	if errors.Is(err, keyward.ErrNoChange) {
		return stored, nil
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// RotateKey loads and locks the org's live key id, lets rotate change it
// and fill next, then, in one transaction, links the two
// (keyward.LinkRotation: line, links, credits), writes the old key's
// mutable fields, inserts next, writes ev and announces the old key's
// change. It returns the old key as written; next holds what was inserted.
func (db *DB) RotateKey(ctx context.Context, orgID, id string, next *keyward.Key, rotate func(old *keyward.Key) error, ev *keyward.AuditEvent) (_ *keyward.Key, err error) {
	defer wrap(&err, "RotateKey(%q)", id)
	if !storable(orgID, id) {
		return nil, pgx.ErrNoRows
	}
	var old *keyward.Key
	err = db.writeTx(ctx, func(tx pgx.Tx) error {
		// next joins the old key's service account, if it has one. Lock
		// the account before the key, in DeleteServiceAccount's order:
		// a delete then either sees next or waits for this rotation,
		// and the two never deadlock.
		if _, err := tx.Exec(ctx, `SELECT FROM service_accounts
			WHERE id = (SELECT service_account_id FROM keys WHERE org_id = $1 AND id = $2) FOR SHARE`, orgID, id); err != nil {
			return err
		}
		stored, err := findLiveKey(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		old = stored.Clone()
		if err := rotate(old); err != nil {
			return err
		}
		if err := keyward.LinkRotation(stored, old, next); err != nil {
			return err
		}
		if err := updateKey(ctx, tx, old); err != nil {
			return err
		}
		if err := insertKey(ctx, tx, next); err != nil {
			return err
		}
		if err := insertAuditEvent(ctx, tx, ev); err != nil {
			return err
		}
		return notify(ctx, tx, db.channel, keyChanges(old))
	})
	if err != nil {
		return nil, err
	}
	return old, nil
}

// TouchKeys records the last uses in one statement. A use older than the
// recorded one changes nothing: READ COMMITTED checks the condition again
// on the newest version of a row that another node's batch changed
// meanwhile, so that batches applied out of order, late, or at once from
// several nodes keep the latest time, IP and user agent. A use of an
// unknown key is dropped.
func (db *DB) TouchKeys(ctx context.Context, uses []keyward.KeyUse) (err error) {
	if len(uses) == 0 {
		return nil
	}
	defer wrap(&err, "TouchKeys(%d uses)", len(uses))
	// An UPDATE changes a row once, from whichever of its matching input
	// rows comes first, so the batch keeps one use per key, the latest
	// (the first of equal ones, as applying them in order would). Sorted
	// by key, batches lock rows in one order and rarely deadlock; a
	// deadlock runs the statement again.
	latest := make(map[[2]string]keyward.KeyUse, len(uses))
	for _, u := range uses {
		u.At = timeValue(u.At)
		k := [2]string{u.OrgID, u.KeyID}
		if cur, ok := latest[k]; !ok || cur.At.Before(u.At) {
			latest[k] = u
		}
	}
	batch := slices.SortedFunc(maps.Values(latest), func(a, b keyward.KeyUse) int {
		return cmp.Or(cmp.Compare(a.OrgID, b.OrgID), cmp.Compare(a.KeyID, b.KeyID))
	})
	orgIDs := make([]string, len(batch))
	ids := make([]string, len(batch))
	ats := make([]time.Time, len(batch))
	ips := make([]string, len(batch))
	agents := make([]string, len(batch))
	for i, u := range batch {
		orgIDs[i], ids[i], ats[i], ips[i], agents[i] = u.OrgID, u.KeyID, u.At, u.IP, u.UserAgent
	}
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE keys AS k
			SET last_used_at = u.at, last_used_ip = NULLIF(u.ip, ''), last_used_user_agent = NULLIF(u.agent, '')
			FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[]) AS u (org_id, id, at, ip, agent)
			WHERE k.org_id = u.org_id AND k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`,
			orgIDs, ids, ats, ips, agents)
		return err
	})
}
