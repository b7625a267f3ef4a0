package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"keyward"
	"keyward/compat/dispersed"
	"keyward/compat/hellgate"
	"keyward/compat/orgapi"
	"keyward/httpapi"
	"keyward/keyformat"
	"keyward/postgres"
	"keyward/ratelimit"
	"keyward/service"
	"keyward/sqlite"
	"keyward/verify"
)

// StoreFlags select and open the store; every subcommand that opens it
// takes them.
type StoreFlags struct {
	DataDir     string `name:"data-dir" env:"KEYWARD_DATA_DIR" default:"keyward-data" help:"Folder of the SQLite database, used without --database-url."`
	DatabaseURL string `name:"database-url" env:"KEYWARD_DATABASE_URL" placeholder:"URL" help:"PostgreSQL database shared by every node, such as postgres://user:password@host:5432/keyward; without it the store is SQLite in --data-dir, for one node."`
	Pepper      string `name:"pepper" env:"KEYWARD_PEPPER" help:"Server secret mixed into key hashes (HMAC-SHA-256). Changing it invalidates every key."`
}

// open opens a Main on the store of the flags, for the subcommands that
// write to the store directly. It does not listen to the change feed: the
// writes reach the running nodes through it.
func (f StoreFlags) open(ctx context.Context) (*Main, error) {
	m := NewMain()
	m.Config.DataDir, m.Config.DatabaseURL, m.Config.Pepper = f.DataDir, f.DatabaseURL, f.Pepper
	m.Config.Logger = newLogger(io.Discard, "text", "info")
	if err := m.open(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// ServeCmd runs the server.
type ServeCmd struct {
	StoreFlags
	Addr      string        `name:"addr" env:"KEYWARD_ADDR" default:"127.0.0.1:8080" help:"Listen address."`
	LogFormat string        `name:"log-format" env:"KEYWARD_LOG_FORMAT" enum:"text,json" default:"text" help:"Log format: text or json."`
	CacheTTL  time.Duration `name:"cache-ttl" env:"KEYWARD_CACHE_TTL" default:"1m" help:"Longest time a cached key is served without reading the store."`
	RedisURL  string        `name:"redis-url" env:"KEYWARD_REDIS_URL" placeholder:"URL" help:"Redis for cluster-wide rate limits, such as redis://127.0.0.1:6379/0; without it each node counts alone. While Redis is unreachable the node counts alone and says so in its log and metrics."`
	// TrustedProxies is parsed by httpapi.ParseTrustedProxies, the one
	// place that reads proxies and X-Forwarded-For.
	TrustedProxies string `name:"trusted-proxies" env:"KEYWARD_TRUSTED_PROXIES" placeholder:"LIST" help:"Comma-separated IPs and CIDRs of the load balancers in front of the node, such as 10.0.0.5,10.1.0.0/16: a request from one of them comes from the client that its X-Forwarded-For header names. Without it the header is ignored and a request comes from its TCP peer."`
	LogLevel       string `name:"log-level" env:"KEYWARD_LOG_LEVEL" enum:"debug,info,warn,error" default:"info" help:"Least severe log level written: debug, info, warn or error. Verifications answered 200, valid or not, are logged at debug."`
	PprofAddr      string `name:"pprof-addr" env:"KEYWARD_PPROF_ADDR" placeholder:"ADDR" help:"Serve Go's profiles (net/http/pprof) on this address of their own, such as 127.0.0.1:6060, for diagnosing a slow or large server. Off without it; keep it private: it has no authentication."`
}

// Run starts the server and blocks until ctx is done.
func (c *ServeCmd) Run(ctx context.Context, g *Globals) error {
	if c.CacheTTL <= 0 {
		return fmt.Errorf("--cache-ttl: %v: want a positive duration, such as 1m", c.CacheTTL)
	}
	proxies, err := httpapi.ParseTrustedProxies(c.TrustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	m := NewMain()
	m.Config = Config{
		Addr:            c.Addr,
		DataDir:         c.DataDir,
		DatabaseURL:     c.DatabaseURL,
		Pepper:          c.Pepper,
		CacheTTL:        c.CacheTTL,
		RedisURL:        c.RedisURL,
		TrustedProxies:  proxies,
		PprofAddr:       c.PprofAddr,
		Logger:          newLogger(g.Stderr, c.LogFormat, c.LogLevel),
		Stdout:          g.Stdout,
		Bootstrap:       true,
		WaitForDatabase: true,
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	m.Config.Logger.Info("keyward serving", "url", m.HTTP.URL(), "store", m.storeKind, "database", m.storeName)
	<-ctx.Done()
	m.Config.Logger.Info("keyward shutting down")
	return m.Close()
}

// newLogger returns a logger that writes to w in format (text or json) the
// records of level (debug, info, warn or error) and above.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	// The flag's enum admits only names that UnmarshalText takes.
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Config is what Main needs; flags fill it, tests set it directly.
type Config struct {
	Addr string
	// DataDir holds the SQLite database, used when DatabaseURL is empty.
	DataDir string
	// DatabaseURL, when set, is the PostgreSQL database that every node of
	// a cluster shares. It may hold a password: it is never logged.
	DatabaseURL string
	Pepper      string
	CacheTTL    time.Duration
	// RedisURL, when set, makes rate limits cluster-wide in Redis, with
	// this node's own counting while Redis is unreachable.
	RedisURL string
	// TrustedProxies are the load balancers whose X-Forwarded-For header
	// names the client (httpapi.Server.TrustedProxies).
	TrustedProxies []netip.Prefix
	// PprofAddr, when set, is the address of a listener of its own that
	// serves net/http/pprof; never the API's, which the internet may reach.
	PprofAddr string
	// FlushInterval is how often last use and usage counts are written;
	// zero for the default.
	FlushInterval time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
	// Stdout receives the root key printed at bootstrap.
	Stdout io.Writer
	// Bootstrap creates the default org and its root key on an empty store.
	Bootstrap bool
	// WaitForDatabase makes Run wait, retrying, while PostgreSQL cannot be
	// reached, instead of failing: nodes and the database often start
	// together (a compose file, a cluster restart), and a node should come
	// up when the database does. Any other failure to open still fails.
	WaitForDatabase bool
}

// Main is a running Keyward server: the one place where concrete types are
// wired together.
type Main struct {
	Config Config

	DB      keyward.Store
	Engine  *verify.Engine
	Service *service.Service
	HTTP    *httpapi.Server
	// Redis is the client of Config.RedisURL; nil without one.
	Redis *redis.Client
	// Metrics is the server's own Prometheus registry, served at /metrics.
	Metrics *prometheus.Registry
	// pprof serves Config.PprofAddr; nil without it.
	pprof *http.Server

	// RootKey is the key created at bootstrap; empty when the store already
	// had an org or another node created it. Tests use it; it is never
	// logged.
	RootKey string

	// storeKind and storeName say which store is open ("sqlite" and its
	// file, or "postgres" and its host and database), for the log.
	storeKind, storeName string

	// stopFeed ends the change feed's Listen, and feedDone is closed when
	// it has returned; both are nil without a feed.
	stopFeed context.CancelFunc
	feedDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// NewMain returns a Main with defaults for a local server.
func NewMain() *Main {
	return &Main{Config: Config{
		Addr:    "127.0.0.1:8080",
		DataDir: "keyward-data",
		Logger:  slog.Default(),
		Stdout:  io.Discard,
	}}
}

// Run opens the store, bootstraps it if asked, listens to its change feed
// when it has one, and starts serving in the background.
func (m *Main) Run(ctx context.Context) error {
	if err := m.open(ctx); err != nil {
		return err
	}
	if m.Config.Bootstrap {
		if err := m.bootstrap(ctx); err != nil {
			return err
		}
	}
	checks := []httpapi.Check{{Name: "database", Check: m.pingStore}}
	if feed, ok := m.DB.(keyward.ChangeFeed); ok {
		m.listen(ctx, feed)
		checks = append(checks, httpapi.Check{Name: "change_feed", Check: func(context.Context) error {
			if !feed.Listening() {
				return errors.New("the change feed is not listening")
			}
			return nil
		}})
	}
	if m.Redis != nil {
		checks = append(checks, httpapi.Check{Name: "redis", Check: m.pingRedis, Optional: true})
	}
	m.HTTP = &httpapi.Server{
		Addr:            m.Config.Addr,
		Keys:            m.Service,
		ServiceAccounts: m.Service,
		Audit:           m.Service,
		Verifier:        m.Service,
		Owners:          m.Service,
		Org:             m.Service,
		Usage:           m.Service,
		Auth:            m.Engine,
		Checks:          checks,
		TrustedProxies:  m.Config.TrustedProxies,
		Metrics:         promhttp.HandlerFor(m.Metrics, promhttp.HandlerOpts{Registry: m.Metrics}),
		Mounts: []httpapi.Mount{
			dispersed.New(dispersed.Config{Keys: m.Service, Auth: m.Engine, Logger: m.Config.Logger}),
			orgapi.New(orgapi.Config{Keys: m.Service, Auth: m.Engine, Logger: m.Config.Logger}),
			hellgate.New(hellgate.Config{Keys: m.Service, Auth: m.Engine, Logger: m.Config.Logger}),
		},
		Logger: m.Config.Logger,
	}
	if err := m.HTTP.Open(); err != nil {
		return err
	}
	return m.servePprof()
}

// servePprof serves the runtime profiles on Config.PprofAddr, when set.
func (m *Main) servePprof() error {
	if m.Config.PprofAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", m.Config.PprofAddr)
	if err != nil {
		return fmt.Errorf("--pprof-addr: %w", err)
	}
	// Not pprof.Cmdline: the command line may hold --pepper or a database
	// password.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go m.pprof.Serve(ln)
	m.Config.Logger.Warn("serving profiles without authentication", "addr", ln.Addr().String())
	return nil
}

// Readiness checks wait at most this long for the store and Redis: a load
// balancer gives up on a probe after a few seconds, and a store slower than
// this is as good as gone for verifications that miss the cache.
const (
	storePingTimeout = 2 * time.Second
	redisPingTimeout = time.Second
)

// pingStore is the readiness check of the store.
func (m *Main) pingStore(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, storePingTimeout)
	defer cancel()
	return m.DB.Ping(ctx)
}

// pingRedis is the readiness check of Redis.
func (m *Main) pingRedis(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	return m.Redis.Ping(ctx).Err()
}

// listen applies the changes of every node, which feed announces, to this
// node's engine until Close, and exports whether it listens as the gauge
// keyward_change_feed_up. Listen reconnects by itself, so it returns only
// when Close stops it.
func (m *Main) listen(ctx context.Context, feed keyward.ChangeFeed) {
	m.Metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keyward_change_feed_up",
		Help: "1 while this node listens to the changes of the other nodes, 0 while it does not and serves cached keys for at most the cache TTL.",
	}, func() float64 {
		if feed.Listening() {
			return 1
		}
		return 0
	}))
	// Counted by kind: a rising "all" means the node keeps losing the feed
	// and flushing its cache.
	changes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_change_feed_changes_total",
		Help: "Changes this node applied to its caches, by kind: key, owner, policy, or all (a flush after (re)subscribing).",
	}, []string{"kind"})
	m.Metrics.MustRegister(changes)
	byKind := map[keyward.ChangeKind]prometheus.Counter{
		keyward.ChangeAll:    changes.WithLabelValues("all"),
		keyward.ChangeKey:    changes.WithLabelValues("key"),
		keyward.ChangeOwner:  changes.WithLabelValues("owner"),
		keyward.ChangePolicy: changes.WithLabelValues("policy"),
	}
	apply := func(c keyward.Change) {
		byKind[c.Kind].Inc()
		m.Engine.Apply(c)
	}
	// Not ctx: it bounds the start, and the feed lives until Close.
	ctx, m.stopFeed = context.WithCancel(context.WithoutCancel(ctx))
	m.feedDone = make(chan struct{})
	go func() {
		defer close(m.feedDone)
		if err := feed.Listen(ctx, apply); err != nil && ctx.Err() == nil {
			m.Config.Logger.Error("change feed stopped: caches expire entries only after the cache TTL", "err", err)
		}
	}()
}

