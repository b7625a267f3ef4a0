// Package verify is Keyward's verification engine: the hot path that turns
// a presented key into an answer. It parses and checksums the key, hashes
// it, looks the hash up in an in-memory cache (with negative entries for
// unknown hashes) and only on a miss in the store, then runs the checks in
// DESIGN.md's fixed order: status, IP (the key's list and the org's),
// permissions, rate limits (the key's and its owner's, through a
// ratelimit.Limiter), credits (spent in the store). Last use and
// per-minute answer counts are written behind, in batches; a sweep refills
// credits on schedule.
//
// A rate limit of L per window W admits a burst of L and then one unit
// every W/L (GCRA, package ratelimit), so any span of one window may
// admit up to 2L-1. A key's limits are counted per rotation line, shared
// by a rotated key and its successor.
//
// Rate limits are spent before credits, and the limiter and the store
// share no transaction: when the credits refuse, the answer is
// USAGE_EXCEEDED and the rate limit units are given back (ratelimit's
// Refund), so they count only valid answers. Until the refund lands, a
// concurrent verification may find them taken; a refund that Redis cannot
// take is dropped, and those units come back with time.
package verify

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"

	"keyward"
	"keyward/authz"
	"keyward/keyformat"
	"keyward/ratelimit"
)

// Defaults for Config's zero values.
const (
	DefaultCacheSize         = 1_000_000
	DefaultCacheTTL          = time.Minute
	DefaultNegativeCacheSize = 100_000
	DefaultNegativeTTL       = 10 * time.Second
	DefaultFlushInterval     = time.Second
	DefaultRefillInterval    = time.Minute
)

