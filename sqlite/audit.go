package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"keyward"
)

const auditColumns = `id, org_id, time, actor_key_id, action, target_type, target_id, request_id, source_ip, user_agent, details`

// insertAuditSQL inserts an audit event; auditArgs gives its arguments.
const insertAuditSQL = `INSERT INTO audit_events (` + auditColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func auditArgs(ev *keyward.AuditEvent) []any {
	return []any{ev.ID, ev.OrgID, ev.Time.UnixMicro(), nullString(ev.ActorKeyID), ev.Action, ev.TargetType, ev.TargetID,
		nullString(ev.RequestID), nullString(ev.SourceIP), nullString(ev.UserAgent), nullJSON(ev.Details)}
}

// insertAuditEvent appends ev in tx; a nil ev writes nothing.
func insertAuditEvent(ctx context.Context, tx *sql.Tx, ev *keyward.AuditEvent) error {
	if ev == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, insertAuditSQL, auditArgs(ev)...)
	return err
}

func scanAuditEvent(s scanner) (*keyward.AuditEvent, error) {
	var (
		ev                                keyward.AuditEvent
		at                                int64
		actor, requestID, sourceIP, agent sql.NullString
		details                           sql.NullString
	)
	if err := s.Scan(&ev.ID, &ev.OrgID, &at, &actor, &ev.Action, &ev.TargetType, &ev.TargetID,
		&requestID, &sourceIP, &agent, &details); err != nil {
		return nil, err
	}
	ev.Time = fromMicros(at)
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
	where := []string{"org_id = ?"}
	args := []any{orgID}
	if f.Action != "" {
		where = append(where, "action = ?")
		args = append(args, f.Action)
	}
	if f.TargetID != "" {
		where = append(where, "target_id = ?")
		args = append(args, f.TargetID)
	}
	if f.Cursor != "" {
		before, err := keyward.DecodeCursor(f.Cursor)
		if err != nil {
			return keyward.Page[*keyward.AuditEvent]{}, err
		}
		where = append(where, "id < ?")
		args = append(args, before)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id DESC LIMIT ?`
	return page(ctx, db.reader, query, args, keyward.PageLimit(f.Limit), scanAuditEvent, func(ev *keyward.AuditEvent) string { return ev.ID })
}
