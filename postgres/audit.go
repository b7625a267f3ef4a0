package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"keyward"
)

const auditColumns = `id, org_id, time, actor_key_id, action, target_type, target_id, request_id, source_ip, user_agent, details`

// insertAuditEvent appends ev in tx; a nil ev writes nothing.
func insertAuditEvent(ctx context.Context, tx pgx.Tx, ev *keyward.AuditEvent) error {
	if ev == nil {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_events (`+auditColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		ev.ID, ev.OrgID, timeValue(ev.Time), nullString(ev.ActorKeyID), ev.Action, ev.TargetType, ev.TargetID,
		nullString(ev.RequestID), nullString(ev.SourceIP), nullString(ev.UserAgent), nullJSON(ev.Details))
	return err
}

func scanAuditEvent(s scanner) (*keyward.AuditEvent, error) {
	var (
		ev                                keyward.AuditEvent
		actor, requestID, sourceIP, agent pgtype.Text
		details                           *string
	)
	if err := s.Scan(&ev.ID, &ev.OrgID, &ev.Time, &actor, &ev.Action, &ev.TargetType, &ev.TargetID,
		&requestID, &sourceIP, &agent, &details); err != nil {
		return nil, err
	}
	ev.ActorKeyID = actor.String
	ev.RequestID = requestID.String
	ev.SourceIP = sourceIP.String
	ev.UserAgent = agent.String
	ev.Details = fromNullJSON(details)
	return &ev, nil
}

// FindAuditEvents lists the org's audit events, newest first: ids are
// UUIDv7, so descending id is descending time.
func (db *DB) FindAuditEvents(ctx context.Context, orgID string, f keyward.AuditFilter) (_ keyward.Page[*keyward.AuditEvent], err error) {
	defer wrap(&err, "FindAuditEvents(%q)", orgID)
	var c conds
	c.addArg("org_id = $%d", orgID)
	if f.Action != "" {
		c.addArg("action = $%d", f.Action)
	}
	if f.TargetID != "" {
		c.addArg("target_id = $%d", f.TargetID)
	}
	if f.Cursor != "" {
		before, err := decodeCursor(f.Cursor)
		if err != nil {
			return keyward.Page[*keyward.AuditEvent]{}, err
		}
		c.addArg("id < $%d", before)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events WHERE ` + c.where() + ` ORDER BY id DESC`
	return page(ctx, db.pool, query, c.args, keyward.PageLimit(f.Limit), scanAuditEvent, func(ev *keyward.AuditEvent) string { return ev.ID })
}
