package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"keyward"
)

// newestOfLine selects and locks, of the org's keys, the newest of a
// rotation line that has been rotated at least once: the one not rotated.
// A line is named by its first key's id, which its later keys carry as
// line_id. The first key, once rotated, cannot be the newest, so matching
// line_id alone instead of "id = line OR line_id = line" loses nothing, and
// lets the lookup be one search of keys_org_id_line_id. A rotated key is
// never rotated again (the service refuses it), so exactly one key
// matches.
const newestOfLine = `SELECT ` + keyColumns + ` FROM keys WHERE org_id = $1 AND line_id = $2 AND rotated_to IS NULL FOR UPDATE`

// newestOfLineLookups bounds the runs of newestOfLine for one spend. A
// rotation that commits while the lookup waits for the newest key's lock
// makes that key match no more, and its successor, inserted after the
// lookup's snapshot, is not seen: the lookup finds nothing and runs again,
// with a new snapshot that holds the successor. Only a line that has no
// newest key at all finds nothing every time.
const newestOfLineLookups = 3

// refillBatch bounds the keys one RefillCredits transaction refills, so
// that the sweep never holds many locks, which spends of those keys wait
// for, for long.
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
			cols.due = c.Refill.NextRefill(*c.RefilledAt)
		}
	}
	return cols, nil
}

// fromCredits reads what creditsValues writes.
func fromCredits(remaining *int64, refill *string, refilledAt *time.Time) (*keyward.Credits, error) {
	if remaining == nil {
		return nil, nil
	}
	c := &keyward.Credits{Remaining: *remaining, RefilledAt: refilledAt}
	if refill != nil {
		c.Refill = new(keyward.CreditRefill)
		if err := json.Unmarshal([]byte(*refill), c.Refill); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// writeCreditsQuery stores a key's credits alone, so that a spend or a
// refill never writes back fields it did not read under the same lock.
const writeCreditsQuery = `UPDATE keys SET credits_remaining = $1, credits_refill = $2, credits_refilled_at = $3, credits_refill_due = $4
	WHERE org_id = $5 AND id = $6`

// writeCreditsArgs returns writeCreditsQuery's arguments for k.
func writeCreditsArgs(k *keyward.Key) ([]any, error) {
	c, err := creditsValues(k.Credits)
	if err != nil {
		return nil, err
	}
	return []any{c.remaining, c.refill, c.refilledAt, c.due, k.OrgID, k.ID}, nil
}

// SpendCredits refills the credits that hold key id's balance if a refill
// is due at now, then takes cost from them if at least cost remain.
//
// A spend is one conditional UPDATE when it succeeds from the key's own
// balance with no refill due. Under READ COMMITTED, an UPDATE that finds
// its row changed by a concurrent transaction waits for it and checks its
// condition again on the row's newest version, so two spends, from any
// nodes, never both see one balance. Anything else (a refill due, a
// rotated key, a balance too small, no credits) takes a transaction that
// locks the key holding the balance, as SQLite's single writer serializes
// it.
//
// The balance is the key's own, or, for a rotated key, that of the newest
// key of its line (the one not rotated), whether or not that key has since
// been revoked or deleted: the credits moved there. A key rotated while a
// spend waited for it is followed to its successor. A balance of 0
// refuses every cost, 0 included. Returns (-1, true) when the holder has
// no credits, ENOTFOUND when key id is missing or deleted, and EINVALID
// for a negative cost.
func (db *DB) SpendCredits(ctx context.Context, orgID, id string, cost int64, now time.Time) (remaining int64, ok bool, err error) {
	defer wrap(&err, "SpendCredits(%q)", id)
	if cost < 0 {
		return 0, false, keyward.Invalid(keyward.FieldError{Field: "cost", Message: "must not be negative"})
	}
	if !storable(orgID, id) {
		return 0, false, pgx.ErrNoRows
	}
	// The common case. Its conditions are exactly those under which the
	// transaction below would only subtract; a cost of 0 skips it, so that
	// a check writes nothing.
	err = db.pool.QueryRow(ctx, `UPDATE keys SET credits_remaining = credits_remaining - $1
		WHERE $1 > 0 AND org_id = $2 AND id = $3 AND deleted_at IS NULL AND rotated_to IS NULL
			AND credits_remaining > 0 AND credits_remaining >= $1
			AND (credits_refill_due IS NULL OR credits_refill_due > $4)
		RETURNING credits_remaining`, cost, orgID, id, timeValue(now)).Scan(&remaining)
	if err == nil {
		return remaining, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, err
	}
	err = db.writeTx(ctx, func(tx pgx.Tx) error {
		remaining, ok = 0, false
		k, err := findLiveKey(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if k.RotatedTo != "" {
			if k, err = lockNewestOfLine(ctx, tx, orgID, cmp.Or(k.LineID, k.ID)); err != nil {
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
		args, err := writeCreditsArgs(k)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, writeCreditsQuery, args...)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return remaining, ok, nil
}

// lockNewestOfLine returns the newest key of the org's line, locked until
// tx ends.
func lockNewestOfLine(ctx context.Context, tx pgx.Tx, orgID, line string) (*keyward.Key, error) {
	for range newestOfLineLookups {
		k, err := scanKey(tx.QueryRow(ctx, newestOfLine, orgID, line))
		if !errors.Is(err, pgx.ErrNoRows) {
			return k, err
		}
	}
	// Not ENOTFOUND: the spent key exists, its line is broken.
	return nil, fmt.Errorf("rotation line %q has no newest key", line)
}

// RefillCredits applies every refill due at now to the keys that are not
// deleted, in transactions of at most refillBatch keys, and returns them,
// hash included. It announces nothing: see keyward.ChangeKey. A batch
// skips the keys that another transaction holds, so that the sweeps of
// several nodes share the work instead of queueing behind each other, and
// a sweep never waits for a spend or an update. A skipped key is refilled
// by the next sweep, or before it by the key's next spend that takes the
// transaction path, as every spend does when a refill is due.
func (db *DB) RefillCredits(ctx context.Context, now time.Time) (_ []*keyward.Key, err error) {
	defer wrap(&err, "RefillCredits")
	var refilled []*keyward.Key
	for {
		var batch []*keyward.Key
		err := db.writeTx(ctx, func(tx pgx.Tx) error {
			// A run that a deadlock aborted refilled nothing.
			batch = nil
			// A refill moves a key's due time past now, so each batch finds
			// only keys that the ones before it did not refill.
			keys, err := queryKeys(ctx, tx, `SELECT `+keyColumns+` FROM keys
				WHERE credits_refill_due <= $1 AND deleted_at IS NULL ORDER BY credits_refill_due LIMIT $2
				FOR UPDATE SKIP LOCKED`, timeValue(now), refillBatch)
			if err != nil || len(keys) == 0 {
				return err
			}
			var writes pgx.Batch
			for _, k := range keys {
				k.Credits.ApplyRefill(now)
				args, err := writeCreditsArgs(k)
				if err != nil {
					return err
				}
				writes.Queue(writeCreditsQuery, args...)
			}
			if err := tx.SendBatch(ctx, &writes).Close(); err != nil {
				return err
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
