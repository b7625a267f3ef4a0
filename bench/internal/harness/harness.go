// Package harness is what the bench programs share: a private work
// directory, the keyward binary built once, `keyward init`, server
// processes started, awaited and stopped (bare or keyward serve), wrk runs
// read back as numbers, and the table and JSON output.
//
// A bench program runs roughly:
//
//	dir, cleanup, err := harness.TempDir()
//	defer cleanup()
//	bins, err := harness.Build(ctx, dir, harness.KeywardPkg, harness.BarePkg)
//	rootKey, err := harness.Init(ctx, bins[0], "bench", nil, "--data-dir", dataDir)
//	srv, err := harness.StartKeyward(ctx, bins[0], dataDir, addr, logFile)
//	defer srv.Stop()
//	script, err := harness.WriteScript(dir, "load.lua", luaText)
//	res, err := harness.RunWrk(ctx, harness.Load{URL: srv.URL, Script: script, ...})
//
// Plaintext keys never go into a process's arguments, which every user of
// the machine can read with ps: they go to children through files in the
// 0700 work directory, and Init returns the root key without printing it.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// Packages Build knows, relative to the module root.
const (
	KeywardPkg = "./cmd/keyward"
	// BarePkg is the bare net/http server that answers a fixed body: the
	// machine's limit that Keyward is compared with.
	BarePkg = "./bench/internal/bare"
)

// TempDir creates a work directory readable by its owner alone, for the
// binaries, the data directory, logs and the files that hold keys. cleanup
// removes it.
func TempDir() (dir string, cleanup func(), err error) {
	// MkdirTemp creates the directory 0700.
	dir, err = os.MkdirTemp("", "keyward-bench-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// moduleRoot returns the directory of the keyward module, where go runs.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run inside the keyward module, such as go run ./bench/verify from its root")
	}
	return filepath.Dir(mod), nil
}

// Build builds the packages of the keyward module, which the working
// directory must be in, in one go build, into dir and returns the
// binaries' paths in the order of pkgs.
func Build(ctx context.Context, dir string, pkgs ...string) ([]string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, stderr.String())
	}
	bins := make([]string, len(pkgs))
	for i, p := range pkgs {
		bins[i] = filepath.Join(dir, filepath.Base(p))
	}
	return bins, nil
}

// Init runs `keyward init` for a new org and returns its root key. The
// store is the one that env (added to the harness's environment, such as
// KEYWARD_DATABASE_URL=..., which keeps a password out of the arguments)
// and the flags in args (such as --data-dir DIR) select. Neither the key
// nor init's output is printed.
func Init(ctx context.Context, bin, org string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"init", "--org", org, "--json"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("keyward init: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var res struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Key == "" {
		return "", errors.New("keyward init --json printed no key")
	}
	return res.Key, nil
}

// WriteSecret writes a file of the work directory that holds secrets,
// readable by its owner alone.
func WriteSecret(path string, data []byte) error {
	return os.WriteFile(path, data, 0o600)
}

// CheckPort fails when another process listens on addr, which would
// otherwise look like a server that never gets ready, or worse, like a
// server that answers.
func CheckPort(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is in use; choose other ports with --port", addr)
	}
	return l.Close()
}

// GitRev names the commit of the working directory's checkout, with
// "-dirty" when the tree has changes, or "unknown" outside one.
// GIT_OPTIONAL_LOCKS=0 keeps git from refreshing the index, a write, while
// others may use it.
func GitRev(ctx context.Context) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// Main runs a bench program: run gets the arguments and a context that an
// interrupt ends. Main exits 1 with run's error, prefixed with name, or 130
// when interrupted; -h is no error.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case interrupted:
		fmt.Fprintln(os.Stderr, name+": interrupted")
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
