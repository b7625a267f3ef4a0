package httpapi

import (
	"net/http"
	"net/url"

	"keyward"
)

// handleCreateServiceAccount creates a service account.
func (s *Server) handleCreateServiceAccount(w http.ResponseWriter, r *http.Request) error {
	var in keyward.ServiceAccountCreate
	if err := decodeJSON(w, r, &in, false); err != nil {
		return err
	}
	sa, err := s.ServiceAccounts.CreateServiceAccount(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/service-accounts/"+url.PathEscape(sa.ID))
	return writeJSON(w, http.StatusCreated, sa)
}

// handleFindServiceAccounts lists the org's service accounts.
func (s *Server) handleFindServiceAccounts(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	f := keyward.ServiceAccountFilter{Cursor: q.get("cursor"), Limit: q.limit()}
	if err := q.err(); err != nil {
		return err
	}
	page, err := s.ServiceAccounts.FindServiceAccounts(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, listPage(page))
}

// handleFindServiceAccountByID answers one service account.
func (s *Server) handleFindServiceAccountByID(w http.ResponseWriter, r *http.Request) error {
	sa, err := s.ServiceAccounts.FindServiceAccountByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sa)
}

// handleDeleteServiceAccount deletes a service account, revoking its keys,
// and answers its last record.
func (s *Server) handleDeleteServiceAccount(w http.ResponseWriter, r *http.Request) error {
	sa, err := s.ServiceAccounts.DeleteServiceAccount(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sa)
}
