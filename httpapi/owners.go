package httpapi

import (
	"net/http"

	"keyward"
)

// handleFindOwner answers the settings shared by an owner's keys.
func (s *Server) handleFindOwner(w http.ResponseWriter, r *http.Request) error {
	o, err := s.Owners.FindOwner(r.Context(), r.PathValue("owner_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, o)
}

// handleUpdateOwner replaces an owner's rate limits.
func (s *Server) handleUpdateOwner(w http.ResponseWriter, r *http.Request) error {
	var upd keyward.OwnerUpdate
	if err := decodeJSON(w, r, &upd, false); err != nil {
		return err
	}
	o, err := s.Owners.UpdateOwner(r.Context(), r.PathValue("owner_id"), upd)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, o)
}
