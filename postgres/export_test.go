package postgres

import "time"

// SetListenTimes replaces the change feed's idle period and ping timeout,
// so that tests can run many idle cycles in little time. Call it before
// Listen.
func (db *DB) SetListenTimes(idle, ping time.Duration) {
	db.listenIdle, db.listenPing = idle, ping
}

// MaxConns returns the size of the open DB's pool.
func (db *DB) MaxConns() int32 {
	return db.pool.Config().MaxConns
}

// MigrateLockID is the advisory lock that migrations run under.
var MigrateLockID = migrateLockID
