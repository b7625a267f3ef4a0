package httpapi

import (
	"net/http"
	"net/url"

	"keyward"
)

// handleCreateKey creates a key and answers its record with the secret,
// which no later answer repeats.
func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request) error {
	var in keyward.KeyCreate
	if err := decodeJSON(w, r, &in, false); err != nil {
		return err
	}
	k, err := s.Keys.CreateKey(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/keys/"+url.PathEscape(k.ID))
	return writeJSON(w, http.StatusCreated, k)
}

// handleFindKeys lists the org's keys.
func (s *Server) handleFindKeys(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	f := keyward.KeyFilter{
		OwnerID:          q.get("owner_id"),
		ServiceAccountID: q.get("service_account_id"),
		Revoked:          q.boolean("revoked"),
		Prefix:           q.get("prefix"),
		Cursor:           q.get("cursor"),
		Limit:            q.limit(),
	}
	if err := q.err(); err != nil {
		return err
	}
	page, err := s.Keys.FindKeys(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, listPage(page))
}

// handleFindKeyByID answers one key.
func (s *Server) handleFindKeyByID(w http.ResponseWriter, r *http.Request) error {
	k, err := s.Keys.FindKeyByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

// handleUpdateKey changes the fields the body names.
func (s *Server) handleUpdateKey(w http.ResponseWriter, r *http.Request) error {
	var upd keyward.KeyUpdate
	if err := decodeJSON(w, r, &upd, false); err != nil {
		return err
	}
	k, err := s.Keys.UpdateKey(r.Context(), r.PathValue("id"), upd)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

// handleDeleteKey deletes a key and answers its last record.
func (s *Server) handleDeleteKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.Keys.DeleteKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

// handleRevokeKey revokes a key. It takes no input, but clients that always
// send a JSON body may send {}.
func (s *Server) handleRevokeKey(w http.ResponseWriter, r *http.Request) error {
	if err := decodeJSON(w, r, &struct{}{}, true); err != nil {
		return err
	}
	k, err := s.Keys.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

// handleWhoAmI answers the caller's own key.
func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) error {
	k, err := s.Keys.WhoAmI(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

// listPage makes an empty page's data [] rather than null, as documented.
func listPage[T any](p keyward.Page[T]) keyward.Page[T] {
	if p.Data == nil {
		p.Data = []T{}
	}
	return p
}

// handleRotateKey replaces a key with a new one of the same settings and
// answers the new key with its secret, like a create; the old key keeps
// working for the grace period.
func (s *Server) handleRotateKey(w http.ResponseWriter, r *http.Request) error {
	var in keyward.KeyRotate
	if err := decodeJSON(w, r, &in, false); err != nil {
		return err
	}
	k, err := s.Keys.RotateKey(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/keys/"+url.PathEscape(k.ID))
	return writeJSON(w, http.StatusCreated, k)
}

// handleUpdateCredits sets, increments or decrements a key's balance.
func (s *Server) handleUpdateCredits(w http.ResponseWriter, r *http.Request) error {
	var upd keyward.CreditsUpdate
	if err := decodeJSON(w, r, &upd, false); err != nil {
		return err
	}
	k, err := s.Keys.UpdateCredits(r.Context(), r.PathValue("id"), upd)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}
