package verify_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"keyward"
	"keyward/authz"
	"keyward/internal/testenv"
	"keyward/ratelimit"
	"keyward/verify"
)

func cost(n int64) *int64 { return &n }

// testRedis connects to the Redis that KEYWARD_TEST_REDIS names, or skips
// the test.
func testRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(testenv.Redis.URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	client := redis.NewClient(opts)
	tb.Cleanup(func() { client.Close() })
	return client
}

// redisPrefix returns a counter prefix unique to the test; its counters
// are deleted after it.
func redisPrefix(tb testing.TB, client *redis.Client) string {
	tb.Helper()
	prefix := fmt.Sprintf("keyward:test:%s:%d:", tb.Name(), time.Now().UnixNano())
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Error(err)
		}
	})
	return prefix
}

func mustQuery(tb testing.TB, q string) *authz.Query {
	tb.Helper()
	query, err := authz.ParseQuery(q)
	if err != nil {
		tb.Fatal(err)
	}
	return query
}

// verifyInput runs one verification that must not fail.
func (f *fixture) verifyInput(tb testing.TB, in verify.Input) *keyward.VerifyResult {
	tb.Helper()
	if !in.IP.IsValid() {
		in.IP = netip.MustParseAddr("10.0.0.1")
	}
	res, err := f.engine.Verify(context.Background(), f.org.ID, in)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// balance reads a key's credits from the store.
func (f *fixture) balance(tb testing.TB, id string) int64 {
	tb.Helper()
	k, err := f.store.FindKeyByID(context.Background(), f.org.ID, id)
	if err != nil {
		tb.Fatal(err)
	}
	return k.Credits.Remaining
}

func (f *fixture) setOwner(tb testing.TB, owner string, limits ...keyward.RateLimit) {
	tb.Helper()
	o := &keyward.Owner{ID: owner, OrgID: f.org.ID, RateLimits: limits, UpdatedAt: new(f.now)}
	if err := f.store.UpsertOwner(context.Background(), o, nil); err != nil {
		tb.Fatal(err)
	}
	f.engine.InvalidateOwner(f.org.ID, owner)
}

func withLimits(limits ...keyward.RateLimit) func(k *keyward.Key) {
	return func(k *keyward.Key) { k.RateLimits = limits }
}

// remaining lists the answer's limits as name=remaining.
func remaining(res *keyward.VerifyResult) map[string]int64 {
	out := map[string]int64{}
	for _, l := range res.RateLimits {
		out[l.Name] = l.Remaining
	}
	return out
}

func TestRateLimitsThenCredits(t *testing.T) {
	f := newFixture(t)
	start := f.now
	k, secret := f.createKey(t, func(k *keyward.Key) {
		k.RateLimits = []keyward.RateLimit{{Name: "default", Limit: 2, Window: 60}}
		k.Credits = &keyward.Credits{Remaining: 3}
	})
	state := func(remaining int64, reset time.Duration) []keyward.RateLimitState {
		return []keyward.RateLimitState{{Name: "default", Limit: 2, Remaining: remaining, Reset: start.Add(reset)}}
	}
	type answer struct {
		Code       string
		RateLimits []keyward.RateLimitState
		Credits    *keyward.CreditsState
	}
	for _, tt := range []struct {
		name    string
		advance time.Duration
		want    answer
		balance int64
	}{
		{"first", 0, answer{keyward.CodeValid, state(1, 30*time.Second), &keyward.CreditsState{Remaining: 2}}, 2},
		{"second", 0, answer{keyward.CodeValid, state(0, 60*time.Second), &keyward.CreditsState{Remaining: 1}}, 1},
		// Denied by the limit: credits are neither spent nor shown.
		{"limited", 0, answer{keyward.CodeRateLimited, state(0, 60*time.Second), nil}, 1},
		{"one unit back", 30 * time.Second, answer{keyward.CodeValid, state(0, 90*time.Second), &keyward.CreditsState{Remaining: 0}}, 0},
		// Out of credits: the limit's unit is given back, and the answer
		// shows the limit as the refund left it.
		{"exceeded", 30 * time.Second, answer{keyward.CodeUsageExceeded, state(1, 90*time.Second), &keyward.CreditsState{Remaining: 0}}, 0},
	} {
		f.now = f.now.Add(tt.advance)
		res := f.verifyInput(t, verify.Input{Secret: secret})
		got := answer{res.Code, res.RateLimits, res.Credits}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: answer mismatch (-want +got):\n%s", tt.name, diff)
		}
		if got := f.balance(t, k.ID); got != tt.balance {
			t.Errorf("%s: stored balance %d, want %d", tt.name, got, tt.balance)
		}
	}
}

