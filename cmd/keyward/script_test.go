package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the scripts run `keyward` as a command: testscript puts
// this test binary on their PATH under that name.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"keyward": func() { os.Exit(Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scripts in testdata/script, each against its
// own fresh server, so that lists and audit logs hold only what the script
// did. $KEYWARD_URL and $KEYWARD_KEY (the root key) are set. The server's
// clock stands still unless a script moves it with advance, so that rate
// limits, grace periods and usage buckets do not depend on how fast the
// script runs.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "script", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata/script")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			t.Parallel()
			clock := newTestClock()
			srv := runTestServer(t, withClock(clock))
			testscript.Run(t, testscript.Params{
				Files: []string{file},
				Setup: func(env *testscript.Env) error {
					env.Setenv("KEYWARD_URL", srv.URL)
					env.Setenv("KEYWARD_KEY", srv.RootKey)
					return nil
				},
				Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
					"jsonfield": cmdJSONField,
					"advance":   cmdAdvance(clock),
					"flush":     cmdFlush(srv),
				},
			})
		})
	}
}

// cmdAdvance returns the script command `advance DURATION`, which moves
// the server's clock forward.
func cmdAdvance(clock *testClock) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: advance DURATION")
		}
		d, err := time.ParseDuration(args[0])
		if err != nil || d <= 0 {
			ts.Fatalf("advance: %q is not a positive duration", args[0])
		}
		clock.Advance(d)
	}
}

// cmdFlush returns the script command `flush`, which writes what the
// verify engine holds in memory (last use, usage counts) to the store now
// rather than at its next tick.
func cmdFlush(srv *testServer) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 0 {
			ts.Fatalf("usage: flush")
		}
		srv.Engine.Flush(context.Background())
	}
}

// cmdJSONField is the script command `jsonfield PATH VAR`: it sets $VAR to
// the value at PATH in the JSON on the last command's stdout. PATH is
// dot-separated; numbers index arrays, as in data.0.id. Strings are set
// as they are, other values as JSON.
func cmdJSONField(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! jsonfield")
	}
	if len(args) != 2 {
		ts.Fatalf("usage: jsonfield PATH VAR")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &v); err != nil {
		ts.Fatalf("stdout is not JSON: %v", err)
	}
	for _, seg := range strings.Split(args[0], ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				ts.Fatalf("%s: no member %q", args[0], seg)
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				ts.Fatalf("%s: no element %q in an array of %d", args[0], seg, len(x))
			}
			v = x[i]
		default:
			ts.Fatalf("%s: %q indexes a %T", args[0], seg, v)
		}
	}
	s, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		ts.Check(err)
		s = string(b)
	}
	ts.Setenv(args[1], s)
}
