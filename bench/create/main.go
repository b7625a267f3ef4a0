// Command create measures how many keys Keyward creates per second over
// HTTP, on SQLite, and checks that every create it acknowledged survives
// a kill -9 of the server:
//
//	go run ./bench/create [--connections 8] [--duration 10s] [--json FILE]
//
// It builds keyward, runs `keyward init` on a fresh SQLite store, starts
// `keyward serve`, and drives POST /v1/keys {"name":"bench"} with the root
// key through wrk for --duration after --warmup. Then, while a second
// wrk load creates keys, a few goroutines of its own (--writers) create
// keys and keep each acknowledged one (a 2xx with its id and key) in
// memory; --kill-after into that load it kills the server with SIGKILL,
// starts it again on the same data directory, and checks that every
// acknowledged key is there and verifies VALID. It prints the figures
// (see bench/README.md) and exits 1 when a request failed or an
// acknowledged key was lost.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"keyward/bench/internal/harness"
)

//go:embed create.lua
var createScript string

func main() {
	harness.Main("bench/create", run)
}

// config is the command line.
type config struct {
	connections int
	threads     int
	duration    time.Duration
	warmup      time.Duration
	writers     int
	killAfter   time.Duration
	port        int
	json        string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench/create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.connections, "connections", 8, "wrk connections")
	fs.IntVar(&c.threads, "threads", 2, "wrk threads")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured load before it")
	fs.IntVar(&c.writers, "writers", 4, "goroutines that create keys and record the acknowledged ones during the durability check")
	fs.DurationVar(&c.killAfter, "kill-after", 2*time.Second, "time into the durability check's load when the server is killed")
	fs.IntVar(&c.port, "port", 19010, "Keyward listens on 127.0.0.1:PORT")
	fs.StringVar(&c.json, "json", "", `also write the figures as JSON to this file ("-": to stdout, instead of the text)`)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.threads < 1 || c.connections < c.threads:
		return nil, errors.New("--threads: want at least 1; --connections: want at least --threads")
	case c.duration < time.Second || c.warmup < 0:
		return nil, errors.New("--duration: want at least 1s; --warmup: want 0 or more")
	case c.writers < 1 || c.killAfter <= 0:
		return nil, errors.New("--writers: want at least 1; --kill-after: want more than 0")
	}
	return c, nil
}

// report is everything a run measured; it is also the JSON output.
type report struct {
	Connections int             `json:"connections"`
	Threads     int             `json:"wrk_threads"`
	Duration    float64         `json:"duration_s"`
	Warmup      float64         `json:"warmup_s"`
	Cores       int             `json:"cores"`
	Git         string          `json:"git"`
	Go          string          `json:"go"`
	Result      *harness.Result `json:"create"`
	Durability  *durability     `json:"durability"`
}

