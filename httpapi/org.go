package httpapi

import (
	"net/http"

	"keyward"
)

// handleFindOrgPolicy answers the caller's org's key policy.
func (s *Server) handleFindOrgPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.Org.FindOrgPolicy(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// handleUpdateOrgPolicy replaces the caller's org's key policy.
func (s *Server) handleUpdateOrgPolicy(w http.ResponseWriter, r *http.Request) error {
	var upd keyward.OrgPolicyUpdate
	if err := decodeJSON(w, r, &upd, false); err != nil {
		return err
	}
	p, err := s.Org.UpdateOrgPolicy(r.Context(), upd)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}
