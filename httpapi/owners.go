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
	return writeJSON(w, http.StatusOK, ownerAnswer(o))
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
	return writeJSON(w, http.StatusOK, ownerAnswer(o))
}

// ownerAnswer makes an owner without limits answer rate_limits [] rather
// than null, as documented.
func ownerAnswer(o *keyward.Owner) *keyward.Owner {
	if o.RateLimits != nil {
		return o
	}
	out := *o
	out.RateLimits = []keyward.RateLimit{}
	return &out
}
