// Package service holds Keyward's management rules over a keyward.Store:
// who may do what (management permissions and non-escalation), input
// validation, audit events, and cache invalidation on every write. The REST
// API and the seed-compatibility adapters both call it, so the rules exist
// once.
package service

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"keyward"
	"keyward/authz"
	"keyward/keyformat"
	"keyward/verify"
)

// Service implements the management interfaces of the root package.
type Service struct {
	store  keyward.Store
	engine *verify.Engine
	now    func() time.Time
	prefix string
}

var (
	_ keyward.KeyService            = (*Service)(nil)
	_ keyward.ServiceAccountService = (*Service)(nil)
	_ keyward.AuditService          = (*Service)(nil)
	_ keyward.VerifyService         = (*Service)(nil)
	_ keyward.OwnerService          = (*Service)(nil)
	_ keyward.OrgService            = (*Service)(nil)
	_ keyward.UsageService          = (*Service)(nil)
)

// Config configures a Service. Store and Engine are required.
type Config struct {
	Store  keyward.Store
	Engine *verify.Engine
	// Now is the clock; tests inject one. It must be the engine's clock too.
	Now func() time.Time
	// DefaultPrefix is the prefix of keys created without one.
	DefaultPrefix string
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DefaultPrefix == "" {
		cfg.DefaultPrefix = keyformat.DefaultPrefix
	}
	return &Service{store: cfg.Store, engine: cfg.Engine, now: cfg.Now, prefix: cfg.DefaultPrefix}
}

// clock returns now as stored: UTC, microsecond precision (what both SQLite
// and PostgreSQL keep), so a record reads back exactly as it was written.
func (s *Service) clock() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// authorize returns the caller when it holds perm.
func authorize(ctx context.Context, perm string) (*keyward.Principal, error) {
	p := keyward.PrincipalFromContext(ctx)
	if p == nil {
		return nil, keyward.Errorf(keyward.EUNAUTHORIZED, "Authentication required.")
	}
	if !authz.Allowed(p.Permissions, perm) {
		return nil, keyward.Errorf(keyward.EFORBIDDEN, "This key lacks the %s permission.", perm)
	}
	return p, nil
}

// CreateOrg creates an organization with a root key holding "*", for
// `keyward init` and the first `keyward serve`. Returns ECONFLICT when the
// org exists.
func (s *Service) CreateOrg(ctx context.Context, name string) (*keyward.Organization, *keyward.CreatedKey, error) {
	if err := checkOrgName(name); err != nil {
		return nil, nil, err
	}
	now := s.clock()
	org := &keyward.Organization{ID: newID(), Name: name, CreatedAt: now}
	secret, k, err := s.newKey(s.prefix)
	if err != nil {
		return nil, nil, err
	}
	k.OrgID = org.ID
	k.Name = "root"
	k.Description = "Root key created at bootstrap."
	k.Permissions = []string{keyward.PermRoot}
	k.Enabled = true
	k.CreatedAt, k.UpdatedAt = now, now
	ev := s.event(ctx, &keyward.Principal{OrgID: org.ID}, keyward.ActionOrgCreate, "organization", org.ID,
		map[string]any{"name": name, "root_key_id": k.ID})
	if err := s.store.CreateOrg(ctx, org, k, ev); err != nil {
		if keyward.ErrorCode(err) == keyward.ECONFLICT {
			return nil, nil, keyward.Errorf(keyward.ECONFLICT, "Organization %q already exists.", name)
		}
		return nil, nil, err
	}
	return org, &keyward.CreatedKey{Key: k, Secret: secret}, nil
}

// newKey generates a secret and a key record holding its id, hash and
// display prefix.
func (s *Service) newKey(prefix string) (string, *keyward.Key, error) {
	secret, err := keyformat.Generate(prefix)
	if err != nil {
		return "", nil, err
	}
	hash := s.engine.Hash(secret)
	return secret, &keyward.Key{
		ID:        newID(),
		KeyPrefix: keyformat.DisplayPrefix(secret),
		Hash:      hash[:],
	}, nil
}

// event builds the audit row of a write by p.
func (s *Service) event(ctx context.Context, p *keyward.Principal, action, targetType, targetID string, details any) *keyward.AuditEvent {
	info := keyward.RequestInfoFromContext(ctx)
	ev := &keyward.AuditEvent{
		ID:         newID(),
		OrgID:      p.OrgID,
		Time:       s.clock(),
		ActorKeyID: p.KeyID,
		Action:     action,
		TargetType: targetType,
		TargetID:   targetID,
		RequestID:  info.RequestID,
		UserAgent:  info.UserAgent,
	}
	if info.RemoteIP.IsValid() {
		ev.SourceIP = info.RemoteIP.Unmap().String()
	}
	if details != nil {
		// Details are built from validated inputs only, so this cannot fail.
		ev.Details, _ = json.Marshal(details)
	}
	return ev
}

// newID returns a UUIDv7: unique and ordered by time, so ids double as
// pagination cursors.
func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

func checkOrgName(name string) error {
	if name == "" || len(name) > 64 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return keyward.Invalid(keyward.FieldError{Field: "org", Message: "must be 1 to 64 letters, digits, '.', '_' or '-'"})
	}
	return nil
}