// Config configures an Engine. Store and Hasher are required.
type Config struct {
	Store  keyward.Store
	Hasher *keyformat.Hasher
	// Now is the clock; tests inject one.
	Now func() time.Time
	// CacheSize bounds the cached keys.
	CacheSize int
	// NegativeCacheSize bounds the remembered unknown hashes. They live apart
	// from the keys: anyone can mint well-formed unknown keys (the checksum
	// is public), and a flood of them must neither evict real keys nor grow
	// memory without bound.
	NegativeCacheSize int
	// CacheTTL bounds how long a cached key may be served without reading
	// the store again, so that a lost invalidation cannot keep a revoked
	// key alive for longer.
	CacheTTL time.Duration
	// NegativeTTL is how long an unknown hash is remembered.
	NegativeTTL time.Duration
	// FlushInterval is how often last use and answer counts are written
	// to the store.
	FlushInterval time.Duration
	// RefillInterval is how often credits due for a refill are refilled,
	// so that idle keys show their balance.
	RefillInterval time.Duration
	// Limiter counts rate limits; nil counts them in this process.
	Limiter ratelimit.Limiter
	// Registerer gets the metric keyward_verifications_total; nil
	// registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

var _ keyward.Authenticator = (*Engine)(nil)

// Engine verifies keys. It is safe for concurrent use.
type Engine struct {
	store    keyward.Store
	hasher   *keyformat.Hasher
	now      func() time.Time
	logger   *slog.Logger
	cache    *otter.Cache[[32]byte, *entry]
	negative *otter.Cache[[32]byte, struct{}]
	loader   otter.LoaderFunc[[32]byte, *entry]
	owners   *otter.Cache[ownerID, *ownerEntry]
	// ownerLoader is a method value made once: one per call would
	// allocate on the hot path.
	ownerLoader otter.LoaderFunc[ownerID, *ownerEntry]
	// noOwner is the entry of the owners without settings in the latest
	// epoch in which one was loaded.
	noOwner atomic.Pointer[ownerEntry]
	// permissions is allocated apart from the engine: the cleanups of
	// its lists hold it, and must not keep the engine alive.
	permissions *permissionLists
	limiter     ratelimit.Limiter
	cacheTTL    time.Duration

	orgs   sync.Map // org id → *orgEntry
	orgGen atomic.Uint64
	// epoch counts InvalidateAll calls. An entry remembers the epoch its
	// load began in and is not served in a later one: otter does not
	// promise that InvalidateAll discards a load in flight, which may
	// have read the store before a change that the feed missed.
	epoch atomic.Uint64

	// flushMu runs one flush at a time, so that Flush waits for a
	// background flush that has taken the pending records.
	flushMu sync.Mutex
	// pendingMu guards the records that wait for the writer, so that a
	// flush takes them all in one critical section.
	pendingMu sync.Mutex
	usage     map[string]pendingUse
	counts    map[countKey]int64

	verifications []prometheus.Counter

	flushInterval  time.Duration
	refillInterval time.Duration
	stop           chan struct{}
	done           chan struct{}
	closeOnce      sync.Once
}

// entry is a cached key: only what the checks, the answer and the
// write-behind need, since a node may cache a million of them. The hash is
// the cache key, and the record's other fields (description, prefix,
// timestamps, last use) are never read on this path.
type entry struct {
	id   string
	name string
	// orgID is interned: an org's keys share one copy.
	orgID            unique.Handle[string]
	ownerID          string
	serviceAccountID string
	// permissions is shared with the other keys that hold the same list;
	// see permissionLists.
	permissions *[]string
	metadata    json.RawMessage
	expiresAt   *time.Time
	rules       *rules
	epoch       uint64
	// org is the org policy this key last used; see Engine.org.
	org atomic.Pointer[orgEntry]
	// state is the part of the key's status that does not change with
	// time, as an index in codes: NOT_FOUND (deleted), REVOKED, DISABLED,
	// or VALID.
	state uint8
	// spends is set for a key whose valid answers spend credits in the
	// store: one with credits, or a rotated one, which spends its
	// successor's.
	spends bool
}

// rules are a key's own IP ranges, parsed, and rate limits, with their
// counters named. Most keys have neither, and share noRules.
type rules struct {
	nets   []netip.Prefix
	limits []limit
}

var noRules = &rules{}

// newEntry keeps of k what verification needs.
func (e *Engine) newEntry(k *keyward.Key, epoch uint64) *entry {
	en := &entry{
		id:               k.ID,
		name:             k.Name,
		orgID:            unique.Make(k.OrgID),
		ownerID:          k.OwnerID,
		serviceAccountID: k.ServiceAccountID,
		permissions:      e.permissions.intern(k.Permissions),
		metadata:         k.Metadata,
		expiresAt:        k.ExpiresAt,
		rules:            noRules,
		epoch:            epoch,
		spends:           k.Credits != nil || k.RotatedTo != "",
	}
	if len(k.AllowedIPs) > 0 || len(k.RateLimits) > 0 {
		en.rules = &rules{nets: parseNets(k.AllowedIPs), limits: keyLimits(k)}
	}
	// In Key.Status's order; expiry is left to status.
	state := keyward.CodeValid
	switch {
	case k.DeletedAt != nil:
		state = keyward.CodeNotFound
	case k.RevokedAt != nil:
		state = keyward.CodeRevoked
	case !k.Enabled:
		state = keyward.CodeDisabled
	}
	en.state = codeIndex(state)
	return en
}

// status is Key.Status of the cached key.
func (en *entry) status(now time.Time) string {
	state := codes[en.state]
	if state == keyward.CodeValid && en.expiresAt != nil && !now.Before(*en.expiresAt) {
		return keyward.CodeExpired
	}
	return state
}

// New returns an engine and starts its writer and refill sweep; Close
// stops them. It panics when the metrics cannot be registered (one of that
// name already is), like prometheus.MustRegister.
func New(cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.NegativeCacheSize <= 0 {
		cfg.NegativeCacheSize = DefaultNegativeCacheSize
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.RefillInterval <= 0 {
		cfg.RefillInterval = DefaultRefillInterval
	}
	if cfg.Limiter == nil {
		cfg.Limiter = ratelimit.NewLocal()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := &Engine{
		store:          cfg.Store,
		hasher:         cfg.Hasher,
		now:            cfg.Now,
		logger:         cfg.Logger,
		limiter:        cfg.Limiter,
		permissions:    &permissionLists{},
		cacheTTL:       cfg.CacheTTL,
		usage:          make(map[string]pendingUse),
		counts:         make(map[countKey]int64),
		verifications:  newVerificationMetrics(cfg.Registerer),
		flushInterval:  cfg.FlushInterval,
		refillInterval: cfg.RefillInterval,
		stop:           make(chan struct{}),
		done:           make(chan struct{}),
	}
	e.cache = otter.Must(&otter.Options[[32]byte, *entry]{
		MaximumSize:      cfg.CacheSize,
		ExpiryCalculator: otter.ExpiryWriting[[32]byte, *entry](cfg.CacheTTL),
	})
	e.negative = otter.Must(&otter.Options[[32]byte, struct{}]{
		MaximumSize:      cfg.NegativeCacheSize,
		ExpiryCalculator: otter.ExpiryWriting[[32]byte, struct{}](cfg.NegativeTTL),
	})
	e.loader, e.ownerLoader = e.load, e.loadOwner
	// Owner limits change as rarely as keys, and every write to them
	// invalidates this node's entry at once.
	e.owners = otter.Must(&otter.Options[ownerID, *ownerEntry]{
		MaximumSize:      cfg.CacheSize,
		ExpiryCalculator: otter.ExpiryWriting[ownerID, *ownerEntry](cfg.CacheTTL),
	})
	// Refills that fell due while no server ran happen now, not a tick
	// later.
	if err := e.Refill(context.Background()); err != nil {
		e.logger.Error("refill credits", "err", err)
	}
	go e.writeBehind()
	return e
}

// Close flushes the pending last-use records and answer counts and stops
// the writer and the refill sweep. Calls after the first do nothing.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		close(e.stop)
		<-e.done
		e.cache.StopAllGoroutines()
		e.negative.StopAllGoroutines()
		e.owners.StopAllGoroutines()
	})
	return nil
}

