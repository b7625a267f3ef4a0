package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"sync"
	"testing"
	"time"
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

// servedCommand is `keyward serve` running in the test's process.
type servedCommand struct {
	// URL is the base URL that the command logged.
	URL string
	// StartLog is the "keyward serving" log line.
	StartLog       string
	Stdout, Stderr *lockedBuffer

	cancel context.CancelFunc
	exit   chan int
}

// servingLine is the JSON log line of a server that serves.
var servingLine = regexp.MustCompile(`(?m)^.*"msg":"keyward serving".*$`)

// runServe runs `keyward serve --addr 127.0.0.1:0 --log-format json` with
// args until the test ends, and waits until it logs that it serves.
func runServe(tb testing.TB, args ...string) *servedCommand {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &servedCommand{Stdout: &lockedBuffer{}, Stderr: &lockedBuffer{}, cancel: cancel, exit: make(chan int, 1)}
	go func() {
		c.exit <- Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...), c.Stdout, c.Stderr)
	}()
	tb.Cleanup(func() { c.stop(tb) })
	for deadline := time.Now().Add(10 * time.Second); c.StartLog == ""; {
		select {
		case code := <-c.exit:
			c.exit <- code
			tb.Fatalf("serve exited early with code %d; stderr: %s", code, c.Stderr.String())
		default:
		}
		if c.StartLog = servingLine.FindString(c.Stderr.String()); c.StartLog == "" {
			if time.Now().After(deadline) {
				tb.Fatalf("serve did not log that it serves within 10s; stderr: %s", c.Stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var started struct{ URL string }
	if err := json.Unmarshal([]byte(c.StartLog), &started); err != nil {
		tb.Fatalf("start log line %s: %v", c.StartLog, err)
	}
	c.URL = started.URL
	return c
}

// stop ends the command, if it still runs, and returns its exit code; it
// fails when the command does not end within 10s.
func (c *servedCommand) stop(tb testing.TB) int {
	tb.Helper()
	c.cancel()
	select {
	case code := <-c.exit:
		c.exit <- code
		return code
	case <-time.After(10 * time.Second):
		tb.Fatal("serve did not stop within 10s of its context ending")
		return -1
	}
}

// rootKey returns the one root key that the command printed.
func (c *servedCommand) rootKey(tb testing.TB) string {
	tb.Helper()
	keys := printedKey.FindAllString(c.Stdout.String(), -1)
	if len(keys) != 1 {
		tb.Fatalf("serve printed %d keys, want 1", len(keys))
	}
	return keys[0]
}
