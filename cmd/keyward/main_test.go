package main

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
)

// testServer is a real Keyward server on 127.0.0.1:0 with a fresh data dir.
type testServer struct {
	*Main
	URL     string
	RootKey string
	DataDir string
	// Logs holds everything the server logged, as JSON lines.
	Logs *lockedBuffer
	// Stdout holds what the server printed (the bootstrap banner).
	Stdout *lockedBuffer
}

// runTestServer starts a server like `keyward serve` does and stops it when
// the test ends. opts adjust the config before it starts.
func runTestServer(tb testing.TB, opts ...func(*Config)) *testServer {
	tb.Helper()
	ts, err := startTestServer(tb, opts...)
	if err != nil {
		tb.Fatalf("start server: %v", err)
	}
	return ts
}

// startTestServer is runTestServer for goroutines other than the test's,
// which must not call Fatal: it returns the error instead.
func startTestServer(tb testing.TB, opts ...func(*Config)) (*testServer, error) {
	logs, stdout := &lockedBuffer{}, &lockedBuffer{}
	m := NewMain()
	m.Config = Config{
		Addr:      "127.0.0.1:0",
		DataDir:   tb.TempDir(),
		Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Stdout:    stdout,
		Bootstrap: true,
	}
	for _, opt := range opts {
		opt(&m.Config)
	}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		return nil, err
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close server: %v", err)
		}
	})
	return &testServer{Main: m, URL: m.HTTP.URL(), RootKey: m.RootKey, DataDir: m.Config.DataDir, Logs: logs, Stdout: stdout}, nil
}

// lockedBuffer is a bytes.Buffer safe for the server's concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
