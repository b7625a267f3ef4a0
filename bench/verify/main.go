// Command verify measures Keyward's POST /v1/verify over HTTP against a
// bare Go net/http server on the same machine, in the same run:
//
//	go run ./bench/verify [--keys 100000] [--json FILE]
//
// It builds keyward, creates a fresh SQLite store holding --keys keys
// (bulk-loaded through the store, not through HTTP), and drives both
// servers with wrk at each of --connections, alternating: the bare server
// first, then a freshly started Keyward, each warmed up for --warmup and
// measured for --duration. Requests follow --mix: hot keys (cache hits),
// keys of the whole set that no earlier request of the run sent (cache
// misses), and invalid keys. A last run restarts Keyward and sends every
// request with a different key (a cold cache). It prints one table (see
// bench/README.md) and exits 1 when any request failed.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"keyward/bench/internal/harness"
)

//go:embed mix.lua
var mixScript string

func main() {
	harness.Main("bench/verify", run)
}

// config is the command line.
type config struct {
	keys        int
	hot         int
	mix         mix
	connections []int
	cold        int
	coldRate    int
	rounds      int
	threads     int
	duration    time.Duration
	warmup      time.Duration
	port        int
	json        string
	pprof       string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench/verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.keys, "keys", 100_000, "keys in the store")
	fs.IntVar(&c.hot, "hot", 1000, "hot keys: the first keys, sent over and over")
	mixFlag := fs.String("mix", "90,8,2", "percent of requests with a hot key, a random key of the whole set, an invalid key")
	conns := fs.String("connections", "8,32,128", "wrk connection counts, one run each")
	fs.IntVar(&c.cold, "cold-connections", 32, "connections of the cold runs (0: no cold run)")
	fs.IntVar(&c.coldRate, "cold-rate", 2000, "requests per second of the fixed-rate cold run, with vegeta (0: no such run)")
	fs.IntVar(&c.rounds, "rounds", 3, "runs of each server at each connection count, alternating; the table gives their medians")
	fs.IntVar(&c.threads, "threads", 2, "wrk threads")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time of each run")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured load before each run")
	fs.IntVar(&c.port, "port", 19000, "the bare server listens on 127.0.0.1:PORT, Keyward on PORT+1")
	fs.StringVar(&c.pprof, "pprof", "", "write a CPU profile of each measured Keyward run into this directory (Keyward serves profiles on PORT+2)")
	fs.StringVar(&c.json, "json", "", `also write the figures as JSON to this file ("-": to stdout, instead of the table)`)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.mix, err = parseMix(*mixFlag); err != nil {
		return nil, fmt.Errorf("--mix: %w", err)
	}
	if c.connections, err = parseInts(*conns); err != nil {
		return nil, fmt.Errorf("--connections: %w", err)
	}
	switch {
	case c.keys < 1:
		return nil, errors.New("--keys: want at least 1")
	case c.rounds < 1:
		return nil, errors.New("--rounds: want at least 1")
	case c.hot < 1 || c.hot > c.keys || c.hot == c.keys && c.mix.Random > 0:
		return nil, errors.New("--hot: want at least 1, and fewer than --keys to leave keys for the misses")
	case c.threads < 1 || c.cold != 0 && c.cold < c.threads:
		return nil, errors.New("--threads: want at least 1, and no more than the connections")
	case c.coldRate < 0 || c.coldRate > maxRate:
		return nil, fmt.Errorf("--cold-rate: want 0 to %d", maxRate)
	case c.duration < time.Second || c.warmup < 0:
		return nil, errors.New("--duration: want at least 1s; --warmup: want 0 or more")
	}
	for _, n := range c.connections {
		if n < c.threads {
			return nil, fmt.Errorf("--connections %d: want at least --threads (%d)", n, c.threads)
		}
	}
	return c, nil
}

// mix is the share of each kind of request, in percent.
type mix struct {
	Hot     int `json:"hot"`
	Random  int `json:"random"`
	Invalid int `json:"invalid"`
}

func parseMix(s string) (mix, error) {
	n, err := parseInts(s)
	if err != nil || len(n) != 3 || n[0] < 0 || n[1] < 0 || n[2] < 0 || n[0]+n[1]+n[2] != 100 {
		return mix{}, errors.New("want three percentages that add up to 100, such as 90,8,2")
	}
	return mix{n[0], n[1], n[2]}, nil
}

