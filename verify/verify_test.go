package verify_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"keyward"
	"keyward/authz"
	"keyward/keyformat"
	"keyward/sqlite"
	"keyward/verify"
)

// countingStore counts the calls that reach the real store, to show what the
// cache saves.
type countingStore struct {
	keyward.Store
	byHash  atomic.Int64
	touches atomic.Int64
	// failUsage makes the next AddUsage fail, failSpend the next
	// SpendCredits.
	failUsage atomic.Bool
	failSpend atomic.Bool
}

func (s *countingStore) SpendCredits(ctx context.Context, orgID, id string, cost int64, now time.Time) (int64, bool, error) {
	if s.failSpend.Swap(false) {
		return 0, false, errors.New("store unavailable")
	}
	return s.Store.SpendCredits(ctx, orgID, id, cost, now)
}

func (s *countingStore) AddUsage(ctx context.Context, counts []keyward.UsageCount) error {
	if s.failUsage.Swap(false) {
		return errors.New("store unavailable")
	}
	return s.Store.AddUsage(ctx, counts)
}

func (s *countingStore) FindKeyByHash(ctx context.Context, hash []byte) (*keyward.Key, error) {
	s.byHash.Add(1)
	return s.Store.FindKeyByHash(ctx, hash)
}

func (s *countingStore) TouchKeys(ctx context.Context, uses []keyward.KeyUse) error {
	s.touches.Add(1)
	return s.Store.TouchKeys(ctx, uses)
}

type fixture struct {
	store  *countingStore
	engine *verify.Engine
	hasher *keyformat.Hasher
	org    *keyward.Organization
	now    time.Time
}

