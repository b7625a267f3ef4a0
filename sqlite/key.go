package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"

	"keyward"
)

const keyColumns = `id, org_id, name, description, key_prefix, hash, permissions, allowed_ips, expires_at, enabled, metadata,
	owner_id, service_account_id, created_at, updated_at, created_by,
	last_used_at, last_used_ip, last_used_user_agent, revoked_at, deleted_at,
	rate_limits, credits_remaining, credits_refill, credits_refilled_at, rotated_from, rotated_to, line_id`

func scanKey(s scanner) (*keyward.Key, error) {
	var (
		k                                           keyward.Key
		perms, ips, metadata                        sql.NullString
		owner, serviceAccount, createdBy, ip, agent sql.NullString
		created, updated                            int64
		expires, lastUsed, revoked, deleted         sql.NullInt64
		limits                                      string
		remaining, refilled                         sql.NullInt64
		refill, rotatedFrom, rotatedTo, lineID      sql.NullString
	)
	if err := s.Scan(&k.ID, &k.OrgID, &k.Name, &k.Description, &k.KeyPrefix, &k.Hash, &perms, &ips, &expires, &k.Enabled, &metadata,
		&owner, &serviceAccount, &created, &updated, &createdBy,
		&lastUsed, &ip, &agent, &revoked, &deleted,
		&limits, &remaining, &refill, &refilled, &rotatedFrom, &rotatedTo, &lineID); err != nil {
		return nil, err
	}
	var err error
	if k.Permissions, err = fromListValue(perms); err != nil {
		return nil, err
	}
	if k.AllowedIPs, err = fromListValue(ips); err != nil {
		return nil, err
	}
	if k.RateLimits, err = fromRateLimits(limits); err != nil {
		return nil, err
	}
	if k.Credits, err = fromCredits(remaining, refill, refilled); err != nil {
		return nil, err
	}
	k.RotatedFrom = rotatedFrom.String
	k.RotatedTo = rotatedTo.String
	k.LineID = lineID.String
	k.ExpiresAt = fromNullMicros(expires)
	k.Metadata = fromNullJSON(metadata)
	k.OwnerID = owner.String
	k.ServiceAccountID = serviceAccount.String
	k.CreatedAt = fromMicros(created)
	k.UpdatedAt = fromMicros(updated)
	k.CreatedBy = createdBy.String
	k.LastUsedAt = fromNullMicros(lastUsed)
	k.LastUsedIP = ip.String
	k.LastUsedUserAgent = agent.String
	k.RevokedAt = fromNullMicros(revoked)
	k.DeletedAt = fromNullMicros(deleted)
	return &k, nil
}

// encodedKey holds the columns of a key that are stored as JSON.
type encodedKey struct {
	perms, ips any
	limits     string
	credits    creditColumns
}

// encodeKey encodes k's JSON columns for an insert or an update.
func encodeKey(k *keyward.Key) (e encodedKey, err error) {
	if e.perms, err = listValue(k.Permissions); err != nil {
		return e, err
	}
	if e.ips, err = listValue(k.AllowedIPs); err != nil {
		return e, err
	}
	if e.limits, err = rateLimitsValue(k.RateLimits); err != nil {
		return e, err
	}
	e.credits, err = creditsValues(k.Credits)
	return e, err
}

