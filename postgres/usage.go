package postgres

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"keyward"
)

// usageKey names one stored count.
type usageKey struct {
	orgID, keyID string
	minute       time.Time
	code         string
}

// AddUsage adds counts to the stored ones in one statement, so that a
// flush of the verify path's counters lands whole or not at all, and
// counts that several nodes flush at once add up.
func (db *DB) AddUsage(ctx context.Context, counts []keyward.UsageCount) (err error) {
	if len(counts) == 0 {
		return nil
	}
	defer wrap(&err, "AddUsage(%d counts)", len(counts))
	// PostgreSQL refuses to update one row twice in one INSERT ... ON
	// CONFLICT, so counts of one row are added up here first. Sorted,
	// batches lock rows in one order and rarely deadlock; a deadlock runs
	// the statement again.
	sums := make(map[usageKey]int64, len(counts))
	for _, c := range counts {
		// Truncate counts from the zero time, a UTC midnight, so minutes
		// align to UTC.
		sums[usageKey{c.OrgID, c.KeyID, c.Minute.Truncate(time.Minute), c.Code}] += c.Count
	}
	keys := slices.SortedFunc(maps.Keys(sums), func(a, b usageKey) int {
		return cmp.Or(cmp.Compare(a.orgID, b.orgID), cmp.Compare(a.keyID, b.keyID), a.minute.Compare(b.minute), cmp.Compare(a.code, b.code))
	})
	orgIDs := make([]string, len(keys))
	keyIDs := make([]string, len(keys))
	minutes := make([]time.Time, len(keys))
	codes := make([]string, len(keys))
	ns := make([]int64, len(keys))
	for i, k := range keys {
		orgIDs[i], keyIDs[i], minutes[i], codes[i], ns[i] = k.orgID, k.keyID, k.minute, k.code, sums[k]
	}
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO usage (org_id, key_id, minute, code, count)
			SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::bigint[])
			ON CONFLICT (org_id, key_id, minute, code) DO UPDATE SET count = usage.count + excluded.count`,
			orgIDs, keyIDs, minutes, codes, ns)
		return err
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
	// date_bin counts fixed widths from the Unix epoch in absolute time,
	// so buckets align to UTC whatever the session's time zone.
	query := `SELECT date_bin($1, minute, timestamptz '1970-01-01 00:00:00+00') AS start, code, SUM(count)::bigint FROM usage
		WHERE org_id = $2 AND minute >= $3 AND minute < $4`
	args := []any{width, orgID, timeValue(f.From), timeValue(f.To)}
	if f.KeyID != "" {
		query += ` AND key_id = $5`
		args = append(args, f.KeyID)
	}
	rows, err := db.pool.Query(ctx, query+` GROUP BY start, code ORDER BY start`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	buckets := []keyward.UsageBucket{}
	for rows.Next() {
		var (
			start time.Time
			code  string
			n     int64
		)
		if err := rows.Scan(&start, &code, &n); err != nil {
			return nil, err
		}
		if len(buckets) == 0 || !buckets[len(buckets)-1].Start.Equal(start) {
			buckets = append(buckets, keyward.UsageBucket{Start: start, Codes: map[string]int64{}})
		}
		b := &buckets[len(buckets)-1]
		b.Codes[code] += n
		b.Total += n
	}
	return buckets, rows.Err()
}
