// Command revoke measures revoke-to-rejected latency across Keyward nodes:
// how long a key revoked through one node is still accepted by the other
// nodes, which share one PostgreSQL database and hear of the revocation
// through its change feed.
//
//	go run ./bench/revoke                         # 3 nodes, 200 trials
//	go run ./bench/revoke --nodes 5 --trials 1000 --json revoke.json
//
// It creates a database of its own on the server that KEYWARD_BENCH_POSTGRES
// names (an admin URL, default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and drops it at
// exit, also on Ctrl-C. It builds ./cmd/keyward, runs `keyward init --org
// bench --json`, and starts --nodes `keyward serve` processes on
// 127.0.0.1:--port and the ports after it, with the database's URL in
// KEYWARD_DATABASE_URL (never in arguments, which ps shows).
//
// Each trial creates a key through node 1, verifies it once on every other
// node, so that each holds it in its cache as VALID, then revokes it through
// node 1. From the moment the revoke request is written, one goroutine per
// other node sends POST /v1/verify over one keep-alive connection, as fast
// as that connection answers, until the node answers REVOKED; the latency is
// the time from writing the revoke to reading that answer. Every figure is
// therefore late by up to one round trip of a poll, which the output states.
// --poll-gap pauses between polls, to see how much the pollers' own load on
// the machine adds.
//
// The table goes to stdout, progress to stderr; --json FILE also writes the
// figures as JSON (--json - prints only the JSON). The program exits 1 when
// a node did not answer REVOKED within --timeout in some trial.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"keyward/bench/internal/harness"
)

// defaultAdminURL is the PostgreSQL server of a developer's machine.
const defaultAdminURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// errMissed is returned when some node kept accepting a revoked key past
// the timeout in some trial; the table has already said which.
var errMissed = errors.New("a node missed a revocation")

func main() {
	harness.Main("bench/revoke", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return run(ctx, args, os.Getenv, stdout, stderr)
	})
}

// options are the command line's settings.
type options struct {
	nodes    int
	trials   int
	port     int
	timeout  time.Duration
	pollGap  time.Duration
	jsonPath string
	adminURL string
}

// parseOptions reads the flags, and the admin URL from the environment.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	o := options{adminURL: getenv("KEYWARD_BENCH_POSTGRES")}
	if o.adminURL == "" {
		o.adminURL = defaultAdminURL
	}
	fs := flag.NewFlagSet("bench/revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.nodes, "nodes", 3, "nodes on one database; node 1 creates and revokes, the others are measured (2 to 50)")
	fs.IntVar(&o.trials, "trials", 200, "keys to create, cache on every node and revoke")
	fs.IntVar(&o.port, "port", 19200, "node i listens on 127.0.0.1:port+i-1")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "a node still accepting a key this long after its revocation fails the run")
	fs.DurationVar(&o.pollGap, "poll-gap", 0, "pause between two polls of a node: 0 polls back to back, as fast as one connection answers; a gap lightens the pollers' own load on the machine, and coarsens the figures by as much")
	fs.StringVar(&o.jsonPath, "json", "", "also write the figures as JSON to `FILE` (\"-\": stdout, instead of the table)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: go run ./bench/revoke [flags]\n\n"+
			"Revokes keys through node 1 of --nodes Keyward nodes on one fresh PostgreSQL\n"+
			"database and measures how long each other node still accepts them.\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nKEYWARD_BENCH_POSTGRES is an admin URL of PostgreSQL (default\n%s);\n"+
			"the program creates a database of its own there and drops it at exit.\n", defaultAdminURL)
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	case o.nodes < 2 || o.nodes > 50:
		return o, fmt.Errorf("--nodes: want 2 to 50; got %d", o.nodes)
	case o.trials < 1:
		return o, fmt.Errorf("--trials: want at least 1; got %d", o.trials)
	case o.port < 1024 || o.port+o.nodes-1 > 65535:
		return o, fmt.Errorf("--port: want 1024 to %d for %d nodes; got %d", 65536-o.nodes, o.nodes, o.port)
	case o.timeout <= 0:
		return o, fmt.Errorf("--timeout: want a positive duration; got %v", o.timeout)
	case o.pollGap < 0 || o.pollGap >= o.timeout:
		return o, fmt.Errorf("--poll-gap: want 0 or more, less than --timeout; got %v", o.pollGap)
	}
	return o, nil
}

// run sets up the nodes, runs the trials and reports them. Whatever
// happens, it stops the nodes, drops the database and removes its
// temporary directory before it returns.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	for p := o.port; p < o.port+o.nodes; p++ {
		if err := harness.CheckPort(nodeAddr(p)); err != nil {
			return err
		}
	}

	tmp, cleanup, err := harness.TempDir()
	if err != nil {
		return err
	}
	defer cleanup()

	db, err := createDatabase(ctx, o.adminURL)
	if err != nil {
		return err
	}
	defer func() {
		if err := db.drop(context.WithoutCancel(ctx)); err != nil {
			logf("bench/revoke: %v; drop database %s by hand", err, db.name)
		}
	}()
	logf("database %s created", db.name)

	logf("building keyward")
	bins, err := harness.Build(ctx, tmp, harness.KeywardPkg)
	if err != nil {
		return err
	}
	bin := bins[0]
	root, err := harness.Init(ctx, bin, "bench", []string{"KEYWARD_DATABASE_URL=" + db.url})
	if err != nil {
		return err
	}

	logf("starting %d nodes on 127.0.0.1:%d-%d", o.nodes, o.port, o.port+o.nodes-1)
	nodes, err := startNodes(ctx, bin, tmp, db.url, o.port, o.nodes)
	defer stopNodes(nodes, logf)
	if err != nil {
		return err
	}

	logf("running %d trials", o.trials)
	res, err := runTrials(ctx, nodes, root, o, logf)
	if err != nil {
		return err
	}
	rep := newReport(res, o, describeMachine(ctx))
	// The table's own error is one of writing to stdout, as the JSON's.
	if err := harness.Output(o.jsonPath, stdout, rep, func(w io.Writer) { rep.table(w) }); err != nil {
		return err
	}
	if len(rep.Misses) > 0 {
		return errMissed
	}
	return nil
}
