package service

import (
	"context"
	"fmt"

	"keyward"
)

// FindOwner implements keyward.OwnerService.
func (s *Service) FindOwner(ctx context.Context, ownerID string) (*keyward.Owner, error) {
	p, err := authorize(ctx, keyward.PermKeysRead)
	if err != nil {
		return nil, err
	}
	if err := checkOwnerID(ownerID); err != nil {
		return nil, err
	}
	o, err := s.store.FindOwner(ctx, p.OrgID, ownerID)
	if keyward.ErrorCode(err) == keyward.ENOTFOUND {
		return &keyward.Owner{ID: ownerID, OrgID: p.OrgID, RateLimits: []keyward.RateLimit{}}, nil
	}
	return o, err
}

// UpdateOwner implements keyward.OwnerService. The caller need not cover
// the permissions of the owner's keys: owner limits only ever restrict
// those keys (a key's own limit of the same name wins), and they grant no
// access. Lifting a limit gives a key back only the use it was made with.
func (s *Service) UpdateOwner(ctx context.Context, ownerID string, upd keyward.OwnerUpdate) (*keyward.Owner, error) {
	p, err := authorize(ctx, keyward.PermKeysUpdate)
	if err != nil {
		return nil, err
	}
	if err := checkOwnerID(ownerID); err != nil {
		return nil, err
	}
	var v validator
	limits := v.rateLimits(upd.RateLimits)
	if err := v.err(); err != nil {
		return nil, err
	}
	if limits == nil {
		limits = []keyward.RateLimit{}
	}
	o := &keyward.Owner{ID: ownerID, OrgID: p.OrgID, RateLimits: limits, UpdatedAt: s.clock()}
	// Like writeKey, drop the cached settings whatever the outcome.
	defer s.engine.InvalidateOwner(p.OrgID, ownerID)
	ev := s.event(ctx, p, keyward.ActionOwnerUpdate, "owner", ownerID, map[string]any{"rate_limits": limits})
	if err := s.store.UpsertOwner(ctx, o, ev); err != nil {
		return nil, err
	}
	return o, nil
}

// checkOwnerID applies CreateKey's rule on owner_id, and requires one.
func checkOwnerID(id string) error {
	if id == "" || len(id) > maxOwnerIDLen || !keyward.PrintableText(id) {
		return keyward.Invalid(keyward.FieldError{Field: "owner_id",
			Message: fmt.Sprintf("must be 1 to %d characters of valid UTF-8 without control characters", maxOwnerIDLen)})
	}
	return nil
}