// Redis client settings where the URL sets none. A verification waits for
// Redis, so an unreachable one must fail fast and hand over to local
// counting: go-redis's defaults (3 retries of 5 dials each) hold a
// verification for about 2s when Redis refuses connections, these for
// about 20ms. One dial retry still covers a connection that a Redis
// restart broke.
const (
	redisDialTimeout   = time.Second
	redisIOTimeout     = 500 * time.Millisecond
	redisDialerRetries = 1
)

// open opens the store and builds the engine and services on it.
func (m *Main) open(ctx context.Context) error {
	if err := m.openStore(ctx); err != nil {
		return err
	}
	now := m.Config.Now
	if now == nil {
		now = time.Now
	}
	var pepper []byte
	if m.Config.Pepper != "" {
		pepper = []byte(m.Config.Pepper)
	}
	// An own registry rather than the global one, so that two servers in
	// one process (tests) do not collide.
	m.Metrics = prometheus.NewRegistry()
	m.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	limiter, err := m.openLimiter()
	if err != nil {
		return err
	}
	m.Engine = verify.New(verify.Config{
		Store:         m.DB,
		Hasher:        keyformat.NewHasher(pepper),
		Now:           now,
		CacheTTL:      m.Config.CacheTTL,
		FlushInterval: m.Config.FlushInterval,
		Limiter:       limiter,
		Registerer:    m.Metrics,
		Logger:        m.Config.Logger,
	})
	m.Service = service.New(service.Config{Store: m.DB, Engine: m.Engine, Now: now})
	return nil
}

