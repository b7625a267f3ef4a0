package keyward

import (
	"context"
	"encoding/json"
	"time"
)

// Audit actions.
const (
	ActionKeyCreate            = "key.create"
	ActionKeyUpdate            = "key.update"
	ActionKeyRevoke            = "key.revoke"
	ActionKeyDelete            = "key.delete"
	ActionKeyRotate            = "key.rotate"
	ActionKeyCredits           = "key.credits"
	ActionOwnerUpdate          = "owner.update"
	ActionOrgPolicyUpdate      = "org.policy.update"
	ActionServiceAccountCreate = "service_account.create"
	ActionServiceAccountDelete = "service_account.delete"
	ActionOrgCreate            = "org.create"
)

// AuditEvent records one management write. Rows are append-only and never
// hold a secret.
type AuditEvent struct {
	ID         string    `json:"id"`
	OrgID      string    `json:"org_id"`
	Time       time.Time `json:"time"`
	ActorKeyID string    `json:"actor_key_id"`
	Action     string    `json:"action"`
	TargetType string    `json:"target_type"`
	TargetID   string    `json:"target_id"`
	RequestID  string    `json:"request_id"`
	SourceIP   string    `json:"source_ip"`
	UserAgent  string    `json:"user_agent"`
	// Details holds the changed fields of an update, never a secret.
	Details json.RawMessage `json:"details,omitempty"`
}

// AuditFilter selects audit events.
type AuditFilter struct {
	Action   string
	TargetID string
	Cursor   string
	Limit    int
}

// AuditService reads the caller's org's audit log.
type AuditService interface {
	// FindAuditEvents needs admin:audit:read and lists newest first.
	// Returns EFORBIDDEN, and EINVALID for a bad cursor or limit.
	FindAuditEvents(ctx context.Context, f AuditFilter) (Page[*AuditEvent], error)
}
