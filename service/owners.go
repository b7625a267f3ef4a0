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
		return &keyward.Owner{ID: ownerID, OrgID: p.OrgID}, nil
	}
	return o, err
}

// UpdateOwner implements keyward.OwnerService. The caller must cover the
// permissions of every live key of the owner, as if it changed each of
// them (checkTarget): owner limits grant nothing, but a tight one throttles
// those keys, so a weak admin must not be able to starve a stronger key.
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
	// The audit details name the limits as [], not null, when removed.
	if limits == nil {
		limits = []keyward.RateLimit{}
	}
	if err := s.checkOwnerKeys(ctx, p, ownerID); err != nil {
		return nil, err
	}
	now := s.clock()
	o := &keyward.Owner{ID: ownerID, OrgID: p.OrgID, RateLimits: limits, UpdatedAt: &now}
	// Like writeKey, drop the cached settings whatever the outcome.
	defer s.engine.InvalidateOwner(p.OrgID, ownerID)
	ev := s.event(ctx, p, keyward.ActionOwnerUpdate, "owner", ownerID, map[string]any{"rate_limits": limits})
	if err := s.store.UpsertOwner(ctx, o, ev); err != nil {
		return nil, err
	}
	return o, nil
}

// checkOwnerKeys applies checkTarget to every key of the owner that is
// neither revoked nor deleted: those are the keys its limits bind.
func (s *Service) checkOwnerKeys(ctx context.Context, p *keyward.Principal, ownerID string) error {
	unrevoked := false
	f := keyward.KeyFilter{OwnerID: ownerID, Revoked: &unrevoked, Limit: keyward.MaxPageLimit}
	for {
		page, err := s.store.FindKeys(ctx, p.OrgID, f)
		if err != nil {
			return err
		}
		for _, k := range page.Data {
			if err := checkTarget(p, k); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		f.Cursor = page.NextCursor
	}
}

// checkOwnerID applies CreateKey's rule on owner_id, and requires one.
func checkOwnerID(id string) error {
	if id == "" || len(id) > maxOwnerIDLen || !keyward.PrintableText(id) {
		return keyward.Invalid(keyward.FieldError{Field: "owner_id",
			Message: fmt.Sprintf("must be 1 to %d characters of valid UTF-8 without control characters", maxOwnerIDLen)})
	}
	return nil
}
