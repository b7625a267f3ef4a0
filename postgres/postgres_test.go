package postgres_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	mathrand "math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3/lock"

	"keyward"
	"keyward/internal/pgtest"
	"keyward/internal/testenv"
	"keyward/postgres"
	"keyward/storetest"
)

// testDB is the URL of the database of this run, created by TestMain;
// empty when testenv.Postgres is unset.
var testDB string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	base := os.Getenv(testenv.Postgres.Var)
	if base == "" {
		return m.Run()
	}
	u, drop, err := pgtest.CreateDatabase(base)
	if err != nil {
		fmt.Fprintln(os.Stderr, "postgres tests:", err)
		return 1
	}
	defer func() {
		if err := drop(); err != nil {
			fmt.Fprintln(os.Stderr, "postgres tests:", err)
		}
	}()
	testDB = u
	return m.Run()
}

// newSchema returns the URL of a fresh schema of the run's database,
// dropped when tb ends, and skips tb without a database.
func newSchema(tb testing.TB) string {
	tb.Helper()
	if testDB == "" {
		testenv.Postgres.Skip(tb)
	}
	return pgtest.NewSchema(tb, testDB)
}

// MustOpenDB returns a store on a fresh schema of the run's database,
// closed when tb ends. It skips tb when testenv.Postgres is unset.
func MustOpenDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	return mustOpen(tb, newSchema(tb))
}

