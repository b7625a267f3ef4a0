package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"keyward"
	"keyward/authz"
	"keyward/keyformat"
)

// Input limits.
const (
	maxNameLen        = 255
	maxDescriptionLen = 1024
	maxOwnerIDLen     = 255
	maxPermissions    = 100
	maxAllowedIPs     = 100
	maxMetadataBytes  = 4096
	// maxLifetime bounds expires_in and expires_at: 100 years.
	maxLifetime        = 100 * 365 * 24 * time.Hour
	maxLifetimeSeconds = int64(maxLifetime / time.Second)
)

// CreateKey implements keyward.KeyService.
func (s *Service) CreateKey(ctx context.Context, in keyward.KeyCreate) (*keyward.CreatedKey, error) {
	p, err := authorize(ctx, keyward.PermKeysCreate)
	if err != nil {
		return nil, err
	}
	pol, err := s.store.FindOrgPolicy(ctx, p.OrgID)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	var v validator
	v.name(in.Name)
	v.description(in.Description)
	perms := v.permissions(in.Permissions)
	ips := v.allowedIPs(in.AllowedIPs)
	expiresAt := v.expiryUnder(pol, in.ExpiresAt, in.ExpiresIn, true, now)
	metadata := v.metadata(in.Metadata)
	if len(in.OwnerID) > maxOwnerIDLen {
		v.add("owner_id", fmt.Sprintf("must be at most %d characters", maxOwnerIDLen))
	} else if !keyward.PrintableText(in.OwnerID) {
		v.add("owner_id", "must be valid UTF-8 without control characters")
	}
	if in.OwnerID != "" && in.ServiceAccountID != "" {
		v.add("service_account_id", "give owner_id or service_account_id, not both")
	}
	prefix := s.prefix
	if in.Prefix != "" {
		if !keyformat.ValidPrefix(in.Prefix) {
			v.add("prefix", "must be 1 to 16 characters of a-z, 0-9 and '_'")
		}
		prefix = in.Prefix
	}
	limits := v.rateLimits(in.RateLimits)
	credits := v.credits(in.Credits, now)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkGrant(p, perms); err != nil {
		return nil, err
	}

	secret, k, err := s.newKey(prefix)
	if err != nil {
		return nil, err
	}
	k.OrgID = p.OrgID
	k.Name = in.Name
	k.Description = in.Description
	k.Permissions = perms
	k.AllowedIPs = ips
	k.ExpiresAt = expiresAt
	k.Enabled = in.Enabled == nil || *in.Enabled
	k.Metadata = metadata
	k.OwnerID = in.OwnerID
	k.ServiceAccountID = in.ServiceAccountID
	k.RateLimits = limits
	k.Credits = credits
	k.CreatedAt, k.UpdatedAt = now, now
	k.CreatedBy = p.KeyID

	ev := s.event(ctx, p, keyward.ActionKeyCreate, "key", k.ID, map[string]any{
		"name": k.Name, "key_prefix": k.KeyPrefix, "permissions": k.Permissions,
		"allowed_ips": k.AllowedIPs, "expires_at": k.ExpiresAt, "enabled": k.Enabled,
		"owner_id": k.OwnerID, "service_account_id": k.ServiceAccountID,
		"rate_limits": k.RateLimits, "credits": k.Credits,
	})
	if err := s.store.CreateKey(ctx, k, ev); err != nil {
		return nil, err
	}
	return &keyward.CreatedKey{Key: k, Secret: secret}, nil
}

// FindKeyByID implements keyward.KeyService.
func (s *Service) FindKeyByID(ctx context.Context, id string) (*keyward.Key, error) {
	p, err := authorize(ctx, keyward.PermKeysRead)
	if err != nil {
		return nil, err
	}
	return s.findLiveKey(ctx, p.OrgID, id)
}

// findLiveKey answers a deleted key with ENOTFOUND, like a missing one.
func (s *Service) findLiveKey(ctx context.Context, orgID, id string) (*keyward.Key, error) {
	k, err := s.store.FindKeyByID(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if k.DeletedAt != nil {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "Key not found.")
	}
	return k, nil
}

// FindKeys implements keyward.KeyService.
func (s *Service) FindKeys(ctx context.Context, f keyward.KeyFilter) (keyward.Page[*keyward.Key], error) {
	p, err := authorize(ctx, keyward.PermKeysRead)
	if err != nil {
		return keyward.Page[*keyward.Key]{}, err
	}
	if err := checkLimit(f.Limit); err != nil {
		return keyward.Page[*keyward.Key]{}, err
	}
	return s.store.FindKeys(ctx, p.OrgID, f)
}

