// Package testenv gives tests the outside services that CI provides
// (PostgreSQL, Redis), named by environment variables, and skips the tests
// that need one where it is missing, saying so.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

// Service is an outside service that some tests need.
type Service struct {
	// Name is what the service is called in messages.
	Name string
	// Var is the environment variable that holds its URL.
	Var string
	// Example is a URL that works on a developer's machine.
	Example string
}

// The services of Keyward's tests. .ci/run sets both variables.
var (
	Postgres = Service{Name: "PostgreSQL", Var: "KEYWARD_TEST_POSTGRES", Example: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"}
	Redis    = Service{Name: "Redis", Var: "KEYWARD_TEST_REDIS", Example: "redis://127.0.0.1:6379/0"}
)

// URL returns the service's URL, or skips tb when its variable is unset.
func (s Service) URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(s.Var)
	if u == "" {
		s.Skip(tb)
	}
	return u
}

// Skip skips tb for want of the service, naming the variable that would
// run it.
func (s Service) Skip(tb testing.TB) {
	tb.Helper()
	s.Announce()
	tb.Skipf("%s is not set: set it to a %s URL such as %s to run the %s tests", s.Var, s.Name, s.Example, s.Name)
}

// testedPackage returns the import path of the package under test, as go
// test names it.
func testedPackage() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" {
		return strings.TrimSuffix(bi.Path, ".test")
	}
	return strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
}

// announced holds the variables whose skip this test binary has told.
var announced sync.Map

// Announce tells the developer's terminal, once per test binary, that
// this package skips the service's tests. go test ./... shows nothing of
// a package that passes, skip messages included, so without this a run
// without the services would look complete. Without a terminal (CI, a
// pipe) it tells nothing.
func (s Service) Announce() {
	if _, done := announced.LoadOrStore(s.Var, true); done {
		return
	}
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s: skipping the %s tests: %s is not set\n", testedPackage(), s.Name, s.Var)
}