// durability is the outcome of the kill -9 check.
type durability struct {
	// Acknowledged counts the creates the server answered 2xx before it
	// was killed; Survived those found and verifying VALID after.
	Acknowledged int `json:"acknowledged"`
	Survived     int `json:"survived"`
	// Lost describes each acknowledged key that did not survive, by id.
	Lost []string `json:"lost,omitempty"`
	// WriteErrors are 4xx and 5xx answers to the writers before the kill.
	WriteErrors []string `json:"write_errors,omitempty"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := harness.CheckWrk(); err != nil {
		return err
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, "bench/create: "+format+"\n", a...) }

	dir, cleanup, err := harness.TempDir()
	if err != nil {
		return err
	}
	defer cleanup()
	progress("building keyward")
	bins, err := harness.Build(ctx, dir, harness.KeywardPkg)
	if err != nil {
		return err
	}
	bin := bins[0]
	dataDir := filepath.Join(dir, "data")
	rootKey, err := harness.Init(ctx, bin, "bench", nil, "--data-dir", dataDir)
	if err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "root")
	if err := harness.WriteSecret(keyFile, []byte(rootKey+"\n")); err != nil {
		return err
	}
	script, err := harness.WriteScript(dir, "create.lua", createScript)
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(c.port)
	logFile := filepath.Join(dir, "keyward.log")
	kw, err := harness.StartKeyward(ctx, bin, dataDir, addr, logFile)
	if err != nil {
		return err
	}
	defer func() {
		if kw != nil {
			kw.Stop()
		}
	}()

	rep := &report{
		Connections: c.connections,
		Threads:     c.threads,
		Duration:    c.duration.Seconds(),
		Warmup:      c.warmup.Seconds(),
		Cores:       runtime.NumCPU(),
		Git:         harness.GitRev(ctx),
		Go:          runtime.Version(),
	}
	load := harness.Load{URL: kw.URL, Script: script, Args: []string{keyFile}, Threads: c.threads, Connections: c.connections}
	if c.warmup > 0 {
		progress("warming up for %v", c.warmup)
		load.Duration = c.warmup
		if _, err := harness.RunWrk(ctx, load); err != nil {
			return err
		}
	}
	progress("creating keys for %v at %d connections", c.duration, c.connections)
	load.Duration = c.duration
	if rep.Result, err = harness.RunWrk(ctx, load); err != nil {
		return err
	}

	progress("durability: creating keys with %d writers and wrk, kill -9 after %v", c.writers, c.killAfter)
	acked, writeErrs, err := createUntilKilled(ctx, c, kw, load, rootKey)
	if err != nil {
		return err
	}
	kw = nil
	progress("restarting keyward on the same data directory")
	if kw, err = harness.StartKeyward(ctx, bin, dataDir, addr, logFile); err != nil {
		return err
	}
	rep.Durability = checkSurvivors(ctx, kw, rootKey, acked, c.writers)
	rep.Durability.WriteErrors = writeErrs
	err = kw.Stop()
	kw = nil
	if err != nil {
		return err
	}

	if err := harness.Output(c.json, stdout, rep, rep.write); err != nil {
		return err
	}
	return rep.check()
}

// createUntilKilled runs wrk's create load and c.writers goroutines that
// create keys, kills the server c.killAfter into it, and returns the keys
// the writers got acknowledged before the kill, and the error answers
// they got.
func createUntilKilled(ctx context.Context, c *config, kw *harness.Server, load harness.Load, rootKey string) ([]harness.CreatedKey, []string, error) {
	wrkCtx, stopWrk := context.WithCancel(ctx)
	defer stopWrk()
	// Longer than the check: wrk is stopped once the server is dead.
	load.Duration = c.killAfter + time.Minute
	wrkDone := make(chan struct{})
	go func() {
		defer close(wrkDone)
		harness.RunWrk(wrkCtx, load)
	}()

	var (
		mu        sync.Mutex
		acked     []harness.CreatedKey
		writeErrs []string
		wg        sync.WaitGroup
	)
	for range c.writers {
		wg.Go(func() {
			cl := harness.NewClient(kw.URL, rootKey)
			for ctx.Err() == nil {
				a, err := cl.Do(ctx, http.MethodPost, "/v1/keys", map[string]string{"name": "durability"})
				if err != nil {
					// The server is gone.
					return
				}
				mu.Lock()
				if a.Status >= 200 && a.Status <= 299 {
					var k harness.CreatedKey
					if err := json.Unmarshal(a.Body, &k); err != nil || k.ID == "" || k.Key == "" {
						writeErrs = append(writeErrs, fmt.Sprintf("%d answer without id or key", a.Status))
					} else {
						acked = append(acked, k)
					}
				} else {
					writeErrs = append(writeErrs, fmt.Sprintf("%d %s", a.Status, strings.TrimSpace(string(a.Body))))
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-time.After(c.killAfter):
	case <-ctx.Done():
	}
	kw.Kill()
	stopWrk()
	wg.Wait()
	<-wrkDone
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return acked, writeErrs, nil
}

// checkSurvivors checks, with workers goroutines, that every acknowledged
// key can be read back and verifies VALID.
func checkSurvivors(ctx context.Context, kw *harness.Server, rootKey string, acked []harness.CreatedKey, workers int) *durability {
	d := &durability{Acknowledged: len(acked)}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	next := make(chan harness.CreatedKey)
	for range workers {
		wg.Go(func() {
			cl := harness.NewClient(kw.URL, rootKey)
			for k := range next {
				problem := survives(ctx, cl, k)
				mu.Lock()
				if problem == "" {
					d.Survived++
				} else {
					d.Lost = append(d.Lost, k.ID+": "+problem)
				}
				mu.Unlock()
			}
		})
	}
	for _, k := range acked {
		next <- k
	}
	close(next)
	wg.Wait()
	return d
}

// survives returns what is wrong with k after the restart, or "".
func survives(ctx context.Context, cl *harness.Client, k harness.CreatedKey) string {
	var got struct {
		ID string `json:"id"`
	}
	if err := cl.Call(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(k.ID), nil, &got); err != nil {
		return err.Error()
	}
	if got.ID != k.ID {
		return "GET answered key " + got.ID
	}
	v, err := cl.Verify(ctx, k.Key)
	if err != nil {
		return err.Error()
	}
	if v.Code != "VALID" || v.KeyID != k.ID {
		return fmt.Sprintf("verifies %s (key %s)", v.Code, v.KeyID)
	}
	return ""
}

// write writes the figures as text.
func (r *report) write(w io.Writer) {
	fmt.Fprintf(w, "create: POST /v1/keys, %d connections, %d wrk threads, %gs after %gs warm-up, SQLite, %d cores, %s, %s\n\n",
		r.Connections, r.Threads, r.Duration, r.Warmup, r.Cores, r.Git, r.Go)
	var t harness.Table
	t.Row("keys/s", "p50 ms", "p99 ms", "errors")
	t.Row(fmt.Sprintf("%.0f", r.Result.RPS), r.Result.P50, r.Result.P99, r.Result.Non2xx+r.Result.SocketErrors)
	t.WriteTo(w)
	d := r.Durability
	if d.Survived == d.Acknowledged {
		fmt.Fprintf(w, "\n%d acknowledged creates, all %d survived kill -9\n", d.Acknowledged, d.Survived)
		return
	}
	fmt.Fprintf(w, "\n%d acknowledged creates, only %d survived kill -9\n", d.Acknowledged, d.Survived)
}

// check fails when the load had failed requests, a writer got an error
// answer, or an acknowledged key was lost.
func (r *report) check() error {
	var problems []string
	if r.Result.Failed() {
		problems = append(problems, fmt.Sprintf("create load: %d non-2xx, %d socket errors", r.Result.Non2xx, r.Result.SocketErrors))
	}
	d := r.Durability
	if d.Acknowledged == 0 {
		problems = append(problems, "durability: no create was acknowledged before the kill; raise --kill-after")
	}
	for _, e := range d.WriteErrors {
		problems = append(problems, "durability: a create answered "+e)
	}
	for _, l := range d.Lost {
		problems = append(problems, "durability: acknowledged key lost: "+l)
	}
	if len(problems) > 0 {
		const maxShown = 20
		if n := len(problems); n > maxShown {
			problems = append(problems[:maxShown], fmt.Sprintf("and %d more", n-maxShown))
		}
		return errors.New(strings.Join(problems, "\n  "))
	}
	return nil
}
