// Package verify is Keyward's verification engine: the hot path that turns
// a presented key into an answer. It parses and checksums the key, hashes
// it, looks the hash up in an in-memory cache (with negative entries for
// unknown hashes) and only on a miss in the store, then runs the checks in
// DESIGN.md's fixed order. Last use is recorded behind, in batches.
package verify

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"

	"keyward"
	"keyward/authz"
	"keyward/keyformat"
)

// Defaults for Config's zero values.
const (
	DefaultCacheSize         = 1_000_000
	DefaultCacheTTL          = time.Minute
	DefaultNegativeCacheSize = 100_000
	DefaultNegativeTTL       = 10 * time.Second
	DefaultFlushInterval     = time.Second
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
	// FlushInterval is how often last use is written to the store.
	FlushInterval time.Duration
	Logger        *slog.Logger
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

	usageMu sync.Mutex
	usage   map[string]keyward.KeyUse

	flushInterval time.Duration
	stop          chan struct{}
	done          chan struct{}
	closeOnce     sync.Once
}

// entry is a cached key with its allowed IP ranges parsed.
type entry struct {
	key  *keyward.Key
	nets []netip.Prefix
}

// New returns an engine and starts its last-use writer; Close stops it.
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := &Engine{
		store:         cfg.Store,
		hasher:        cfg.Hasher,
		now:           cfg.Now,
		logger:        cfg.Logger,
		usage:         make(map[string]keyward.KeyUse),
		flushInterval: cfg.FlushInterval,
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	e.cache = otter.Must(&otter.Options[[32]byte, *entry]{
		MaximumSize:      cfg.CacheSize,
		ExpiryCalculator: otter.ExpiryWriting[[32]byte, *entry](cfg.CacheTTL),
	})
	e.negative = otter.Must(&otter.Options[[32]byte, struct{}]{
		MaximumSize:      cfg.NegativeCacheSize,
		ExpiryCalculator: otter.ExpiryWriting[[32]byte, struct{}](cfg.NegativeTTL),
	})
	e.loader = e.load
	go e.writeBehind()
	return e
}

// Close flushes the pending last-use records and stops the writer. Calls
// after the first do nothing.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		close(e.stop)
		<-e.done
		e.cache.StopAllGoroutines()
		e.negative.StopAllGoroutines()
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

// load reads a hash from the store for the cache; otter merges concurrent
// loads of one hash into one store read.
func (e *Engine) load(ctx context.Context, hash [32]byte) (*entry, error) {
	k, err := e.store.FindKeyByHash(ctx, hash[:])
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return nil, otter.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	en := &entry{key: k}
	for _, s := range k.AllowedIPs {
		// Stored ranges were validated on write; a bad one matches nothing
		// rather than everything.
		if p, err := keyward.ParseIPRange(s); err == nil {
			en.nets = append(en.nets, p)
		}
	}
	if len(k.AllowedIPs) > 0 && len(en.nets) == 0 {
		en.nets = []netip.Prefix{{}}
	}
	return en, nil
}

// lookup returns the cached entry for secret, or nil when the secret is
// malformed or no key has its hash.
func (e *Engine) lookup(ctx context.Context, secret string) (*entry, error) {
	if _, ok := keyformat.Parse(secret); !ok {
		return nil, nil
	}
	hash := e.hasher.Hash(secret)
	if _, ok := e.negative.GetIfPresent(hash); ok {
		return nil, nil
	}
	en, err := e.cache.Get(ctx, hash, e.loader)
	if errors.Is(err, otter.ErrNotFound) {
		e.negative.Set(hash, struct{}{})
		return nil, nil
	}
	return en, err
}

