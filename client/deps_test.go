package client_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDeps keeps the SDK light: a program that links keyward/client must
// not pull in the server (keyward/httpapi, keyward/service, keyward/verify),
// a store backend (keyward/sqlite) or a driver or migration library
// (modernc.org/..., github.com/jackc/..., github.com/pressly/...). Only the
// root package and the standard library are allowed.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "keyward/client").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "keyward") || !slices.Contains(deps, "net/http") {
		t.Fatalf("go list -deps keyward/client = %v, want keyward and net/http among them", deps)
	}
	for _, dep := range deps {
		first, _, _ := strings.Cut(dep, "/")
		switch {
		case dep == "keyward", dep == "keyward/client":
		case first == "keyward":
			t.Errorf("keyward/client depends on %s; only the root package keyward is allowed", dep)
		case strings.Contains(first, "."):
			t.Errorf("keyward/client depends on %s; only the standard library is allowed", dep)
		}
	}
}