// newFixture returns an engine over an in-memory SQLite store; opts change
// its config.
func newFixture(tb testing.TB, opts ...func(cfg *verify.Config)) *fixture {
	tb.Helper()
	db := sqlite.NewDB(":memory:")
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	f := &fixture{
		store:  &countingStore{Store: db},
		hasher: keyformat.NewHasher(nil),
		now:    time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
	}
	cfg := verify.Config{
		Store:  f.store,
		Hasher: f.hasher,
		Now:    func() time.Time { return f.now },
		// Tests flush and refill by hand.
		FlushInterval:  time.Hour,
		RefillInterval: time.Hour,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	f.engine = verify.New(cfg)
	tb.Cleanup(func() { f.engine.Close() })
	f.org = &keyward.Organization{ID: uuid.Must(uuid.NewV7()).String(), Name: "acme", CreatedAt: f.now}
	root, _ := f.newKey(tb, nil)
	if err := db.CreateOrg(context.Background(), f.org, root, nil); err != nil {
		tb.Fatal(err)
	}
	return f
}

// newKey returns a key record of f.org and its secret; edit changes it
// before it is returned.
func (f *fixture) newKey(tb testing.TB, edit func(k *keyward.Key)) (*keyward.Key, string) {
	tb.Helper()
	secret, err := keyformat.Generate(keyformat.DefaultPrefix)
	if err != nil {
		tb.Fatal(err)
	}
	hash := f.hasher.Hash(secret)
	k := &keyward.Key{
		ID:          uuid.Must(uuid.NewV7()).String(),
		OrgID:       f.org.ID,
		Name:        "test",
		KeyPrefix:   keyformat.DisplayPrefix(secret),
		Permissions: []string{"docs.read", "docs.write"},
		Enabled:     true,
		CreatedAt:   f.now,
		UpdatedAt:   f.now,
		Hash:        hash[:],
	}
	if edit != nil {
		edit(k)
	}
	return k, secret
}

func (f *fixture) createKey(tb testing.TB, edit func(k *keyward.Key)) (*keyward.Key, string) {
	tb.Helper()
	k, secret := f.newKey(tb, edit)
	if err := f.store.CreateKey(context.Background(), k, nil); err != nil {
		tb.Fatal(err)
	}
	return k, secret
}

func (f *fixture) verify(tb testing.TB, secret, ip, query string) *keyward.VerifyResult {
	tb.Helper()
	var q *authz.Query
	if query != "" {
		var err error
		if q, err = authz.ParseQuery(query); err != nil {
			tb.Fatal(err)
		}
	}
	res, err := f.engine.Verify(context.Background(), f.org.ID, verify.Input{Secret: secret, IP: netip.MustParseAddr(ip), UserAgent: "test-agent", Query: q})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func TestVerifyCodes(t *testing.T) {
	f := newFixture(t)
	past := f.now.Add(-time.Second)
	future := f.now.Add(time.Hour)
	for _, tt := range []struct {
		name  string
		edit  func(k *keyward.Key)
		ip    string
		query string
		want  string
	}{
		{"valid", nil, "10.0.0.1", "", keyward.CodeValid},
		{"valid with query", nil, "10.0.0.1", "docs.read AND (docs.write OR admin:*)", keyward.CodeValid},
		{"revoked beats everything", func(k *keyward.Key) {
			k.RevokedAt, k.Enabled, k.ExpiresAt, k.AllowedIPs = &past, false, &past, []string{"192.0.2.0/24"}
		}, "10.0.0.1", "billing.read", keyward.CodeRevoked},
		{"disabled beats expired", func(k *keyward.Key) { k.Enabled, k.ExpiresAt = false, &past }, "10.0.0.1", "", keyward.CodeDisabled},
		{"expired beats IP", func(k *keyward.Key) { k.ExpiresAt, k.AllowedIPs = &past, []string{"192.0.2.0/24"} }, "10.0.0.1", "", keyward.CodeExpired},
		{"expires exactly now", func(k *keyward.Key) { k.ExpiresAt = &f.now }, "10.0.0.1", "", keyward.CodeExpired},
		{"not yet expired", func(k *keyward.Key) { k.ExpiresAt = &future }, "10.0.0.1", "", keyward.CodeValid},
		{"IP beats permissions", func(k *keyward.Key) { k.AllowedIPs = []string{"192.0.2.0/24"} }, "10.0.0.1", "billing.read", keyward.CodeIPNotAllowed},
		{"IPv4 in range", func(k *keyward.Key) { k.AllowedIPs = []string{"10.0.0.0/8"} }, "10.9.8.7", "", keyward.CodeValid},
		{"IPv4-mapped IPv6 in IPv4 range", func(k *keyward.Key) { k.AllowedIPs = []string{"10.0.0.0/8"} }, "::ffff:10.1.2.3", "", keyward.CodeValid},
		{"IPv6 in range", func(k *keyward.Key) { k.AllowedIPs = []string{"2001:db8::/32"} }, "2001:db8:1::5", "", keyward.CodeValid},
		{"IPv6 outside range", func(k *keyward.Key) { k.AllowedIPs = []string{"2001:db8::/32"} }, "2001:db9::5", "", keyward.CodeIPNotAllowed},
		{"IPv4 client, IPv6-only key", func(k *keyward.Key) { k.AllowedIPs = []string{"::/0"} }, "10.0.0.1", "", keyward.CodeIPNotAllowed},
		{"single address", func(k *keyward.Key) { k.AllowedIPs = []string{"10.0.0.1"} }, "10.0.0.1", "", keyward.CodeValid},
		{"insufficient permissions", nil, "10.0.0.1", "docs.read AND billing.read", keyward.CodeInsufficientPermissions},
		{"deleted is not found", func(k *keyward.Key) { k.DeletedAt = &past }, "10.0.0.1", "", keyward.CodeNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, secret := f.createKey(t, tt.edit)
			res := f.verify(t, secret, tt.ip, tt.query)
			if res.Code != tt.want || res.Valid != (tt.want == keyward.CodeValid) {
				t.Fatalf("got %s (valid=%v), want %s", res.Code, res.Valid, tt.want)
			}
			if tt.want == keyward.CodeNotFound && res.KeyID != "" {
				t.Errorf("NOT_FOUND answer names key %s", res.KeyID)
			}
		})
	}
}

func TestVerifyNotFound(t *testing.T) {
	f := newFixture(t)
	_, secret := f.createKey(t, nil)
	other := newFixture(t)
	_, otherSecret := other.createKey(t, nil)
	unknown, _ := keyformat.Generate(keyformat.DefaultPrefix)
	badChecksum := secret[:len(secret)-1] + string(rune('A'+(secret[len(secret)-1]+1)%26))
	for name, s := range map[string]string{
		"unknown":      unknown,
		"malformed":    "not-a-key",
		"empty":        "",
		"bad checksum": badChecksum,
		"other org":    otherSecret,
	} {
		t.Run(name, func(t *testing.T) {
			res := f.verify(t, s, "10.0.0.1", "")
			if res.Code != keyward.CodeNotFound || res.Valid || res.KeyID != "" || res.Name != "" {
				t.Errorf("got %+v, want a bare NOT_FOUND", res)
			}
		})
	}
}

func TestVerifyAnswerCarriesIdentity(t *testing.T) {
	f := newFixture(t)
	exp := f.now.Add(time.Hour)
	k, secret := f.createKey(t, func(k *keyward.Key) {
		k.OwnerID = "user_42"
		k.Metadata = []byte(`{"plan":"pro"}`)
		k.ExpiresAt = &exp
	})
	res := f.verify(t, secret, "10.0.0.1", "")
	if res.KeyID != k.ID || res.Name != k.Name || res.OwnerID != "user_42" || string(res.Metadata) != `{"plan":"pro"}` ||
		res.ExpiresAt == nil || !res.ExpiresAt.Equal(exp) || len(res.Permissions) != 2 {
		t.Errorf("got %+v, want the key's identity", res)
	}
}

func TestCacheServesHitsAndNegativeEntries(t *testing.T) {
	f := newFixture(t)
	_, secret := f.createKey(t, nil)
	unknown, _ := keyformat.Generate(keyformat.DefaultPrefix)
	for range 50 {
		f.verify(t, secret, "10.0.0.1", "")
		f.verify(t, unknown, "10.0.0.1", "")
		f.verify(t, "kw_live_malformed", "10.0.0.1", "")
	}
	// One store read per hash; a malformed key never reaches the store.
	if got := f.store.byHash.Load(); got != 2 {
		t.Errorf("store lookups: got %d, want 2", got)
	}
}

func TestInvalidateDropsCachedKey(t *testing.T) {
	f := newFixture(t)
	k, secret := f.createKey(t, nil)
	if got := f.verify(t, secret, "10.0.0.1", "").Code; got != keyward.CodeValid {
		t.Fatalf("got %s, want VALID", got)
	}
	_, err := f.store.UpdateKey(context.Background(), f.org.ID, k.ID, func(k *keyward.Key) error {
		k.RevokedAt = &f.now
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The cache still holds the old record until it is told.
	if got := f.verify(t, secret, "10.0.0.1", "").Code; got != keyward.CodeValid {
		t.Fatalf("before Invalidate: got %s, want the cached VALID", got)
	}
	f.engine.Invalidate(k.Hash)
	if got := f.verify(t, secret, "10.0.0.1", "").Code; got != keyward.CodeRevoked {
		t.Fatalf("after Invalidate: got %s, want REVOKED", got)
	}
}

func TestLastUseIsWrittenBehindInOneBatch(t *testing.T) {
	f := newFixture(t)
	k1, s1 := f.createKey(t, nil)
	k2, s2 := f.createKey(t, nil)
	_, revoked := f.createKey(t, func(k *keyward.Key) { k.RevokedAt = &f.now })
	start := f.now
	for i := range 10 {
		f.now = start.Add(time.Duration(i) * time.Second)
		f.verify(t, s1, "10.0.0.1", "")
		f.verify(t, s2, "::ffff:10.0.0.2", "")
		f.verify(t, revoked, "10.0.0.3", "")
	}
	if got := f.store.touches.Load(); got != 0 {
		t.Fatalf("store touched %d times on the request path, want 0", got)
	}
	f.engine.Flush(context.Background())
	if got := f.store.touches.Load(); got != 1 {
		t.Errorf("got %d batches, want 1", got)
	}
	for _, tt := range []struct {
		k  *keyward.Key
		ip string
	}{{k1, "10.0.0.1"}, {k2, "10.0.0.2"}} {
		got, err := f.store.FindKeyByID(context.Background(), f.org.ID, tt.k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(f.now) || got.LastUsedIP != tt.ip || got.LastUsedUserAgent != "test-agent" {
			t.Errorf("key %s: last used %v from %q (%q), want %v from %q", tt.k.ID, got.LastUsedAt, got.LastUsedIP, got.LastUsedUserAgent, f.now, tt.ip)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	past := f.now.Add(-time.Minute)
	_, valid := f.createKey(t, nil)
	_, restricted := f.createKey(t, func(k *keyward.Key) { k.AllowedIPs = []string{"192.0.2.0/24"} })
	_, expired := f.createKey(t, func(k *keyward.Key) { k.ExpiresAt = &past })
	_, disabled := f.createKey(t, func(k *keyward.Key) { k.Enabled = false })
	_, revoked := f.createKey(t, func(k *keyward.Key) { k.RevokedAt = &past })
	_, deleted := f.createKey(t, func(k *keyward.Key) { k.DeletedAt = &past })
	for _, tt := range []struct {
		name, secret, ip, want string
	}{
		{"valid", valid, "10.0.0.1", ""},
		{"restricted, inside", restricted, "192.0.2.9", ""},
		{"restricted, outside", restricted, "10.0.0.1", keyward.EFORBIDDEN},
		{"expired", expired, "10.0.0.1", keyward.EUNAUTHORIZED},
		{"disabled", disabled, "10.0.0.1", keyward.EUNAUTHORIZED},
		{"revoked", revoked, "10.0.0.1", keyward.EUNAUTHORIZED},
		{"deleted", deleted, "10.0.0.1", keyward.EUNAUTHORIZED},
		{"malformed", "nope", "10.0.0.1", keyward.EUNAUTHORIZED},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.engine.Authenticate(context.Background(), tt.secret, netip.MustParseAddr(tt.ip))
			if got := keyward.ErrorCode(err); got != tt.want {
				t.Fatalf("got code %q, want %q", got, tt.want)
			}
			if err == nil && p.OrgID != f.org.ID {
				t.Errorf("principal org %s, want %s", p.OrgID, f.org.ID)
			}
		})
	}
}

// BenchmarkVerifyCacheHit is the hot path: a known key, already cached.
func BenchmarkVerifyCacheHit(b *testing.B) {
	f := newFixture(b)
	_, secret := f.createKey(b, nil)
	ctx, ip := context.Background(), netip.MustParseAddr("10.0.0.1")
	f.engine.Verify(ctx, f.org.ID, verify.Input{Secret: secret, IP: ip})
	b.ReportAllocs()
	for b.Loop() {
		if res, _ := f.engine.Verify(ctx, f.org.ID, verify.Input{Secret: secret, IP: ip}); !res.Valid {
			b.Fatal(res.Code)
		}
	}
}

// BenchmarkVerifyCacheMiss reads the key from SQLite on every call.
func BenchmarkVerifyCacheMiss(b *testing.B) {
	f := newFixture(b)
	k, secret := f.createKey(b, nil)
	ctx, ip := context.Background(), netip.MustParseAddr("10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		f.engine.Invalidate(k.Hash)
		if res, _ := f.engine.Verify(ctx, f.org.ID, verify.Input{Secret: secret, IP: ip}); !res.Valid {
			b.Fatal(res.Code)
		}
	}
}

// BenchmarkVerifyUnknownKey is an attacker's guess: a well-formed key that a
// negative entry answers.
func BenchmarkVerifyUnknownKey(b *testing.B) {
	f := newFixture(b)
	unknown, _ := keyformat.Generate(keyformat.DefaultPrefix)
	ctx, ip := context.Background(), netip.MustParseAddr("10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		f.engine.Verify(ctx, f.org.ID, verify.Input{Secret: unknown, IP: ip})
	}
}

// BenchmarkVerifyMalformedKey is a key with a bad checksum, refused before
// it is hashed.
func BenchmarkVerifyMalformedKey(b *testing.B) {
	f := newFixture(b)
	_, secret := f.createKey(b, nil)
	malformed := secret[:len(secret)-1] + string(rune('A'+(secret[len(secret)-1]+1)%26))
	ctx, ip := context.Background(), netip.MustParseAddr("10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		if res, _ := f.engine.Verify(ctx, f.org.ID, verify.Input{Secret: malformed, IP: ip}); res.Code != keyward.CodeNotFound {
			b.Fatal(res.Code)
		}
	}
}

func TestUnknownKeysDoNotEvictKnownOnes(t *testing.T) {
	f := newFixture(t)
	engine := verify.New(verify.Config{Store: f.store, Hasher: f.hasher, Now: func() time.Time { return f.now }, CacheSize: 10, NegativeCacheSize: 10})
	t.Cleanup(func() { engine.Close() })
	ctx, ip := context.Background(), netip.MustParseAddr("10.0.0.1")
	_, secret := f.createKey(t, nil)
	engine.Verify(ctx, f.org.ID, verify.Input{Secret: secret, IP: ip})
	before := f.store.byHash.Load()
	for range 200 {
		unknown, _ := keyformat.Generate(keyformat.DefaultPrefix)
		engine.Verify(ctx, f.org.ID, verify.Input{Secret: unknown, IP: ip})
	}
	if got := f.store.byHash.Load() - before; got != 200 {
		t.Errorf("200 unknown keys read the store %d times", got)
	}
	res, _ := engine.Verify(ctx, f.org.ID, verify.Input{Secret: secret, IP: ip})
	if res.Code != keyward.CodeValid || f.store.byHash.Load()-before != 200 {
		t.Errorf("the known key was evicted by unknown ones: %s, %d reads", res.Code, f.store.byHash.Load()-before)
	}
}

func TestLastUseCleansUserAgentAndKeepsManagementAgent(t *testing.T) {
	f := newFixture(t)
	k, secret := f.createKey(t, nil)
	ip := netip.MustParseAddr("10.0.0.1")
	if _, err := f.engine.Verify(context.Background(), f.org.ID, verify.Input{Secret: secret, IP: ip, UserAgent: "evil\x1b[2J"}); err != nil {
		t.Fatal(err)
	}
	f.engine.Flush(context.Background())
	got, _ := f.store.FindKeyByID(context.Background(), f.org.ID, k.ID)
	if got.LastUsedUserAgent != "evil\uFFFD[2J" {
		t.Errorf("stored agent %q, want control characters replaced", got.LastUsedUserAgent)
	}

	f.now = f.now.Add(time.Second)
	ctx := keyward.NewContextWithRequestInfo(context.Background(), keyward.RequestInfo{UserAgent: "keyward-cli"})
	if _, err := f.engine.Authenticate(ctx, secret, ip); err != nil {
		t.Fatal(err)
	}
	f.engine.Flush(context.Background())
	got, _ = f.store.FindKeyByID(context.Background(), f.org.ID, k.ID)
	if got.LastUsedUserAgent != "keyward-cli" {
		t.Errorf("after a management call the agent is %q, want the request's", got.LastUsedUserAgent)
	}
}

// TestApplyDropsWhatAChangeNames checks the change feed's callback: each
// kind of change drops exactly what it names, and ChangeAll everything,
// unknown hashes included.
func TestApplyDropsWhatAChangeNames(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	revoke := func(k *keyward.Key) {
		t.Helper()
		if _, err := f.store.UpdateKey(ctx, f.org.ID, k.ID, func(k *keyward.Key) error {
			k.RevokedAt = &f.now
			return nil
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step, secret, want string) {
		t.Helper()
		if got := f.verify(t, secret, "10.0.0.1", "").Code; got != want {
			t.Errorf("%s: got %s, want %s", step, got, want)
		}
	}
	a, secretA := f.createKey(t, nil)
	b, secretB := f.createKey(t, nil)
	check("a cached", secretA, keyward.CodeValid)
	check("b cached", secretB, keyward.CodeValid)
	revoke(a)
	revoke(b)

	f.engine.Apply(keyward.Change{Kind: keyward.ChangeKey, OrgID: f.org.ID, KeyHash: a.Hash})
	check("a after its change", secretA, keyward.CodeRevoked)
	check("b after a's change", secretB, keyward.CodeValid)

	// An unknown hash is remembered; a key created with it later (by
	// another node, unheard) shows after ChangeAll.
	late, lateSecret := f.newKey(t, nil)
	check("unknown", lateSecret, keyward.CodeNotFound)
	if err := f.store.CreateKey(ctx, late, nil); err != nil {
		t.Fatal(err)
	}
	check("created unheard", lateSecret, keyward.CodeNotFound)

	f.engine.Apply(keyward.Change{Kind: keyward.ChangeAll})
	check("b after ChangeAll", secretB, keyward.CodeRevoked)
	check("created, after ChangeAll", lateSecret, keyward.CodeValid)

	p := keyward.DefaultOrgPolicy()
	p.AllowedIPs = []string{"192.0.2.0/24"}
	if err := f.store.UpdateOrgPolicy(ctx, f.org.ID, p, nil); err != nil {
		t.Fatal(err)
	}
	check("policy cached", lateSecret, keyward.CodeValid)
	f.engine.Apply(keyward.Change{Kind: keyward.ChangePolicy, OrgID: f.org.ID})
	check("after the policy change", lateSecret, keyward.CodeIPNotAllowed)
}

// gateStore holds the first read of one method, FindKeyByHash or
// FindOwner, until released, to put a change between a load's read and its
// return.
type gateStore struct {
	keyward.Store
	method  string
	once    sync.Once
	reading chan struct{}
	release chan struct{}
}

func (s *gateStore) FindKeyByHash(ctx context.Context, hash []byte) (*keyward.Key, error) {
	k, err := s.Store.FindKeyByHash(ctx, hash)
	s.hold("FindKeyByHash")
	return k, err
}

func (s *gateStore) FindOwner(ctx context.Context, orgID, ownerID string) (*keyward.Owner, error) {
	o, err := s.Store.FindOwner(ctx, orgID, ownerID)
	s.hold("FindOwner")
	return o, err
}

func (s *gateStore) hold(method string) {
	if method == s.method {
		s.once.Do(func() {
			s.reading <- struct{}{}
			<-s.release
		})
	}
}

// verifyAcrossChangeAll verifies secret on an engine of its own whose
// store holds the first read of method until change has run and a
// ChangeAll has been applied, and returns the answer.
func (f *fixture) verifyAcrossChangeAll(t *testing.T, method, secret string, change func()) *keyward.VerifyResult {
	t.Helper()
	gs := &gateStore{Store: f.store, method: method, reading: make(chan struct{}), release: make(chan struct{})}
	engine := verify.New(verify.Config{Store: gs, Hasher: f.hasher, Now: func() time.Time { return f.now }, FlushInterval: time.Hour, RefillInterval: time.Hour})
	t.Cleanup(func() { engine.Close() })

	done := make(chan *keyward.VerifyResult)
	go func() {
		res, err := engine.Verify(context.Background(), f.org.ID, verify.Input{Secret: secret})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-gs.reading
	change()
	engine.Apply(keyward.Change{Kind: keyward.ChangeAll})
	close(gs.release)
	return <-done
}

// TestChangeAllDiscardsLoadInFlight checks that a record read before a
// ChangeAll is not served after it: the read may predate the change that
// the feed missed.
func TestChangeAllDiscardsLoadInFlight(t *testing.T) {
	f := newFixture(t)
	k, secret := f.createKey(t, nil)
	// The VALID record is read, then the key is revoked.
	res := f.verifyAcrossChangeAll(t, "FindKeyByHash", secret, func() {
		if _, err := f.store.UpdateKey(context.Background(), f.org.ID, k.ID, func(k *keyward.Key) error {
			k.RevokedAt = &f.now
			return nil
		}, nil); err != nil {
			t.Fatal(err)
		}
	})
	if res.Code != keyward.CodeRevoked {
		t.Errorf("verify whose load spanned a ChangeAll: got %s, want REVOKED", res.Code)
	}
}

// TestChangeAllDiscardsOwnerLoadInFlight is TestChangeAllDiscardsLoadInFlight
// for an owner's limits.
func TestChangeAllDiscardsOwnerLoadInFlight(t *testing.T) {
	f := newFixture(t)
	f.setOwner(t, "user_1", keyward.RateLimit{Name: "default", Limit: 100, Window: 3600})
	_, secret := f.createKey(t, func(k *keyward.Key) { k.OwnerID = "user_1" })
	// The limit of 100 is read, then lowered to 1.
	res := f.verifyAcrossChangeAll(t, "FindOwner", secret, func() {
		f.setOwner(t, "user_1", keyward.RateLimit{Name: "default", Limit: 1, Window: 3600})
	})
	if len(res.RateLimits) != 1 || res.RateLimits[0].Limit != 1 {
		t.Errorf("verify whose owner load spanned a ChangeAll: got limits %+v, want the new limit of 1", res.RateLimits)
	}
}
