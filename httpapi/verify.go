package httpapi

import (
	"net/http"

	"keyward"
)

// handleVerify answers whether a presented key is valid. It is the hot
// path: one decode, one service call, one encode. Any well-formed request
// gets 200, whatever the key; the answer's code says why it is not valid.
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) error {
	var req keyward.VerifyRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	res, err := s.Verifier.Verify(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}
