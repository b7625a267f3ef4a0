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
	return writeJSON(w, http.StatusOK, policyAnswer(p))
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
	return writeJSON(w, http.StatusOK, policyAnswer(p))
}

// policyAnswer makes a policy without an IP list answer allowed_ips []
// rather than null, as documented.
func policyAnswer(p *keyward.OrgPolicy) *keyward.OrgPolicy {
	if p.AllowedIPs != nil {
		return p
	}
	out := *p
	out.AllowedIPs = []string{}
	return &out
}
