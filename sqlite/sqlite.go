// Package sqlite implements keyward.Store on an embedded SQLite database,
// through modernc.org/sqlite (pure Go, so the binary stays static).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"keyward"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// memoryDSN names a private in-memory database, for tests.
const memoryDSN = ":memory:"

// Connection parameters, read by the driver from the DSN so that every
// connection of a pool gets them, including ones opened after a reconnect.
const (
	// busy_timeout makes a connection wait up to 5 s for a lock held by
	// another process (a backup, a second keyward) instead of failing at once
	// with SQLITE_BUSY. It comes first so that the pragmas after it wait too.
	paramBusyTimeout = "_pragma=busy_timeout(5000)"
	// WAL lets the read pool keep reading while the writer commits, and makes
	// a commit one sequential append. The mode is stored in the file.
	paramWAL = "_pragma=journal_mode(WAL)"
	// synchronous=NORMAL in WAL mode fsyncs at checkpoints, not at every
	// commit: a committed transaction survives the process being killed
	// (kill -9, a panic), and a power loss or OS crash may lose the last
	// commits but never corrupts the database. FULL would fsync every
	// commit: measured here, it halves a lone client's creates, and each
	// credit spend, a commit of its own on the verification path, would
	// wait for the disk.
	paramSynchronous = "_pragma=synchronous(NORMAL)"
	// SQLite ignores foreign keys unless asked, for historical reasons; on,
	// it refuses rows of an org or service account that does not exist.
	paramForeignKeys = "_pragma=foreign_keys(ON)"
	// BEGIN IMMEDIATE takes the write lock when a transaction starts. A
	// deferred transaction that reads first would take it at its first
	// write, and fail with SQLITE_BUSY, without waiting, if another
	// process wrote in between.
	paramTxLock = "_txlock=immediate"
	// query_only makes the read pool refuse writes, so that no write can
	// bypass the single writer connection.
	paramQueryOnly = "_pragma=query_only(ON)"
)

// DB is a keyward.Store on one SQLite database.
//
// Writes go through a single connection: SQLite admits one writer at a
// time, and queueing writers in database/sql is cheaper and fairer than
// retrying on SQLITE_BUSY. Reads go through a separate pool that, in WAL
// mode, never waits for the writer.
type DB struct {
	// DSN is the path of the database file, created with its directory when
	// missing, or ":memory:" for a private in-memory database.
	DSN string

	writer *sql.DB
	reader *sql.DB
	// byHash is FindKeyByHash's query, prepared once per read connection:
	// it is the verification path's only store call, and preparing it per
	// call costs about as much as running it.
	byHash *sql.Stmt
	// orgPolicy is FindOrgPolicy's query, which every key create runs.
	orgPolicy *sql.Stmt
	// insertKey and insertEvent are CreateKey's inserts, prepared once on
	// the writer connection for the same reason.
	insertKey, insertEvent *sql.Stmt
	// creates groups concurrent CreateKey calls into shared commits.
	creates createBatch
}

var _ keyward.Store = (*DB)(nil)

// NewDB returns a DB for dsn; Open connects to it.
func NewDB(dsn string) *DB {
	return &DB{DSN: dsn}
}

