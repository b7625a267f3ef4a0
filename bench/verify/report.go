package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"keyward/bench/internal/harness"
)

// report is everything a run measured; it is also the JSON output.
type report struct {
	Keys     int     `json:"keys"`
	Hot      int     `json:"hot_keys"`
	Mix      mix     `json:"mix_percent"`
	Pattern  string  `json:"pattern"`
	Threads  int     `json:"wrk_threads"`
	Rounds   int     `json:"rounds"`
	Duration float64 `json:"duration_s"`
	Warmup   float64 `json:"warmup_s"`
	Cores    int     `json:"cores"`
	Git      string  `json:"git"`
	Go       string  `json:"go"`
	// Answer is the size of Keyward's answer to a hot key, and so of the
	// bare server's every answer.
	Answer int        `json:"answer_bytes"`
	Load   *loadStats `json:"load"`
	Runs   []runPair  `json:"runs"`
	Cold   *coldRun   `json:"cold,omitempty"`
	// ColdFixed is the cold workload at a fixed rate, with vegeta.
	ColdFixed *fixedPair `json:"cold_fixed_rate,omitempty"`
}

// fixedPair is the bare server and Keyward at one fixed rate.
type fixedPair struct {
	Bare     *fixedRun `json:"bare"`
	Keyward  *fixedRun `json:"keyward"`
	P99Ratio float64   `json:"p99_ratio"`
}

// runPair is the bare server and Keyward at one connection count.
type runPair struct {
	Connections int `json:"connections"`
	// Bare and Keyward are the medians of their rounds, each figure apart.
	Bare          *harness.Result   `json:"bare"`
	Keyward       *harness.Result   `json:"keyward"`
	BareRounds    []*harness.Result `json:"bare_rounds"`
	KeywardRounds []*harness.Result `json:"keyward_rounds"`
	// RPSRatio and P99Ratio are Keyward's figure over the bare server's.
	RPSRatio float64 `json:"rps_ratio"`
	P99Ratio float64 `json:"p99_ratio"`
}

// coldRun is the run where every request verifies a different key.
type coldRun struct {
	Connections int `json:"connections"`
	// Sample is how many distinct keys the run could send; Repeats how
	// many requests found their thread's share used up and sent a key
	// again.
	Sample  int             `json:"sample"`
	Repeats int64           `json:"repeats"`
	Result  *harness.Result `json:"keyward"`
}

// writeTable writes the figures as text.
func (r *report) writeTable(w io.Writer) {
	fmt.Fprintf(w, "verify: %d keys (%d hot), mix %s hot/random/invalid, %d wrk threads, %gs per run after %gs warm-up, medians of %d rounds, %d cores, %s, %s\n",
		r.Keys, r.Hot, r.Mix, r.Threads, r.Duration, r.Warmup, r.Rounds, r.Cores, r.Git, r.Go)
	fmt.Fprintf(w, "bulk load: %d keys in %.1f s (%.0f keys/s); answers of %d bytes\n\n", r.Load.Keys, r.Load.Seconds, r.Load.KeysPerSec, r.Answer)
	var t harness.Table
	t.Row("conns", "bare req/s", "p50 ms", "p99 ms", "keyward req/s", "p50 ms", "p99 ms", "ratio req/s", "ratio p99", "errors")
	for _, p := range r.Runs {
		t.Row(p.Connections, rate(p.Bare.RPS), p.Bare.P50, p.Bare.P99, rate(p.Keyward.RPS), p.Keyward.P50, p.Keyward.P99,
			p.RPSRatio, p.P99Ratio, failures(p.Bare)+failures(p.Keyward))
	}
	if c := r.Cold; c != nil {
		t.Row(fmt.Sprintf("cold %d", c.Connections), "", "", "", rate(c.Result.RPS), c.Result.P50, c.Result.P99, "", "", failures(c.Result))
	}
	if f := r.ColdFixed; f != nil {
		t.Row(fmt.Sprintf("cold %d at %d/s", f.Keyward.Connections, f.Keyward.Rate), rate(f.Bare.Throughput), f.Bare.P50, f.Bare.P99,
			rate(f.Keyward.Throughput), f.Keyward.P50, f.Keyward.P99, "", f.P99Ratio, fixedFailures(f.Bare)+fixedFailures(f.Keyward))
	}
	t.WriteTo(w)
	var notes []string
	for _, p := range r.Runs {
		for _, k := range p.KeywardRounds {
			if n := k.Counters["repeats"]; n > 0 {
				notes = append(notes, fmt.Sprintf("%d connections: %d misses repeated a key (too few --keys)", p.Connections, n))
			}
		}
	}
	if c := r.Cold; c != nil {
		note := fmt.Sprintf("cold: a restarted Keyward (empty cache), every request a different key of %d", c.Sample)
		if c.Repeats > 0 {
			note += fmt.Sprintf(", but %d requests repeated a key (too few --keys)", c.Repeats)
		}
		notes = append(notes, note)
	}
	if f := r.ColdFixed; f != nil {
		notes = append(notes, fmt.Sprintf("cold at %d/s: the same keys sent by vegeta at a fixed rate over at most %d connections, Keyward restarted again",
			f.Keyward.Rate, f.Keyward.Connections))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
	}
}

