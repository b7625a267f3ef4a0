package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"keyward/bench/internal/harness"
)

// vegetaInstall says how to get vegeta, the fixed-rate load generator.
const vegetaInstall = "go install github.com/tsenart/vegeta/v12@v12.13.0"

// fixedRun is a fixed-rate run of the cold workload against one server.
// wrk sends as fast as the server answers, so its latencies are mostly
// queueing behind the load generator on a small machine; a fixed rate
// below both servers' limits shows what one request costs.
type fixedRun struct {
	Rate        int     `json:"rate_per_s"`
	Connections int     `json:"connections"`
	Requests    int64   `json:"requests"`
	Throughput  float64 `json:"throughput_per_s"`
	P50         float64 `json:"p50_ms"`
	P90         float64 `json:"p90_ms"`
	P99         float64 `json:"p99_ms"`
	Max         float64 `json:"max_ms"`
	// Success is the share of answers with a 2xx status.
	Success float64 `json:"success"`
}

// vegetaReport is the part of `vegeta report -type=json` that fixedRun
// takes; latencies are in nanoseconds.
type vegetaReport struct {
	Latencies struct {
		P50 float64 `json:"50th"`
		P90 float64 `json:"90th"`
		P99 float64 `json:"99th"`
		Max float64 `json:"max"`
	} `json:"latencies"`
	Requests   int64   `json:"requests"`
	Throughput float64 `json:"throughput"`
	Success    float64 `json:"success"`
}

// writeTargets writes vegeta's targets (JSON lines) for POST /v1/verify at
// url, one per key of the file keys, with the bearer key of the file
// bearer. The file holds keys, so it is written like one.
func writeTargets(path, url, bearer, keys string) error {
	token, err := firstLine(bearer)
	if err != nil {
		return err
	}
	in, err := os.Open(keys)
	if err != nil {
		return err
	}
	defer in.Close()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	header := map[string][]string{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		body, _ := json.Marshal(map[string]string{"key": sc.Text()})
		target := struct {
			Method string              `json:"method"`
			URL    string              `json:"url"`
			Body   []byte              `json:"body"`
			Header map[string][]string `json:"header"`
		}{"POST", url + "/v1/verify", body, header}
		if err := enc.Encode(target); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return harness.WriteSecret(path, out.Bytes())
}

// runVegeta sends the targets at rate per second for d over at most conns
// connections, and returns what vegeta measured.
func runVegeta(ctx context.Context, dir, targets string, rate, conns int, d time.Duration) (*fixedRun, error) {
	results := filepath.Join(dir, "vegeta.bin")
	defer os.Remove(results)
	n := strconv.Itoa(conns)
	attack := exec.CommandContext(ctx, "vegeta", "attack", "-format=json", "-lazy", "-targets="+targets,
		"-rate="+strconv.Itoa(rate)+"/s", "-duration="+d.String(),
		"-connections="+n, "-max-connections="+n, "-workers="+n, "-max-workers="+n,
		"-output="+results)
	if out, err := attack.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("vegeta attack: %v: %s", err, out)
	}
	out, err := exec.CommandContext(ctx, "vegeta", "report", "-type=json", results).Output()
	if err != nil {
		return nil, fmt.Errorf("vegeta report: %w", err)
	}
	var rep vegetaReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("vegeta report: %w", err)
	}
	const ms = float64(time.Millisecond)
	return &fixedRun{
		Rate: rate, Connections: conns, Requests: rep.Requests, Throughput: rep.Throughput,
		P50: rep.Latencies.P50 / ms, P90: rep.Latencies.P90 / ms, P99: rep.Latencies.P99 / ms, Max: rep.Latencies.Max / ms,
		Success: rep.Success,
	}, nil
}

// checkVegeta fails unless vegeta is on PATH, saying how to install it.
func checkVegeta() error {
	if _, err := exec.LookPath("vegeta"); err != nil {
		return errors.New("vegeta not found (needed by --cold-rate; 0 skips that run): " + vegetaInstall)
	}
	return nil
}
