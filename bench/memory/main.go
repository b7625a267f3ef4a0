// Command memory measures the heap that Keyward's verification engine holds
// per cached key, in process, without a server:
//
//	go run ./bench/memory [--keys N] [--json] [--heap-profile FILE]
//
// It loads N keys (default 100 000) into a fresh SQLite store in a temporary
// directory, all in one org, each like a typical user's key: a name, an
// owner id (two keys per owner), one to three permissions, the metadata
// {"plan":"pro"}, no IP list, limits, credits or expiry. It builds a
// verify.Engine on the store, reads the live heap (runtime.GC, then
// runtime.ReadMemStats' HeapAlloc), verifies every key once (each a cache
// miss that fills the cache), reads the heap again and prints the
// difference divided by N; then the same after verifying every key again
// (cache hits: the figure should not grow). Last, it verifies up to
// verify.DefaultNegativeCacheSize well-formed unknown keys and prints the
// heap per negative cache entry.
//
// The engine's write-behind records (last use, answer counts) are flushed
// to the store before each reading, so the figures are the caches alone.
// --json prints the figures as JSON instead of text; --heap-profile writes
// a heap profile (go tool pprof) taken after the first pass, with every
// allocation recorded.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/google/uuid"

	"keyward"
	"keyward/bench/internal/harness"
	"keyward/keyformat"
	"keyward/sqlite"
	"keyward/verify"
)

func main() {
	harness.Main("bench/memory", run)
}

// result is what one run measured, in bytes of live heap.
type result struct {
	Keys int `json:"keys"`
	// PerKey is per key after the first pass (cache misses); PerKeyAgain
	// after the second (cache hits).
	PerKey      float64 `json:"bytes_per_key"`
	PerKeyAgain float64 `json:"bytes_per_key_again"`
	// UnknownKeys were verified after the known ones; PerUnknown is the
	// heap per negative cache entry.
	UnknownKeys int     `json:"unknown_keys"`
	PerUnknown  float64 `json:"bytes_per_unknown_key"`
	Go          string  `json:"go"`
	Platform    string  `json:"platform"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("keys", 100_000, "keys to load and verify")
	asJSON := fs.Bool("json", false, "print the figures as JSON instead of text")
	heapProfile := fs.String("heap-profile", "", "write a heap profile taken after the first pass to `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n <= 0 || fs.NArg() > 0 {
		return errors.New("usage: memory [--keys N] [--json] [--heap-profile FILE]")
	}
	if *heapProfile != "" {
		// Every allocation sampled: the profile adds up exactly, not in
		// 512 KiB samples. Slower, and the figures themselves do not change.
		runtime.MemProfileRate = 1
	}

	dir, err := os.MkdirTemp("", "keyward-bench-memory-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db := sqlite.NewDB(filepath.Join(dir, "keyward.db"))
	if err := db.Open(); err != nil {
		return err
	}
	defer db.Close()

	hasher := keyformat.NewHasher(nil)
	now := time.Now().UTC()
	org := &keyward.Organization{ID: newID(), Name: "bench", CreatedAt: now}
	root, _, err := newKey(hasher, org.ID, now, 0)
	if err != nil {
		return err
	}
	if err := db.CreateOrg(ctx, org, root, nil); err != nil {
		return err
	}
	start := time.Now()
	secrets, err := load(ctx, db, hasher, org.ID, now, *n)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "loaded %d keys in %s\n", *n, time.Since(start).Round(time.Millisecond))

	engine := verify.New(verify.Config{
		Store:  db,
		Hasher: hasher,
		// Long enough that no entry expires during the run: the figures are
		// what an entry holds, not how long it stays.
		CacheTTL:      time.Hour,
		NegativeTTL:   time.Hour,
		FlushInterval: time.Hour,
	})
	defer engine.Close()
	ip := netip.MustParseAddr("192.0.2.1")
	pass := func(secrets []string, want string) error {
		for _, s := range secrets {
			res, err := engine.Verify(ctx, org.ID, verify.Input{Secret: s, IP: ip})
			if err != nil {
				return err
			}
			if res.Code != want {
				return fmt.Errorf("verify: got %s, want %s", res.Code, want)
			}
		}
		engine.Flush(ctx)
		return nil
	}
	perEntry := func(before uint64, entries int) float64 {
		return float64(int64(liveHeap())-int64(before)) / float64(entries)
	}

	r := result{Keys: *n, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	before := liveHeap()
	start = time.Now()
	if err := pass(secrets, keyward.CodeValid); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "first pass (cache misses) in %s\n", time.Since(start).Round(time.Millisecond))
	r.PerKey = perEntry(before, *n)
	if *heapProfile != "" {
		if err := writeHeapProfile(*heapProfile); err != nil {
			return err
		}
	}
	if err := pass(secrets, keyward.CodeValid); err != nil {
		return err
	}
	r.PerKeyAgain = perEntry(before, *n)

	unknown := make([]string, min(*n, verify.DefaultNegativeCacheSize))
	for i := range unknown {
		if unknown[i], err = keyformat.Generate(keyformat.DefaultPrefix); err != nil {
			return err
		}
	}
	before = liveHeap()
	if err := pass(unknown, keyward.CodeNotFound); err != nil {
		return err
	}
	r.UnknownKeys, r.PerUnknown = len(unknown), perEntry(before, len(unknown))
	// The secrets must outlive the readings, or their release would count
	// against the caches.
	runtime.KeepAlive(secrets)
	runtime.KeepAlive(unknown)

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(stdout, "heap per cached key, %d keys in SQLite, %s %s\n\n", r.Keys, r.Go, r.Platform)
	fmt.Fprintf(stdout, "after verifying each key once (cache misses)  %6.0f B\n", r.PerKey)
	fmt.Fprintf(stdout, "after verifying each key again (cache hits)   %6.0f B\n", r.PerKeyAgain)
	fmt.Fprintf(stdout, "per unknown key (negative cache, %d keys) %6.0f B\n", r.UnknownKeys, r.PerUnknown)
	return nil
}

