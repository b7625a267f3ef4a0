package httpapi

import (
	"net/http"

	"keyward"
)

// handleFindAuditEvents lists the org's audit events, newest first.
func (s *Server) handleFindAuditEvents(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	f := keyward.AuditFilter{
		Action:   q.get("action"),
		TargetID: q.get("target_id"),
		Cursor:   q.get("cursor"),
		Limit:    q.limit(),
	}
	if err := q.err(); err != nil {
		return err
	}
	page, err := s.Audit.FindAuditEvents(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, listPage(page))
}