func (m mix) String() string {
	return fmt.Sprintf("%d/%d/%d", m.Hot, m.Random, m.Invalid)
}

// pattern spreads the mix over one cycle of requests, as evenly as smooth
// weighted round-robin does: 90,8,2 gives 45 h, 4 r and 1 i in 50
// letters, never more than a few of a kind in a row.
func (m mix) pattern() string {
	weights := []int{m.Hot, m.Random, m.Invalid}
	g := 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	total := 0
	for i := range weights {
		weights[i] /= g
		total += weights[i]
	}
	current := make([]int, len(weights))
	var b strings.Builder
	for range total {
		best := 0
		for i, w := range weights {
			current[i] += w
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		b.WriteByte("hri"[best])
	}
	return b.String()
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// maxRate is a request rate above any this harness reaches on a small
// machine: samples of keys that must not repeat are sized for it.
const maxRate = 60_000

// invalidCount is how many invalid keys the load cycles through.
const invalidCount = 1000

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := harness.CheckWrk(); err != nil {
		return err
	}
	if c.cold > 0 && c.coldRate > 0 {
		if err := checkVegeta(); err != nil {
			return err
		}
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, "bench/verify: "+format+"\n", a...) }

	dir, cleanup, err := harness.TempDir()
	if err != nil {
		return err
	}
	defer cleanup()
	progress("building keyward")
	bins, err := harness.Build(ctx, dir, harness.KeywardPkg, harness.BarePkg)
	if err != nil {
		return err
	}
	keywardBin, bareBin := bins[0], bins[1]
	dataDir := filepath.Join(dir, "data")
	rootKey, err := harness.Init(ctx, keywardBin, "bench", nil, "--data-dir", dataDir)
	if err != nil {
		return err
	}
	progress("generating and loading %d keys", c.keys)
	secrets, load, err := loadKeys(ctx, dataDir, "bench", c.keys, progress)
	if err != nil {
		return err
	}

	w, err := writeWorkload(dir, c, secrets)
	if err != nil {
		return err
	}

	bareAddr := "127.0.0.1:" + strconv.Itoa(c.port)
	keywardAddr := "127.0.0.1:" + strconv.Itoa(c.port+1)
	keywardLog := filepath.Join(dir, "keyward.log")
	var keywardArgs []string
	prof := &profiler{dir: c.pprof, addr: "127.0.0.1:" + strconv.Itoa(c.port+2)}
	if c.pprof != "" {
		if err := os.MkdirAll(c.pprof, 0o755); err != nil {
			return err
		}
		keywardArgs = []string{"--pprof-addr", prof.addr}
	}
	kw, err := harness.StartKeyward(ctx, keywardBin, dataDir, keywardAddr, keywardLog, keywardArgs...)
	if err != nil {
		return err
	}
	defer func() {
		if kw != nil {
			kw.Stop()
		}
	}()
	answer, err := prepareKeyward(ctx, kw, rootKey, w)
	if err != nil {
		return err
	}
	bare, err := harness.StartBare(ctx, bareBin, bareAddr, filepath.Join(dir, "bare.log"), len(answer.Body), answer.ContentType)
	if err != nil {
		return err
	}
	defer bare.Stop()

	rep := &report{
		Keys:     c.keys,
		Hot:      c.hot,
		Mix:      c.mix,
		Pattern:  c.mix.pattern(),
		Threads:  c.threads,
		Rounds:   c.rounds,
		Duration: c.duration.Seconds(),
		Warmup:   c.warmup.Seconds(),
		Cores:    runtime.NumCPU(),
		Git:      harness.GitRev(ctx),
		Go:       runtime.Version(),
		Load:     load,
		Answer:   len(answer.Body),
	}
	script, err := harness.WriteScript(dir, "mix.lua", mixScript)
	if err != nil {
		return err
	}
	// restart gives each Keyward run an empty cache, so that the sample's
	// keys are misses in every run.
	restart := func() error {
		err := kw.Stop()
		kw = nil
		if err != nil {
			return err
		}
		kw, err = harness.StartKeyward(ctx, keywardBin, dataDir, keywardAddr, keywardLog, keywardArgs...)
		return err
	}
	for _, conns := range c.connections {
		r := runPair{Connections: conns}
		for round := 1; round <= c.rounds; round++ {
			progress("%d connections, round %d of %d: bare server", conns, round, c.rounds)
			res, err := measure(ctx, c, bare, script, w.args(c, rep.Pattern), conns)
			if err != nil {
				return err
			}
			r.BareRounds = append(r.BareRounds, res)
			progress("%d connections, round %d of %d: keyward", conns, round, c.rounds)
			if err := restart(); err != nil {
				return err
			}
			stopProfile := prof.start(ctx, fmt.Sprintf("keyward-%d-%d.pprof", conns, round), c)
			res, err = measure(ctx, c, kw, script, w.args(c, rep.Pattern), conns)
			if perr := stopProfile(); err == nil {
				err = perr
			}
			if err != nil {
				return err
			}
			if n := res.Counters["repeats"]; n > 0 {
				progress("warning: %d misses repeated a key: use more --keys", n)
			}
			r.KeywardRounds = append(r.KeywardRounds, res)
		}
		r.Bare, r.Keyward = medians(r.BareRounds), medians(r.KeywardRounds)
		r.RPSRatio = r.Keyward.RPS / r.Bare.RPS
		r.P99Ratio = r.Keyward.P99 / r.Bare.P99
		rep.Runs = append(rep.Runs, r)
	}
	if c.cold > 0 {
		progress("cold: %d connections, every request a different key", c.cold)
		if err := restart(); err != nil {
			return err
		}
		stopProfile := prof.start(ctx, "keyward-cold.pprof", c)
		res, err := harness.RunWrk(ctx, harness.Load{
			URL: kw.URL, Script: script, Threads: c.threads, Connections: c.cold, Duration: c.duration,
			Args: w.coldArgs(c),
		})
		if perr := stopProfile(); err == nil {
			err = perr
		}
		if err != nil {
			return err
		}
		if n := res.Counters["repeats"]; n > 0 {
			progress("warning: %d requests of the cold run repeated a key: use more --keys", n)
		}
		rep.Cold = &coldRun{Connections: c.cold, Sample: w.cold, Result: res, Repeats: res.Counters["repeats"]}
		if c.coldRate > 0 {
			if rep.ColdFixed, err = measureFixed(ctx, c, w, bare, kw.URL, restart); err != nil {
				return err
			}
		}
	}
	err = kw.Stop()
	kw = nil
	if err != nil {
		return err
	}

	if err := harness.Output(c.json, stdout, rep, rep.writeTable); err != nil {
		return err
	}
	return rep.check()
}