// USAGE_EXCEEDED spends no rate limit units, in memory or in Redis: a key
// out of credits that is verified in a loop keeps its limit for when the
// credits come back.
func TestUsageExceededSpendsNoRateLimit(t *testing.T) {
	for _, tt := range []struct {
		name    string
		limiter func(t *testing.T) ratelimit.Limiter
	}{
		{"local", func(*testing.T) ratelimit.Limiter { return ratelimit.NewLocal() }},
		{"redis", func(t *testing.T) ratelimit.Limiter {
			client := testRedis(t)
			return ratelimit.NewRedis(client, redisPrefix(t, client))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(cfg *verify.Config) { cfg.Limiter = tt.limiter(t) })
			k, secret := f.createKey(t, func(k *keyward.Key) {
				k.RateLimits = []keyward.RateLimit{{Name: "default", Limit: 3, Window: 3600}}
				k.Credits = &keyward.Credits{Remaining: 1}
			})
			type answer struct {
				Code      string
				Remaining int64
			}
			var got []answer
			verifyOnce := func() {
				res := f.verifyInput(t, verify.Input{Secret: secret})
				got = append(got, answer{res.Code, remaining(res)["default"]})
			}
			for range 3 {
				verifyOnce()
			}
			if _, err := f.store.UpdateKey(context.Background(), f.org.ID, k.ID, func(k *keyward.Key) error {
				k.Credits.Remaining = 1
				return nil
			}, nil); err != nil {
				t.Fatal(err)
			}
			f.engine.Invalidate(k.Hash)
			verifyOnce()
			want := []answer{
				{keyward.CodeValid, 2},
				{keyward.CodeUsageExceeded, 2},
				{keyward.CodeUsageExceeded, 2},
				// Topped up: the limit has the two units the refused
				// answers gave back.
				{keyward.CodeValid, 1},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})
	}
}

// A verification that fails on the store after taking its rate limit
// units gives them back too: only valid answers spend them.
func TestFailedSpendGivesRateLimitBack(t *testing.T) {
	f := newFixture(t)
	_, secret := f.createKey(t, func(k *keyward.Key) {
		k.RateLimits = []keyward.RateLimit{{Name: "default", Limit: 1, Window: 3600}}
		k.Credits = &keyward.Credits{Remaining: 5}
	})
	f.store.failSpend.Store(true)
	if _, err := f.engine.Verify(context.Background(), f.org.ID, verify.Input{Secret: secret, IP: netip.MustParseAddr("10.0.0.1")}); err == nil {
		t.Fatal("no error from a failing store")
	}
	if res := f.verifyInput(t, verify.Input{Secret: secret}); res.Code != keyward.CodeValid {
		t.Errorf("after the failure: got %s, want VALID with the unit given back", res.Code)
	}
}

// rotate rotates key old to a new key with the same limits in the store
// and returns the new key and its secret.
func (f *fixture) rotate(tb testing.TB, old *keyward.Key) (*keyward.Key, string) {
	tb.Helper()
	next, secret := f.newKey(tb, func(k *keyward.Key) { k.RateLimits = old.RateLimits })
	grace := f.now.Add(time.Hour)
	if _, err := f.store.RotateKey(context.Background(), f.org.ID, old.ID, next, func(old *keyward.Key) error {
		old.ExpiresAt = &grace
		return nil
	}, nil); err != nil {
		tb.Fatal(err)
	}
	f.engine.Invalidate(old.Hash)
	return next, secret
}

