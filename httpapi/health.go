package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

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

// Check is one dependency that /readyz reports on.
type Check struct {
	// Name names the dependency in the answer, such as "database".
	Name string
	// Check returns nil while the dependency answers. It bounds its own
	// wait: a load balancer gives up on a probe after a few seconds.
	Check func(context.Context) error
	// Optional marks a dependency the server has a fallback for. While it
	// fails, /readyz still answers 200, with status "degraded": a shared
	// dependency that fails fails on every node at once, and taking every
	// node out of the load balancer's pool would stop the whole service
	// when each node could go on serving without it.
	Optional bool
}

// The states of a readiness answer, and of each check in it.
const (
	readyOK       = "ok"
	readyDegraded = "degraded"
	// checkFailed is what a failing check answers. Its error is logged
	// instead: it may describe internals (addresses, users).
	checkFailed = "unreachable"
)

// readiness is the body of a /readyz answer of 200.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// notReady is the body of a /readyz answer of 503: the usual problem
// document, so that clients read it like any error, plus the checks.
type notReady struct {
	problem
	Checks map[string]string `json:"checks"`
}

// handleReadyz answers whether the node can serve traffic, with the state
// of each dependency: 503 while a required one fails, 200 otherwise, with
// status "degraded" while an optional one fails. The checks run at once,
// on every request, so readiness recovers as soon as they pass again.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	errs := make([]error, len(s.Checks))
	var wg sync.WaitGroup
	for i, c := range s.Checks {
		wg.Go(func() { errs[i] = c.Check(ctx) })
	}
	wg.Wait()

	checks := make(map[string]string, len(s.Checks))
	var failed []string
	ready := true
	for i, c := range s.Checks {
		s.noteCheck(ctx, c, errs[i])
		if errs[i] == nil {
			checks[c.Name] = readyOK
			continue
		}
		checks[c.Name] = checkFailed
		failed = append(failed, c.Name+" "+checkFailed)
		ready = ready && c.Optional
	}
	if !ready {
		const status = http.StatusServiceUnavailable
		return writeBody(w, status, problemType, notReady{
			problem: problem{
				Type:   "about:blank",
				Title:  http.StatusText(status),
				Status: status,
				// Names, not errors: those may describe internals.
				Detail:    "Not ready: " + strings.Join(failed, ", ") + ".",
				Code:      keyward.EUNAVAILABLE,
				RequestID: keyward.RequestInfoFromContext(ctx).RequestID,
			},
			Checks: checks,
		})
	}
	body := readiness{Status: readyOK, Checks: checks}
	if len(failed) > 0 {
		body.Status = readyDegraded
	}
	return writeJSON(w, http.StatusOK, body)
}

// noteCheck logs a check that starts to fail, at warn with its error, and
// one that passes again, at info. A state that lasts is not logged again:
// load balancers probe every few seconds, and a line per probe would bury
// the change. A check passes until it first fails.
func (s *Server) noteCheck(ctx context.Context, c Check, err error) {
	failing := err != nil
	s.checksMu.Lock()
	changed := s.failing[c.Name] != failing
	if changed {
		if s.failing == nil {
			s.failing = make(map[string]bool)
		}
		s.failing[c.Name] = failing
	}
	s.checksMu.Unlock()
	if !changed {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", keyward.RequestInfoFromContext(ctx).RequestID),
		slog.String("check", c.Name),
		slog.Bool("optional", c.Optional),
	}
	if failing {
		s.logger().LogAttrs(ctx, slog.LevelWarn, "readiness check failed", append(attrs, slog.String("error", err.Error()))...)
		return
	}
	s.logger().LogAttrs(ctx, slog.LevelInfo, "readiness check passes again", attrs...)
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