// Open connects to the database and applies the pending migrations.
func (db *DB) Open() (err error) {
	defer wrap(&err, "Open")
	if db.DSN == "" {
		return errors.New("dsn required")
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	if db.DSN == memoryDSN {
		// Every connection to ":memory:" opens a database of its own, so
		// reads and writes must share one connection to see the same data.
		// WAL does not apply to memory databases.
		db.writer, err = openPool(memoryDSN, 1, paramForeignKeys, paramTxLock)
		if err != nil {
			return err
		}
		db.reader = db.writer
		if err := migrate(db.writer); err != nil {
			return err
		}
		return db.prepare()
	}

	if err := os.MkdirAll(filepath.Dir(db.DSN), 0o700); err != nil {
		return err
	}
	if err := createPrivate(db.DSN); err != nil {
		return err
	}
	db.writer, err = openPool(db.DSN, 1, paramBusyTimeout, paramWAL, paramSynchronous, paramForeignKeys, paramTxLock)
	if err != nil {
		return err
	}
	// Migrate before the read pool exists, so that its first connection
	// finds the file in WAL mode and the schema complete.
	if err := migrate(db.writer); err != nil {
		return err
	}
	db.reader, err = openPool(db.DSN, max(4, runtime.NumCPU()), paramBusyTimeout, paramQueryOnly)
	if err != nil {
		return err
	}
	return db.prepare()
}

// createPrivate creates the database file, readable and writable by its
// owner alone, when it does not exist yet. SQLite would create it with
// 0644 under the usual umask, and gives the -wal and -shm files the
// database file's permissions: in a directory that is not private (an
// existing data directory of 0755), every local user could read the keys'
// metadata and the audit trail. An existing file keeps the permissions its
// operator chose.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// prepare prepares the statements of the hot paths.
func (db *DB) prepare() (err error) {
	if db.byHash, err = db.reader.Prepare(`SELECT ` + keyColumns + ` FROM keys WHERE hash = ?`); err != nil {
		return err
	}
	if db.orgPolicy, err = db.reader.Prepare(findOrgPolicySQL); err != nil {
		return err
	}
	if db.insertKey, err = db.writer.Prepare(insertKeySQL); err != nil {
		return err
	}
	db.insertEvent, err = db.writer.Prepare(insertAuditSQL)
	return err
}

// openPool opens a pool of at most n connections that are kept open: a
// connection to a memory database must live as long as the data, and a new
// file connection costs a schema read.
func openPool(path string, n int, params ...string) (*sql.DB, error) {
	pool, err := sql.Open("sqlite", path+"?"+strings.Join(params, "&"))
	if err != nil {
		return nil, err
	}
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	if err := pool.Ping(); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// migrate applies the embedded migrations that the database lacks. goose
// records the applied ones in goose_db_version, so reopening an existing
// database runs nothing again.
func migrate(pool *sql.DB) error {
	fsys, err := fs.Sub(migrationFS, "migration")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, pool, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	if _, err := p.Up(context.Background()); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes the prepared statements and both pools.
func (db *DB) Close() error {
	var errs []error
	for _, s := range []*sql.Stmt{db.byHash, db.orgPolicy, db.insertKey, db.insertEvent} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if db.reader != nil && db.reader != db.writer {
		errs = append(errs, db.reader.Close())
	}
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	return errors.Join(errs...)
}

// Ping reports whether the read pool answers a query.
func (db *DB) Ping(ctx context.Context) (err error) {
	defer wrap(&err, "Ping")
	var one int
	return db.reader.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// writeTx runs fn in a transaction on the writer connection and commits it
// when fn returns nil.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// queryer is what reads need of *sql.DB and *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// formatError turns the driver's errors into *keyward.Error where a caller
// can act on them; anything else passes through and counts as EINTERNAL.
func formatError(err error) error {
	var serr *sqlite.Error
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return keyward.Errorf(keyward.ENOTFOUND, "Not found.")
	case errors.As(err, &serr) && (serr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || serr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		// The driver's text names the constraint ("UNIQUE constraint
		// failed: organizations.name"); only ours is shown to a client.
		if strings.Contains(serr.Error(), "organizations.name") {
			return keyward.Errorf(keyward.ECONFLICT, "An organization with this name already exists.")
		}
		return keyward.Errorf(keyward.ECONFLICT, "Already exists.")
	}
	return err
}

// wrap formats *errp and prefixes it with the operation, keeping the
// *keyward.Error reachable by errors.As.
func wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("sqlite: %s: %w", fmt.Sprintf(format, args...), formatError(*errp))
	}
}

// Column values. Times are unix microseconds, which also truncates any
// nanoseconds a caller left; NULL stands for a nil pointer or an empty
// optional string.

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	return time.UnixMicro(us).UTC()
}

func fromNullMicros(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := fromMicros(us.Int64)
	return &t
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullJSON stores raw JSON as written; empty stores NULL and reads back nil.
func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// fromNullJSON returns the stored bytes, nil for NULL.
func fromNullJSON(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// listValue stores a nil list as NULL and any other, empty included, as a
// JSON array, so that both read back as they were.
func listValue(list []string) (any, error) {
	if list == nil {
		return nil, nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func fromListValue(s sql.NullString) ([]string, error) {
	if !s.Valid {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal([]byte(s.String), &list); err != nil {
		return nil, err
	}
	return list, nil
}

// rateLimitsValue stores a list of limits as a JSON array, [] for none.
func rateLimitsValue(limits []keyward.RateLimit) (string, error) {
	if len(limits) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(limits)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// fromRateLimits reads what rateLimitsValue writes; [] reads back nil.
func fromRateLimits(s string) ([]keyward.RateLimit, error) {
	var limits []keyward.RateLimit
	if err := json.Unmarshal([]byte(s), &limits); err != nil {
		return nil, err
	}
	if len(limits) == 0 {
		return nil, nil
	}
	return limits, nil
}

// page runs query, which must end in "LIMIT ?", for one row more than limit
// to learn whether another page follows without counting.
func page[T any](ctx context.Context, q queryer, query string, args []any, limit int, scan func(scanner) (T, error), id func(T) string) (keyward.Page[T], error) {
	rows, err := q.QueryContext(ctx, query, append(args, limit+1)...)
	if err != nil {
		return keyward.Page[T]{}, err
	}
	defer rows.Close()
	// Data is never nil, so that an empty page serializes as [].
	data := make([]T, 0, min(limit, 64))
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return keyward.Page[T]{}, err
		}
		data = append(data, v)
	}
	if err := rows.Err(); err != nil {
		return keyward.Page[T]{}, err
	}
	p := keyward.Page[T]{Data: data}
	if len(data) > limit {
		p.Data = data[:limit]
		p.NextCursor = keyward.EncodeCursor(id(p.Data[limit-1]))
	}
	return p, nil
}