// insertKeySQL inserts a key; keyArgs gives its arguments.
const insertKeySQL = `INSERT INTO keys (` + keyColumns + `, credits_refill_due)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func keyArgs(k *keyward.Key) ([]any, error) {
	e, err := encodeKey(k)
	if err != nil {
		return nil, err
	}
	c := e.credits
	return []any{k.ID, k.OrgID, k.Name, k.Description, k.KeyPrefix, k.Hash, e.perms, e.ips, nullTime(k.ExpiresAt), k.Enabled, nullJSON(k.Metadata),
		nullString(k.OwnerID), nullString(k.ServiceAccountID), k.CreatedAt.UnixMicro(), k.UpdatedAt.UnixMicro(), nullString(k.CreatedBy),
		nullTime(k.LastUsedAt), nullString(k.LastUsedIP), nullString(k.LastUsedUserAgent), nullTime(k.RevokedAt), nullTime(k.DeletedAt),
		e.limits, c.remaining, c.refill, c.refilledAt, nullString(k.RotatedFrom), nullString(k.RotatedTo), nullString(k.LineID), c.due}, nil
}

func insertKey(ctx context.Context, tx *sql.Tx, k *keyward.Key) error {
	args, err := keyArgs(k)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, insertKeySQL, args...)
	return err
}

// updateKey writes k's mutable fields: those UpdateKey documents, and
// rotated_to, which only RotateKey changes. A key's line never changes.
func updateKey(ctx context.Context, tx *sql.Tx, k *keyward.Key) error {
	e, err := encodeKey(k)
	if err != nil {
		return err
	}
	c := e.credits
	_, err = tx.ExecContext(ctx, `UPDATE keys SET name = ?, description = ?, permissions = ?, allowed_ips = ?, expires_at = ?,
			enabled = ?, metadata = ?, updated_at = ?, revoked_at = ?, deleted_at = ?, rate_limits = ?,
			credits_remaining = ?, credits_refill = ?, credits_refilled_at = ?, credits_refill_due = ?, rotated_to = ?
		WHERE org_id = ? AND id = ?`,
		k.Name, k.Description, e.perms, e.ips, nullTime(k.ExpiresAt),
		k.Enabled, nullJSON(k.Metadata), k.UpdatedAt.UnixMicro(), nullTime(k.RevokedAt), nullTime(k.DeletedAt), e.limits,
		c.remaining, c.refill, c.refilledAt, c.due, nullString(k.RotatedTo),
		k.OrgID, k.ID)
	return err
}

// findLiveKey loads the org's key id in tx unless it is deleted.
func findLiveKey(ctx context.Context, tx *sql.Tx, orgID, id string) (*keyward.Key, error) {
	return scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE org_id = ? AND id = ? AND deleted_at IS NULL`, orgID, id))
}

// CreateKey inserts k and ev in one transaction. Returns EINVALID (field
// service_account_id) when k names a service account that is not a live one
// of k.OrgID, and ECONFLICT when its id or hash exists.
//
// Concurrent calls share a transaction (see createBatch). A commit appends
// every page it changed to the WAL, and the keys of one batch change mostly
// the same pages (the last leaves of both tables and of most indexes), so
// a batch of 8 writes about a third of the pages that 8 commits write.
func (db *DB) CreateKey(ctx context.Context, k *keyward.Key, ev *keyward.AuditEvent) (err error) {
	defer wrap(&err, "CreateKey(%q)", k.ID)
	return db.creates.do(&createRequest{ctx: ctx, key: k, ev: ev}, db.commitCreates)
}

// maxCreateBatch bounds the keys of one transaction, so that a crowd of
// callers does not hold the writer connection for long at a time.
const maxCreateBatch = 64

// createRequest is one CreateKey call.
type createRequest struct {
	ctx context.Context
	key *keyward.Key
	ev  *keyward.AuditEvent
	err error
	// done receives true once err holds the outcome, or false when the
	// request is to commit the next batch itself.
	done chan bool
}

// createBatch groups concurrent CreateKey calls into one transaction, the
// way LevelDB groups writes: the caller that finds no batch in progress
// commits every request queued so far, its own included, then hands the
// next batch to the first request that queued meanwhile. No goroutine of
// its own, so nothing to stop on Close; a lone caller commits at once.
type createBatch struct {
	mu      sync.Mutex
	pending []*createRequest
	// leading is set while a caller commits a batch or has been handed one.
	leading bool
}

// do queues r and returns its outcome, committing a batch with commit if
// r is to lead one. A caller whose context ends while it waits still waits
// for its batch: the wait is one commit long.
func (b *createBatch) do(r *createRequest, commit func(ctx context.Context, batch []*createRequest)) error {
	r.done = make(chan bool, 1)
	b.mu.Lock()
	b.pending = append(b.pending, r)
	lead := !b.leading
	b.leading = true
	b.mu.Unlock()
	if !lead && <-r.done {
		return r.err
	}

	b.mu.Lock()
	n := min(len(b.pending), maxCreateBatch)
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	b.mu.Unlock()
	// Deferred, so that a commit that panics still answers the batch and
	// hands the lead on: otherwise every later create would wait forever.
	committed := false
	defer func() {
		b.mu.Lock()
		if len(b.pending) > 0 {
			b.pending[0].done <- false
		} else {
			b.leading = false
			b.pending = nil
		}
		b.mu.Unlock()
		for _, o := range batch {
			if !committed {
				o.err = errCreateAborted
			}
			if o != r {
				o.done <- true
			}
		}
	}()
	// The batch goes on when the leader's caller gives up: it holds the
	// others' keys too.
	commit(context.WithoutCancel(r.ctx), batch)
	committed = true
	return r.err
}

