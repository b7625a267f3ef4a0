package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"keyward"
)

// CreateKeys inserts keys in one transaction, without audit events: a bulk
// import, for loading test data (bench/verify) and migrating keys from
// another system, where an event per key would only double the writes. One
// transaction for the whole batch turns a commit per key (≈100 µs) into one
// per batch; callers keep batches to some thousands of keys so that the
// writer connection is not held for long.
//
// Returns EINVALID (field service_account_id) when a key names a service
// account, which the import does not check, or (field metadata) holds
// metadata that is not JSON, before writing anything, and
// ECONFLICT when an id or hash exists or repeats in keys; then nothing is
// written.
func (db *DB) CreateKeys(ctx context.Context, keys []*keyward.Key) (err error) {
	defer wrap(&err, "CreateKeys(%d keys)", len(keys))
	for _, k := range keys {
		if k.ServiceAccountID != "" {
			return keyward.Invalid(keyward.FieldError{Field: "service_account_id", Message: "a bulk import takes no keys of service accounts"})
		}
		// Verification answers stored metadata as it is: it must be JSON,
		// as the API makes sure of every key it writes.
		if len(k.Metadata) > 0 && !json.Valid(k.Metadata) {
			return keyward.Invalid(keyward.FieldError{Field: "metadata", Message: "is not valid JSON"})
		}
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		insert := tx.StmtContext(ctx, db.insertKey)
		for _, k := range keys {
			args, err := keyArgs(k)
			if err != nil {
				return err
			}
			if _, err := insert.ExecContext(ctx, args...); err != nil {
				return err
			}
		}
		return nil
	})
}
