package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"keyward"
)

// newestOfLine selects, of the org's keys, the newest of a rotation line
// that has been rotated at least once: the one not rotated. A line is named
// by its first key's id, which its later keys carry as line_id. The first
// key, once rotated, cannot be the newest, so matching line_id alone
// instead of "id = line OR line_id = line" loses nothing, and lets the
// lookup be one search of keys_org_id_line_id where the OR scans all of
// the org's keys. A rotated key is never rotated again (the service
// refuses it), so exactly one key matches.
const newestOfLine = `SELECT ` + keyColumns + ` FROM keys WHERE org_id = ? AND line_id = ? AND rotated_to IS NULL`

// refillBatch bounds the keys one RefillCredits transaction refills, so
// that the sweep never holds the write lock, which every spend waits for,
// for long.
const refillBatch = 500

// creditColumns are a key's credits as stored.
type creditColumns struct {
	remaining, refill, refilledAt, due any
}

// creditsValues returns the column values of c; all NULL for a key without
// credits. due is when the next refill falls due, NULL when none will.
func creditsValues(c *keyward.Credits) (creditColumns, error) {
	if c == nil {
		return creditColumns{}, nil
	}
	cols := creditColumns{remaining: c.Remaining, refilledAt: nullTime(c.RefilledAt)}
	if c.Refill != nil {
		b, err := json.Marshal(c.Refill)
		if err != nil {
			return creditColumns{}, err
		}
		cols.refill = string(b)
		if c.RefilledAt != nil {
			cols.due = c.Refill.NextRefill(*c.RefilledAt).UnixMicro()
		}
	}
	return cols, nil
}

// fromCredits reads what creditsValues writes.
func fromCredits(remaining sql.NullInt64, refill sql.NullString, refilledAt sql.NullInt64) (*keyward.Credits, error) {
	if !remaining.Valid {
		return nil, nil
	}
	c := &keyward.Credits{Remaining: remaining.Int64, RefilledAt: fromNullMicros(refilledAt)}
	if refill.Valid {
		c.Refill = new(keyward.CreditRefill)
		if err := json.Unmarshal([]byte(refill.String), c.Refill); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// writeCredits stores k's credits alone, so that a spend or a refill never
// writes back fields it did not read under the same lock.
func writeCredits(ctx context.Context, tx *sql.Tx, k *keyward.Key) error {
	c, err := creditsValues(k.Credits)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE keys SET credits_remaining = ?, credits_refill = ?, credits_refilled_at = ?, credits_refill_due = ?
		WHERE org_id = ? AND id = ?`, c.remaining, c.refill, c.refilledAt, c.due, k.OrgID, k.ID)
	return err
}

// SpendCredits refills the credits that hold key id's balance if a refill
// is due at now, then takes cost from them if at least cost remain. A
// spend is one UPDATE when it succeeds from the key's own balance with no
// refill due, and otherwise one IMMEDIATE transaction; both run on the one
// writer connection, so spends are serialized and never overspend.
//
// The balance is the key's own, or, for a rotated key, that of the newest
// key of its line (the one not rotated), whether or not that key has since
// been revoked or deleted: the credits moved there. It is found in one
// lookup whatever the number of rotations, and a key rotated while it had
// no credits follows its line's newest key if that one later got some. A
// balance of 0 refuses every cost, 0 included. Returns (-1, true) when the
// holder has no credits, ENOTFOUND when key id is missing or deleted, and
// EINVALID for a negative cost.
func (db *DB) SpendCredits(ctx context.Context, orgID, id string, cost int64, now time.Time) (remaining int64, ok bool, err error) {
	defer wrap(&err, "SpendCredits(%q)", id)
	if cost < 0 {
		return 0, false, keyward.Invalid(keyward.FieldError{Field: "cost", Message: "must not be negative"})
	}
	// The common case, a spend that succeeds from the key's own balance
	// with no refill due, is one statement: its conditions are exactly
	// those under which the transaction below would only subtract. A cost
	// of 0 skips it, so that a check writes nothing.
	err = db.writer.QueryRowContext(ctx, `UPDATE keys SET credits_remaining = credits_remaining - ?1
		WHERE ?1 > 0 AND org_id = ?2 AND id = ?3 AND deleted_at IS NULL AND rotated_to IS NULL
			AND credits_remaining > 0 AND credits_remaining >= ?1
			AND (credits_refill_due IS NULL OR credits_refill_due > ?4)
		RETURNING credits_remaining`, cost, orgID, id, now.UnixMicro()).Scan(&remaining)
	if err == nil {
		return remaining, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, err
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		k, err := findLiveKey(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if k.RotatedTo != "" {
			line := cmp.Or(k.LineID, k.ID)
			k, err = scanKey(tx.QueryRowContext(ctx, newestOfLine, orgID, line))
			if errors.Is(err, sql.ErrNoRows) {
				// Not ENOTFOUND: key id exists, its line is broken.
				return fmt.Errorf("rotation line %q has no newest key", line)
			}
			if err != nil {
				return err
			}
		}
		if k.Credits == nil {
			remaining, ok = -1, true
			return nil
		}
		changed := k.Credits.ApplyRefill(now)
		if k.Credits.Remaining > 0 && cost <= k.Credits.Remaining {
			ok = true
			if cost > 0 {
				k.Credits.Remaining -= cost
				changed = true
			}
		}
		remaining = k.Credits.Remaining
		if !changed {
			return nil
		}
		return writeCredits(ctx, tx, k)
	})
	if err != nil {
		return 0, false, err
	}
	return remaining, ok, nil
}

// RefillCredits applies every refill due at now to the keys that are not
// deleted, in transactions of at most refillBatch keys, and returns the
// keys it refilled, hash included.
func (db *DB) RefillCredits(ctx context.Context, now time.Time) (_ []*keyward.Key, err error) {
	defer wrap(&err, "RefillCredits")
	var refilled []*keyward.Key
	for {
		var batch []*keyward.Key
		err := db.writeTx(ctx, func(tx *sql.Tx) error {
			// A refill moves a key's due time past now, so each batch finds
			// only keys that the ones before it did not refill.
			keys, err := queryKeys(ctx, tx, `SELECT `+keyColumns+` FROM keys
				WHERE credits_refill_due <= ? AND deleted_at IS NULL ORDER BY credits_refill_due LIMIT ?`,
				now.UnixMicro(), refillBatch)
			if err != nil {
				return err
			}
			for _, k := range keys {
				k.Credits.ApplyRefill(now)
				if err := writeCredits(ctx, tx, k); err != nil {
					return err
				}
			}
			batch = keys
			return nil
		})
		if err != nil {
			return nil, err
		}
		refilled = append(refilled, batch...)
		if len(batch) < refillBatch {
			return refilled, nil
		}
	}
}