// measureFixed runs the cold sample at --cold-rate against the bare
// server and then against a restarted Keyward, whose cache is empty again.
func measureFixed(ctx context.Context, c *config, w *workload, bare *harness.Server, keywardURL string, restart func() error) (*fixedPair, error) {
	var pair fixedPair
	for _, s := range []struct {
		name string
		url  string
		res  **fixedRun
	}{{"bare", bare.URL, &pair.Bare}, {"keyward", keywardURL, &pair.Keyward}} {
		if s.name == "keyward" {
			if err := restart(); err != nil {
				return nil, err
			}
		}
		targets := filepath.Join(w.dir, "targets-"+s.name)
		if err := writeTargets(targets, s.url, w.bearer, w.coldSample); err != nil {
			return nil, err
		}
		res, err := runVegeta(ctx, w.dir, targets, c.coldRate, c.cold, c.duration)
		if err != nil {
			return nil, fmt.Errorf("%s at %d/s: %w", s.name, c.coldRate, err)
		}
		*s.res = res
	}
	pair.P99Ratio = pair.Keyward.P99 / pair.Bare.P99
	return &pair, nil
}

// measure warms the server up with the warm-up share of the workload,
// then measures a run with the rest.
func measure(ctx context.Context, c *config, s *harness.Server, script string, args [2][]string, conns int) (*harness.Result, error) {
	load := harness.Load{URL: s.URL, Script: script, Threads: c.threads, Connections: conns}
	if c.warmup > 0 {
		load.Duration, load.Args = c.warmup, args[0]
		if _, err := harness.RunWrk(ctx, load); err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", s.Name, err)
		}
	}
	load.Duration, load.Args = c.duration, args[1]
	res, err := harness.RunWrk(ctx, load)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	return res, nil
}