// openStore opens PostgreSQL at Config.DatabaseURL, or else SQLite in
// Config.DataDir.
func (m *Main) openStore(ctx context.Context) error {
	if m.Config.DatabaseURL == "" {
		// The store creates the data dir (0700) with its database file.
		path := filepath.Join(m.Config.DataDir, "keyward.db")
		db := sqlite.NewDB(path)
		if err := db.Open(); err != nil {
			return fmt.Errorf("open database: %w", err)
		}
		m.DB, m.storeKind, m.storeName = db, "sqlite", path
		return nil
	}
	cfg, err := parseDatabaseURL(m.Config.DatabaseURL)
	if err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	name := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/" + cfg.Database
	db := postgres.NewDB(m.Config.DatabaseURL)
	db.Logger = m.Config.Logger
	for wait := databaseRetryMin; ; wait = min(2*wait, databaseRetryMax) {
		openErr := db.Open()
		if openErr == nil {
			break
		}
		// pgx names the host, user and database of a failed connection,
		// never the password. %v, not %w: errorText would print only the
		// message of a keyward.Error inside, without the flag.
		err := fmt.Errorf("--database-url: open %s: %v", name, openErr)
		if !m.Config.WaitForDatabase || keyward.ErrorCode(openErr) != keyward.EUNAVAILABLE {
			return err
		}
		if wait == databaseRetryMin {
			m.Config.Logger.Warn("database unreachable: waiting for it", "database", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	m.DB, m.storeKind, m.storeName = db, "postgres", name
	return nil
}

// How often serve tries to open an unreachable database: soon after a
// blip, then every few seconds, so a node comes up within seconds of the
// database.
const (
	databaseRetryMin = 500 * time.Millisecond
	databaseRetryMax = 5 * time.Second
)

// errDatabaseURL is the error of a database URL that does not parse, and
// says what one looks like.
var errDatabaseURL = errors.New("want postgres://[user[:password]@]host[:port]/database[?param=value...]")

// parseDatabaseURL parses a database URL before the store does, to name
// the database without its credentials and to refuse a bad URL with an
// error that cannot quote it. Only URLs: pgx's errors about the
// keyword/value form quote its input. What pgx finds wrong in a URL, such
// as a CA file it cannot read, the error under its ParseConfigError says
// without the password (that wrapper quotes the URL, masked as well as
// pgx can); a *url.Error, which pgx versions that parsed with net/url
// returned, quotes the URL whole.
func parseDatabaseURL(s string) (*pgconn.Config, error) {
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return nil, errDatabaseURL
	}
	cfg, err := pgconn.ParseConfig(s)
	if err == nil {
		return cfg, nil
	}
	var perr *pgconn.ParseConfigError
	if errors.As(err, &perr) {
		var uerr *url.Error
		if inner := perr.Unwrap(); inner != nil && !errors.As(inner, &uerr) {
			return nil, inner
		}
	}
	return nil, errDatabaseURL
}

// openLimiter returns the rate limiter for Config.RedisURL: nil (the
// engine counts in memory) without one, else Redis with local counting
// while Redis is unreachable. An unreachable Redis does not stop the
// server from starting; it is logged now and again at the first
// verification that falls back.
func (m *Main) openLimiter() (ratelimit.Limiter, error) {
	if m.Config.RedisURL == "" {
		return nil, nil
	}
	opts, err := redis.ParseURL(m.Config.RedisURL)
	if err != nil {
		// The URL may hold a password: name the flag, not its value.
		return nil, errors.New("--redis-url: want redis://[user:password@]host:port/db or rediss://...")
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = redisDialTimeout
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = redisIOTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = redisIOTimeout
	}
	// A command is never retried, whatever the URL says: when the reply to
	// the rate limit script is lost after Redis ran it, a retry would spend
	// the units twice. A failed call counts locally instead.
	opts.MaxRetries = -1
	// The URL cannot set dial retries.
	opts.DialerRetries = redisDialerRetries
	m.Redis = redis.NewClient(opts)
	fb, err := ratelimit.NewFallback(ratelimit.FallbackConfig{
		Redis:      ratelimit.NewRedis(m.Redis, ""),
		Registerer: m.Metrics,
		Logger:     m.Config.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("rate limiter: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisDialTimeout)
	defer cancel()
	log := m.Config.Logger.With("redis", opts.Addr)
	if err := m.Redis.Ping(ctx).Err(); err != nil {
		log.Warn("redis is unreachable: rate limits are counted on this node until it answers", "err", err)
	} else {
		log.Info("rate limits are counted cluster-wide in redis")
	}
	return fb, nil
}

// bootstrap creates the default org and prints its root key once, when the
// store holds no org yet. Nodes that start together on an empty database
// all try; one creates the org, and the others find it exists.
func (m *Main) bootstrap(ctx context.Context) error {
	n, err := m.DB.CountOrgs(ctx)
	if err != nil {
		return fmt.Errorf("count organizations: %w", err)
	}
	if n > 0 {
		return nil
	}
	org, root, err := m.Service.CreateOrg(ctx, keyward.DefaultOrgName)
	if keyward.ErrorCode(err) == keyward.ECONFLICT {
		m.Config.Logger.Info("another node created the default organization and printed its root key")
		return nil
	}
	if err != nil {
		return fmt.Errorf("create default organization: %w", err)
	}
	m.RootKey = root.Secret
	fmt.Fprintf(m.Config.Stdout, "Created organization %q (%s) with a root key holding \"*\":\n\n    %s\n\n"+
		"This key will not be shown again. Store it securely.\n\n", org.Name, org.ID, root.Secret)
	return nil
}

// Close stops serving, stops the change feed, flushes pending writes and
// closes the store, in that order, so that no request, change or last-use
// write finds the engine or the store closed. Calls after the first return
// the first one's result.
func (m *Main) Close() error {
	m.closeOnce.Do(func() {
		var errs []error
		if m.HTTP != nil {
			errs = append(errs, m.HTTP.Close())
		}
		if m.pprof != nil {
			// Close, not Shutdown: a CPU profile in progress would hold
			// Shutdown for its whole length.
			errs = append(errs, m.pprof.Close())
		}
		if m.stopFeed != nil {
			m.stopFeed()
			<-m.feedDone
		}
		if m.Engine != nil {
			errs = append(errs, m.Engine.Close())
		}
		// After the engine: nothing verifies any more.
		if m.Redis != nil {
			errs = append(errs, m.Redis.Close())
		}
		if m.DB != nil {
			errs = append(errs, m.DB.Close())
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}
