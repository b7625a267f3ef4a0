package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKillDurability checks that a key whose creation was acknowledged
// survives a kill -9 of the server: it creates keys from several clients
// at once against `keyward serve` in a process of its own, kills that
// process with SIGKILL while creates are in flight, starts the server
// again on the same data directory, and finds and verifies every key that
// was answered 201. A create that got no answer may or may not have been
// committed; either is fine.
//
// SQLite runs in WAL mode with synchronous=NORMAL (see package sqlite): a
// commit is in the WAL, in the OS page cache, before the answer, so the
// death of the process loses nothing. This test cannot cut the power,
// which may lose the last commits since the WAL was last synced.
func TestKillDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server twice in a process of its own")
	}
	dataDir := t.TempDir()
	first := startServerProcess(t, dataDir)
	keys := printedKey.FindAllString(first.Stdout.String(), -1)
	if len(keys) != 1 {
		t.Fatalf("serve printed %d keys, want 1", len(keys))
	}
	root := keys[0]

	const (
		clients = 4
		// killAfter is how many acknowledged creates to wait for before
		// the kill: enough that many commits share the WAL, few enough to
		// keep the test quick.
		killAfter = 300
	)
	var (
		mu         sync.Mutex
		acked      []createdKey
		unexpected []string
		wg         sync.WaitGroup
	)
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	client := &http.Client{Timeout: 5 * time.Second}
	for c := range clients {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				k, status, err := postKey(ctx, client, first.URL, root, fmt.Sprintf("durable-%d-%d", c, i))
				mu.Lock()
				switch {
				case err != nil:
					// No answer: the kill, or the end of the load.
				case status == http.StatusCreated:
					acked = append(acked, k)
				default:
					unexpected = append(unexpected, fmt.Sprintf("POST /v1/keys: status %d", status))
				}
				mu.Unlock()
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= killAfter {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d creates acknowledged within 5s, want %d before the kill", n, killAfter)
		}
		time.Sleep(5 * time.Millisecond)
	}
	first.kill(t)
	stopLoad()
	wg.Wait()
	for _, u := range unexpected {
		t.Errorf("before the kill, %s, want 201", u)
	}

	second := startServerProcess(t, dataDir)
	t.Logf("%d creates acknowledged before the kill", len(acked))
	var lost []string
	for _, k := range acked {
		if status, _, rec := do(t, http.MethodGet, second.URL+"/v1/keys/"+k.ID, root, nil); status != http.StatusOK || str(rec, "id") != k.ID {
			lost = append(lost, fmt.Sprintf("GET /v1/keys/%s: status %d", k.ID, status))
			continue
		}
		res := mustDo(t, http.StatusOK, http.MethodPost, second.URL+"/v1/verify", root, map[string]any{"key": k.Secret})
		if code := str(res, "code"); code != "VALID" || str(res, "key_id") != k.ID {
			lost = append(lost, fmt.Sprintf("verify key %s: code %s for key id %q", k.ID, code, str(res, "key_id")))
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged keys are lost or broken after the restart, want none; the first: %s",
			len(lost), len(acked), strings.Join(lost[:min(len(lost), 5)], "; "))
	}
}

// createdKey is an acknowledged create: the key's id and its secret, kept
// in memory only and never printed.
type createdKey struct {
	ID     string `json:"id"`
	Secret string `json:"key"`
}

// postKey creates a key named name with the caller key. err is set when
// the request got no complete answer.
func postKey(ctx context.Context, client *http.Client, url, caller, name string) (createdKey, int, error) {
	body, err := json.Marshal(map[string]string{"name": name})
	if err != nil {
		return createdKey{}, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/keys", bytes.NewReader(body))
	if err != nil {
		return createdKey{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+caller)
	res, err := client.Do(req)
	if err != nil {
		return createdKey{}, 0, err
	}
	defer res.Body.Close()
	var k createdKey
	if err := json.NewDecoder(res.Body).Decode(&k); err != nil {
		return createdKey{}, 0, err
	}
	if res.StatusCode == http.StatusCreated && (k.ID == "" || k.Secret == "") {
		return createdKey{}, 0, fmt.Errorf("POST /v1/keys: answer lacks id or key")
	}
	return k, res.StatusCode, nil
}

// serverProcess is `keyward serve` in a process of its own, so that it can
// be killed: this test binary, which TestMain runs as the keyward command
// when its argv[0] names it.
type serverProcess struct {
	URL            string
	Stdout, Stderr *lockedBuffer

	cmd    *exec.Cmd
	exited chan struct{}
}

// startServerProcess starts `keyward serve` on dataDir, on a free port, and
// waits until it serves. The process is killed when the test ends.
func startServerProcess(tb testing.TB, dataDir string) *serverProcess {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	p := &serverProcess{Stdout: &lockedBuffer{}, Stderr: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = &exec.Cmd{
		Path:   exe,
		Args:   []string{"keyward", "serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--data-dir", dataDir},
		Env:    withoutKeywardEnv(os.Environ()),
		Stdout: p.Stdout,
		Stderr: p.Stderr,
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start serve: %v", err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() { p.kill(tb) })

	var startLog string
	for deadline := time.Now().Add(10 * time.Second); startLog == ""; {
		select {
		case <-p.exited:
			tb.Fatalf("serve exited early: %v; stderr: %s", p.cmd.ProcessState, p.Stderr.String())
		default:
		}
		if startLog = servingLine.FindString(p.Stderr.String()); startLog == "" {
			if time.Now().After(deadline) {
				tb.Fatalf("serve did not log that it serves within 10s; stderr: %s", p.Stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var started struct{ URL string }
	if err := json.Unmarshal([]byte(startLog), &started); err != nil {
		tb.Fatalf("start log line %s: %v", startLog, err)
	}
	p.URL = started.URL
	return p
}

// kill sends SIGKILL, as kill -9 does, and waits for the process to end.
func (p *serverProcess) kill(tb testing.TB) {
	tb.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil {
		tb.Errorf("kill serve: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		tb.Fatal("serve did not end within 10s of SIGKILL")
	}
}

// withoutKeywardEnv drops the KEYWARD_ variables, so that a developer's
// --database-url or --pepper in the environment cannot redirect the
// server under test.
func withoutKeywardEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "KEYWARD_") {
			out = append(out, kv)
		}
	}
	return out
}
