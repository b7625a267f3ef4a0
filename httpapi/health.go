package httpapi

import (
	_ "embed"
	"log/slog"
	"net/http"

	"keyward"
)

// openAPI is the API's OpenAPI 3.1 description, served at /openapi.json.
//
//go:embed openapi.json
var openAPI []byte

// status is the body of the health and readiness answers.
type status struct {
	Status string `json:"status"`
}

// handleHealthz answers that the process is up; it checks nothing else, so
// that an orchestrator does not restart a node whose store is slow.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, status{Status: "ok"})
}

// handleReadyz answers whether the node can serve traffic. The reason it
// cannot is logged, not answered: it may describe internals.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			s.logger().LogAttrs(r.Context(), slog.LevelWarn, "not ready",
				slog.String("request_id", keyward.RequestInfoFromContext(r.Context()).RequestID),
				slog.String("error", err.Error()),
			)
			return keyward.Errorf(keyward.EUNAVAILABLE, "The server is not ready.")
		}
	}
	return writeJSON(w, http.StatusOK, status{Status: "ok"})
}

// handleOpenAPI serves openapi.json.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", jsonType)
	_, _ = w.Write(openAPI)
	return nil
}
