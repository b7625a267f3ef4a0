package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Server is a process that serves HTTP on 127.0.0.1 and answers GET
// /readyz: keyward serve, or the bare server.
type Server struct {
	// Name says which server it is in messages.
	Name string
	// URL is http://host:port, without a trailing slash.
	URL string
	// Log is the file that holds the process's stdout and stderr.
	Log string

	cmd *exec.Cmd
	// exited is closed once the process has exited.
	exited chan struct{}
}

// ServerConfig describes a server process to start.
type ServerConfig struct {
	Name string
	Bin  string
	Args []string
	// Env is added to the harness's own environment.
	Env []string
	// Addr is the host:port the process listens on, as its Args say.
	Addr string
	// Log is the file for its stdout and stderr, created or truncated.
	Log string
}

// readyTimeout bounds the wait for a server's /readyz.
const readyTimeout = 30 * time.Second

// StartServer starts the process of cfg and waits until it answers
// /readyz with 200. On error no process is left running.
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if err := CheckPort(cfg.Addr); err != nil {
		return nil, err
	}
	log, err := os.OpenFile(cfg.Log, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	s := &Server{Name: cfg.Name, URL: "http://" + cfg.Addr, Log: cfg.Log, exited: make(chan struct{})}
	// Not CommandContext: the caller stops the server, gently, with Stop.
	s.cmd = exec.Command(cfg.Bin, cfg.Args...)
	s.cmd.Env = append(os.Environ(), cfg.Env...)
	s.cmd.Stdout = log
	s.cmd.Stderr = log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.Kill()
		return nil, err
	}
	return s, nil
}

// StartKeyward starts `keyward serve` on the SQLite store in dataDir,
// with the access log in logFile, and waits until it is ready.
func StartKeyward(ctx context.Context, bin, dataDir, addr, logFile string, args ...string) (*Server, error) {
	return StartServer(ctx, ServerConfig{
		Name: "keyward",
		Bin:  bin,
		Args: append([]string{"serve", "--data-dir", dataDir, "--addr", addr}, args...),
		Addr: addr,
		Log:  logFile,
	})
}

// StartBare starts the bare server built from BarePkg, answering every
// POST with a JSON body of size bytes and contentType.
func StartBare(ctx context.Context, bin, addr, logFile string, size int, contentType string) (*Server, error) {
	return StartServer(ctx, ServerConfig{
		Name: "bare server",
		Bin:  bin,
		Args: []string{"--addr", addr, "--size", fmt.Sprint(size), "--content-type", contentType},
		Addr: addr,
		Log:  logFile,
	})
}

// waitReady polls /readyz until it answers 200, and fails when the
// process exits or readyTimeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(readyTimeout)
	for !s.ready(ctx) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.exited:
			return fmt.Errorf("%s exited before it was ready:\n%s", s.Name, Tail(s.Log, 20))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: /readyz did not answer 200 within %v:\n%s", s.Name, readyTimeout, Tail(s.Log, 20))
		}
	}
	return nil
}

// ready reports whether the server answers /readyz with 200.
func (s *Server) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// stopTimeout is how long Stop waits after SIGTERM before it kills.
const stopTimeout = 10 * time.Second

// Stop sends SIGTERM, so that keyward flushes its write-behind and closes
// the store, and kills the process if it still runs after 10 s. It fails
// when the process had to be killed or exited with an error.
func (s *Server) Stop() error {
	select {
	case <-s.exited:
		return s.exitErr()
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.exitErr()
	case <-time.After(stopTimeout):
		s.Kill()
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed it", s.Name, stopTimeout)
	}
}

// Kill kills the process at once (SIGKILL: no flush, no close, as in a
// crash) and waits until it has exited.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// exitErr is the process's exit error, with the end of its log.
func (s *Server) exitErr() error {
	if s.cmd.ProcessState.Success() {
		return nil
	}
	return fmt.Errorf("%s: %v:\n%s", s.Name, s.cmd.ProcessState, Tail(s.Log, 20))
}

// Tail returns the last n lines of the file at path, to explain a failure.
// It reads the last 64 KiB at most: the access log of a load run is large.
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const maxTail = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		f.Seek(-maxTail, io.SeekEnd)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