// Hash returns the stored digest of a secret.
func (e *Engine) Hash(secret string) [32]byte { return e.hasher.Hash(secret) }

// Invalidate drops the cached entry of a key hash at once. Every write to
// a key calls it, so this node never answers from a stale record.
func (e *Engine) Invalidate(hash []byte) {
	if len(hash) != 32 {
		return
	}
	e.cache.Invalidate([32]byte(hash))
	e.negative.Invalidate([32]byte(hash))
}

// Apply drops from the caches what c names. It is the change feed's
// callback (keyward.ChangeFeed), through which this node hears of the
// writes of every node.
func (e *Engine) Apply(c keyward.Change) {
	switch c.Kind {
	case keyward.ChangeKey:
		e.Invalidate(c.KeyHash)
	case keyward.ChangeOwner:
		e.InvalidateOwner(c.OrgID, c.OwnerID)
	case keyward.ChangePolicy:
		e.InvalidateOrg(c.OrgID)
	default:
		e.InvalidateAll()
	}
}

// InvalidateAll drops every cached key, unknown hash, owner and policy, for
// when this node may have missed changes.
func (e *Engine) InvalidateAll() {
	e.epoch.Add(1)
	e.cache.InvalidateAll()
	e.negative.InvalidateAll()
	e.owners.InvalidateAll()
	e.orgGen.Add(1)
	e.orgs.Clear()
}

// loadedIn returns the epoch in which the entry's load began.
func (en *entry) loadedIn() uint64 { return en.epoch }