// errCreateAborted answers the creates of a batch whose commit panicked.
var errCreateAborted = errors.New("create aborted: the batch it was written in failed")

// commitCreates writes batch in one transaction and sets each request's
// err. When any request fails, it rolls them all back and writes each in a
// transaction of its own, so that one conflict costs the others nothing
// and every outcome is the one a lone call would have had.
func (db *DB) commitCreates(ctx context.Context, batch []*createRequest) {
	live := batch[:0:0]
	for _, r := range batch {
		if r.err = r.ctx.Err(); r.err == nil {
			live = append(live, r)
		}
	}
	if len(live) > 1 {
		err := db.writeTx(ctx, func(tx *sql.Tx) error {
			ins := db.createStatements(ctx, tx)
			for _, r := range live {
				if err := ins.create(ctx, tx, r.key, r.ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			return
		}
	}
	for _, r := range live {
		r.err = db.writeTx(r.ctx, func(tx *sql.Tx) error {
			return db.createStatements(r.ctx, tx).create(r.ctx, tx, r.key, r.ev)
		})
	}
}

// createStatements are the prepared inserts of CreateKey, bound to one
// transaction.
type createStatements struct {
	key, event *sql.Stmt
}

func (db *DB) createStatements(ctx context.Context, tx *sql.Tx) createStatements {
	return createStatements{key: tx.StmtContext(ctx, db.insertKey), event: tx.StmtContext(ctx, db.insertEvent)}
}

// create writes k and ev in tx after checking k's service account.
func (s createStatements) create(ctx context.Context, tx *sql.Tx, k *keyward.Key, ev *keyward.AuditEvent) error {
	if k.ServiceAccountID != "" {
		_, err := findServiceAccount(ctx, tx, k.OrgID, k.ServiceAccountID)
		if errors.Is(err, sql.ErrNoRows) {
			return keyward.Invalid(keyward.FieldError{Field: "service_account_id", Message: "service account not found"})
		}
		if err != nil {
			return err
		}
	}
	args, err := keyArgs(k)
	if err != nil {
		return err
	}
	if _, err := s.key.ExecContext(ctx, args...); err != nil {
		return err
	}
	if ev == nil {
		return nil
	}
	_, err = s.event.ExecContext(ctx, auditArgs(ev)...)
	return err
}

// FindKeyByID returns the org's key, deleted or not, or ENOTFOUND.
func (db *DB) FindKeyByID(ctx context.Context, orgID, id string) (_ *keyward.Key, err error) {
	defer wrap(&err, "FindKeyByID(%q)", id)
	return scanKey(db.reader.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE org_id = ? AND id = ?`, orgID, id))
}

// FindKeyByHash returns the key, of any org and deleted or not, whose
// secret has that hash, or ENOTFOUND.
func (db *DB) FindKeyByHash(ctx context.Context, hash []byte) (_ *keyward.Key, err error) {
	defer wrap(&err, "FindKeyByHash")
	return scanKey(db.byHash.QueryRowContext(ctx, hash))
}

// FindKeys lists the org's keys that are not deleted, by id ascending.
// Returns EINVALID (field cursor) for a malformed cursor.
func (db *DB) FindKeys(ctx context.Context, orgID string, f keyward.KeyFilter) (_ keyward.Page[*keyward.Key], err error) {
	defer wrap(&err, "FindKeys(%q)", orgID)
	where := []string{"org_id = ?", "deleted_at IS NULL"}
	args := []any{orgID}
	if f.OwnerID != "" {
		where = append(where, "owner_id = ?")
		args = append(args, f.OwnerID)
	}
	if f.ServiceAccountID != "" {
		where = append(where, "service_account_id = ?")
		args = append(args, f.ServiceAccountID)
	}
	if f.Revoked != nil {
		if *f.Revoked {
			where = append(where, "revoked_at IS NOT NULL")
		} else {
			where = append(where, "revoked_at IS NULL")
		}
	}
	if f.Prefix != "" {
		// A range on the binary collation rather than LIKE, which ignores
		// ASCII case and reads the '_' of every key prefix as a wildcard.
		where = append(where, "key_prefix >= ?")
		args = append(args, f.Prefix)
		if end, ok := prefixEnd(f.Prefix); ok {
			where = append(where, "key_prefix < ?")
			args = append(args, end)
		}
	}
	if f.Cursor != "" {
		after, err := keyward.DecodeCursor(f.Cursor)
		if err != nil {
			return keyward.Page[*keyward.Key]{}, err
		}
		where = append(where, "id > ?")
		args = append(args, after)
	}
	query := `SELECT ` + keyColumns + ` FROM keys WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id LIMIT ?`
	return page(ctx, db.reader, query, args, keyward.PageLimit(f.Limit), scanKey, func(k *keyward.Key) string { return k.ID })
}

// prefixEnd returns the least string greater than every string that starts
// with prefix, byte-wise as SQLite's binary collation compares, so that s
// starts with prefix exactly when prefix <= s < end. There is none when
// prefix is all 0xff bytes; then s >= prefix alone is exact.
func prefixEnd(prefix string) (string, bool) {
	end := []byte(prefix)
	for len(end) > 0 && end[len(end)-1] == 0xff {
		end = end[:len(end)-1]
	}
	if len(end) == 0 {
		return "", false
	}
	end[len(end)-1]++
	return string(end), true
}

// UpdateKey loads the org's live key, lets update change it, and writes
// every mutable field and ev, in one transaction on the writer connection,
// so that concurrent updates of one key apply one after the other. An error
// from update writes nothing; ErrNoChange also writes nothing but returns
// the key as stored.
func (db *DB) UpdateKey(ctx context.Context, orgID, id string, update func(k *keyward.Key) error, ev *keyward.AuditEvent) (_ *keyward.Key, err error) {
	defer wrap(&err, "UpdateKey(%q)", id)
	var stored, k *keyward.Key
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
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
		// The row's identity, rotation link and line are not update's to
		// change.
		k.ID, k.OrgID, k.RotatedTo, k.LineID = stored.ID, stored.OrgID, stored.RotatedTo, stored.LineID
		if err := updateKey(ctx, tx, k); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, ev)
	})
	if errors.Is(err, keyward.ErrNoChange) {
		return stored, nil
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// RotateKey loads the org's live key id, lets rotate change it and fill
// next, then, in one transaction, links the two (keyward.LinkRotation:
// line, links, credits), writes the old key's mutable fields, inserts next
// and writes ev. It returns the old key as written; next holds what was
// inserted.
func (db *DB) RotateKey(ctx context.Context, orgID, id string, next *keyward.Key, rotate func(old *keyward.Key) error, ev *keyward.AuditEvent) (_ *keyward.Key, err error) {
	defer wrap(&err, "RotateKey(%q)", id)
	var old *keyward.Key
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
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
		return insertAuditEvent(ctx, tx, ev)
	})
	if err != nil {
		return nil, err
	}
	return old, nil
}

// TouchKeys records the last uses in one transaction. A use older than the
// recorded one changes nothing, so that a batch applied out of order, or
// late, keeps the latest time, IP and user agent. A use of an unknown key
// is dropped.
func (db *DB) TouchKeys(ctx context.Context, uses []keyward.KeyUse) (err error) {
	if len(uses) == 0 {
		return nil
	}
	defer wrap(&err, "TouchKeys(%d uses)", len(uses))
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE keys SET last_used_at = ?1, last_used_ip = ?2, last_used_user_agent = ?3
			WHERE org_id = ?5 AND id = ?4 AND (last_used_at IS NULL OR last_used_at < ?1)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, u := range uses {
			if _, err := stmt.ExecContext(ctx, u.At.UnixMicro(), nullString(u.IP), nullString(u.UserAgent), u.KeyID, u.OrgID); err != nil {
				return err
			}
		}
		return nil
	})
}