// Verify answers whether secret is a valid key of org orgID for a client at
// ip (invalid when unknown) presenting userAgent, holding the permissions
// that query (nil for none) asks for. A key of another org answers
// NOT_FOUND exactly like a key that does not exist.
func (e *Engine) Verify(ctx context.Context, orgID, secret string, ip netip.Addr, userAgent string, query *authz.Query) (*keyward.VerifyResult, error) {
	en, err := e.lookup(ctx, secret)
	if err != nil {
		return nil, err
	}
	if en == nil || en.key.OrgID != orgID {
		return &keyward.VerifyResult{Code: keyward.CodeNotFound}, nil
	}
	k := en.key
	now := e.now()
	code := k.Status(now)
	if code == keyward.CodeNotFound {
		return &keyward.VerifyResult{Code: code}, nil
	}
	if code == keyward.CodeValid && !ipAllowed(en.nets, ip) {
		code = keyward.CodeIPNotAllowed
	}
	if code == keyward.CodeValid && query != nil && !query.Eval(k.Permissions) {
		code = keyward.CodeInsufficientPermissions
	}
	if code == keyward.CodeValid {
		e.recordUse(k, now, ip, userAgent)
	}
	return &keyward.VerifyResult{
		Valid:            code == keyward.CodeValid,
		Code:             code,
		KeyID:            k.ID,
		Name:             k.Name,
		OwnerID:          k.OwnerID,
		ServiceAccountID: k.ServiceAccountID,
		Permissions:      k.Permissions,
		Metadata:         k.Metadata,
		ExpiresAt:        k.ExpiresAt,
	}, nil
}

// Authenticate implements keyward.Authenticator for the management API.
func (e *Engine) Authenticate(ctx context.Context, secret string, remoteIP netip.Addr) (*keyward.Principal, error) {
	en, err := e.lookup(ctx, secret)
	if err != nil {
		return nil, err
	}
	if en == nil {
		return nil, keyward.Errorf(keyward.EUNAUTHORIZED, "Invalid API key.")
	}
	k := en.key
	now := e.now()
	switch k.Status(now) {
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
	if !ipAllowed(en.nets, remoteIP) {
		return nil, keyward.Errorf(keyward.EFORBIDDEN, "API key is not allowed from this IP address.")
	}
	e.recordUse(k, now, remoteIP, keyward.RequestInfoFromContext(ctx).UserAgent)
	return &keyward.Principal{OrgID: k.OrgID, KeyID: k.ID, Permissions: k.Permissions}, nil
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

// recordUse remembers the latest use of a key for the writer; many uses of
// one key between flushes coalesce into one row update. The user agent is
// cleaned here, where it enters storage, because it comes from the
// internet.
func (e *Engine) recordUse(k *keyward.Key, at time.Time, ip netip.Addr, userAgent string) {
	use := keyward.KeyUse{OrgID: k.OrgID, KeyID: k.ID, At: at, UserAgent: keyward.CleanUserAgent(userAgent)}
	if ip.IsValid() {
		use.IP = ip.Unmap().String()
	}
	e.mergeUse(use)
}

func (e *Engine) mergeUse(use keyward.KeyUse) {
	e.usageMu.Lock()
	if prev, ok := e.usage[use.KeyID]; !ok || !use.At.Before(prev.At) {
		e.usage[use.KeyID] = use
	}
	e.usageMu.Unlock()
}

func (e *Engine) writeBehind() {
	defer close(e.done)
	t := time.NewTicker(e.flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			e.Flush(context.Background())
		case <-e.stop:
			e.Flush(context.Background())
			return
		}
	}
}

// Flush writes the pending last-use records now. A failed batch is merged
// back, so a passing store outage loses nothing but time.
func (e *Engine) Flush(ctx context.Context) {
	e.usageMu.Lock()
	if len(e.usage) == 0 {
		e.usageMu.Unlock()
		return
	}
	pending := e.usage
	e.usage = make(map[string]keyward.KeyUse, len(pending))
	e.usageMu.Unlock()

	uses := make([]keyward.KeyUse, 0, len(pending))
	for _, u := range pending {
		uses = append(uses, u)
	}
	if err := e.store.TouchKeys(ctx, uses); err != nil {
		e.logger.Error("write last use", "keys", len(uses), "err", err)
		for _, u := range uses {
			e.mergeUse(u)
		}
	}
}