func mustOpen(tb testing.TB, url string) *postgres.DB {
	tb.Helper()
	db := postgres.NewDB(url)
	if err := db.Open(); err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

// withParam returns rawURL with the query parameter key set to value.
func withParam(tb testing.TB, rawURL, key, value string) string {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("parse URL: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store { return MustOpenDB(t) })
}

// TestJSONExact checks what the conformance suite, which compares JSON by
// meaning, does not: metadata and audit details read back byte for byte,
// and nil lists stay nil while empty ones stay empty.
func TestJSONExact(t *testing.T) {
	ctx := t.Context()
	db := MustOpenDB(t)
	org, _ := createOrg(t, db)
	tests := []struct {
		name        string
		metadata    json.RawMessage
		permissions []string
		allowedIPs  []string
	}{
		{"order, spacing and escapes", json.RawMessage(`{"z": 1,  "a":"\u00e9\n", "n":[1.50, 2e3]}`), []string{}, nil},
		{"no metadata", nil, nil, []string{}},
		{"empty object", json.RawMessage(`{}`), []string{"b", "a", "a"}, []string{"10.0.0.0/8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(org)
			k.Metadata, k.Permissions, k.AllowedIPs = tt.metadata, tt.permissions, tt.allowedIPs
			kev := &keyward.AuditEvent{ID: newID(), OrgID: org.ID, Time: now(), Action: keyward.ActionKeyCreate,
				TargetType: "key", TargetID: k.ID, Details: tt.metadata}
			if err := db.CreateKey(ctx, k, kev); err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
			got, err := db.FindKeyByID(ctx, org.ID, k.ID)
			if err != nil {
				t.Fatalf("FindKeyByID: %v", err)
			}
			if string(got.Metadata) != string(tt.metadata) || (got.Metadata == nil) != (tt.metadata == nil) {
				t.Errorf("metadata = %q, want %q", got.Metadata, tt.metadata)
			}
			if diff := cmp.Diff(tt.permissions, got.Permissions); diff != "" || (got.Permissions == nil) != (tt.permissions == nil) {
				t.Errorf("permissions = %#v, want %#v", got.Permissions, tt.permissions)
			}
			if diff := cmp.Diff(tt.allowedIPs, got.AllowedIPs); diff != "" || (got.AllowedIPs == nil) != (tt.allowedIPs == nil) {
				t.Errorf("allowed IPs = %#v, want %#v", got.AllowedIPs, tt.allowedIPs)
			}
			events, err := db.FindAuditEvents(ctx, org.ID, keyward.AuditFilter{TargetID: k.ID})
			if err != nil {
				t.Fatalf("FindAuditEvents: %v", err)
			}
			if len(events.Data) != 1 || string(events.Data[0].Details) != string(tt.metadata) {
				t.Errorf("audit events = %+v, want one with details %q", events.Data, tt.metadata)
			}
			if got.CreatedAt.Location() != time.UTC {
				t.Errorf("created_at in %v, want UTC", got.CreatedAt.Location())
			}
		})
	}
}

// TestBadText checks that text PostgreSQL cannot hold is bad input, not a
// server error.
func TestBadText(t *testing.T) {
	ctx := t.Context()
	db := MustOpenDB(t)
	org, _ := createOrg(t, db)
	for _, f := range []keyward.KeyFilter{{OwnerID: "a\x00b"}, {Prefix: "kw_\xff"}} {
		_, err := db.FindKeys(ctx, org.ID, f)
		if got := keyward.ErrorCode(err); got != keyward.EINVALID {
			t.Errorf("FindKeys(%+v) error code = %q (%v), want %q", f, got, err, keyward.EINVALID)
		}
	}
	// A cursor of bytes that no id can hold is malformed.
	_, err := db.FindKeys(ctx, org.ID, keyward.KeyFilter{Cursor: "_w"})
	if fields := keyward.ErrorFields(err); len(fields) != 1 || fields[0].Field != "cursor" {
		t.Errorf("FindKeys(cursor of 0xff) = %v, want a cursor error", err)
	}
	// Text being written, ids included, is bad input too.
	k := newKey(org)
	k.Name = "billing\x00export"
	if err := db.CreateKey(ctx, k, nil); keyward.ErrorCode(err) != keyward.EINVALID {
		t.Errorf("CreateKey(name with NUL) = %v, want %q", err, keyward.EINVALID)
	}
	o := &keyward.Owner{ID: "user\xff", OrgID: org.ID, UpdatedAt: new(now())}
	if err := db.UpsertOwner(ctx, o, nil); keyward.ErrorCode(err) != keyward.EINVALID {
		t.Errorf("UpsertOwner(id of 0xff) = %v, want %q", err, keyward.EINVALID)
	}
}

// TestBadID checks that a lookup by an id that PostgreSQL text cannot hold
// answers ENOTFOUND, as SQLite's does: no key, service account, owner or
// org has that id.
func TestBadID(t *testing.T) {
	ctx := t.Context()
	db := MustOpenDB(t)
	org, root := createOrg(t, db)
	// Each lookup takes an org id, and most an id in the org.
	lookups := []struct {
		name    string
		orgOnly bool
		lookup  func(orgID, id string) error
	}{
		{"FindKeyByID", false, func(orgID, id string) error {
			_, err := db.FindKeyByID(ctx, orgID, id)
			return err
		}},
		{"UpdateKey", false, func(orgID, id string) error {
			_, err := db.UpdateKey(ctx, orgID, id, func(*keyward.Key) error { return nil }, nil)
			return err
		}},
		{"RotateKey", false, func(orgID, id string) error {
			_, err := db.RotateKey(ctx, orgID, id, newKey(org), func(*keyward.Key) error { return nil }, nil)
			return err
		}},
		{"SpendCredits", false, func(orgID, id string) error {
			_, _, err := db.SpendCredits(ctx, orgID, id, 1, time.Now())
			return err
		}},
		{"FindServiceAccountByID", false, func(orgID, id string) error {
			_, err := db.FindServiceAccountByID(ctx, orgID, id)
			return err
		}},
		{"DeleteServiceAccount", false, func(orgID, id string) error {
			_, err := db.DeleteServiceAccount(ctx, orgID, id, now(), nil, nil)
			return err
		}},
		{"FindOwner", false, func(orgID, id string) error {
			_, err := db.FindOwner(ctx, orgID, id)
			return err
		}},
		{"FindOrgPolicy", true, func(orgID, _ string) error {
			_, err := db.FindOrgPolicy(ctx, orgID)
			return err
		}},
		{"UpdateOrgPolicy", true, func(orgID, _ string) error {
			return db.UpdateOrgPolicy(ctx, orgID, keyward.DefaultOrgPolicy(), nil)
		}},
	}
	for _, l := range lookups {
		for _, bad := range []string{"a\x00b", "\x00", "kw_\xff", "\xc3("} {
			pairs := [][2]string{{bad, root.ID}}
			if !l.orgOnly {
				pairs = append(pairs, [2]string{org.ID, bad})
			}
			for _, ids := range pairs {
				if got := keyward.ErrorCode(l.lookup(ids[0], ids[1])); got != keyward.ENOTFOUND {
					t.Errorf("%s(org %q, id %q) error code = %q, want %q", l.name, ids[0], ids[1], got, keyward.ENOTFOUND)
				}
			}
		}
	}
}

// TestTwoNodesSpendCredits spends a balance through two stores on one
// database, as two nodes do, all through the first key of a line that the
// second store rotates three times meanwhile: every spend succeeds, exactly
// the balance is spent, and the spends that race with a rotation follow
// the balance to the successor.
func TestTwoNodesSpendCredits(t *testing.T) {
	ctx := t.Context()
	u := newSchema(t)
	nodes := []*postgres.DB{mustOpen(t, u), mustOpen(t, u)}
	const workers, spends, rotations = 8, 40, 3
	const balance = workers * spends
	org, root, ev := newOrg("acme")
	root.Credits = &keyward.Credits{Remaining: balance}
	if err := nodes[0].CreateOrg(ctx, org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}

	var (
		spent atomic.Int64
		mu    sync.Mutex
		line  = []*keyward.Key{root}
		wg    sync.WaitGroup
	)
	rotate := func() {
		mu.Lock()
		defer mu.Unlock()
		next := newKey(org)
		if _, err := nodes[1].RotateKey(ctx, org.ID, line[len(line)-1].ID, next, func(*keyward.Key) error { return nil }, nil); err != nil {
			t.Errorf("RotateKey: %v", err)
		}
		line = append(line, next)
	}
	for w := range workers {
		node := nodes[w%len(nodes)]
		wg.Go(func() {
			for range spends {
				_, ok, err := node.SpendCredits(ctx, org.ID, root.ID, 1, time.Now())
				if err != nil || !ok {
					t.Errorf("SpendCredits() = %v, %v; want ok with %d of %d spent", ok, err, spent.Load(), balance)
					return
				}
				if n := spent.Add(1); n%(balance/(rotations+1)) == 0 && n < balance {
					rotate()
				}
			}
		})
	}
	wg.Wait()
	if len(line) != rotations+1 {
		t.Fatalf("line of %d keys, want %d", len(line), rotations+1)
	}

	for _, node := range nodes {
		for _, k := range line {
			if remaining, ok, err := node.SpendCredits(ctx, org.ID, k.ID, 1, time.Now()); err != nil || ok || remaining != 0 {
				t.Errorf("SpendCredits(spent out) = %d, %v, %v; want 0, false, nil", remaining, ok, err)
			}
		}
	}
	for _, k := range line {
		got, err := nodes[0].FindKeyByID(ctx, org.ID, k.ID)
		if err != nil {
			t.Fatalf("FindKeyByID: %v", err)
		}
		if got.Credits == nil || got.Credits.Remaining != 0 {
			t.Errorf("key %s credits = %+v, want a balance of 0", k.ID, got.Credits)
		}
	}
}

// TestTwoNodesRefillCredits runs the refill sweeps of two stores on one
// database at once, as two nodes' sweeps fall due together, while both
// spend from some of the due keys: each key is refilled exactly once, by
// one sweep or by a spend, so the sweeps return disjoint sets, every key
// that no spend touched is in one of them, and every balance is the
// refill's amount less exactly the spends. Each round is a new day, when
// every key falls due again.
func TestTwoNodesRefillCredits(t *testing.T) {
	ctx := t.Context()
	u := newSchema(t)
	nodes := []*postgres.DB{mustOpen(t, u), mustOpen(t, u)}
	org, _ := createOrg(t, nodes[0])
	const (
		nKeys, amount = 200, 100
		// Every spentEvery-th key gets spendsPerKey spends each round.
		spentEvery, spendsPerKey = 4, 2
		rounds                   = 3
	)
	start := time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC)
	keys := make([]*keyward.Key, nKeys)
	for i := range keys {
		k := newKey(org)
		k.Credits = &keyward.Credits{Refill: &keyward.CreditRefill{Amount: amount, Interval: keyward.RefillDaily}, RefilledAt: &start}
		if err := nodes[0].CreateKey(ctx, k, nil); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		keys[i] = k
	}

	for round := 1; round <= rounds; round++ {
		at := start.AddDate(0, 0, round).Add(30 * time.Second)
		var (
			swept [2][]*keyward.Key
			wg    sync.WaitGroup
		)
		begin := make(chan struct{})
		for n, node := range nodes {
			wg.Go(func() {
				<-begin
				var err error
				if swept[n], err = node.RefillCredits(ctx, at); err != nil {
					t.Errorf("RefillCredits: %v", err)
				}
			})
		}
		for i := 0; i < nKeys; i += spentEvery {
			wg.Go(func() {
				<-begin
				for s := range spendsPerKey {
					node := nodes[(i+s)%len(nodes)]
					if _, ok, err := node.SpendCredits(ctx, org.ID, keys[i].ID, 1, at); err != nil || !ok {
						t.Errorf("SpendCredits() = %v, %v; want ok", ok, err)
					}
				}
			})
		}
		close(begin)
		wg.Wait()

		seen := map[string]int{}
		for _, k := range append(swept[0], swept[1]...) {
			seen[k.ID]++
		}
		for i, k := range keys {
			spent := i%spentEvery == 0
			switch n := seen[k.ID]; {
			case n > 1:
				t.Errorf("round %d: key %d refilled by both sweeps", round, i)
			case n == 0 && !spent:
				t.Errorf("round %d: key %d, which no spend touched, refilled by no sweep", round, i)
			}
			want := int64(amount)
			if spent {
				want -= spendsPerKey
			}
			got, err := nodes[0].FindKeyByID(ctx, org.ID, k.ID)
			if err != nil {
				t.Fatalf("FindKeyByID: %v", err)
			}
			if got.Credits.Remaining != want || !got.Credits.RefilledAt.Equal(start.AddDate(0, 0, round)) {
				t.Errorf("round %d: key %d credits = %d refilled at %v, want %d refilled at %v",
					round, i, got.Credits.Remaining, got.Credits.RefilledAt, want, start.AddDate(0, 0, round))
			}
		}
		if again, err := nodes[1].RefillCredits(ctx, at); err != nil || len(again) != 0 {
			t.Errorf("round %d: RefillCredits() after both sweeps = %d keys, %v; want none", round, len(again), err)
		}
		if t.Failed() {
			return
		}
	}
}

// TestRefillCreditsSkipsLocked holds one due key locked, as a spend or an
// update of it does: a sweep refills the other keys without waiting, and
// the next sweep after the lock's release refills that one.
func TestRefillCreditsSkipsLocked(t *testing.T) {
	ctx := t.Context()
	u := newSchema(t)
	db := mustOpen(t, u)
	org, _ := createOrg(t, db)
	refilled := time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC)
	at := refilled.AddDate(0, 0, 1)
	var keys []*keyward.Key
	for range 3 {
		k := newKey(org)
		k.Credits = &keyward.Credits{Refill: &keyward.CreditRefill{Amount: 10, Interval: keyward.RefillDaily}, RefilledAt: &refilled}
		if err := db.CreateKey(ctx, k, nil); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		keys = append(keys, k)
	}
	tx, err := pgtest.Connect(t, u).Begin(ctx)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM keys WHERE id = $1 FOR UPDATE`, keys[0].ID); err != nil {
		t.Fatalf("lock: %v", err)
	}

	sweep := func() []string {
		t.Helper()
		// A sweep that waited for the lock would wait for ever.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		swept, err := db.RefillCredits(ctx, at)
		if err != nil {
			t.Fatalf("RefillCredits: %v", err)
		}
		ids := make([]string, len(swept))
		for i, k := range swept {
			ids[i] = k.ID
		}
		return ids
	}
	sortIDs := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	if diff := cmp.Diff([]string{keys[1].ID, keys[2].ID}, sweep(), sortIDs); diff != "" {
		t.Errorf("RefillCredits() with a key locked mismatch (-want +got):\n%s", diff)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if diff := cmp.Diff([]string{keys[0].ID}, sweep()); diff != "" {
		t.Errorf("RefillCredits() after the lock's release mismatch (-want +got):\n%s", diff)
	}
}

// TestSpendCreditsFollowsRotation spends through a key of a line while
// another node rotates the line's newest key, which holds the balance,
// and holds it locked until the test lets the rotation commit. The spend
// waits for that lock, and then spends from the successor, which it could
// not see when it began.
func TestSpendCreditsFollowsRotation(t *testing.T) {
	tests := []struct {
		name string
		// first spends through the line's first key rather than through
		// the newest one.
		first bool
	}{
		{"through the newest key", false},
		{"through the first key", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			u := newSchema(t)
			name := "spender-" + strings.ToLower(rand.Text()[:8])
			spender, rotator := mustOpen(t, withParam(t, u, "application_name", name)), mustOpen(t, u)
			org, root, ev := newOrg("acme")
			root.Credits = &keyward.Credits{Remaining: 10}
			if err := rotator.CreateOrg(ctx, org, root, ev); err != nil {
				t.Fatalf("CreateOrg: %v", err)
			}
			second, third := newKey(org), newKey(org)
			if _, err := rotator.RotateKey(ctx, org.ID, root.ID, second, func(*keyward.Key) error { return nil }, nil); err != nil {
				t.Fatalf("RotateKey: %v", err)
			}

			inRotate, proceed := make(chan struct{}), make(chan struct{})
			rotated := make(chan error, 1)
			go func() {
				_, err := rotator.RotateKey(ctx, org.ID, second.ID, third, func(*keyward.Key) error {
					close(inRotate)
					<-proceed
					return nil
				}, nil)
				rotated <- err
			}()
			<-inRotate
			via := second
			if tt.first {
				via = root
			}
			type result struct {
				remaining int64
				ok        bool
				err       error
			}
			spent := make(chan result, 1)
			go func() {
				remaining, ok, err := spender.SpendCredits(ctx, org.ID, via.ID, 1, time.Now())
				spent <- result{remaining, ok, err}
			}()
			waitForLockOf(t, u, name)
			close(proceed)
			if err := <-rotated; err != nil {
				t.Fatalf("RotateKey: %v", err)
			}
			if got := <-spent; got.err != nil || !got.ok || got.remaining != 9 {
				t.Errorf("SpendCredits() = %d, %v, %v; want 9, true, nil", got.remaining, got.ok, got.err)
			}
			for _, want := range []struct {
				k         *keyward.Key
				remaining int64
			}{{root, 0}, {second, 0}, {third, 9}} {
				k, err := spender.FindKeyByID(ctx, org.ID, want.k.ID)
				if err != nil {
					t.Fatalf("FindKeyByID: %v", err)
				}
				if k.Credits == nil || k.Credits.Remaining != want.remaining {
					t.Errorf("key %s credits = %+v, want a balance of %d", k.ID, k.Credits, want.remaining)
				}
			}
		})
	}
}

// TestTwoNodesTouchKeys sends last uses, in shuffled batches, through two
// stores on one database at once: each key ends with its latest use,
// whatever order the batches landed in.
func TestTwoNodesTouchKeys(t *testing.T) {
	ctx := t.Context()
	u := newSchema(t)
	nodes := []*postgres.DB{mustOpen(t, u), mustOpen(t, u)}
	org, root := createOrg(t, nodes[0])
	keys := []*keyward.Key{root}
	for range 3 {
		k := newKey(org)
		if err := nodes[0].CreateKey(ctx, k, nil); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		keys = append(keys, k)
	}

	// Every use has a time of its own, so that each key has one latest.
	const workers, batches = 4, 10
	base := now()
	var uses []keyward.KeyUse
	latest := map[string]keyward.KeyUse{}
	for i := range workers * batches * len(keys) {
		k := keys[i%len(keys)]
		u := keyward.KeyUse{OrgID: org.ID, KeyID: k.ID, At: base.Add(time.Duration(i) * time.Millisecond), IP: fmt.Sprintf("10.0.%d.%d", i/256, i%256)}
		uses = append(uses, u)
		latest[k.ID] = u
	}
	mathrand.Shuffle(len(uses), func(i, j int) { uses[i], uses[j] = uses[j], uses[i] })

	var wg sync.WaitGroup
	per := len(uses) / workers
	for w := range workers {
		node, mine := nodes[w%len(nodes)], uses[w*per:(w+1)*per]
		wg.Go(func() {
			for b := range batches {
				batch := mine[b*len(mine)/batches : (b+1)*len(mine)/batches]
				if err := node.TouchKeys(ctx, batch); err != nil {
					t.Errorf("TouchKeys: %v", err)
				}
			}
		})
	}
	wg.Wait()

	for _, k := range keys {
		got, err := nodes[1].FindKeyByID(ctx, org.ID, k.ID)
		if err != nil {
			t.Fatalf("FindKeyByID: %v", err)
		}
		want := latest[k.ID]
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(want.At) || got.LastUsedIP != want.IP {
			t.Errorf("key %s last use = %v from %q, want %v from %q", k.ID, got.LastUsedAt, got.LastUsedIP, want.At, want.IP)
		}
	}
}

// TestTwoNodesDeleteServiceAccount deletes service accounts through one
// store while the other adds keys to them, by creation and by rotation:
// no key ever outlives its account unrevoked.
func TestTwoNodesDeleteServiceAccount(t *testing.T) {
	ctx := t.Context()
	u := newSchema(t)
	deleter, adder := mustOpen(t, u), mustOpen(t, u)
	org, _ := createOrg(t, deleter)
	for range 20 {
		sa := &keyward.ServiceAccount{ID: newID(), OrgID: org.ID, Name: "deploy-bot", CreatedAt: now()}
		if err := deleter.CreateServiceAccount(ctx, sa, nil); err != nil {
			t.Fatalf("CreateServiceAccount: %v", err)
		}
		rotated := newKey(org)
		rotated.ServiceAccountID = sa.ID
		if err := adder.CreateKey(ctx, rotated, nil); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := deleter.DeleteServiceAccount(ctx, org.ID, sa.ID, now(), nil, nil); err != nil {
				t.Errorf("DeleteServiceAccount: %v", err)
			}
		})
		wg.Go(func() {
			k := newKey(org)
			k.ServiceAccountID = sa.ID
			if err := adder.CreateKey(ctx, k, nil); err != nil && keyward.ErrorCode(err) != keyward.EINVALID {
				t.Errorf("CreateKey: %v", err)
			}
		})
		wg.Go(func() {
			// As the service does, refuse to rotate a revoked key.
			_, err := adder.RotateKey(ctx, org.ID, rotated.ID, newKey(org), func(old *keyward.Key) error {
				if old.RevokedAt != nil {
					return keyward.Errorf(keyward.ECONFLICT, "The key is revoked.")
				}
				return nil
			}, nil)
			if err != nil && keyward.ErrorCode(err) != keyward.ECONFLICT {
				t.Errorf("RotateKey: %v", err)
			}
		})
		wg.Wait()
		live, err := adder.FindKeys(ctx, org.ID, keyward.KeyFilter{ServiceAccountID: sa.ID, Revoked: new(false)})
		if err != nil {
			t.Fatalf("FindKeys: %v", err)
		}
		for _, k := range live.Data {
			t.Errorf("key %s of deleted service account %s is not revoked", k.ID, sa.ID)
		}
	}
}

// TestOpenConcurrent starts five stores on a new database at once, as
// nodes that start together do: all open, and the migrations run once, in
// the default schema.
func TestOpenConcurrent(t *testing.T) {
	u := pgtest.NewDatabase(t)
	const n = 5
	dbs := make([]*postgres.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			dbs[i] = postgres.NewDB(u)
			errs[i] = dbs[i].Open()
		})
	}
	wg.Wait()
	for i, db := range dbs {
		t.Cleanup(func() { db.Close() })
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		if err := db.Ping(t.Context()); err != nil {
			t.Errorf("Ping %d: %v", i, err)
		}
	}
	var applied int
	if err := pgtest.Connect(t, u).QueryRow(t.Context(), `SELECT count(*) FROM goose_db_version WHERE version_id = 1`).Scan(&applied); err != nil {
		t.Fatalf("count migrations: %v", err)
	}
	if applied != 1 {
		t.Errorf("migration 1 recorded %d times, want 1", applied)
	}
}

// TestPoolSize checks the pool's default size, which a spend that waits
// for a row lock must not exhaust, and that the URL overrides it.
func TestPoolSize(t *testing.T) {
	u := newSchema(t)
	tests := []struct {
		name string
		url  string
		want int32
	}{
		{"default", u, int32(max(10, 4*runtime.GOMAXPROCS(0)))},
		{"pool_max_conns", withParam(t, u, "pool_max_conns", "3"), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustOpen(t, tt.url).MaxConns(); got != tt.want {
				t.Errorf("MaxConns() = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestMigrateLock checks that Open migrates under a lock of Keyward's own:
// it waits for another node that holds it, and not for another goose-
// migrated application, which holds goose's default lock while it
// migrates the same database.
func TestMigrateLock(t *testing.T) {
	tests := []struct {
		name string
		id   int64
		// wait is whether Open waits for the holder of id.
		wait bool
	}{
		{"another application's goose lock", lock.DefaultLockID, false},
		{"another node's lock", postgres.MigrateLockID, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newSchema(t)
			holder := pgtest.Connect(t, testDB)
			if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_lock($1)`, tt.id); err != nil {
				t.Fatalf("lock: %v", err)
			}
			db := postgres.NewDB(u)
			opened := make(chan error, 1)
			go func() { opened <- db.Open() }()
			// Open polls for the lock every second; the holder keeps it
			// for longer than one poll.
			var err error
			returned := false
			select {
			case err = <-opened:
				returned = true
			case <-time.After(1500 * time.Millisecond):
			}
			if returned == tt.wait {
				t.Errorf("Open returned while another session held lock %d: %v, want %v", tt.id, returned, !tt.wait)
			}
			if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_unlock($1)`, tt.id); err != nil {
				t.Fatalf("unlock: %v", err)
			}
			if !returned {
				err = <-opened
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			db.Close()
		})
	}
}

// TestDropStaleDatabases checks that creating a test database drops those
// that runs more than an hour ago left behind, and no younger one.
func TestDropStaleDatabases(t *testing.T) {
	if testDB == "" {
		testenv.Postgres.Skip(t)
	}
	conn := pgtest.Connect(t, testDB)
	name := func(age time.Duration) string {
		return fmt.Sprintf("keyward_test_%d_%s", time.Now().Add(-age).Unix(), strings.ToLower(rand.Text()[:8]))
	}
	stale, young := name(2*time.Hour), name(50*time.Minute)
	for _, db := range []string{stale, young} {
		if _, err := conn.Exec(t.Context(), "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			t.Fatalf("create database: %v", err)
		}
		t.Cleanup(func() {
			if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()); err != nil {
				t.Errorf("drop database: %v", err)
			}
		})
	}
	pgtest.NewDatabase(t)
	for db, want := range map[string]bool{stale: false, young: true} {
		var exists bool
		if err := conn.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, db).Scan(&exists); err != nil {
			t.Fatalf("pg_database: %v", err)
		}
		if exists != want {
			t.Errorf("database %s exists = %v, want %v", db, exists, want)
		}
	}
}

// TestReconnect terminates every session of a store's pool: the store
// answers again by itself, and its sessions carry its application_name.
func TestReconnect(t *testing.T) {
	ctx := t.Context()
	name := "keyward-test-" + strings.ToLower(rand.Text()[:8])
	db := mustOpen(t, withParam(t, newSchema(t), "application_name", name))
	_, root := createOrg(t, db)

	var killed int
	if err := pgtest.Connect(t, testDB).QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, name).
		Scan(&killed); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	if killed == 0 {
		t.Fatalf("no session named %q to terminate", name)
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := db.FindKeyByHash(ctx, root.Hash)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FindKeyByHash 5 s after the sessions were terminated: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestApplicationName checks that a store's sessions are named "keyward"
// when the URL names none, so that operators can tell them apart.
func TestApplicationName(t *testing.T) {
	u := newSchema(t)
	db := mustOpen(t, u)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	var n int
	if err := pgtest.Connect(t, u).QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'keyward' AND datname = current_database()`).Scan(&n); err != nil {
		t.Fatalf("count sessions: %v", err)
	}
	if n == 0 {
		t.Errorf("no session named keyward")
	}
}