// UpdateKey implements keyward.KeyService.
func (s *Service) UpdateKey(ctx context.Context, id string, upd keyward.KeyUpdate) (*keyward.Key, error) {
	p, err := authorize(ctx, keyward.PermKeysUpdate)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	var v validator
	changed := map[string]any{}
	if upd.Name != nil {
		v.name(*upd.Name)
		changed["name"] = *upd.Name
	}
	if upd.Description != nil {
		v.description(*upd.Description)
		changed["description"] = *upd.Description
	}
	var perms, ips []string
	if upd.Permissions != nil {
		perms = v.permissions(*upd.Permissions)
		changed["permissions"] = perms
	}
	if upd.AllowedIPs != nil {
		ips = v.allowedIPs(*upd.AllowedIPs)
		changed["allowed_ips"] = ips
	}
	var expiresAt *time.Time
	setExpiry := upd.ExpiresAt.Set || upd.ExpiresIn != nil
	if setExpiry {
		// Only a changed expiry meets the policy: a key made before the
		// policy keeps its own until someone changes it.
		pol, err := s.store.FindOrgPolicy(ctx, p.OrgID)
		if err != nil {
			return nil, err
		}
		expiresAt = v.expiryUnder(pol, upd.ExpiresAt.Value, upd.ExpiresIn, false, now)
		changed["expires_at"] = expiresAt
	}
	var metadata json.RawMessage
	if upd.Metadata != nil {
		metadata = v.metadata(upd.Metadata)
		changed["metadata"] = true
	}
	if upd.Enabled != nil {
		changed["enabled"] = *upd.Enabled
	}
	var limits []keyward.RateLimit
	if upd.RateLimits != nil {
		limits = v.rateLimits(*upd.RateLimits)
		changed["rate_limits"] = limits
	}
	var credits *keyward.Credits
	if upd.Credits.Set {
		credits = v.credits(upd.Credits.Value, now)
		changed["credits"] = credits
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if upd.Permissions != nil {
		if err := checkGrant(p, perms); err != nil {
			return nil, err
		}
	}

	ev := s.event(ctx, p, keyward.ActionKeyUpdate, "key", id, changed)
	return s.writeKey(ctx, p, id, ev, func(k *keyward.Key) error {
		if k.RevokedAt != nil {
			return keyward.Errorf(keyward.ECONFLICT, "Key %s is revoked and cannot be changed.", k.ID)
		}
		if len(changed) == 0 {
			return keyward.ErrNoChange
		}
		// A rotated key lives out its grace period on its successor's
		// credits; a new expiry or balance would outlast or fork them.
		if k.RotatedTo != "" && (setExpiry || upd.Credits.Set) {
			return keyward.Errorf(keyward.ECONFLICT, "Key %s was rotated to key %s; its expiry and credits cannot be changed (revoke it to end it now).", k.ID, k.RotatedTo)
		}
		if upd.Name != nil {
			k.Name = *upd.Name
		}
		if upd.Description != nil {
			k.Description = *upd.Description
		}
		if upd.Permissions != nil {
			k.Permissions = perms
		}
		if upd.AllowedIPs != nil {
			k.AllowedIPs = ips
		}
		if setExpiry {
			k.ExpiresAt = expiresAt
		}
		if upd.Metadata != nil {
			k.Metadata = metadata
		}
		if upd.Enabled != nil {
			k.Enabled = *upd.Enabled
		}
		if upd.RateLimits != nil {
			k.RateLimits = limits
		}
		if upd.Credits.Set {
			k.Credits = credits
		}
		k.UpdatedAt = now
		return nil
	})
}

// RevokeKey implements keyward.KeyService. Revoking a revoked key changes
// nothing and writes no second audit event.
func (s *Service) RevokeKey(ctx context.Context, id string) (*keyward.Key, error) {
	p, err := authorize(ctx, keyward.PermKeysDelete)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	ev := s.event(ctx, p, keyward.ActionKeyRevoke, "key", id, nil)
	return s.writeKey(ctx, p, id, ev, func(k *keyward.Key) error {
		if k.RevokedAt != nil {
			return keyward.ErrNoChange
		}
		k.RevokedAt = &now
		k.UpdatedAt = now
		return nil
	})
}

// DeleteKey implements keyward.KeyService: a soft delete that keeps the row
// for the audit trail.
func (s *Service) DeleteKey(ctx context.Context, id string) (*keyward.Key, error) {
	p, err := authorize(ctx, keyward.PermKeysDelete)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	ev := s.event(ctx, p, keyward.ActionKeyDelete, "key", id, nil)
	return s.writeKey(ctx, p, id, ev, func(k *keyward.Key) error {
		k.DeletedAt = &now
		k.UpdatedAt = now
		return nil
	})
}

// writeKey applies change to a key that the caller covers (checkTarget), in
// one transaction with its audit event ev, then drops the key from the
// cache so that the next verification on this node reads the new record.
// It drops it on an error too: a commit whose acknowledgement was lost must
// not leave the old record served until the cache entry expires. The store
// writes ev after change returns, so change may fill ev.Details with what
// only the stored record tells.
func (s *Service) writeKey(ctx context.Context, p *keyward.Principal, id string, ev *keyward.AuditEvent, change func(k *keyward.Key) error) (*keyward.Key, error) {
	var hash []byte
	defer func() { s.engine.Invalidate(hash) }()
	return s.store.UpdateKey(ctx, p.OrgID, id, func(k *keyward.Key) error {
		hash = k.Hash
		if err := checkTarget(p, k); err != nil {
			return err
		}
		return change(k)
	}, ev)
}

// WhoAmI implements keyward.KeyService.
func (s *Service) WhoAmI(ctx context.Context) (*keyward.Key, error) {
	p := keyward.PrincipalFromContext(ctx)
	if p == nil {
		return nil, keyward.Errorf(keyward.EUNAUTHORIZED, "Authentication required.")
	}
	return s.findLiveKey(ctx, p.OrgID, p.KeyID)
}

// checkGrant is the non-escalation rule: a caller may only hand out
// permissions that its own cover.
func checkGrant(p *keyward.Principal, perms []string) error {
	missing := authz.Uncovered(p.Permissions, perms)
	if len(missing) == 0 {
		return nil
	}
	msg := "Cannot grant permissions the calling key does not hold: " + strings.Join(missing, ", ") + "."
	return &keyward.Error{Code: keyward.EFORBIDDEN, Message: msg,
		Fields: []keyward.FieldError{{Field: "permissions", Message: msg}}}
}

// checkTarget keeps a weaker key from changing, revoking or deleting a
// stronger one (a root key, say): the caller must cover every permission
// of the key it acts on.
func checkTarget(p *keyward.Principal, k *keyward.Key) error {
	if missing := authz.Uncovered(p.Permissions, k.Permissions); len(missing) > 0 {
		return keyward.Errorf(keyward.EFORBIDDEN, "Key %s holds permissions the calling key does not: %s.", k.ID, strings.Join(missing, ", "))
	}
	return nil
}

func checkLimit(limit int) error {
	if limit < 0 || limit > keyward.MaxPageLimit {
		return keyward.Invalid(keyward.FieldError{Field: "limit", Message: fmt.Sprintf("must be between 1 and %d", keyward.MaxPageLimit)})
	}
	return nil
}

// validator collects every field error of one input, so a client learns all
// of them in one round trip.
type validator struct {
	fields []keyward.FieldError
}

func (v *validator) add(field, msg string) {
	v.fields = append(v.fields, keyward.FieldError{Field: field, Message: msg})
}

func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return keyward.Invalid(v.fields...)
}

