package service

import (
	"context"
	"encoding/json"

	"keyward"
)

// CreateServiceAccount implements keyward.ServiceAccountService.
func (s *Service) CreateServiceAccount(ctx context.Context, in keyward.ServiceAccountCreate) (*keyward.ServiceAccount, error) {
	p, err := authorize(ctx, keyward.PermServiceAccountsCreate)
	if err != nil {
		return nil, err
	}
	var v validator
	v.name(in.Name)
	v.description(in.Description)
	if err := v.err(); err != nil {
		return nil, err
	}
	sa := &keyward.ServiceAccount{
		ID:          newID(),
		OrgID:       p.OrgID,
		Name:        in.Name,
		Description: in.Description,
		CreatedAt:   s.clock(),
		CreatedBy:   p.KeyID,
	}
	ev := s.event(ctx, p, keyward.ActionServiceAccountCreate, "service_account", sa.ID, map[string]any{"name": sa.Name})
	if err := s.store.CreateServiceAccount(ctx, sa, ev); err != nil {
		return nil, err
	}
	return sa, nil
}

// FindServiceAccountByID implements keyward.ServiceAccountService.
func (s *Service) FindServiceAccountByID(ctx context.Context, id string) (*keyward.ServiceAccount, error) {
	p, err := authorize(ctx, keyward.PermServiceAccountsRead)
	if err != nil {
		return nil, err
	}
	return s.store.FindServiceAccountByID(ctx, p.OrgID, id)
}

// FindServiceAccounts implements keyward.ServiceAccountService.
func (s *Service) FindServiceAccounts(ctx context.Context, f keyward.ServiceAccountFilter) (keyward.Page[*keyward.ServiceAccount], error) {
	p, err := authorize(ctx, keyward.PermServiceAccountsRead)
	if err != nil {
		return keyward.Page[*keyward.ServiceAccount]{}, err
	}
	if err := checkLimit(f.Limit); err != nil {
		return keyward.Page[*keyward.ServiceAccount]{}, err
	}
	return s.store.FindServiceAccounts(ctx, p.OrgID, f)
}

// DeleteServiceAccount implements keyward.ServiceAccountService. Its keys
// are revoked in the same transaction and dropped from the cache. Revoking
// them is subject to the rule of RevokeKey (checkTarget): the caller must
// cover every permission of each key, or nothing is deleted. The audit
// event names every key revoked.
func (s *Service) DeleteServiceAccount(ctx context.Context, id string) (*keyward.ServiceAccount, error) {
	p, err := authorize(ctx, keyward.PermServiceAccountsDelete)
	if err != nil {
		return nil, err
	}
	sa, err := s.store.FindServiceAccountByID(ctx, p.OrgID, id)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	// Like writeKey, drop the keys from the cache whatever the outcome: a
	// commit whose acknowledgement was lost must not leave them served.
	var seen []*keyward.Key
	defer func() {
		for _, k := range seen {
			s.engine.Invalidate(k.Hash)
		}
	}()
	ev := s.event(ctx, p, keyward.ActionServiceAccountDelete, "service_account", id, nil)
	_, err = s.store.DeleteServiceAccount(ctx, p.OrgID, id, now, func(keys []*keyward.Key) error {
		seen = keys
		ids := make([]string, 0, len(keys))
		for _, k := range keys {
			if err := checkTarget(p, k); err != nil {
				return err
			}
			ids = append(ids, k.ID)
		}
		var err error
		ev.Details, err = json.Marshal(map[string]any{"revoked_key_ids": ids})
		return err
	}, ev)
	if err != nil {
		return nil, err
	}
	sa.DeletedAt = &now
	return sa, nil
}

// FindAuditEvents implements keyward.AuditService.
func (s *Service) FindAuditEvents(ctx context.Context, f keyward.AuditFilter) (keyward.Page[*keyward.AuditEvent], error) {
	p, err := authorize(ctx, keyward.PermAuditRead)
	if err != nil {
		return keyward.Page[*keyward.AuditEvent]{}, err
	}
	if err := checkLimit(f.Limit); err != nil {
		return keyward.Page[*keyward.AuditEvent]{}, err
	}
	return s.store.FindAuditEvents(ctx, p.OrgID, f)
}
