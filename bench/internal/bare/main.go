// Command bare is the bench programs' yardstick: a plain net/http server
// that reads and discards each request's body and answers a fixed JSON
// document, as fast as Go's HTTP stack on this machine allows.
//
//	bare --addr 127.0.0.1:19000 --size 230 --content-type application/json
//
// The body has exactly --size bytes, so that a run against it moves as
// many bytes as one against Keyward whose answers have that size. GET
// /readyz answers 200, as Keyward's does, for the harness to wait on.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:19000", "listen address")
	size := fs.Int("size", 100, "bytes of every answer's body")
	contentType := fs.String("content-type", "application/json", "Content-Type of every answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body, err := answerBody(*size)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	typ := []string{*contentType}
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		// Assigned, not Set, which would allocate a slice per answer.
		w.Header()["Content-Type"] = typ
		w.Write(body)
	})
	srv := &http.Server{Addr: *addr, Handler: mux}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// answerBody returns a JSON object of exactly size bytes, shaped like a valid
// verification answer and padded with a string field.
func answerBody(size int) ([]byte, error) {
	const head, tail = `{"valid":true,"code":"VALID","padding":"`, `"}` + "\n"
	if size < len(head)+len(tail) {
		return nil, fmt.Errorf("--size %d: want at least %d", size, len(head)+len(tail))
	}
	var b bytes.Buffer
	b.WriteString(head)
	b.WriteString(strings.Repeat("x", size-len(head)-len(tail)))
	b.WriteString(tail)
	return b.Bytes(), nil
}