func (v *validator) name(name string) {
	if n := utf8.RuneCountInString(name); strings.TrimSpace(name) == "" || n > maxNameLen {
		v.add("name", fmt.Sprintf("is required, 1 to %d characters", maxNameLen))
	} else if !keyward.PrintableText(name) {
		v.add("name", "must be valid UTF-8 without control characters")
	}
}

func (v *validator) description(d string) {
	if utf8.RuneCountInString(d) > maxDescriptionLen {
		v.add("description", fmt.Sprintf("must be at most %d characters", maxDescriptionLen))
	} else if !keyward.PrintableText(strings.NewReplacer("\n", "", "\t", "").Replace(d)) {
		// Line breaks and tabs are fine in prose; other controls could
		// rewrite the terminal of whoever lists the keys.
		v.add("description", "must be valid UTF-8 without control characters other than newline and tab")
	}
}

// permissions validates and de-duplicates, keeping the caller's order.
func (v *validator) permissions(perms []string) []string {
	if len(perms) > maxPermissions {
		v.add("permissions", fmt.Sprintf("at most %d permissions", maxPermissions))
		return nil
	}
	out := make([]string, 0, len(perms))
	seen := make(map[string]bool, len(perms))
	for i, perm := range perms {
		if err := authz.CheckPermission(perm); err != nil {
			v.add(fmt.Sprintf("permissions[%d]", i), err.Error())
			continue
		}
		if !seen[perm] {
			seen[perm] = true
			out = append(out, perm)
		}
	}
	return out
}

