// Package postgres implements keyward.Store on PostgreSQL 14 or later,
// through pgx, so that any number of Keyward nodes can share one database.
// It also implements keyward.ChangeFeed (listen.go): every write that can
// change a verification answer is announced with NOTIFY in its own
// transaction. It needs PostgreSQL itself, for LISTEN/NOTIFY, session
// advisory locks and date_bin: CockroachDB, which speaks the same
// protocol, is not supported.
package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"keyward"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// Connection defaults, applied when the URL does not set them.
const (
	// applicationName makes the nodes' sessions visible as such in
	// pg_stat_activity.
	applicationName = "keyward"
	// connectTimeout makes an unreachable database fail a start, a
	// readiness check or a CLI command in seconds rather than after the
	// kernel's SYN retries (about two minutes).
	connectTimeout = 5 * time.Second
	// minPoolConns is the floor of the pool's size; see poolMaxConns.
	minPoolConns = 10
)

// minServerVersion is PostgreSQL 14, in server_version_num's form: FindUsage
// needs date_bin, and PostgreSQL 13 is past its end of life.
const minServerVersion = 140000

// Migration locking. Every node applies the migrations at start under one
// session advisory lock, so nodes that start together migrate once; the
// others wait, polling every migrateLockPoll (goose's shortest period;
// its default of 5 s would hold back every node but the first for that
// long), for at most migrateLockPolls polls.
const (
	migrateLockPoll  = 1 // second
	migrateLockPolls = 300
)

// migrateLockID is the advisory lock that migrations run under. goose's
// default id is the same for every goose-migrated application, so in a
// database shared with one, each would wait for the other's migrations,
// and a node could wait out its lock timeout behind a stuck one.
var migrateLockID = int64(crc32.ChecksumIEEE([]byte("keyward migrations")))

// Transaction retries. Under READ COMMITTED only a deadlock (and, on a
// stricter isolation, a serialization failure) aborts a transaction that
// would succeed when run again; writeTx runs it again up
// to txAttempts times in all, waiting a jittered, doubling delay from
// txBackoff so that the transactions that collided do not collide again.
const (
	txAttempts = 5
	txBackoff  = 5 * time.Millisecond
)

// SQLSTATE codes that formatError and writeTx act on.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	// codeUndefinedObject is what SET answers for an unknown setting.
	codeUndefinedObject = "42704"
	// codeBadText is character_not_in_repertoire: PostgreSQL text holds
	// neither NUL nor invalid UTF-8, which SQLite stores without a word.
	codeBadText = "22021"
)

// DB is a keyward.Store on one PostgreSQL database: the tables of the
// schema that the connection's search_path selects (a URL may set
// search_path, so several deployments can share a database).
//
// Writes run in READ COMMITTED transactions that lock the rows they read
// to modify (SELECT ... FOR UPDATE), so nodes that write the same rows
// apply one after the other; shared counters (credits, last use, usage)
// are changed by conditional single statements that never lose an update.
type DB struct {
	// URL is the database's URL or key=value connection string. pgx's
	// settings apply (pool_max_conns, sslmode, ...); application_name
	// defaults to "keyward", connect_timeout to 5 s and pool_max_conns to
	// 4 × GOMAXPROCS, at least 10.
	URL string
	// Logger receives what the change feed reports; nil means
	// slog.Default().
	Logger *slog.Logger

	pool *pgxpool.Pool
	// channel is the NOTIFY channel of the store's schema.
	channel string
	// listening reports whether Listen holds a live subscription.
	listening atomic.Bool
	// listenIdle and listenPing, when not zero, replace the constants of
	// the same names, so that tests can run idle cycles in milliseconds.
	listenIdle, listenPing time.Duration
}

var _ keyward.Store = (*DB)(nil)

// NewDB returns a DB for url; Open connects to it.
func NewDB(url string) *DB {
	return &DB{URL: url}
}