// current returns c's value for key, read again when it was loaded before
// the latest InvalidateAll.
func current[K comparable, V interface{ loadedIn() uint64 }](ctx context.Context, e *Engine, c *otter.Cache[K, V], key K, loader otter.LoaderFunc[K, V]) (V, error) {
	v, err := c.Get(ctx, key, loader)
	for err == nil && v.loadedIn() != e.epoch.Load() {
		c.Invalidate(key)
		v, err = c.Get(ctx, key, loader)
	}
	return v, err
}

// load reads a hash from the store for the cache; otter merges concurrent
// loads of one hash into one store read.
func (e *Engine) load(ctx context.Context, hash [32]byte) (*entry, error) {
	epoch := e.epoch.Load()
	k, err := e.store.FindKeyByHash(ctx, hash[:])
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, otter.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return e.newEntry(k, epoch), nil
}

// parseNets parses allowed IP ranges. Stored ranges were validated on
// write; a bad one matches nothing rather than everything.
func parseNets(ranges []string) []netip.Prefix {
	var nets []netip.Prefix
	for _, s := range ranges {
		if p, err := keyward.ParseIPRange(s); err == nil {
			nets = append(nets, p)
		}
	}
	if len(ranges) > 0 && len(nets) == 0 {
		nets = []netip.Prefix{{}}
	}
	return nets
}

// lookup returns the cached entry for secret and its hash, or a nil entry
// when the secret is malformed or no key has its hash.
func (e *Engine) lookup(ctx context.Context, secret string) (*entry, [32]byte, error) {
	if _, ok := keyformat.Parse(secret); !ok {
		return nil, [32]byte{}, nil
	}
	hash := e.hasher.Hash(secret)
	// Known keys first: they are most verifications, and a hit then costs
	// one cache read instead of two (each reads the clock). A hash found
	// in both is a key created since it was remembered as unknown.
	if en, ok := e.cache.GetIfPresent(hash); ok && en.epoch == e.epoch.Load() {
		return en, hash, nil
	}
	if _, ok := e.negative.GetIfPresent(hash); ok {
		return nil, hash, nil
	}
	epoch := e.epoch.Load()
	en, err := current(ctx, e, e.cache, hash, e.loader)
	if errors.Is(err, otter.ErrNotFound) {
		// Remembered only when no InvalidateAll came during the load.
		if e.epoch.Load() == epoch {
			e.negative.Set(hash, struct{}{})
		}
		return nil, hash, nil
	}
	return en, hash, err
}

// Input is what Engine.Verify checks.
type Input struct {
	Secret string
	// IP is the client's address; an invalid one matches no allowed range.
	IP        netip.Addr
	UserAgent string
	// Query asks for permissions; nil for none.
	Query *authz.Query
	// Cost is what a valid answer spends of the key's credits; nil for 1.
	Cost *int64
	// RateLimits names the limits to apply; nil applies every limit of the
	// key and its owner at cost 1, and an empty list none.
	RateLimits []keyward.RateLimitUse
}

var notFound = keyward.VerifyResult{Code: keyward.CodeNotFound}