// check fails when a run had failed requests or error statuses.
func (r *report) check() error {
	var failed []string
	for _, p := range r.Runs {
		for _, s := range []struct {
			name string
			res  *harness.Result
		}{{"bare", p.Bare}, {"keyward", p.Keyward}} {
			if s.res.Failed() {
				failed = append(failed, fmt.Sprintf("%s at %d connections: %d non-2xx, %d socket errors", s.name, p.Connections, s.res.Non2xx, s.res.SocketErrors))
			}
		}
	}
	if c := r.Cold; c != nil && c.Result.Failed() {
		failed = append(failed, fmt.Sprintf("cold run: %d non-2xx, %d socket errors", c.Result.Non2xx, c.Result.SocketErrors))
	}
	if f := r.ColdFixed; f != nil && fixedFailures(f.Bare)+fixedFailures(f.Keyward) > 0 {
		failed = append(failed, fmt.Sprintf("cold run at %d/s: %d failed requests", f.Keyward.Rate, fixedFailures(f.Bare)+fixedFailures(f.Keyward)))
	}
	if len(failed) > 0 {
		return fmt.Errorf("requests failed:\n  %s", strings.Join(failed, "\n  "))
	}
	return nil
}

// rate formats a rate without decimals.
func rate(v float64) string {
	return fmt.Sprintf("%.0f", v)
}

// failures counts a run's failed requests and error statuses.
func failures(r *harness.Result) int64 {
	return r.Non2xx + r.SocketErrors
}

// fixedFailures counts a fixed-rate run's requests that failed or got an
// error status.
func fixedFailures(r *fixedRun) int64 {
	return r.Requests - int64(math.Round(r.Success*float64(r.Requests)))
}

// medians returns a Result whose figures are each the median of rounds'
// (the upper one of an even count), and whose failures are their sum.
func medians(rounds []*harness.Result) *harness.Result {
	median := func(f func(*harness.Result) float64) float64 {
		v := make([]float64, len(rounds))
		for i, r := range rounds {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m := &harness.Result{
		RPS:  median(func(r *harness.Result) float64 { return r.RPS }),
		P50:  median(func(r *harness.Result) float64 { return r.P50 }),
		P90:  median(func(r *harness.Result) float64 { return r.P90 }),
		P99:  median(func(r *harness.Result) float64 { return r.P99 }),
		P999: median(func(r *harness.Result) float64 { return r.P999 }),
		Mean: median(func(r *harness.Result) float64 { return r.Mean }),
		Max:  median(func(r *harness.Result) float64 { return r.Max }),
	}
	for _, r := range rounds {
		m.Requests += r.Requests
		m.Seconds += r.Seconds
		m.Non2xx += r.Non2xx
		m.SocketErrors += r.SocketErrors
	}
	return m
}