// TestOpenHidesPassword checks that the error of a URL that does not parse
// or connect never holds its password. It needs no server.
func TestOpenHidesPassword(t *testing.T) {
	const password = "s3cr3t-Pa55"
	tests := []struct {
		name string
		url  string
	}{
		{"malformed port", "postgres://keyward:" + password + "@db.example:port/keyward"},
		{"password with a slash", "postgres://keyward:" + password + "/x@127.0.0.1:1/keyward"},
		{"bad sslmode", "postgres://keyward:" + password + "@127.0.0.1:1/keyward?sslmode=sometimes"},
		{"unreachable", "postgres://keyward:" + password + "@127.0.0.1:1/keyward?connect_timeout=2"},
		{"key=value, unreachable", "host=127.0.0.1 port=1 user=keyward password=" + password + " connect_timeout=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := postgres.NewDB(tt.url).Open()
			if err == nil {
				t.Fatalf("Open() = nil, want an error")
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("Open() error holds the password: %v", err)
			}
		})
	}
	if err := postgres.NewDB("").Open(); err == nil {
		t.Errorf("Open() with an empty URL = nil, want an error")
	}
}

// TestOpenUnreachable checks which failures to open say "unreachable"
// (EUNAVAILABLE: wait and retry) and which say the configuration is wrong:
// a server that is not there is the first; one that answers that it has
// no such database is the second.
func TestOpenUnreachable(t *testing.T) {
	if testDB == "" {
		testenv.Postgres.Skip(t)
	}
	missing, err := url.Parse(testDB)
	if err != nil {
		t.Fatal(err)
	}
	missing.Path = "/keyward_no_such_database"
	for _, tt := range []struct {
		name, url string
		want      string
	}{
		{"no server", "postgres://keyward@127.0.0.1:1/keyward?connect_timeout=2", keyward.EUNAVAILABLE},
		{"no such database", missing.String(), keyward.EINTERNAL},
	} {
		err := postgres.NewDB(tt.url).Open()
		if got := keyward.ErrorCode(err); got != tt.want {
			t.Errorf("%s: Open() = %v, code %q; want code %q", tt.name, err, got, tt.want)
		}
	}
}

