package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"keyward"
)

// The change feed's timing.
const (
	// listenIdle bounds one wait for a notice. A connection that dies
	// without a FIN or RST (a pulled cable, a firewall that forgets the
	// flow) delivers nothing and no error, so an idle listener asks the
	// server whether it is still there after listenIdle, and gives it
	// listenPing to answer: a dead listener is noticed within about 20 s,
	// and the ChangeAll after the reconnect flushes what it missed. The
	// cost is one SELECT per node every 15 s. A DB's listenIdle and
	// listenPing fields override them in tests.
	listenIdle = 15 * time.Second
	listenPing = 5 * time.Second
	// listenConnect bounds a connection attempt together with its
	// LISTEN; the URL's connect_timeout bounds the connection alone.
	listenConnect = 10 * time.Second
	// listenRetryMin and listenRetryMax bound the back-off between
	// attempts: quick after a blip (a failover, a restarted server), and
	// no more than one attempt per node every 5 s while PostgreSQL is
	// down. The back-off starts again from listenRetryMin only after a
	// connection that stayed up for the idle period: each connection
	// flushes the node's caches, so a server that drops the listener
	// right after LISTEN must not make it reconnect in a tight loop.
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
	// listenClose bounds the goodbye to a server that may be gone.
	listenClose = time.Second
)

var _ keyward.ChangeFeed = (*DB)(nil)

// Listen implements keyward.ChangeFeed on the store's channel, through a
// connection of its own rather than one of the pool: LISTEN belongs to a
// session, and a pooled connection goes back to others. Its
// application_name is the pool's with "/listener" appended, so that an
// operator can find it in pg_stat_activity. Call Listen once per DB, and
// end ctx before Close: Close does not end that connection.
func (db *DB) Listen(ctx context.Context, apply func(keyward.Change)) error {
	if apply == nil {
		return errors.New("postgres: Listen: apply is nil")
	}
	if db.pool == nil {
		return errors.New("postgres: Listen: database is not open")
	}
	logger := db.Logger
	if logger == nil {
		logger = slog.Default()
	}
	retry := listenRetryMin
	// down is set once an outage is logged, so that it is logged once
	// however many attempts it takes.
	down := false
	for {
		var connected time.Time
		err := db.listen(ctx, apply, func() {
			if down {
				logger.Info("change feed is listening again; flushing caches", "channel", db.channel)
			}
			down = false
			connected = time.Now()
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !connected.IsZero() && time.Since(connected) >= db.idle() {
			retry = listenRetryMin
		}
		if !down {
			// pgx's errors name the user and database, never the password.
			logger.Warn("change feed is not listening; retrying, and until then other nodes' changes reach this node's caches only when entries expire",
				"channel", db.channel, "err", err)
			down = true
		}
		timer := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		retry = min(2*retry, listenRetryMax)
	}
}

// Listening implements keyward.ChangeFeed.
func (db *DB) Listening() bool {
	return db.listening.Load()
}

// idle returns how long the listener waits for a notice before it pings.
func (db *DB) idle() time.Duration {
	return cmp.Or(db.listenIdle, listenIdle)
}

// listen connects, listens, calls listening and apply(ChangeAll), and
// then applies notices until the connection fails or ctx ends. LISTEN
// comes before the ChangeAll: a write committed after the flush is then
// heard, while one committed before it is in the store for the flushed
// caches to read.
func (db *DB) listen(ctx context.Context, apply func(keyward.Change), listening func()) error {
	conn, err := db.connectListener(ctx)
	if err != nil {
		return err
	}
	defer func() {
		db.listening.Store(false)
		closeListener(conn)
	}()
	db.listening.Store(true)
	listening()
	apply(keyward.Change{Kind: keyward.ChangeAll})
	idle := db.idle()
	ping := cmp.Or(db.listenPing, listenPing)
	for {
		waitCtx, cancel := context.WithTimeout(ctx, idle)
		n, err := conn.WaitForNotification(waitCtx)
		timedOut := waitCtx.Err() != nil && ctx.Err() == nil
		cancel()
		if n != nil {
			apply(decodeChange(n.Payload))
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case timedOut:
			if err := pingListener(ctx, conn, ping); err != nil {
				return fmt.Errorf("no answer to a ping after %v without notices: %w", idle, err)
			}
		default:
			return fmt.Errorf("wait for notices: %w", err)
		}
	}
}

// connectListener opens the listener's connection and listens on the
// store's channel.
func (db *DB) connectListener(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, listenConnect)
	defer cancel()
	// Config returns a deep copy, which this may change. Open gave it an
	// application_name.
	cfg := db.pool.Config().ConnConfig
	cfg.RuntimeParams["application_name"] += "/listener"
	// pgx queues notices for WaitForNotification only when no other
	// handler takes them.
	cfg.OnNotification = nil
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	// The listener is idle between notices and pings, and an
	// idle_session_timeout set for the role or the database (or in the
	// URL) would end its session over and over. A server without the
	// setting has no such timeout.
	if _, err := conn.Exec(ctx, "SET idle_session_timeout = 0"); err != nil && !undefinedSetting(err) {
		closeListener(conn)
		return nil, fmt.Errorf("disable idle_session_timeout: %w", err)
	}
	// The channel name holds a dot, so it must be quoted.
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{db.channel}.Sanitize()); err != nil {
		closeListener(conn)
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// undefinedSetting reports whether err is the server's refusal of a
// setting it does not know.
func undefinedSetting(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUndefinedObject
}

// pingListener checks with a round trip, within timeout, that the server
// still holds the listener's session. Notices that arrive meanwhile are
// queued by pgx for the next WaitForNotification.
func pingListener(ctx context.Context, conn *pgx.Conn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := conn.Exec(ctx, "SELECT 1")
	return err
}

// closeListener closes conn, waiting at most listenClose for a server that
// may be gone. Its error is of no use: the session ends either way.
func closeListener(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), listenClose)
	defer cancel()
	conn.Close(ctx)
}
