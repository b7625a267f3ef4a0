// Package httpapi serves Keyward's REST API: the management API under /v1
// and the health, readiness and OpenAPI documents, over the service
// interfaces of the root package. Every route is listed in routes.go; every
// error is an RFC 9457 problem document whose status comes from the one
// table in error.go. Mounts (the compatibility profiles) answer their own
// errors in their own shapes, with statuses from the same table.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"keyward"
)

// Limits of the listening server. Requests are small JSON documents, so
// generous bounds only ever cut off slow or stuck clients.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	// maxHeaderBytes bounds the request headers, against net/http's 1 MB:
	// a key and a user agent need a few hundred bytes.
	maxHeaderBytes = 64 << 10
	// shutdownTimeout bounds how long Close waits for requests in flight.
	shutdownTimeout = 10 * time.Second
)

// Server serves the REST API. Set its fields, then call Open, or mount
// Handler in a server of your own. Every service must be set; Checks,
// TrustedProxies and Metrics are optional.
type Server struct {
	// Addr is the TCP address Open listens on, such as "127.0.0.1:8080";
	// port 0 picks a free one, which URL then reports.
	Addr string

	// Keys, ServiceAccounts, Audit, Verifier, Owners, Org and Usage serve
	// the /v1 routes. They check the caller's permissions themselves
	// (answering EFORBIDDEN), so handlers only decode, call and encode.
	Keys            keyward.KeyService
	ServiceAccounts keyward.ServiceAccountService
	Audit           keyward.AuditService
	Verifier        keyward.VerifyService
	Owners          keyward.OwnerService
	Org             keyward.OrgService
	Usage           keyward.UsageService
	// Auth turns the key of a /v1 request into its Principal.
	Auth keyward.Authenticator

	// Checks are the dependencies that /readyz reports on, each by name:
	// it answers 503 while a check that is not Optional fails, and 200,
	// with status "degraded", while only Optional ones fail. None means
	// always ready.
	Checks []Check

	// TrustedProxies are the load balancers and proxies in front of the
	// server (see ParseTrustedProxies). A request whose TCP peer is in
	// them comes from the client that its X-Forwarded-For header names;
	// from any other peer the header is ignored, for a client can write
	// it. That client address is what allowlists check, audit events
	// record, verification takes when the caller names no ip, and the
	// access log shows. None: every request comes from its peer.
	TrustedProxies []netip.Prefix

	// Metrics, when set, serves GET /metrics without a key; when nil the
	// route answers 404. It carries counts and latencies, never key
	// material, but it tells how the service is used: operators should
	// keep it off the public network (a scraper-only listener or a proxy
	// rule).
	Metrics http.Handler

	// Mounts are served under their own path prefixes, behind the same
	// request id, access log and panic recovery as the routes: the
	// compatibility profiles of package compat. Each authenticates and
	// answers errors in its own shape.
	Mounts []Mount

	// Logger receives the access log and unexpected errors; nil means
	// slog.Default().
	Logger *slog.Logger

	openAPI []byte
	ln      net.Listener
	srv     *http.Server

	// checksMu guards failing: the names of the checks that failed when
	// they last ran, so that a check's change of state is logged once
	// rather than at every probe.
	checksMu sync.Mutex
	failing  map[string]bool
}

// logger returns the logger in use.
func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Handler returns the API's handler: every route of routes.go and every
// mount behind the request id, access log, panic recovery and clean path
// middleware. It panics when a mount's OpenAPI document is malformed, a
// mistake that the mount's own tests catch.
func (s *Server) Handler() http.Handler {
	doc, err := mergeOpenAPI(openAPI, s.Mounts)
	if err != nil {
		panic(err)
	}
	s.openAPI = doc
	return chain(s.newMux(), s.withRequestInfo, s.logRequests, s.recoverPanics, s.rejectUncleanPaths)
}

// Open listens on Addr and serves in the background until Close.
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger().Error("http server stopped", slog.String("error", err.Error()))
		}
	}()
	return nil
}

// URL returns the base URL of the running server, such as
// "http://127.0.0.1:8080", and "" before Open. A wildcard listen address is
// reported as 127.0.0.1, which it also serves.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	ap := s.ln.Addr().(*net.TCPAddr).AddrPort()
	addr := ap.Addr().Unmap()
	if addr.IsUnspecified() {
		addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return "http://" + netip.AddrPortFrom(addr, ap.Port()).String()
}

// Close stops accepting connections and waits, at most shutdownTimeout,
// for requests in flight to finish.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