// loadBatch is how many keys load writes per transaction: CreateKeys
// asks for batches of some thousands, so that the writer is not held long.
const loadBatch = 5000

// load creates n keys of org in db and returns their secrets.
func load(ctx context.Context, db *sqlite.DB, hasher *keyformat.Hasher, orgID string, now time.Time, n int) ([]string, error) {
	secrets := make([]string, n)
	batch := make([]*keyward.Key, 0, loadBatch)
	for i := range n {
		k, secret, err := newKey(hasher, orgID, now, i)
		if err != nil {
			return nil, err
		}
		secrets[i], batch = secret, append(batch, k)
		if len(batch) == loadBatch || i == n-1 {
			if err := db.CreateKeys(ctx, batch); err != nil {
				return nil, err
			}
			batch = batch[:0]
		}
	}
	return secrets, nil
}

// permissions are what the keys hold: key i holds the first i%3+1.
var permissions = []string{"docs.read", "docs.write", "billing.read"}

// newKey returns the record of org's i-th key and its secret.
func newKey(hasher *keyformat.Hasher, orgID string, now time.Time, i int) (*keyward.Key, string, error) {
	secret, err := keyformat.Generate(keyformat.DefaultPrefix)
	if err != nil {
		return nil, "", err
	}
	hash := hasher.Hash(secret)
	return &keyward.Key{
		ID:          newID(),
		OrgID:       orgID,
		Name:        fmt.Sprintf("production server %d", i),
		KeyPrefix:   keyformat.DisplayPrefix(secret),
		Permissions: permissions[:i%3+1],
		Enabled:     true,
		Metadata:    json.RawMessage(`{"plan":"pro"}`),
		OwnerID:     fmt.Sprintf("user_%07d", i/2),
		CreatedAt:   now,
		UpdatedAt:   now,
		Hash:        hash[:],
	}, secret, nil
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// liveHeap returns the bytes of live heap objects: after a full collection,
// HeapAlloc counts nothing unreachable.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
