package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"keyward"
	"keyward/keyformat"
)

// RotateKey implements keyward.KeyService. The successor gets a new secret
// with the old key's prefix, every setting of the old key, and its credits,
// which the old key spends from until it ends. The successor's expiry is
// in.ExpiresAt or in.ExpiresIn when given, else the old key's, and either
// way meets the org's policy as on CreateKey (a non-expiring key gets the
// default lifetime, say). The old key keeps working for the grace period
// (never past its own expiry), then answers EXPIRED.
//
// The old key must still work: a revoked or expired key, or one already
// rotated, is a conflict (a rotation would bring back a dead key, or fork
// the key's line). A disabled key may be rotated, since replacing a key
// that was switched off after a leak is a reason to rotate; its successor
// is disabled too, until someone enables it.
func (s *Service) RotateKey(ctx context.Context, id string, in keyward.KeyRotate) (*keyward.CreatedKey, error) {
	p, err := authorize(ctx, keyward.PermKeysCreate)
	if err != nil {
		return nil, err
	}
	if _, err := authorize(ctx, keyward.PermKeysUpdate); err != nil {
		return nil, err
	}
	pol, err := s.store.FindOrgPolicy(ctx, p.OrgID)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	var v validator
	if in.GracePeriod < 0 || in.GracePeriod > keyward.MaxGracePeriod {
		v.add("grace_period", fmt.Sprintf("must be between 0 and %d seconds", keyward.MaxGracePeriod))
	}
	var expiresAt *time.Time
	given := in.ExpiresAt != nil || in.ExpiresIn != nil
	if given {
		expiresAt = v.expiryUnder(pol, in.ExpiresAt, in.ExpiresIn, true, now)
	}
	if err := v.err(); err != nil {
		return nil, err
	}

	// Like writeKey, drop the old key from the cache whatever the outcome.
	var hash []byte
	defer func() { s.engine.Invalidate(hash) }()
	var secret string
	next := &keyward.Key{}
	ev := s.event(ctx, p, keyward.ActionKeyRotate, "key", id, nil)
	_, err = s.store.RotateKey(ctx, p.OrgID, id, next, func(old *keyward.Key) error {
		hash = old.Hash
		if err := checkTarget(p, old); err != nil {
			return err
		}
		switch {
		case old.RevokedAt != nil:
			return keyward.Errorf(keyward.ECONFLICT, "Key %s is revoked and cannot be rotated.", old.ID)
		case old.ExpiresAt != nil && !now.Before(*old.ExpiresAt):
			return keyward.Errorf(keyward.ECONFLICT, "Key %s has expired and cannot be rotated.", old.ID)
		case old.RotatedTo != "":
			return keyward.Errorf(keyward.ECONFLICT, "Key %s was already rotated to key %s.", old.ID, old.RotatedTo)
		}
		exp := expiresAt
		if !given {
			// The inherited expiry meets today's policy, which may be
			// stricter than the one the old key was made under.
			var v validator
			exp = v.policyExpiry(pol, clonePtr(old.ExpiresAt), "expires_at", true, now)
			if err := v.err(); err != nil {
				return err
			}
		}
		// key_prefix is the prefix, "_" and DisplayRandomLen characters;
		// a damaged one leaves a prefix that Generate refuses.
		prefix := old.KeyPrefix[:max(0, len(old.KeyPrefix)-1-keyformat.DisplayRandomLen)]
		sec, nk, err := s.newKey(prefix)
		if err != nil {
			return err
		}
		secret = sec
		*next = keyward.Key{
			ID:               nk.ID,
			OrgID:            old.OrgID,
			Name:             old.Name,
			Description:      old.Description,
			KeyPrefix:        nk.KeyPrefix,
			Permissions:      slices.Clone(old.Permissions),
			AllowedIPs:       slices.Clone(old.AllowedIPs),
			ExpiresAt:        exp,
			Enabled:          old.Enabled,
			Metadata:         slices.Clone(old.Metadata),
			RateLimits:       slices.Clone(old.RateLimits),
			OwnerID:          old.OwnerID,
			ServiceAccountID: old.ServiceAccountID,
			CreatedAt:        now,
			UpdatedAt:        now,
			CreatedBy:        p.KeyID,
			RotatedFrom:      old.ID,
			Hash:             nk.Hash,
		}

		// The store moves the old key's credits to next: bring them up to
		// date first, so that a refill due now is not lost in the move.
		if old.Credits != nil {
			old.Credits.ApplyRefill(now)
		}
		end := now.Add(time.Duration(in.GracePeriod) * time.Second)
		if old.ExpiresAt == nil || end.Before(*old.ExpiresAt) {
			old.ExpiresAt = &end
		}
		old.RotatedTo = next.ID
		old.UpdatedAt = now
		ev.Details, err = json.Marshal(map[string]any{
			"rotated_to": next.ID, "grace_period": in.GracePeriod, "expires_at": old.ExpiresAt,
		})
		return err
	}, ev)
	if err != nil {
		return nil, err
	}
	return &keyward.CreatedKey{Key: next, Secret: secret}, nil
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