// Open connects to the database and applies the pending migrations.
func (db *DB) Open() (err error) {
	defer wrap(&err, "Open")
	if db.URL == "" {
		return errors.New("database URL required")
	}
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		// pgx masks a password in its parse errors only as well as it can
		// parse the string, and the URL parser's message under it quotes
		// the URL whole.
		return errors.New("malformed database URL")
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	// A connect_timeout of 0, "wait forever", cannot be told from none.
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	// pgxpool takes pool_max_conns out of what it parses; pgconn, which
	// parsed the URL for it, keeps it as a runtime parameter.
	if conn, err := pgconn.ParseConfig(db.URL); err == nil && conn.RuntimeParams["pool_max_conns"] == "" {
		cfg.MaxConns = poolMaxConns()
	}
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		// pgx reads timestamptz in the local zone; the store's times are
		// UTC, as SQLite's are.
		conn.TypeMap().RegisterType(&pgtype.Type{
			Name:  "timestamptz",
			OID:   pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}
	ctx := context.Background()
	db.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			db.pool.Close()
			db.pool = nil
		}
	}()
	// The first query connects, so that a connection error comes without
	// the migration's wording around it.
	var (
		schema     *string
		versionNum int
		version    string
	)
	if err := db.pool.QueryRow(ctx, `SELECT current_schema(), current_setting('server_version_num')::int, current_setting('server_version')`).
		Scan(&schema, &versionNum, &version); err != nil {
		return err
	}
	if err := checkServerVersion(versionNum, version); err != nil {
		return err
	}
	if schema == nil {
		return errors.New("no schema of the search_path exists")
	}
	if err := migrate(ctx, db.pool); err != nil {
		return err
	}
	db.channel = channelFor(*schema)
	return nil
}

// poolMaxConns is the pool's size when the URL sets none: pgx's default,
// the number of CPUs but at least 4, is too small here. Verifying a key
// with credits takes a connection for its spend, and a spend may wait for
// a row lock that another node's spend or rotation holds, so a handful of
// waiting spends would hold every connection while FindKeyByHash and the
// readiness ping queue behind them.
func poolMaxConns() int32 {
	return int32(max(minPoolConns, 4*runtime.GOMAXPROCS(0)))
}

// checkServerVersion refuses a server older than minServerVersion, before
// a migration fails on it with a less helpful message. num is
// server_version_num; version is server_version, as shown to the user.
func checkServerVersion(num int, version string) error {
	if num >= minServerVersion {
		return nil
	}
	// server_version may carry the packager's words after the number.
	if f := strings.Fields(version); len(f) > 0 {
		version = f[0]
	}
	return fmt.Errorf("PostgreSQL 14 or later required, server is %s", version)
}

// migrate applies the embedded migrations that the schema lacks, under
// the session advisory lock migrateLockID. goose records the applied ones
// in the schema's goose_db_version, so a second node, or a restart, runs
// nothing again.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	fsys, err := fs.Sub(migrationFS, "migration")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrateLockID),
		lock.WithLockTimeout(migrateLockPoll, migrateLockPolls))
	if err != nil {
		return err
	}
	// Closing it returns its connections to the pool.
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes the pool's connections, waiting for those in use.
func (db *DB) Close() error {
	if db.pool != nil {
		db.pool.Close()
	}
	return nil
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) (err error) {
	defer wrap(&err, "Ping")
	return db.pool.Ping(ctx)
}

// writeTx runs fn in a READ COMMITTED transaction and commits it when fn
// returns nil. A transaction aborted by a deadlock or a serialization
// failure runs again, fn included, so fn must only read and write through
// tx and set results that a later run overwrites.
func (db *DB) writeTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
		if err == nil || attempt == txAttempts || !retryable(err) {
			return err
		}
		wait := txBackoff << attempt
		timer := time.NewTimer(wait/2 + rand.N(wait/2))
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
	}
}

// retryable reports whether err aborted a transaction that may succeed
// when run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == codeDeadlockDetected || pgErr.Code == codeSerializationFailure)
}

// querier is what reads need of *pgxpool.Pool and pgx.Tx.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scanner is pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// formatError turns the driver's errors into *keyward.Error where a caller
// can act on them; anything else passes through and counts as EINTERNAL.
func formatError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return keyward.Errorf(keyward.ENOTFOUND, "Not found.")
	case errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation:
		// The server's text names the constraint; only ours is shown to
		// a client.
		if pgErr.ConstraintName == "organizations_name_key" {
			return keyward.Errorf(keyward.ECONFLICT, "An organization with this name already exists.")
		}
		return keyward.Errorf(keyward.ECONFLICT, "Already exists.")
	case errors.As(err, &pgErr) && pgErr.Code == codeBadText:
		return keyward.Errorf(keyward.EINVALID, "Text must be valid UTF-8 without NUL characters.")
	case unreachable(err):
		return unreachableError{err}
	}
	return err
}

