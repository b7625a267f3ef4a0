package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// database is the benchmark's own PostgreSQL database.
type database struct {
	name string
	// url is the admin URL with the database replaced. It may hold a
	// password: it goes to the nodes through their environment only, and
	// is never printed.
	url      string
	adminURL string
}

// createDatabase connects to the admin URL and creates a database named
// keyward_bench_<unix time>_<random>.
func createDatabase(ctx context.Context, adminURL string) (*database, error) {
	name := fmt.Sprintf("keyward_bench_%d_%s", time.Now().Unix(), strings.ToLower(rand.Text()[:6]))
	dbURL, err := databaseURL(adminURL, name)
	if err != nil {
		return nil, err
	}
	conn, err := connectAdmin(ctx, adminURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	return &database{name: name, url: dbURL, adminURL: adminURL}, nil
}

// drop drops the database, closing the connections that nodes which did
// not stop may still hold.
func (db *database) drop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := connectAdmin(ctx, db.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db.name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", db.name, err)
	}
	return nil
}

// connectAdmin connects to the admin URL. Its errors never quote the URL,
// which may hold a password.
func connectAdmin(ctx context.Context, adminURL string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to PostgreSQL (set KEYWARD_BENCH_POSTGRES to an admin URL such as %s): %w", defaultAdminURL, err)
	}
	return conn, nil
}

// databaseURL returns adminURL with its database replaced by name.
func databaseURL(adminURL, name string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		// The parse error would quote the URL.
		return "", errors.New("KEYWARD_BENCH_POSTGRES: want a URL such as postgres://user@host:5432/db")
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// nodeAddr returns the address of the node on port.
func nodeAddr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// node is one `keyward serve` process.
type node struct {
	// n numbers the node from 1.
	n   int
	url string
	cmd *exec.Cmd
	// log is the file that holds the node's stderr.
	log string
	// exited is closed once the process has exited.
	exited chan struct{}
}

// startNodes starts n nodes at once, as the nodes of a new deployment
// start, then waits until each is ready. It returns the nodes it started
// even with an error, so that the caller stops them.
func startNodes(ctx context.Context, bin, dir, dbURL string, port, n int) ([]*node, error) {
	var nodes []*node
	for i := 1; i <= n; i++ {
		nd, err := startNode(bin, dir, dbURL, i, port+i-1)
		if err != nil {
			return nodes, err
		}
		nodes = append(nodes, nd)
	}
	for _, nd := range nodes {
		if err := nd.waitReady(ctx, 30*time.Second); err != nil {
			return nodes, err
		}
	}
	return nodes, nil
}

// startNode starts node i on port. Its cache keeps keys for an hour, so
// that within a trial only the change feed can explain a REVOKED.
func startNode(bin, dir, dbURL string, i, port int) (*node, error) {
	nd := &node{
		n:      i,
		url:    "http://" + nodeAddr(port),
		log:    filepath.Join(dir, fmt.Sprintf("node%d.log", i)),
		exited: make(chan struct{}),
	}
	logFile, err := os.Create(nd.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	// A node that bootstraps prints a root key: it stays in the 0700
	// directory, which is removed at exit.
	outFile, err := os.Create(filepath.Join(dir, fmt.Sprintf("node%d.out", i)))
	if err != nil {
		return nil, err
	}
	defer outFile.Close()
	nd.cmd = exec.Command(bin, "serve", "--addr", nodeAddr(port), "--cache-ttl", "1h")
	nd.cmd.Dir = dir
	nd.cmd.Env = append(os.Environ(), "KEYWARD_DATABASE_URL="+dbURL)
	nd.cmd.Stdout = outFile
	nd.cmd.Stderr = logFile
	if err := nd.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node %d: %w", i, err)
	}
	go func() {
		nd.cmd.Wait()
		close(nd.exited)
	}()
	return nd, nil
}

// waitReady polls /readyz until it answers 200 with the change feed
// listening, and fails when the process exits or timeout passes.
func (nd *node) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if nd.ready(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-nd.exited:
			return fmt.Errorf("node %d exited before it was ready:\n%s", nd.n, tail(nd.log, 20))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %d: /readyz did not answer 200 with the change feed listening within %v:\n%s", nd.n, timeout, tail(nd.log, 20))
		}
	}
}

// ready reports whether the node answers /readyz with 200 and its change
// feed listening: only then does it hear of other nodes' revocations.
func (nd *node) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, nd.url+"/readyz", nil)
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	return res.StatusCode == http.StatusOK &&
		json.NewDecoder(res.Body).Decode(&body) == nil && body.Checks["change_feed"] == "ok"
}

// stopNodes sends every node SIGTERM, so that each flushes its write-behind
// and closes its connections, and kills a node still running after 10 s.
func stopNodes(nodes []*node, logf func(string, ...any)) {
	for _, nd := range nodes {
		nd.cmd.Process.Signal(syscall.SIGTERM)
	}
	// One deadline for all: the nodes stop at the same time.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, nd := range nodes {
		select {
		case <-nd.exited:
		case <-ctx.Done():
			logf("bench/revoke: node %d did not stop within 10 s; killing it", nd.n)
			nd.cmd.Process.Kill()
			<-nd.exited
		}
	}
}

// tail returns the last n lines of the file at path, to explain a failure.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
