package sqlite

import (
	"context"
	"database/sql"
	"time"

	"keyward"
)

// minuteStart returns the unix seconds of the start of t's minute.
func minuteStart(t time.Time) int64 {
	return t.Truncate(time.Minute).Unix()
}

// AddUsage adds counts to the stored ones in one transaction: a flush of
// the verify path's counters lands whole or not at all.
func (db *DB) AddUsage(ctx context.Context, counts []keyward.UsageCount) (err error) {
	if len(counts) == 0 {
		return nil
	}
	defer wrap(&err, "AddUsage(%d counts)", len(counts))
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO usage (org_id, key_id, minute, code, count) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (org_id, key_id, minute, code) DO UPDATE SET count = count + excluded.count`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, c := range counts {
			if _, err := stmt.ExecContext(ctx, c.OrgID, c.KeyID, minuteStart(c.Minute), c.Code, c.Count); err != nil {
				return err
			}
		}
		return nil
	})
}

// FindUsage sums the org's counts, or one key's, from f.From (inclusive)
// to f.To (exclusive) into buckets of f.Bucket aligned to UTC, ordered by
// start; buckets without counts are absent. Returns EINVALID (field
// bucket) for an unknown bucket.
func (db *DB) FindUsage(ctx context.Context, orgID string, f keyward.UsageFilter) (_ []keyward.UsageBucket, err error) {
	defer wrap(&err, "FindUsage(%q)", orgID)
	width, ok := keyward.BucketWidth(f.Bucket)
	if !ok {
		return nil, keyward.Invalid(keyward.FieldError{Field: "bucket", Message: "must be minute, hour or day"})
	}
	// Unix time has no leap seconds, so integer division aligns buckets to
	// UTC.
	query := `SELECT minute / ?1 * ?1 AS start, code, SUM(count) FROM usage
		WHERE org_id = ?2 AND minute >= ?3 AND minute < ?4`
	args := []any{int64(width / time.Second), orgID, f.From.Unix(), f.To.Unix()}
	if f.KeyID != "" {
		query += ` AND key_id = ?5`
		args = append(args, f.KeyID)
	}
	rows, err := db.reader.QueryContext(ctx, query+` GROUP BY start, code ORDER BY start`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	buckets := []keyward.UsageBucket{}
	for rows.Next() {
		var (
			start, n int64
			code     string
		)
		if err := rows.Scan(&start, &code, &n); err != nil {
			return nil, err
		}
		if len(buckets) == 0 || buckets[len(buckets)-1].Start.Unix() != start {
			buckets = append(buckets, keyward.UsageBucket{Start: time.Unix(start, 0).UTC(), Codes: map[string]int64{}})
		}
		b := &buckets[len(buckets)-1]
		b.Codes[code] += n
		b.Total += n
	}
	return buckets, rows.Err()
}
