// Package pgtest gives tests throwaway PostgreSQL databases and schemas on
// the server that KEYWARD_TEST_POSTGRES names, and a proxy that cuts the
// network to it. Tests that use a server skip, saying so, when the
// variable is unset; CI sets it.
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keyward/internal/testenv"
)

// timeout bounds each statement that creates or drops a database or a
// schema.
const timeout = 30 * time.Second

// Test databases are named databasePrefix, their creation time in Unix
// seconds, "_" and random characters, so that CreateDatabase can tell the
// ones that a crashed or killed run left behind: those older than
// staleAfter, which no test run lasts.
const (
	databasePrefix = "keyward_test_"
	staleAfter     = time.Hour
)

// NewDatabase returns the URL of a fresh database on the server of
// testenv.Postgres (whose user must be allowed to create databases),
// dropped when tb ends, and skips tb when it is unset.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	u, drop, err := CreateDatabase(testenv.Postgres.URL(tb))
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return u
}

// CreateDatabase creates a database named keyward_test_<time>_<random> on
// the server of baseURL, a URL, and returns its URL and a function that
// drops it, closing any session still connected. It is NewDatabase for
// TestMain, which has no testing.TB. It first drops the test databases of
// the same user that are older than an hour: a test that panics, or a run
// that is killed, never drops its own.
func CreateDatabase(baseURL string) (dbURL string, drop func() error, err error) {
	now := time.Now()
	name := databasePrefix + strconv.FormatInt(now.Unix(), 10) + "_" + strings.ToLower(rand.Text()[:8])
	dbURL, err = withPath(baseURL, name)
	if err != nil {
		return "", nil, err
	}
	if err := dropStale(baseURL, now); err != nil {
		return "", nil, err
	}
	if err := exec(baseURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, err
	}
	drop = func() error {
		return exec(baseURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	return dbURL, drop, nil
}

// NewSchema creates a schema named s_<random> in the database of
// databaseURL and returns that URL with the schema as its search_path, so
// that whatever connects through it works in the schema alone. The schema
// and everything in it are dropped when tb ends.
func NewSchema(tb testing.TB, databaseURL string) string {
	tb.Helper()
	name := "s_" + strings.ToLower(rand.Text()[:12])
	u, err := url.Parse(databaseURL)
	if err != nil {
		// url.Error quotes the URL, which may hold a password.
		tb.Fatalf("pgtest: database URL does not parse")
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	if err := exec(databaseURL, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := exec(databaseURL, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return u.String()
}

// Connect opens a connection of the test's own to the database of dbURL,
// closed when tb ends.
func Connect(tb testing.TB, dbURL string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), dbURL)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	// Not tb.Context, which is done before cleanups run: the connection
	// would be dropped without a goodbye.
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// dropStale drops the test databases of the current user that were
// created more than staleAfter before now.
func dropStale(baseURL string, now time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database
		WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user) AND starts_with(datname, $1)`, databasePrefix)
	if err != nil {
		return fmt.Errorf("list test databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list test databases: %w", err)
	}
	for _, name := range names {
		created, ok := createdAt(name)
		if !ok || now.Sub(created) < staleAfter {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop stale test database %s: %w", name, err)
		}
	}
	return nil
}

// createdAt returns the creation time in the name of a test database, and
// false for a name that CreateDatabase did not write.
func createdAt(name string) (time.Time, bool) {
	stamp, _, ok := strings.Cut(strings.TrimPrefix(name, databasePrefix), "_")
	if !ok {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// withPath returns rawURL naming database name instead of its own.
func withPath(rawURL, name string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("%s must be a postgres:// URL", testenv.Postgres.Var)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// exec runs sql on a connection of its own to the database of dbURL.
func exec(dbURL, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}