// workload names the files of keys in the work directory.
type workload struct {
	dir                                      string
	bearer, hot, sample, coldSample, invalid string
	// sampled and cold are the lines of sample and coldSample.
	sampled, cold int
}

// writeWorkload writes the files of keys: the hot keys, a shuffled sample
// of the other keys for the misses, a shuffled sample of all keys for the
// cold run, and invalid keys.
func writeWorkload(dir string, c *config, secrets []string) (*workload, error) {
	w := &workload{
		dir:        dir,
		bearer:     filepath.Join(dir, "bearer"),
		hot:        filepath.Join(dir, "hot"),
		sample:     filepath.Join(dir, "sample"),
		coldSample: filepath.Join(dir, "cold"),
		invalid:    filepath.Join(dir, "invalid"),
	}
	// Enough misses for a run at maxRate, warm-up included; fewer keys
	// show as repeats in the report.
	run := (c.warmup + c.duration).Seconds()
	sample := shuffled(secrets[c.hot:], int(math.Ceil(float64(c.mix.Random)/100*maxRate*run)))
	w.sampled = len(sample)
	cold := shuffled(secrets, int(math.Ceil(maxRate*c.duration.Seconds())))
	w.cold = len(cold)
	invalid, err := invalidKeys(invalidCount)
	if err != nil {
		return nil, err
	}
	for path, keys := range map[string][]string{w.hot: secrets[:c.hot], w.sample: sample, w.coldSample: cold, w.invalid: invalid} {
		if err := writeKeys(path, keys); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// args returns the script's arguments for the warm-up and for the
// measured run: each gets its own part of the sample, in proportion to
// its time, so that the run's misses are not keys the warm-up cached.
func (w *workload) args(c *config, pattern string) [2][]string {
	split := int(float64(w.sampled) * c.warmup.Seconds() / (c.warmup + c.duration).Seconds())
	return [2][]string{
		w.scriptArgs(c, pattern, w.sample, 0, split),
		w.scriptArgs(c, pattern, w.sample, split, w.sampled),
	}
}

// coldArgs returns the script's arguments for the cold run: random keys
// only, from the cold sample.
func (w *workload) coldArgs(c *config) []string {
	return w.scriptArgs(c, "r", w.coldSample, 0, w.cold)
}

func (w *workload) scriptArgs(c *config, pattern, sample string, from, to int) []string {
	return []string{strconv.Itoa(c.threads), w.bearer, pattern, w.hot, sample, strconv.Itoa(from), strconv.Itoa(to), w.invalid}
}

// prepareKeyward creates the key that the load verifies with (it holds
// only admin:api-keys:verify) and checks that each kind of key gets the
// answer it should. It returns the answer to a hot key, whose size and
// type the bare server copies.
func prepareKeyward(ctx context.Context, kw *harness.Server, rootKey string, w *workload) (*harness.Answer, error) {
	bearer, err := harness.NewClient(kw.URL, rootKey).CreateKey(ctx, "bench-verifier", "admin:api-keys:verify")
	if err != nil {
		return nil, fmt.Errorf("create the bearer key: %w", err)
	}
	if err := harness.WriteSecret(w.bearer, []byte(bearer.Key+"\n")); err != nil {
		return nil, err
	}
	cl := harness.NewClient(kw.URL, bearer.Key)
	hot, err := firstLine(w.hot)
	if err != nil {
		return nil, err
	}
	answer, err := cl.Do(ctx, http.MethodPost, "/v1/verify", map[string]string{"key": hot})
	if err != nil {
		return nil, err
	}
	if answer.Status != http.StatusOK || !strings.Contains(string(answer.Body), `"code":"VALID"`) {
		return nil, fmt.Errorf("a hot key answers %d %s, want 200 VALID", answer.Status, answer.Body)
	}
	for _, k := range []struct{ path, kind, want string }{{w.sample, "sampled", "VALID"}, {w.invalid, "invalid", "NOT_FOUND"}} {
		key, err := firstLine(k.path)
		if err != nil {
			return nil, err
		}
		if key == "" {
			continue
		}
		v, err := cl.Verify(ctx, key)
		if err != nil {
			return nil, err
		}
		if v.Code != k.want {
			return nil, fmt.Errorf("a %s key answers %s, want %s", k.kind, v.Code, k.want)
		}
	}
	return answer, nil
}

// firstLine returns the first line of the file at path.
func firstLine(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line, nil
}
