package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"keyward"
	"keyward/bench/internal/harness"
	"keyward/keyformat"
	"keyward/sqlite"
)

// loadBatch is how many keys one CreateKeys call writes: large enough that
// a commit is a small part of its cost, small enough that a batch's keys
// take little memory.
const loadBatch = 10_000

// loadStats says how long the bulk load took.
type loadStats struct {
	Keys       int     `json:"keys"`
	Seconds    float64 `json:"seconds"`
	KeysPerSec float64 `json:"keys_per_s"`
}

// loadKeys generates n keys of the org named org in the SQLite store of
// dataDir, through the store's bulk import rather than HTTP, and returns
// their secrets in the order of their ids. Generating the next batch
// overlaps with writing the last: the store has one writer.
func loadKeys(ctx context.Context, dataDir, org string, n int, progress func(string, ...any)) ([]string, *loadStats, error) {
	db := sqlite.NewDB(filepath.Join(dataDir, "keyward.db"))
	if err := db.Open(); err != nil {
		return nil, nil, err
	}
	defer db.Close()
	o, err := db.FindOrgByName(ctx, org)
	if err != nil {
		return nil, nil, err
	}

	// Ends the generator when a write fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	secrets := make([]string, 0, n)
	batches := make(chan []*keyward.Key, 1)
	genErr := make(chan error, 1)
	go func() {
		defer close(batches)
		hasher := keyformat.NewHasher(nil)
		now := time.Now().UTC()
		for len(secrets) < n {
			batch := make([]*keyward.Key, min(loadBatch, n-len(secrets)))
			for i := range batch {
				secret, err := keyformat.Generate(keyformat.DefaultPrefix)
				if err != nil {
					genErr <- err
					return
				}
				hash := hasher.Hash(secret)
				batch[i] = &keyward.Key{
					ID:    uuid.Must(uuid.NewV7()).String(),
					OrgID: o.ID,
					// Of one width, so that every valid answer has
					// the same size.
					Name:        fmt.Sprintf("bench-%08d", len(secrets)),
					KeyPrefix:   keyformat.DisplayPrefix(secret),
					Permissions: []string{"bench.read"},
					Enabled:     true,
					CreatedAt:   now,
					UpdatedAt:   now,
					Hash:        hash[:],
				}
				secrets = append(secrets, secret)
			}
			select {
			case batches <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	loaded := 0
	for batch := range batches {
		if err := db.CreateKeys(ctx, batch); err != nil {
			return nil, nil, err
		}
		loaded += len(batch)
		if loaded%(10*loadBatch) == 0 || loaded == n {
			progress("loaded %d of %d keys (%.0f keys/s)", loaded, n, float64(loaded)/time.Since(start).Seconds())
		}
	}
	select {
	case err := <-genErr:
		return nil, nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	secs := time.Since(start).Seconds()
	return secrets, &loadStats{Keys: n, Seconds: secs, KeysPerSec: float64(n) / secs}, nil
}

// shuffled returns a shuffled copy of at most max keys of keys.
func shuffled(keys []string, max int) []string {
	out := append([]string(nil), keys...)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(len(out), max)]
}

// invalidKeys returns n keys that answer NOT_FOUND: a quarter with a bad
// checksum, a quarter malformed (too short), and half well-formed, with a
// valid checksum, but unknown, which cost a lookup in the store before the
// negative cache remembers them.
func invalidKeys(n int) ([]string, error) {
	keys := make([]string, n)
	for i := range keys {
		k, err := keyformat.Generate(keyformat.DefaultPrefix)
		if err != nil {
			return nil, err
		}
		switch i % 4 {
		case 0:
			// A changed random character breaks the checksum.
			at := len(keyformat.DefaultPrefix) + 5
			c := byte('A')
			if k[at] == c {
				c = 'B'
			}
			k = k[:at] + string(c) + k[at+1:]
		case 1:
			k = k[:len(k)-10]
		}
		keys[i] = k
	}
	return keys, nil
}

// writeKeys writes keys, one a line, into a file of the work directory.
func writeKeys(path string, keys []string) error {
	return harness.WriteSecret(path, []byte(strings.Join(keys, "\n")+"\n"))
}