// A rotated key and its successors count against one set of limits: the
// grace period does not double them and rotating does not start them over.
func TestRotationLineSharesRateLimits(t *testing.T) {
	f := newFixture(t)
	first, s1 := f.createKey(t, withLimits(keyward.RateLimit{Name: "default", Limit: 4, Window: 3600}))
	if got := f.verifyInput(t, verify.Input{Secret: s1}).Code; got != keyward.CodeValid {
		t.Fatalf("first key: got %s, want VALID", got)
	}
	second, s2 := f.rotate(t, first)
	_, s3 := f.rotate(t, second)
	var got []string
	for _, s := range []string{s2, s3, s1, s3, s1, s2} {
		got = append(got, f.verifyInput(t, verify.Input{Secret: s}).Code)
	}
	want := []string{keyward.CodeValid, keyward.CodeValid, keyward.CodeValid, keyward.CodeRateLimited, keyward.CodeRateLimited, keyward.CodeRateLimited}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("three keys of one line, limit 4 (-want +got):\n%s", diff)
	}
	// Another key with a limit of that name counts apart.
	_, other := f.createKey(t, withLimits(keyward.RateLimit{Name: "default", Limit: 4, Window: 3600}))
	if got := f.verifyInput(t, verify.Input{Secret: other}).Code; got != keyward.CodeValid {
		t.Errorf("a key of another line: got %s, want VALID", got)
	}
}