// unreachableError is a driver error that says the database could not be
// reached. It is errUnreachable to errors.As, so that a client sees only
// that, while the log and the CLI read the driver's text.
type unreachableError struct{ err error }

func (e unreachableError) Error() string   { return "database unreachable: " + e.err.Error() }
func (e unreachableError) Unwrap() []error { return []error{errUnreachable, e.err} }

// errUnreachable answers a request that needed the database while it could
// not be reached: 503, so that a client or a load balancer tries again
// rather than taking it for a bug.
var errUnreachable = &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "The database is unreachable. Try again shortly."}

// unreachable reports whether err says that the database could not be
// reached or dropped the connection, rather than that it refused the
// statement or the caller gave up: a failed connect (a server down,
// restarting or out of connections, but not one that refused the
// credentials or has no such database), a broken or timed-out connection,
// or a server shutting down or out of connections (SQLSTATE class 08,
// 57P01-57P03, 53300). A cancelled context is a client that went away,
// not an outage.
func unreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	if errors.As(err, &connectErr) {
		// A server that answers but refuses these credentials or has no
		// such database is misconfigured, not away: waiting will not
		// help.
		return !errors.As(err, &pgErr) || !(strings.HasPrefix(pgErr.Code, "28") || pgErr.Code == "3D000")
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	// A deadline of ours that expired (a net.Error that timed out) is a
	// database that does not answer.
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// storable reports whether PostgreSQL text can hold every one of ids:
// valid UTF-8 without NUL. A lookup by an id that it cannot hold is
// answered pgx.ErrNoRows (ENOTFOUND) without a query, since no row has
// that id, as SQLite answers; the server would refuse the parameter as
// bad text (EINVALID), which is right only for text being written.
func storable(ids ...string) bool {
	for _, id := range ids {
		if !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
			return false
		}
	}
	return true
}

// wrap formats *errp and prefixes it with the operation, keeping the
// *keyward.Error reachable by errors.As.
func wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("postgres: %s: %w", fmt.Sprintf(format, args...), formatError(*errp))
	}
}

// Column values. Times are truncated to microseconds, as SQLite stores
// them, rather than rounded, as PostgreSQL would; NULL stands for a nil
// pointer or an empty optional string.

func timeValue(t time.Time) time.Time {
	return t.Truncate(time.Microsecond)
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return timeValue(*t)
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

// fromNullJSON returns the stored text, nil for NULL.
func fromNullJSON(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(*s)
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

// conds is a conjunction of SQL conditions and the arguments of their
// numbered parameters.
type conds struct {
	sql  []string
	args []any
}

// add appends cond, which has no parameter.
func (c *conds) add(cond string) {
	c.sql = append(c.sql, cond)
}

// addArg appends cond with arg as its parameter: cond is a format whose
// one operand, %d or %[1]d however many times, is the parameter's number.
func (c *conds) addArg(cond string, arg any) {
	c.args = append(c.args, arg)
	c.sql = append(c.sql, fmt.Sprintf(cond, len(c.args)))
}

// where returns the conditions as a WHERE clause's body.
func (c *conds) where() string {
	return strings.Join(c.sql, " AND ")
}

// decodeCursor is keyward.DecodeCursor that also refuses an id PostgreSQL
// text cannot hold, so that a forged cursor is a malformed cursor rather
// than a server error.
func decodeCursor(cursor string) (string, error) {
	id, err := keyward.DecodeCursor(cursor)
	if err == nil && !storable(id) {
		return "", keyward.Invalid(keyward.FieldError{Field: "cursor", Message: "malformed cursor"})
	}
	return id, err
}

// page runs query with a LIMIT of one row more than limit appended, to
// learn whether another page follows without counting.
func page[T any](ctx context.Context, q querier, query string, args []any, limit int, scan func(scanner) (T, error), id func(T) string) (keyward.Page[T], error) {
	args = append(args, limit+1)
	rows, err := q.Query(ctx, fmt.Sprintf("%s LIMIT $%d", query, len(args)), args...)
	if err != nil {
		return keyward.Page[T]{}, err
	}
	// Data is never nil, so that an empty page serializes as [].
	data, err := pgx.AppendRows(make([]T, 0, min(limit, 64)), rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return keyward.Page[T]{}, err
	}
	p := keyward.Page[T]{Data: data}
	if len(data) > limit {
		p.Data = data[:limit]
		p.NextCursor = keyward.EncodeCursor(id(p.Data[limit-1]))
	}
	return p, nil
}