// Verify answers whether in.Secret is a valid key of org orgID. A key of
// another org answers NOT_FOUND exactly like a key that does not exist.
// It returns EINVALID (field rate_limits[i].name) when in.RateLimits names
// a limit that neither the key nor its owner has, once the key has passed
// every check before rate limits; a key that fails one answers its code.
func (e *Engine) Verify(ctx context.Context, orgID string, in Input) (*keyward.VerifyResult, error) {
	en, hash, err := e.lookup(ctx, in.Secret)
	if err != nil {
		return nil, err
	}
	if en == nil || en.orgID.Value() != orgID {
		return e.notFound(), nil
	}
	now := e.now()
	code := en.status(now)
	if code == keyward.CodeNotFound {
		return e.notFound(), nil
	}
	res := &keyward.VerifyResult{
		KeyID:            en.id,
		Name:             en.name,
		OwnerID:          en.ownerID,
		ServiceAccountID: en.serviceAccountID,
		Permissions:      *en.permissions,
		Metadata:         en.metadata,
		ExpiresAt:        en.expiresAt,
	}
	if code == keyward.CodeValid {
		ok, err := e.allowedIP(ctx, en, in.IP, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			code = keyward.CodeIPNotAllowed
		}
	}
	if code == keyward.CodeValid && in.Query != nil && !in.Query.Eval(*en.permissions) {
		code = keyward.CodeInsufficientPermissions
	}
	var took spent
	if code == keyward.CodeValid {
		if code, took, err = e.rateLimit(ctx, en, in.RateLimits, now, res); err != nil {
			return nil, err
		}
	}
	// A rotated key spends its successor's credits, which the store finds,
	// whether or not this key had credits when it was rotated.
	if code == keyward.CodeValid && en.spends {
		cost := int64(1)
		if in.Cost != nil {
			cost = *in.Cost
		}
		// The cached balance is stale by design: the store's is the answer.
		remaining, ok, err := e.store.SpendCredits(ctx, orgID, en.id, cost, now)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			// Deleted since it was cached.
			e.Invalidate(hash[:])
			e.refund(ctx, now, took, nil)
			return e.notFound(), nil
		}
		if err != nil {
			e.refund(ctx, now, took, nil)
			return nil, err
		}
		if remaining >= 0 {
			res.Credits = &keyward.CreditsState{Remaining: remaining}
		}
		if !ok {
			code = keyward.CodeUsageExceeded
			e.refund(ctx, now, took, res)
		}
	}
	if code == keyward.CodeValid {
		e.recordUse(en, now, in.IP, in.UserAgent)
	}
	e.count(en, now, code)
	res.Valid, res.Code = code == keyward.CodeValid, code
	return res, nil
}

func (e *Engine) notFound() *keyward.VerifyResult {
	e.verifications[codeIndex(keyward.CodeNotFound)].Inc()
	res := notFound
	return &res
}

// allowedIP reports whether ip is in the key's allowed ranges and in its
// org's.
func (e *Engine) allowedIP(ctx context.Context, en *entry, ip netip.Addr, now time.Time) (bool, error) {
	if !ipAllowed(en.rules.nets, ip) {
		return false, nil
	}
	org, err := e.org(ctx, en, now)
	if err != nil {
		return false, err
	}
	return ipAllowed(org.nets, ip), nil
}

// Authenticate implements keyward.Authenticator for the management API.
func (e *Engine) Authenticate(ctx context.Context, secret string, remoteIP netip.Addr) (*keyward.Principal, error) {
	en, _, err := e.lookup(ctx, secret)
	if err != nil {
		return nil, err
	}
	if en == nil {
		return nil, keyward.Errorf(keyward.EUNAUTHORIZED, "Invalid API key.")
	}
	now := e.now()
	switch en.status(now) {
	case keyward.CodeValid:
	case keyward.CodeRevoked:
		return nil, keyward.Errorf(keyward.EUNAUTHORIZED, "API key is revoked.")
	case keyward.CodeDisabled:
		return nil, keyward.Errorf(keyward.EUNAUTHORIZED, "API key is disabled.")
	case keyward.CodeExpired:
		return nil, keyward.Errorf(keyward.EUNAUTHORIZED, "API key has expired.")
	default:
		return nil, keyward.Errorf(keyward.EUNAUTHORIZED, "Invalid API key.")
	}
	// A management call is a use of the key: the org's allowlist holds.
	ok, err := e.allowedIP(ctx, en, remoteIP, now)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, keyward.Errorf(keyward.EFORBIDDEN, "API key is not allowed from this IP address.")
	}
	e.recordUse(en, now, remoteIP, keyward.RequestInfoFromContext(ctx).UserAgent)
	return &keyward.Principal{OrgID: en.orgID.Value(), KeyID: en.id, Permissions: *en.permissions}, nil
}