// TestDeadlockRetry makes an UpdateKey deadlock with another session and
// be the one PostgreSQL aborts: the store runs the transaction again, its
// callback included, and it succeeds.
func TestDeadlockRetry(t *testing.T) {
	ctx := t.Context()
	u := newSchema(t)
	db := mustOpen(t, u)
	org, root := createOrg(t, db)

	updateEv := &keyward.AuditEvent{ID: newID(), OrgID: org.ID, Time: now(), Action: keyward.ActionKeyUpdate, TargetType: "key", TargetID: root.ID}
	d := startDeadlock(t, u, updateEv, func(hold func()) error {
		_, err := db.UpdateKey(ctx, org.ID, root.ID, func(k *keyward.Key) error {
			hold()
			k.Description = "updated after a deadlock"
			return nil
		}, updateEv)
		return err
	})
	if err := d.tx.Rollback(ctx); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	d.wait(t)
	k, err := db.FindKeyByID(ctx, org.ID, root.ID)
	if err != nil {
		t.Fatalf("FindKeyByID: %v", err)
	}
	if k.Description != "updated after a deadlock" {
		t.Errorf("description = %q, want the update's", k.Description)
	}
}

// TestDeadlockRetryRotate makes a RotateKey deadlock as TestDeadlockRetry
// does; the other session, which then holds the key, takes its credits
// away (as an update to unlimited would) before it commits. The run again
// sees the key as it is then: the successor gets no credits from the
// aborted run, and the rotation writes one audit row and one notice.
func TestDeadlockRetryRotate(t *testing.T) {
	ctx := t.Context()
	u := newSchema(t)
	db := mustOpen(t, u)
	org, root, ev := newOrg("acme")
	root.Credits = &keyward.Credits{Remaining: 40}
	if err := db.CreateOrg(ctx, org, root, ev); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	marker := newKey(org)
	if err := db.CreateKey(ctx, marker, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	changes := startListen(t, db)
	wantChange(t, changes, changeAll)

	rotateEv := &keyward.AuditEvent{ID: newID(), OrgID: org.ID, Time: now(), Action: keyward.ActionKeyRotate, TargetType: "key", TargetID: root.ID}
	// rotate leaves next as it is, so that what the store sets in it
	// survives from one run to the next.
	next := newKey(org)
	d := startDeadlock(t, u, rotateEv, func(hold func()) error {
		_, err := db.RotateKey(ctx, org.ID, root.ID, next, func(*keyward.Key) error {
			hold()
			return nil
		}, rotateEv)
		return err
	})
	if _, err := d.tx.Exec(ctx, `UPDATE keys SET credits_remaining = NULL WHERE id = $1`, root.ID); err != nil {
		t.Fatalf("update credits: %v", err)
	}
	if _, err := d.tx.Exec(ctx, `DELETE FROM audit_events WHERE id = $1`, rotateEv.ID); err != nil {
		t.Fatalf("delete audit row: %v", err)
	}
	if err := d.tx.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	d.wait(t)

	for _, id := range []string{root.ID, next.ID} {
		k, err := db.FindKeyByID(ctx, org.ID, id)
		if err != nil {
			t.Fatalf("FindKeyByID: %v", err)
		}
		if k.Credits != nil {
			t.Errorf("key %s credits = %+v, want none", id, k.Credits)
		}
	}
	events, err := db.FindAuditEvents(ctx, org.ID, keyward.AuditFilter{Action: keyward.ActionKeyRotate})
	if err != nil {
		t.Fatalf("FindAuditEvents: %v", err)
	}
	if diff := cmp.Diff([]string{rotateEv.ID}, auditIDs(events.Data)); diff != "" {
		t.Errorf("rotation audit rows mismatch (-want +got):\n%s", diff)
	}
	// Notices arrive in commit order: the marker's revocation comes right
	// after the rotation's one notice.
	revoke(t, db, marker)
	wantChange(t, changes, keyChange(root))
	wantChange(t, changes, keyChange(marker))
}

// deadlock is a store call that deadlocked with another session once.
type deadlock struct {
	// tx is the other session's transaction, which holds the key's lock
	// once the store's transaction is aborted.
	tx    pgx.Tx
	done  chan error
	calls atomic.Int32
}

// startDeadlock runs op, which calls hold from its callback, so that it
// deadlocks with another session of the database at url and is the one
// PostgreSQL aborts: the other session holds an uncommitted audit row with
// ev's id, which op's event waits for, and then asks for the lock of the
// key op holds, ev's target. That session detects deadlocks after 30 s,
// the store's after the default 1 s, so the store's transaction is
// aborted. It returns once the other session holds the key.
func startDeadlock(t *testing.T, url string, ev *keyward.AuditEvent, op func(hold func()) error) *deadlock {
	t.Helper()
	ctx := t.Context()
	other := pgtest.Connect(t, url)
	if _, err := other.Exec(ctx, `SET deadlock_timeout = '30s'`); err != nil {
		t.Fatalf("SET: %v", err)
	}
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, `INSERT INTO audit_events (id, org_id, time, action, target_type, target_id) VALUES ($1, $2, now(), 'test', 'key', $3)`,
		ev.ID, ev.OrgID, ev.TargetID); err != nil {
		t.Fatalf("insert: %v", err)
	}

	d := &deadlock{tx: tx, done: make(chan error, 1)}
	inOp, proceed := make(chan struct{}), make(chan struct{})
	go func() {
		d.done <- op(func() {
			if d.calls.Add(1) == 1 {
				close(inOp)
				<-proceed
			}
		})
	}()
	// The store holds the key's lock; the other session waits for it...
	<-inOp
	locked := make(chan error, 1)
	go func() {
		_, err := tx.Exec(ctx, `SELECT 1 FROM keys WHERE id = $1 FOR UPDATE`, ev.TargetID)
		locked <- err
	}()
	waitForLock(t, url, other.PgConn().PID())
	// ...and the store's event waits for the other session's row.
	close(proceed)
	if err := <-locked; err != nil {
		t.Fatalf("the other session's lock: %v; want the store's transaction aborted instead", err)
	}
	return d
}

