package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"time"
)

// The verification codes that a trial expects.
const (
	codeValid   = "VALID"
	codeRevoked = "REVOKED"
)

// client talks to one node over keep-alive connections of its own: a
// Transport per node, so that no poll waits for a connection to another.
type client struct {
	node *node
	root string
	http *http.Client
}

// newClient returns a client of nd that authenticates with the root key.
func newClient(nd *node, root string) *client {
	return &client{node: nd, root: root, http: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true},
		Timeout:   10 * time.Second,
	}}
}

// do sends a request with the root key and decodes a JSON answer of status
// want into v. It returns the answer's code as its error otherwise; the
// answer names no secret.
func (c *client) do(ctx context.Context, method, path string, body []byte, want int, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.node.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.root)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("node %d: %s %s: %w", c.node.n, method, path, err)
	}
	defer res.Body.Close()
	// Read to the end, so that the connection goes back to the pool.
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("node %d: %s %s: %w", c.node.n, method, path, err)
	}
	if res.StatusCode != want {
		var problem struct {
			Code string `json:"code"`
		}
		json.Unmarshal(raw, &problem)
		return fmt.Errorf("node %d: %s %s: status %d %s, want %d", c.node.n, method, path, res.StatusCode, problem.Code, want)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("node %d: %s %s: %w", c.node.n, method, path, err)
	}
	return nil
}

// verify returns the code of the node's answer to a verification of body.
func (c *client) verify(ctx context.Context, body []byte) (string, error) {
	var res struct {
		Code string `json:"code"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/verify", body, http.StatusOK, &res); err != nil {
		return "", err
	}
	return res.Code, nil
}

// createKey creates a key and returns its id and a verification request
// of it, which holds the secret and so is never printed.
func (c *client) createKey(ctx context.Context, name string) (id string, verifyBody []byte, err error) {
	body, err := json.Marshal(map[string]string{"name": name})
	if err != nil {
		return "", nil, err
	}
	var rec struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/keys", body, http.StatusCreated, &rec); err != nil {
		return "", nil, err
	}
	verifyBody, err = json.Marshal(map[string]string{"key": rec.Key})
	return rec.ID, verifyBody, err
}

// revoke revokes the key id, and calls written once the whole request is
// on the wire: the moment from which the other nodes are timed.
func (c *client) revoke(ctx context.Context, id string, written func()) error {
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { written() },
	})
	var res map[string]any
	return c.do(ctx, http.MethodPost, "/v1/keys/"+id+"/revoke", nil, http.StatusOK, &res)
}

// miss is a node that did not answer REVOKED in time in one trial.
type miss struct {
	Trial  int    `json:"trial"`
	Node   int    `json:"node"`
	Reason string `json:"reason"`
}

// results are the raw figures of every trial.
type results struct {
	// latencies[node] holds, in trial order, the latency of each trial in
	// which the node (numbered from 1) answered REVOKED in time.
	latencies map[int][]time.Duration
	// polls holds the round trip of every poll: the resolution.
	polls []time.Duration
	// revokes holds how long node 1 took to answer each revoke.
	revokes []time.Duration
	// afterAnswer holds each latency less its trial's revoke round trip:
	// the time a node still accepted the key after node 1 had answered,
	// negative when it refused the key before that answer arrived.
	afterAnswer []time.Duration
	misses      []miss
}

// polled is one node's outcome in one trial.
type polled struct {
	latency time.Duration
	polls   []time.Duration
	// reason says why the node missed the revocation; empty if it did not.
	reason string
}

// runTrials runs o.trials trials: create on node 1, cache on the others,
// revoke on node 1, poll the others until each answers REVOKED.
func runTrials(ctx context.Context, nodes []*node, root string, o options, logf func(string, ...any)) (*results, error) {
	clients := make([]*client, len(nodes))
	for i, nd := range nodes {
		clients[i] = newClient(nd, root)
	}
	res := &results{latencies: make(map[int][]time.Duration)}
	for t := 1; t <= o.trials; t++ {
		if err := runTrial(ctx, clients, t, o, res); err != nil {
			return nil, fmt.Errorf("trial %d: %w", t, err)
		}
		if t%50 == 0 || t == o.trials {
			logf("%d/%d trials", t, o.trials)
		}
	}
	return res, nil
}

// runTrial runs trial t and adds its figures to res. It returns an error
// when the trial could not be set up or the revoke failed; a node that
// misses the revocation is a miss in res instead.
func runTrial(ctx context.Context, clients []*client, t int, o options, res *results) error {
	first, others := clients[0], clients[1:]
	id, body, err := first.createKey(ctx, "bench-revoke-"+strconv.Itoa(t))
	if err != nil {
		return err
	}
	for _, c := range others {
		code, err := c.verify(ctx, body)
		if err != nil {
			return err
		}
		if code != codeValid {
			return fmt.Errorf("node %d answered %s for a new key, want %s", c.node.n, code, codeValid)
		}
	}

	// The pollers start once the revoke is on the wire, and stop when it
	// fails.
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		start   time.Time
		started = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
	)
	outcomes := make([]polled, len(others))
	for i, c := range others {
		wg.Go(func() {
			select {
			case <-started:
				outcomes[i] = pollUntilRevoked(pollCtx, c, body, start, o.timeout, o.pollGap)
			case <-pollCtx.Done():
			}
		})
	}
	err = first.revoke(ctx, id, func() {
		once.Do(func() {
			start = time.Now()
			close(started)
		})
	})
	answered := time.Now()
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}
	// A request answered is a request written, but the trace may call
	// written after the answer is read.
	<-started
	wg.Wait()

	revoked := answered.Sub(start)
	res.revokes = append(res.revokes, revoked)
	for i, out := range outcomes {
		n := others[i].node.n
		res.polls = append(res.polls, out.polls...)
		if out.reason != "" {
			res.misses = append(res.misses, miss{Trial: t, Node: n, Reason: out.reason})
			continue
		}
		res.latencies[n] = append(res.latencies[n], out.latency)
		res.afterAnswer = append(res.afterAnswer, out.latency-revoked)
	}
	return nil
}

// pollUntilRevoked verifies body on c over one connection, one request
// after the other, until the node answers REVOKED, and returns the time
// from start to reading that answer. It waits gap after each VALID, and
// gives up after timeout from start.
func pollUntilRevoked(ctx context.Context, c *client, body []byte, start time.Time, timeout, gap time.Duration) polled {
	var p polled
	for {
		sent := time.Now()
		code, err := c.verify(ctx, body)
		got := time.Now()
		if err != nil {
			p.reason = err.Error()
			return p
		}
		p.polls = append(p.polls, got.Sub(sent))
		switch {
		case code == codeRevoked:
			p.latency = got.Sub(start)
			return p
		case code != codeValid:
			p.reason = fmt.Sprintf("answered %s, want %s or %s", code, codeValid, codeRevoked)
			return p
		case got.Sub(start) > timeout:
			p.reason = fmt.Sprintf("still %s after %v", codeValid, timeout)
			return p
		}
		if gap > 0 {
			time.Sleep(gap)
		}
	}
}