// ipAllowed reports whether ip is in one of nets; no nets allow any
// address. IPv4-mapped IPv6 addresses match IPv4 ranges.
func ipAllowed(nets []netip.Prefix, ip netip.Addr) bool {
	if len(nets) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// recordUse remembers the latest use of en's key for the writer; many uses
// of one key between flushes coalesce into one row update. The user agent
// is cleaned here, where it enters storage, because it comes from the
// internet.
func (e *Engine) recordUse(en *entry, at time.Time, ip netip.Addr, userAgent string) {
	e.mergeUse(pendingUse{
		KeyUse: keyward.KeyUse{OrgID: en.orgID.Value(), KeyID: en.id, At: at, UserAgent: keyward.CleanUserAgent(userAgent)},
		ip:     ip,
	})
}

// pendingUse is a use waiting for the writer, with its IP address not yet
// formatted (KeyUse.IP is empty): formatting would allocate on every
// verification, and most uses are replaced by their key's next one before
// a flush.
type pendingUse struct {
	keyward.KeyUse
	ip netip.Addr
}

func (e *Engine) mergeUse(use pendingUse) {
	e.pendingMu.Lock()
	if prev, ok := e.usage[use.KeyID]; !ok || !use.At.Before(prev.At) {
		e.usage[use.KeyID] = use
	}
	e.pendingMu.Unlock()
}

func (e *Engine) writeBehind() {
	defer close(e.done)
	flush := time.NewTicker(e.flushInterval)
	defer flush.Stop()
	refill := time.NewTicker(e.refillInterval)
	defer refill.Stop()
	for {
		select {
		case <-flush.C:
			e.Flush(context.Background())
		case <-refill.C:
			if err := e.Refill(context.Background()); err != nil {
				e.logger.Error("refill credits", "err", err)
			}
		case <-e.stop:
			e.Flush(context.Background())
			return
		}
	}
}

// Refill applies the credit refills due now and drops the refilled keys
// from the cache.
func (e *Engine) Refill(ctx context.Context) error {
	keys, err := e.store.RefillCredits(ctx, e.now())
	for _, k := range keys {
		e.Invalidate(k.Hash)
	}
	return err
}

// Flush writes the pending last-use records and answer counts now. A
// failed batch is merged back, so a passing store outage loses nothing but
// time. Flushes run one at a time: when Flush returns, everything recorded
// before the call is in the store, even what a background flush had
// already taken.
func (e *Engine) Flush(ctx context.Context) {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	// A map is taken only when swapped out: an empty one stays shared
	// with the verifications that fill it. The new ones start small, not
	// sized after the batch: a burst of many keys would keep its room
	// (about 250 bytes a key) for as long as the next flush finds none.
	var uses map[string]pendingUse
	var counts map[countKey]int64
	e.pendingMu.Lock()
	if len(e.usage) > 0 {
		uses, e.usage = e.usage, make(map[string]pendingUse)
	}
	if len(e.counts) > 0 {
		counts, e.counts = e.counts, make(map[countKey]int64)
	}
	e.pendingMu.Unlock()
	e.flushUses(ctx, uses)
	e.flushCounts(ctx, counts)
}

// flushUses writes pending, swapped out of e.usage (nil for none), and
// merges it back when the store fails.
func (e *Engine) flushUses(ctx context.Context, pending map[string]pendingUse) {
	if len(pending) == 0 {
		return
	}
	uses := make([]keyward.KeyUse, 0, len(pending))
	for _, u := range pending {
		if u.ip.IsValid() {
			u.IP = u.ip.Unmap().String()
		}
		uses = append(uses, u.KeyUse)
	}
	if err := e.store.TouchKeys(ctx, uses); err != nil {
		e.logger.Error("write last use", "keys", len(uses), "err", err)
		for _, u := range pending {
			e.mergeUse(u)
		}
	}
}