// wait checks that the store call succeeded on its second run, once the
// other session has ended.
func (d *deadlock) wait(t *testing.T) {
	t.Helper()
	if err := <-d.done; err != nil {
		t.Fatalf("store call after a deadlock: %v", err)
	}
	if got := d.calls.Load(); got != 2 {
		t.Errorf("callback called %d times, want 2", got)
	}
}

func auditIDs(events []*keyward.AuditEvent) []string {
	ids := make([]string, len(events))
	for i, ev := range events {
		ids[i] = ev.ID
	}
	return ids
}

// waitForLock waits until the session pid waits for a lock.
func waitForLock(t *testing.T, url string, pid uint32) {
	t.Helper()
	waitFor(t, url, fmt.Sprintf("session %d waits for a lock", pid),
		`SELECT coalesce(bool_or(wait_event_type = 'Lock'), false) FROM pg_stat_activity WHERE pid = $1`, int(pid))
}

// waitForLockOf waits until a session named application waits for a lock.
func waitForLockOf(t *testing.T, url, application string) {
	t.Helper()
	waitFor(t, url, fmt.Sprintf("a session of %s waits for a lock", application),
		`SELECT coalesce(bool_or(wait_event_type = 'Lock'), false) FROM pg_stat_activity WHERE application_name = $1`, application)
}