// allowedIPs validates and normalizes addresses and CIDRs.
func (v *validator) allowedIPs(ips []string) []string {
	if len(ips) > maxAllowedIPs {
		v.add("allowed_ips", fmt.Sprintf("at most %d entries", maxAllowedIPs))
		return nil
	}
	out := make([]string, 0, len(ips))
	seen := make(map[string]bool, len(ips))
	for i, s := range ips {
		p, err := keyward.ParseIPRange(s)
		if err != nil {
			v.add(fmt.Sprintf("allowed_ips[%d]", i), fmt.Sprintf("%q: %v", s, err))
			continue
		}
		if norm := keyward.FormatIPRange(p); !seen[norm] {
			seen[norm] = true
			out = append(out, norm)
		}
	}
	return out
}

// expiry returns the expiry time from an absolute time or a lifetime in
// seconds; nil for a key that never expires. ok is false when the input
// was invalid (and reported).
func (v *validator) expiry(at *time.Time, in *int64, now time.Time) (_ *time.Time, ok bool) {
	switch {
	case at != nil && in != nil:
		v.add("expires_in", "give expires_at or expires_in, not both")
	case at != nil:
		t := at.UTC().Truncate(time.Microsecond)
		if !t.After(now) {
			v.add("expires_at", "must be in the future")
		} else if t.Sub(now) > maxLifetime {
			v.add("expires_at", "must be within 100 years")
		} else {
			return &t, true
		}
	case in != nil:
		if *in <= 0 || *in > maxLifetimeSeconds {
			v.add("expires_in", fmt.Sprintf("must be between 1 and %d seconds", maxLifetimeSeconds))
		} else {
			t := now.Add(time.Duration(*in) * time.Second)
			return &t, true
		}
	default:
		return nil, true
	}
	return nil, false
}

// expiryUnder returns the expiry that at or in give (see expiry), held to
// the org's policy (see policyExpiry) when it is valid.
func (v *validator) expiryUnder(pol *keyward.OrgPolicy, at *time.Time, in *int64, useDefault bool, now time.Time) *time.Time {
	t, ok := v.expiry(at, in, now)
	if !ok {
		return nil
	}
	// Policy errors name the input that set the expiry.
	field := "expires_at"
	if at == nil && in != nil {
		field = "expires_in"
	}
	return v.policyExpiry(pol, t, field, useDefault, now)
}

// policyExpiry holds an expiry to the org's policy: the default lifetime
// when none was given and useDefault (creation), then the rules on
// non-expiring keys and on the longest lifetime, counted from now. A key
// that never expires is beyond any longest lifetime, whatever
// AllowNonExpiring says (a policy stored before the two were kept
// consistent may say both). field names the input that set at.
func (v *validator) policyExpiry(pol *keyward.OrgPolicy, at *time.Time, field string, useDefault bool, now time.Time) *time.Time {
	if at == nil && useDefault && pol.DefaultKeyLifetime != nil {
		t := now.Add(time.Duration(*pol.DefaultKeyLifetime) * time.Second)
		at = &t
	}
	switch {
	case at == nil && pol.MaxKeyLifetime != nil:
		v.add(field, fmt.Sprintf("the organization's policy requires keys to expire within %d seconds", *pol.MaxKeyLifetime))
	case at == nil && !pol.AllowNonExpiring:
		v.add(field, "the organization's policy requires keys to expire")
	case at != nil && pol.MaxKeyLifetime != nil && at.Sub(now) > time.Duration(*pol.MaxKeyLifetime)*time.Second:
		v.add(field, fmt.Sprintf("the organization's policy allows keys to live at most %d seconds, until %s",
			*pol.MaxKeyLifetime, now.Add(time.Duration(*pol.MaxKeyLifetime)*time.Second).Format(time.RFC3339)))
	}
	return at
}

// metadata checks for a JSON object of at most 4 KiB and compacts it.
// null means none, on create as on update (where it clears the object).
func (v *validator) metadata(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		v.add("metadata", "must be a JSON object")
		return nil
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		v.add("metadata", "must be a JSON object")
		return nil
	}
	if buf.Len() > maxMetadataBytes {
		v.add("metadata", fmt.Sprintf("must be at most %d bytes", maxMetadataBytes))
		return nil
	}
	return buf.Bytes()
}
