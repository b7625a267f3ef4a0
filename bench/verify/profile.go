package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profiler takes CPU profiles of Keyward's measured runs from its
// --pprof-addr; with no dir it takes none.
type profiler struct {
	dir  string
	addr string
}

// start begins a CPU profile as long as a measured run (after the
// warm-up) into the file name of p.dir, and returns a function that waits
// for it to be written.
func (p *profiler) start(ctx context.Context, name string, c *config) (wait func() error) {
	if p.dir == "" {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		select {
		case <-time.After(c.warmup):
		case <-ctx.Done():
			done <- ctx.Err()
			return
		}
		secs := max(1, int(c.duration.Seconds())-1)
		done <- fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.addr, secs), filepath.Join(p.dir, name))
	}()
	return func() error { return <-done }
}

// fetch writes the body of a GET of url to the file path.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s answers %s", url, res.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