// waitFor polls query, which returns one boolean, on a connection to url
// until it returns true, for at most 5 s; what names the awaited state.
func waitFor(t *testing.T, url, what, query string, args ...any) {
	t.Helper()
	conn := pgtest.Connect(t, url)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ok bool
		if err := conn.QueryRow(t.Context(), query, args...).Scan(&ok); err != nil {
			t.Fatalf("wait until %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not so after 5 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkFindKeyByHash(b *testing.B) {
	ctx := b.Context()
	db := MustOpenDB(b)
	org, root, ev := newOrg("acme")
	if err := db.CreateOrg(ctx, org, root, ev); err != nil {
		b.Fatalf("CreateOrg: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.FindKeyByHash(ctx, root.Hash); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpendCredits measures one spend: the verify path's cost for a
// key with credits.
func BenchmarkSpendCredits(b *testing.B) {
	ctx := b.Context()
	db := MustOpenDB(b)
	org, root, ev := newOrg("acme")
	root.Credits = &keyward.Credits{Remaining: 1 << 62}
	if err := db.CreateOrg(ctx, org, root, ev); err != nil {
		b.Fatalf("CreateOrg: %v", err)
	}
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := db.SpendCredits(ctx, org.ID, root.ID, 1, at); err != nil || !ok {
			b.Fatalf("SpendCredits() = %v, %v", ok, err)
		}
	}
}

func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// newOrg returns an org with a root key that has every field a key of
// `keyward init` has, and the event of its creation.
func newOrg(name string) (*keyward.Organization, *keyward.Key, *keyward.AuditEvent) {
	at := now()
	org := &keyward.Organization{ID: newID(), Name: name, CreatedAt: at}
	root := newKey(org)
	root.Name = "root"
	root.Permissions = []string{keyward.PermRoot}
	root.Metadata = json.RawMessage(`{"created_by":"keyward init"}`)
	ev := &keyward.AuditEvent{
		ID:         newID(),
		OrgID:      org.ID,
		Time:       at,
		Action:     keyward.ActionOrgCreate,
		TargetType: "organization",
		TargetID:   org.ID,
	}
	return org, root, ev
}

// newKey returns a key of org with a fresh id and secret hash.
func newKey(org *keyward.Organization) *keyward.Key {
	at := now()
	hash := sha256.Sum256([]byte(rand.Text()))
	return &keyward.Key{
		ID:        newID(),
		OrgID:     org.ID,
		Name:      "billing-export",
		KeyPrefix: "kw_live_" + strings.ToLower(rand.Text()[:8]),
		Enabled:   true,
		CreatedAt: at,
		UpdatedAt: at,
		Hash:      hash[:],
	}
}
