package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CheckWrk fails, saying how to install it, when wrk is not on PATH.
func CheckWrk() error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found: install it with apt-get install -y wrk")
	}
	return nil
}

// resultPrefix starts the line that the script's done() prints.
const resultPrefix = "harness-result "

// luaPrelude is appended to every script WriteScript writes. setup gives
// each thread a 0-based thread_id global, before the thread's init runs,
// so that threads can take disjoint parts of a workload; done prints the
// figures as one JSON line, so that nothing parses wrk's text. A script
// may count what it likes in a global table counters (string keys,
// numeric values); done adds up every thread's.
const luaPrelude = `
-- Added by bench/internal/harness.
local harness_threads = {}

function setup(thread)
  thread:set("thread_id", #harness_threads)
  harness_threads[#harness_threads + 1] = thread
end

function done(summary, latency, requests)
  local counters = {}
  for _, t in ipairs(harness_threads) do
    local c = t:get("counters")
    if type(c) == "table" then
      for k, v in pairs(c) do
        counters[k] = (counters[k] or 0) + v
      end
    end
  end
  local parts = {}
  for k, v in pairs(counters) do
    parts[#parts + 1] = string.format('"%s":%d', k, v)
  end
  local e = summary.errors
  io.write(string.format(
    '` + resultPrefix + `{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"latency_us":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,"mean":%.1f,"max":%.1f},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"counters":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ",")))
end
`

// WriteScript writes a wrk script into dir: text, which defines init and
// request (or sets wrk.method, wrk.body, ...) but neither setup nor done,
// followed by the harness's setup and done. It returns the file's path.
func WriteScript(dir, name, text string) (string, error) {
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, []byte(text+"\n"+luaPrelude), 0o600)
}

// Load is one wrk run.
type Load struct {
	// URL is where wrk connects; the script's requests name the path.
	URL string
	// Script is a file that WriteScript wrote; Args follow "--" on wrk's
	// command line, which anyone can read: no keys, only files of keys.
	Script string
	Args   []string
	// Threads, Connections and Duration are wrk's -t, -c and -d.
	// Duration is rounded up to whole seconds.
	Threads     int
	Connections int
	Duration    time.Duration
}

// Result is what a wrk run measured. Latencies are in milliseconds.
type Result struct {
	Requests int64   `json:"requests"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"req_per_s"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	P999     float64 `json:"p999_ms"`
	Mean     float64 `json:"mean_ms"`
	Max      float64 `json:"max_ms"`
	// Non2xx counts answers with a status of 400 or more (wrk counts no
	// 3xx, which the bench routes never answer).
	Non2xx int64 `json:"non_2xx"`
	// SocketErrors counts failed connects, reads and writes, and timeouts.
	SocketErrors int64 `json:"socket_errors"`
	// Counters are the script's own counts, summed over its threads.
	Counters map[string]int64 `json:"counters,omitempty"`
}

// Failed reports whether any request failed or got an error status.
func (r *Result) Failed() bool {
	return r.Non2xx > 0 || r.SocketErrors > 0
}

// wrkResult is the line luaPrelude's done prints.
type wrkResult struct {
	Requests   int64 `json:"requests"`
	DurationUS int64 `json:"duration_us"`
	Latency    struct {
		P50, P90, P99, P999, Mean, Max float64
	} `json:"latency_us"`
	Errors struct {
		Connect, Read, Write, Status, Timeout int64
	} `json:"errors"`
	Counters map[string]int64 `json:"counters"`
}

// RunWrk runs wrk with --latency and returns what it measured. wrk's own
// text and errors go to its stderr, which RunWrk quotes when wrk fails.
func RunWrk(ctx context.Context, l Load) (*Result, error) {
	secs := int(math.Ceil(l.Duration.Seconds()))
	args := []string{
		"-t", strconv.Itoa(l.Threads), "-c", strconv.Itoa(l.Connections), "-d", strconv.Itoa(secs) + "s",
		"--latency", "-s", l.Script, l.URL, "--",
	}
	cmd := exec.CommandContext(ctx, "wrk", append(args, l.Args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("wrk: %w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	var line string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
			line = s
		}
	}
	if line == "" {
		// A script error stops the Lua code, not wrk: it goes on with
		// its default request and prints no result line.
		return nil, fmt.Errorf("wrk printed no result: the script failed?\n%s\n%s", strings.TrimSpace(stderr.String()), strings.TrimSpace(stdout.String()))
	}
	var w wrkResult
	if err := json.Unmarshal([]byte(line), &w); err != nil {
		return nil, fmt.Errorf("wrk result %q: %w", line, err)
	}
	r := &Result{
		Requests:     w.Requests,
		Seconds:      float64(w.DurationUS) / 1e6,
		P50:          w.Latency.P50 / 1e3,
		P90:          w.Latency.P90 / 1e3,
		P99:          w.Latency.P99 / 1e3,
		P999:         w.Latency.P999 / 1e3,
		Mean:         w.Latency.Mean / 1e3,
		Max:          w.Latency.Max / 1e3,
		Non2xx:       w.Errors.Status,
		SocketErrors: w.Errors.Connect + w.Errors.Read + w.Errors.Write + w.Errors.Timeout,
		Counters:     w.Counters,
	}
	if r.Seconds > 0 {
		r.RPS = float64(r.Requests) / r.Seconds
	}
	return r, nil
}
