package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"keyward"
	"keyward/httpapi"
	"keyward/keyformat"
	"keyward/service"
	"keyward/sqlite"
	"keyward/verify"
)

// StoreFlags select and open the store; every subcommand that opens it
// takes them.
type StoreFlags struct {
	DataDir string `name:"data-dir" env:"KEYWARD_DATA_DIR" default:"keyward-data" help:"Folder of the SQLite database."`
	Pepper  string `name:"pepper" env:"KEYWARD_PEPPER" help:"Server secret mixed into key hashes (HMAC-SHA-256). Changing it invalidates every key."`
}

// ServeCmd runs the server.
type ServeCmd struct {
	StoreFlags
	Addr      string        `name:"addr" env:"KEYWARD_ADDR" default:"127.0.0.1:8080" help:"Listen address."`
	LogFormat string        `name:"log-format" env:"KEYWARD_LOG_FORMAT" enum:"text,json" default:"text" help:"Log format: text or json."`
	CacheTTL  time.Duration `name:"cache-ttl" env:"KEYWARD_CACHE_TTL" default:"1m" help:"Longest time a cached key is served without reading the store."`
}

// Run starts the server and blocks until ctx is done.
func (c *ServeCmd) Run(ctx context.Context, g *Globals) error {
	m := NewMain()
	m.Config = Config{
		Addr:      c.Addr,
		DataDir:   c.DataDir,
		Pepper:    c.Pepper,
		CacheTTL:  c.CacheTTL,
		Logger:    newLogger(g.Stderr, c.LogFormat),
		Stdout:    g.Stdout,
		Bootstrap: true,
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	m.Config.Logger.Info("keyward serving", "url", m.HTTP.URL(), "data_dir", c.DataDir)
	<-ctx.Done()
	m.Config.Logger.Info("keyward shutting down")
	return m.Close()
}

func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// Config is what Main needs; flags fill it, tests set it directly.
type Config struct {
	Addr     string
	DataDir  string
	Pepper   string
	CacheTTL time.Duration
	// FlushInterval is how often last use is written; zero for the default.
	FlushInterval time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
	// Stdout receives the root key printed at bootstrap.
	Stdout io.Writer
	// Bootstrap creates the default org and its root key on an empty store.
	Bootstrap bool
}

// Main is a running Keyward server: the one place where concrete types are
// wired together.
type Main struct {
	Config Config

	DB      *sqlite.DB
	Engine  *verify.Engine
	Service *service.Service
	HTTP    *httpapi.Server

	// RootKey is the key created at bootstrap; empty when the store already
	// had an org. Tests use it; it is never logged.
	RootKey string

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

// Run opens the store, bootstraps it if asked, and starts serving in the
// background.
func (m *Main) Run(ctx context.Context) error {
	if err := m.open(); err != nil {
		return err
	}
	if m.Config.Bootstrap {
		if err := m.bootstrap(ctx); err != nil {
			return err
		}
	}
	m.HTTP = &httpapi.Server{
		Addr:            m.Config.Addr,
		Keys:            m.Service,
		ServiceAccounts: m.Service,
		Audit:           m.Service,
		Verifier:        m.Service,
		Auth:            m.Engine,
		Ready:           m.DB.Ping,
		Logger:          m.Config.Logger,
	}
	return m.HTTP.Open()
}

// open opens the store and builds the engine and services on it.
func (m *Main) open() error {
	// The store creates the data dir (0700) with its database file.
	m.DB = sqlite.NewDB(filepath.Join(m.Config.DataDir, "keyward.db"))
	if err := m.DB.Open(); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	now := m.Config.Now
	if now == nil {
		now = time.Now
	}
	var pepper []byte
	if m.Config.Pepper != "" {
		pepper = []byte(m.Config.Pepper)
	}
	m.Engine = verify.New(verify.Config{
		Store:         m.DB,
		Hasher:        keyformat.NewHasher(pepper),
		Now:           now,
		CacheTTL:      m.Config.CacheTTL,
		FlushInterval: m.Config.FlushInterval,
		Logger:        m.Config.Logger,
	})
	m.Service = service.New(service.Config{Store: m.DB, Engine: m.Engine, Now: now})
	return nil
}

// bootstrap creates the default org and prints its root key once, when the
// store holds no org yet.
func (m *Main) bootstrap(ctx context.Context) error {
	n, err := m.DB.CountOrgs(ctx)
	if err != nil {
		return fmt.Errorf("count organizations: %w", err)
	}
	if n > 0 {
		return nil
	}
	org, root, err := m.Service.CreateOrg(ctx, keyward.DefaultOrgName)
	if err != nil {
		return fmt.Errorf("create default organization: %w", err)
	}
	m.RootKey = root.Secret
	fmt.Fprintf(m.Config.Stdout, "Created organization %q (%s) with a root key holding \"*\":\n\n    %s\n\n"+
		"This key will not be shown again. Store it securely.\n\n", org.Name, org.ID, root.Secret)
	return nil
}

// Close stops serving, flushes pending writes and closes the store, in that
// order, so that no request or last-use write finds the store closed.
// Calls after the first return the first one's result.
func (m *Main) Close() error {
	m.closeOnce.Do(func() {
		var errs []error
		if m.HTTP != nil {
			errs = append(errs, m.HTTP.Close())
		}
		if m.Engine != nil {
			errs = append(errs, m.Engine.Close())
		}
		if m.DB != nil {
			errs = append(errs, m.DB.Close())
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}