// A rotated key spends the credits of its line's newest key, even when it
// had none of its own to move when it was rotated.
func TestRotatedKeySpendsSuccessorCredits(t *testing.T) {
	f := newFixture(t)
	old, oldSecret := f.createKey(t, nil)
	next, nextSecret := f.rotate(t, old)
	if _, err := f.store.UpdateKey(context.Background(), f.org.ID, next.ID, func(k *keyward.Key) error {
		k.Credits = &keyward.Credits{Remaining: 2}
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	f.engine.Invalidate(next.Hash)
	type answer struct {
		Code    string
		Credits *keyward.CreditsState
	}
	var got []answer
	for _, s := range []string{oldSecret, nextSecret, oldSecret} {
		res := f.verifyInput(t, verify.Input{Secret: s})
		got = append(got, answer{res.Code, res.Credits})
	}
	want := []answer{
		{keyward.CodeValid, &keyward.CreditsState{Remaining: 1}},
		{keyward.CodeValid, &keyward.CreditsState{Remaining: 0}},
		{keyward.CodeUsageExceeded, &keyward.CreditsState{Remaining: 0}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	// A line without credits stays unlimited, and its answers show none.
	plain, plainSecret := f.createKey(t, nil)
	f.rotate(t, plain)
	for i := range 2 {
		if res := f.verifyInput(t, verify.Input{Secret: plainSecret}); res.Code != keyward.CodeValid || res.Credits != nil {
			t.Errorf("rotated key of a line without credits, call %d: got %s with credits %+v, want VALID with none", i+1, res.Code, res.Credits)
		}
	}
}

func TestEarlierChecksSpendNothing(t *testing.T) {
	f := newFixture(t)
	limited := func(k *keyward.Key) {
		k.RateLimits = []keyward.RateLimit{{Name: "default", Limit: 1, Window: 3600}}
		k.Credits = &keyward.Credits{Remaining: 1}
		k.AllowedIPs = []string{"10.0.0.0/8"}
	}
	k, secret := f.createKey(t, limited)
	for _, tt := range []struct {
		name string
		in   verify.Input
		want string
	}{
		{"IP", verify.Input{Secret: secret, IP: netip.MustParseAddr("192.0.2.1")}, keyward.CodeIPNotAllowed},
		{"permissions", verify.Input{Secret: secret, Query: mustQuery(t, "billing.read")}, keyward.CodeInsufficientPermissions},
		// A name the key lacks is only an error for a key that passes.
		{"permissions before limit names", verify.Input{Secret: secret, Query: mustQuery(t, "billing.read"),
			RateLimits: []keyward.RateLimitUse{{Name: "nope"}}}, keyward.CodeInsufficientPermissions},
	} {
		res := f.verifyInput(t, tt.in)
		if res.Code != tt.want || res.RateLimits != nil || res.Credits != nil {
			t.Errorf("%s: got %s with limits %v and credits %v, want %s with neither", tt.name, res.Code, res.RateLimits, res.Credits, tt.want)
		}
	}
	res := f.verifyInput(t, verify.Input{Secret: secret})
	if res.Code != keyward.CodeValid || f.balance(t, k.ID) != 0 {
		t.Errorf("after the denials: got %s, balance %d; want VALID with the one credit spent", res.Code, f.balance(t, k.ID))
	}
	_, revoked := f.createKey(t, func(k *keyward.Key) { limited(k); k.RevokedAt = &f.now })
	res, err := f.engine.Verify(context.Background(), f.org.ID, verify.Input{Secret: revoked, IP: netip.MustParseAddr("10.0.0.1"),
		RateLimits: []keyward.RateLimitUse{{Name: "nope"}}})
	if err != nil || res.Code != keyward.CodeRevoked {
		t.Errorf("revoked key with an unknown limit: got %v, %v; want REVOKED", res, err)
	}
}

func TestNamedLimitsAndCosts(t *testing.T) {
	f := newFixture(t)
	f.setOwner(t, "user_1", keyward.RateLimit{Name: "shared", Limit: 4, Window: 3600})
	k, secret := f.createKey(t, func(k *keyward.Key) {
		k.OwnerID = "user_1"
		k.RateLimits = []keyward.RateLimit{{Name: "a", Limit: 10, Window: 60}, {Name: "b", Limit: 5, Window: 60}}
		k.Credits = &keyward.Credits{Remaining: 100}
	})
	for _, tt := range []struct {
		name    string
		uses    []keyward.RateLimitUse
		cost    *int64
		want    map[string]int64
		balance int64
	}{
		{"all of key and owner", nil, nil, map[string]int64{"a": 9, "b": 4, "shared": 3}, 99},
		{"one named, with a cost", []keyward.RateLimitUse{{Name: "a", Cost: cost(3)}}, cost(5), map[string]int64{"a": 6}, 94},
		{"owner's by name, cost 0 reads", []keyward.RateLimitUse{{Name: "shared", Cost: cost(0)}, {Name: "b"}}, cost(0), map[string]int64{"shared": 3, "b": 3}, 94},
		{"none", []keyward.RateLimitUse{}, nil, map[string]int64{}, 93},
	} {
		res := f.verifyInput(t, verify.Input{Secret: secret, RateLimits: tt.uses, Cost: tt.cost})
		if res.Code != keyward.CodeValid {
			t.Fatalf("%s: got %s, want VALID", tt.name, res.Code)
		}
		if diff := cmp.Diff(tt.want, remaining(res)); diff != "" {
			t.Errorf("%s: remaining mismatch (-want +got):\n%s", tt.name, diff)
		}
		if got := f.balance(t, k.ID); got != tt.balance {
			t.Errorf("%s: balance %d, want %d", tt.name, got, tt.balance)
		}
	}

	_, err := f.engine.Verify(context.Background(), f.org.ID, verify.Input{Secret: secret, IP: netip.MustParseAddr("10.0.0.1"),
		RateLimits: []keyward.RateLimitUse{{Name: "a"}, {Name: "nope"}}})
	fields := keyward.ErrorFields(err)
	if keyward.ErrorCode(err) != keyward.EINVALID || len(fields) != 1 || fields[0].Field != "rate_limits[1].name" {
		t.Fatalf("unknown name: got %v (fields %v), want EINVALID on rate_limits[1].name", err, fields)
	}
	res := f.verifyInput(t, verify.Input{Secret: secret, RateLimits: []keyward.RateLimitUse{{Name: "a", Cost: cost(0)}}})
	if got := remaining(res)["a"]; got != 6 || f.balance(t, k.ID) != 92 {
		t.Errorf("after the invalid call: a has %d, balance %d; want 6 and 92 (nothing spent)", got, f.balance(t, k.ID))
	}
}

func TestOwnerLimitsAreSharedAndKeyLimitsWin(t *testing.T) {
	f := newFixture(t)
	f.setOwner(t, "user_1", keyward.RateLimit{Name: "default", Limit: 3, Window: 3600})
	owned := func(k *keyward.Key) { k.OwnerID = "user_1" }
	_, s1 := f.createKey(t, owned)
	_, s2 := f.createKey(t, owned)
	_, own := f.createKey(t, func(k *keyward.Key) {
		owned(k)
		k.RateLimits = []keyward.RateLimit{{Name: "default", Limit: 5, Window: 3600}}
	})
	// Another owner counts apart.
	f.setOwner(t, "user", keyward.RateLimit{Name: "default", Limit: 1, Window: 3600})
	_, other := f.createKey(t, func(k *keyward.Key) { k.OwnerID = "user" })

	var got []string
	for _, s := range []string{s1, s2, s1, s2, s1} {
		got = append(got, f.verifyInput(t, verify.Input{Secret: s}).Code)
	}
	want := []string{keyward.CodeValid, keyward.CodeValid, keyward.CodeValid, keyward.CodeRateLimited, keyward.CodeRateLimited}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("two keys of one owner (-want +got):\n%s", diff)
	}
	for i := range 5 {
		res := f.verifyInput(t, verify.Input{Secret: own})
		if res.Code != keyward.CodeValid || len(res.RateLimits) != 1 || res.RateLimits[0].Limit != 5 {
			t.Fatalf("key with its own limit, call %d: got %s %+v, want VALID under its limit of 5", i+1, res.Code, res.RateLimits)
		}
	}
	if got := f.verifyInput(t, verify.Input{Secret: other}).Code; got != keyward.CodeValid {
		t.Errorf("another owner: got %s, want VALID", got)
	}

	// A new owner limit counts once the service invalidates the owner.
	f.setOwner(t, "user_1", keyward.RateLimit{Name: "default", Limit: 3, Window: 3600}, keyward.RateLimit{Name: "burst", Limit: 100, Window: 1})
	res := f.verifyInput(t, verify.Input{Secret: s1, RateLimits: []keyward.RateLimitUse{{Name: "burst"}}})
	if res.Code != keyward.CodeValid || remaining(res)["burst"] != 99 {
		t.Errorf("new owner limit: got %s %v, want VALID with burst 99", res.Code, remaining(res))
	}
}

func TestOrgAllowlistIntersectsKeyList(t *testing.T) {
	f := newFixture(t)
	setPolicy := func(ips ...string) {
		t.Helper()
		p := keyward.DefaultOrgPolicy()
		p.AllowedIPs = ips
		if err := f.store.UpdateOrgPolicy(context.Background(), f.org.ID, p, nil); err != nil {
			t.Fatal(err)
		}
		f.engine.InvalidateOrg(f.org.ID)
	}
	setPolicy("10.0.0.0/8")
	_, narrow := f.createKey(t, func(k *keyward.Key) { k.AllowedIPs = []string{"10.1.0.0/16", "192.0.2.0/24"} })
	_, open := f.createKey(t, nil)
	for _, tt := range []struct {
		name, secret, ip, want string
	}{
		{"in both", narrow, "10.1.2.3", keyward.CodeValid},
		{"org only", narrow, "10.2.0.1", keyward.CodeIPNotAllowed},
		{"key only", narrow, "192.0.2.1", keyward.CodeIPNotAllowed},
		{"org list, key without one", open, "10.9.9.9", keyward.CodeValid},
		{"outside the org list", open, "198.51.100.1", keyward.CodeIPNotAllowed},
	} {
		if got := f.verify(t, tt.secret, tt.ip, "").Code; got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	if _, err := f.engine.Authenticate(context.Background(), open, netip.MustParseAddr("198.51.100.1")); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("management call outside the org list: got %v, want EFORBIDDEN", err)
	}
	setPolicy()
	if got := f.verify(t, open, "198.51.100.1", "").Code; got != keyward.CodeValid {
		t.Errorf("after the org list is removed: got %s, want VALID", got)
	}
}

// concurrentCodes verifies secret from n goroutines at once and counts the
// answers by code.
func concurrentCodes(t *testing.T, f *fixture, secret string, n int) map[string]int {
	t.Helper()
	var mu sync.Mutex
	codes := map[string]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := f.engine.Verify(context.Background(), f.org.ID, verify.Input{Secret: secret, IP: netip.MustParseAddr("10.0.0.1")})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			codes[res.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return codes
}

func TestConcurrentVerifySpendsExactly(t *testing.T) {
	t.Run("rate limit", func(t *testing.T) {
		f := newFixture(t)
		_, secret := f.createKey(t, withLimits(keyward.RateLimit{Name: "default", Limit: 37, Window: 3600}))
		want := map[string]int{keyward.CodeValid: 37, keyward.CodeRateLimited: 63}
		if diff := cmp.Diff(want, concurrentCodes(t, f, secret, 100)); diff != "" {
			t.Errorf("answers (-want +got):\n%s", diff)
		}
	})
	t.Run("credits", func(t *testing.T) {
		f := newFixture(t)
		k, secret := f.createKey(t, func(k *keyward.Key) { k.Credits = &keyward.Credits{Remaining: 23} })
		want := map[string]int{keyward.CodeValid: 23, keyward.CodeUsageExceeded: 77}
		if diff := cmp.Diff(want, concurrentCodes(t, f, secret, 100)); diff != "" {
			t.Errorf("answers (-want +got):\n%s", diff)
		}
		if got := f.balance(t, k.ID); got != 0 {
			t.Errorf("balance %d, want 0", got)
		}
	})
	t.Run("rate limit in redis", func(t *testing.T) {
		client := testRedis(t)
		f := newFixture(t, func(cfg *verify.Config) { cfg.Limiter = ratelimit.NewRedis(client, redisPrefix(t, client)) })
		_, secret := f.createKey(t, withLimits(keyward.RateLimit{Name: "default", Limit: 37, Window: 3600}))
		want := map[string]int{keyward.CodeValid: 37, keyward.CodeRateLimited: 63}
		if diff := cmp.Diff(want, concurrentCodes(t, f, secret, 100)); diff != "" {
			t.Errorf("answers (-want +got):\n%s", diff)
		}
	})
}

func TestUsageCountsAreFlushed(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, func(cfg *verify.Config) { cfg.Registerer = reg })
	start := f.now.Truncate(time.Minute)
	k, secret := f.createKey(t, withLimits(keyward.RateLimit{Name: "default", Limit: 2, Window: 3600}))
	_, revoked := f.createKey(t, func(k *keyward.Key) { k.RevokedAt = &f.now })
	unknown := "kw_live_unknown"
	for _, s := range []string{secret, secret, secret, revoked, unknown} {
		f.verify(t, s, "10.0.0.1", "")
	}
	f.now = start.Add(time.Minute)
	f.verify(t, secret, "10.0.0.1", "")

	// A failed batch stays in memory for the next flush.
	f.store.failUsage.Store(true)
	f.engine.Flush(context.Background())
	f.engine.Flush(context.Background())
	got, err := f.store.FindUsage(context.Background(), f.org.ID, keyward.UsageFilter{
		KeyID: k.ID, From: start, To: start.Add(2 * time.Minute), Bucket: keyward.BucketMinute,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []keyward.UsageBucket{
		{Start: start, Total: 3, Codes: map[string]int64{keyward.CodeValid: 2, keyward.CodeRateLimited: 1}},
		{Start: start.Add(time.Minute), Total: 1, Codes: map[string]int64{keyward.CodeRateLimited: 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usage mismatch (-want +got):\n%s", diff)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	metrics := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "keyward_verifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 {
				metrics[m.GetLabel()[0].GetValue()] = v
			}
		}
	}
	wantMetrics := map[string]float64{keyward.CodeValid: 2, keyward.CodeRateLimited: 2, keyward.CodeRevoked: 1, keyward.CodeNotFound: 1}
	if diff := cmp.Diff(wantMetrics, metrics); diff != "" {
		t.Errorf("keyward_verifications_total (-want +got):\n%s", diff)
	}
}

func TestRefillSweep(t *testing.T) {
	f := newFixture(t)
	k, secret := f.createKey(t, func(k *keyward.Key) {
		k.Credits = &keyward.Credits{Remaining: 0, Refill: &keyward.CreditRefill{Amount: 5, Interval: keyward.RefillDaily}, RefilledAt: &f.now}
	})
	if got := f.verify(t, secret, "10.0.0.1", "").Code; got != keyward.CodeUsageExceeded {
		t.Fatalf("before the refill: got %s, want USAGE_EXCEEDED", got)
	}
	reads := f.store.byHash.Load()
	f.now = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	if err := f.engine.Refill(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The idle key shows its refilled balance without a verification.
	if got := f.balance(t, k.ID); got != 5 {
		t.Errorf("balance after the sweep: got %d, want 5", got)
	}
	res := f.verify(t, secret, "10.0.0.1", "")
	if res.Code != keyward.CodeValid || res.Credits == nil || res.Credits.Remaining != 4 {
		t.Errorf("after the sweep: got %s %+v, want VALID with 4 left", res.Code, res.Credits)
	}
	if got := f.store.byHash.Load() - reads; got != 1 {
		t.Errorf("the refilled key was read %d times, want once: the sweep drops it from the cache", got)
	}
}

// BenchmarkVerifyCacheHitLimits compares the hot path of a plain key with
// one that has a rate limit, one with credits (a SQLite write per call),
// and one with both.
func BenchmarkVerifyCacheHitLimits(b *testing.B) {
	for _, bb := range []struct {
		name string
		edit func(k *keyward.Key)
	}{
		{"plain", nil},
		{"one limit", withLimits(keyward.RateLimit{Name: "default", Limit: 1_000_000_000, Window: 1})},
		{"credits", func(k *keyward.Key) { k.Credits = &keyward.Credits{Remaining: 1 << 50} }},
		{"one limit and credits", func(k *keyward.Key) {
			k.RateLimits = []keyward.RateLimit{{Name: "default", Limit: 1_000_000_000, Window: 1}}
			k.Credits = &keyward.Credits{Remaining: 1 << 50}
		}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			f := newFixture(b)
			_, secret := f.createKey(b, bb.edit)
			ctx, in := context.Background(), verify.Input{Secret: secret, IP: netip.MustParseAddr("10.0.0.1")}
			f.engine.Verify(ctx, f.org.ID, in)
			b.ReportAllocs()
			for b.Loop() {
				if res, _ := f.engine.Verify(ctx, f.org.ID, in); !res.Valid {
					b.Fatal(res.Code)
				}
			}
		})
	}
}

// BenchmarkVerifyCacheHitParallel shows what the shared usage counters and
// last-use map cost under contention.
func BenchmarkVerifyCacheHitParallel(b *testing.B) {
	f := newFixture(b)
	secrets := make([]string, 64)
	for i := range secrets {
		_, secrets[i] = f.createKey(b, nil)
	}
	ctx, ip := context.Background(), netip.MustParseAddr("10.0.0.1")
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		in := verify.Input{Secret: secrets[int(n.Add(1))%len(secrets)], IP: ip}
		for pb.Next() {
			if res, _ := f.engine.Verify(ctx, f.org.ID, in); !res.Valid {
				b.Error(res.Code)
				return
			}
		}
	})
}

// A refill that fell due while no engine ran happens when one starts, not
// a sweep interval later.
func TestRefillAtStart(t *testing.T) {
	f := newFixture(t)
	k, _ := f.createKey(t, func(k *keyward.Key) {
		k.Credits = &keyward.Credits{Remaining: 0, Refill: &keyward.CreditRefill{Amount: 5, Interval: keyward.RefillDaily}, RefilledAt: &f.now}
	})
	if err := f.engine.Close(); err != nil {
		t.Fatal(err)
	}
	f.now = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	restarted := verify.New(verify.Config{
		Store: f.store, Hasher: f.hasher, Now: func() time.Time { return f.now },
		FlushInterval: time.Hour, RefillInterval: time.Hour,
	})
	defer restarted.Close()
	if got := f.balance(t, k.ID); got != 5 {
		t.Errorf("balance right after start: got %d, want 5", got)
	}
}
