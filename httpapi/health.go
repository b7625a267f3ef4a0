package httpapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
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

// handleOpenAPI serves openapi.json with the mounts' documents merged in.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", jsonType)
	_, _ = w.Write(s.openAPI)
	return nil
}

// mergeOpenAPI adds the tags, paths and components of each mount's
// document to base. A path or component that two documents define is an
// error: one would silently hide the other.
func mergeOpenAPI(base []byte, mounts []Mount) ([]byte, error) {
	if len(mounts) == 0 {
		return base, nil
	}
	var doc map[string]any
	if err := json.Unmarshal(base, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	for _, m := range mounts {
		if m.OpenAPI == nil {
			continue
		}
		var part map[string]any
		if err := json.Unmarshal(m.OpenAPI, &part); err != nil {
			return nil, fmt.Errorf("OpenAPI document of %s: %w", m.Prefix, err)
		}
		if tags, ok := part["tags"].([]any); ok {
			doc["tags"] = append(doc["tags"].([]any), tags...)
		}
		if err := mergeMembers(doc, part, m.Prefix, "paths"); err != nil {
			return nil, err
		}
		comps, _ := part["components"].(map[string]any)
		for kind := range comps {
			if doc["components"] == nil {
				doc["components"] = map[string]any{}
			}
			if err := mergeMembers(doc["components"].(map[string]any), comps, m.Prefix, kind); err != nil {
				return nil, err
			}
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

// mergeMembers copies the members of src[name], an object, into dst[name].
func mergeMembers(dst, src map[string]any, prefix, name string) error {
	from, _ := src[name].(map[string]any)
	if len(from) == 0 {
		return nil
	}
	to, _ := dst[name].(map[string]any)
	if to == nil {
		to = map[string]any{}
		dst[name] = to
	}
	for k, v := range from {
		if _, ok := to[k]; ok {
			return fmt.Errorf("OpenAPI document of %s: %s %q is defined twice", prefix, name, k)
		}
		to[k] = v
	}
	return nil
}

// handleMetrics serves the Metrics handler, or answers 404 when there is
// none, as for any path that the server does not serve.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	if s.Metrics == nil {
		return notFound(w, r)
	}
	s.Metrics.ServeHTTP(w, r)
	return nil
}
