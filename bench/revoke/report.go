package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"keyward/bench/internal/harness"
)

// machine describes where and on what a run ran.
type machine struct {
	Date   string `json:"date"`
	Commit string `json:"commit"`
	Cores  int    `json:"cores"`
}

// describeMachine returns the current time, the commit of the checkout and
// the core count.
func describeMachine(ctx context.Context) machine {
	return machine{Date: time.Now().UTC().Format(time.RFC3339), Commit: harness.GitRev(ctx), Cores: runtime.NumCPU()}
}

// stats are the percentiles of a set of durations, in milliseconds.
type stats struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// newStats returns the percentiles of ds, by the nearest-rank method; all
// zero when ds is empty.
func newStats(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	at := func(p float64) float64 {
		return ms(sorted[int(math.Ceil(p*float64(len(sorted))))-1])
	}
	return stats{N: len(sorted), P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: ms(sorted[len(sorted)-1])}
}

// ms converts d to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// nodeStats are the latencies of one node, numbered from 1.
type nodeStats struct {
	Node int `json:"node"`
	stats
}

// report is what a run measured, as the table and the JSON show it.
type report struct {
	machine
	Nodes     int     `json:"nodes"`
	Trials    int     `json:"trials"`
	TimeoutMS float64 `json:"timeout_ms"`
	PollGapMS float64 `json:"poll_gap_ms"`
	// PerNode holds the latency of each node but node 1, which revokes.
	PerNode []nodeStats `json:"latency_per_node"`
	All     stats       `json:"latency_all"`
	// Polls are the round trips of the polls: the figures' resolution.
	Polls stats `json:"poll_round_trip"`
	// Revokes are node 1's answers to the revokes.
	Revokes stats `json:"revoke_round_trip"`
	// AfterAnswer is the latency of every node less its trial's revoke
	// round trip: how long after node 1's answer the key was still accepted.
	AfterAnswer stats  `json:"latency_after_revoke_answer"`
	Misses      []miss `json:"misses"`
}

// newReport summarizes res.
func newReport(res *results, o options, m machine) report {
	r := report{
		machine:     m,
		Nodes:       o.nodes,
		Trials:      o.trials,
		TimeoutMS:   ms(o.timeout),
		PollGapMS:   ms(o.pollGap),
		Polls:       newStats(res.polls),
		Revokes:     newStats(res.revokes),
		AfterAnswer: newStats(res.afterAnswer),
		Misses:      res.misses,
	}
	if r.Misses == nil {
		r.Misses = []miss{}
	}
	var all []time.Duration
	for n := 2; n <= o.nodes; n++ {
		r.PerNode = append(r.PerNode, nodeStats{Node: n, stats: newStats(res.latencies[n])})
		all = append(all, res.latencies[n]...)
	}
	r.All = newStats(all)
	return r
}

// table prints the figures for people.
func (r report) table(w io.Writer) error {
	fmt.Fprintf(w, "revoke-to-rejected: %d nodes on one PostgreSQL database, %d trials, revoked through node 1, %d cores, %s\n\n",
		r.Nodes, r.Trials, r.Cores, r.Commit)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\ttrials\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	row := func(name string, s stats) {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t\n", name, s.N, s.P50, s.P90, s.P99, s.Max)
	}
	for _, n := range r.PerNode {
		row(fmt.Sprint(n.Node), n.stats)
	}
	row("all", r.All)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nfrom writing the revoke to node 1 to reading a node's first REVOKED. Each node is polled on one\n"+
		"keep-alive connection, one request after the other; a poll's round trip (p50 %.2f ms, p99 %.2f ms,\n"+
		"max %.2f ms) bounds the resolution: a figure may be late by up to one",
		r.Polls.P50, r.Polls.P99, r.Polls.Max)
	if r.PollGapMS > 0 {
		fmt.Fprintf(w, ", plus the %.2f ms gap between polls", r.PollGapMS)
	}
	fmt.Fprintln(w, ".")
	fmt.Fprintf(w, "node 1 answered the revoke after p50 %.2f ms, p99 %.2f ms; the other nodes refused the key\n"+
		"p50 %.2f ms, p99 %.2f ms after that answer (less than 0: before it arrived).\n",
		r.Revokes.P50, r.Revokes.P99, r.AfterAnswer.P50, r.AfterAnswer.P99)
	if len(r.Misses) == 0 {
		_, err := fmt.Fprintf(w, "every node answered REVOKED in every trial within %v.\n", time.Duration(r.TimeoutMS*float64(time.Millisecond)))
		return err
	}
	fmt.Fprintf(w, "%d missed revocations:\n", len(r.Misses))
	for _, m := range r.Misses {
		fmt.Fprintf(w, "  trial %d, node %d: %s\n", m.Trial, m.Node, m.Reason)
	}
	return nil
}
