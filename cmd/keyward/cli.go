package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"keyward"
	"keyward/client"
)

// cliUserAgent marks CLI calls in the server's audit rows.
const cliUserAgent = "keyward-cli"

// client returns an API client for the CLI calls. It refuses to run
// without a key, so that a forgotten KEYWARD_KEY gives this hint instead of
// the server's 401.
func (g *Globals) client() (*client.Client, error) {
	if g.Key == "" {
		return nil, errors.New("no API key: pass --key or set KEYWARD_KEY")
	}
	c := client.New(g.URL, g.Key)
	c.UserAgent = cliUserAgent
	return c, nil
}

// lifetime is a key lifetime flag, in seconds; zero means not given.
type lifetime int64

// UnmarshalText lets kong parse --expires-in with parseLifetime.
func (l *lifetime) UnmarshalText(text []byte) error {
	secs, err := parseLifetime(string(text))
	if err != nil {
		return err
	}
	*l = lifetime(secs)
	return nil
}

// seconds returns the lifetime for KeyCreate and KeyUpdate, nil when the
// flag was not given.
func (l lifetime) seconds() *int64 {
	if l == 0 {
		return nil
	}
	s := int64(l)
	return &s
}

// parseLifetime reads a lifetime as whole seconds ("3600"), days ("30d"),
// a Go duration ("3600s", "1h30m"), or days followed by a duration
// ("1d12h"). It must be positive and a whole number of seconds, because
// the API counts expires_in in seconds.
func parseLifetime(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty lifetime")
	}
	if isDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("lifetime %q: want a positive number of seconds", s)
		}
		return n, nil
	}
	var days int64
	rest := s
	if i := strings.IndexByte(s, 'd'); i > 0 && isDigits(s[:i]) {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n > math.MaxInt64/86400 {
			return 0, fmt.Errorf("lifetime %q is too long", s)
		}
		days, rest = n, s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("lifetime %q: want seconds, days (30d) or a duration (1h30m)", s)
		}
		if d < 0 {
			return 0, fmt.Errorf("lifetime %q is negative", s)
		}
		if d%time.Second != 0 {
			return 0, fmt.Errorf("lifetime %q is not a whole number of seconds", s)
		}
	}
	secs := int64(d / time.Second)
	if days > (math.MaxInt64-secs)/86400 {
		return 0, fmt.Errorf("lifetime %q is too long", s)
	}
	secs += days * 86400
	if secs == 0 {
		return 0, fmt.Errorf("lifetime %q is zero", s)
	}
	return secs, nil
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// jsonObject is a --metadata flag: a JSON object, checked before any call.
type jsonObject json.RawMessage

// UnmarshalText lets kong parse --metadata with parseJSONObject.
func (o *jsonObject) UnmarshalText(text []byte) error {
	obj, err := parseJSONObject(text)
	if err != nil {
		return err
	}
	*o = jsonObject(obj)
	return nil
}

// parseJSONObject returns text when it is one JSON object, compacted so
// that the request carries no stray whitespace.
func parseJSONObject(text []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, text); err != nil {
		return nil, fmt.Errorf("metadata is not JSON: %v", err)
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, errors.New("metadata must be a JSON object, such as '{\"team\":\"billing\"}'")
	}
	return json.RawMessage(buf.Bytes()), nil
}

// pageFlags are the pagination flags of every list command.
type pageFlags struct {
	Limit  int    `help:"Items per page (server default 50, at most 1000)."`
	Cursor string `help:"Start at this page: the next_cursor of an earlier one."`
	All    bool   `help:"Follow next_cursor to the last page."`
}

// collect fetches the page at p.Cursor and, with --all, every page after
// it, joined into one page.
func collect[T any](ctx context.Context, p pageFlags, fetch func(ctx context.Context, cursor string, limit int) (keyward.Page[T], error)) (keyward.Page[T], error) {
	page, err := fetch(ctx, p.Cursor, p.Limit)
	for err == nil && p.All && page.NextCursor != "" {
		var next keyward.Page[T]
		cursor := page.NextCursor
		if next, err = fetch(ctx, cursor, p.Limit); err != nil {
			break
		}
		if next.NextCursor == cursor {
			return page, fmt.Errorf("server repeated cursor %q; stopping", cursor)
		}
		page.Data = append(page.Data, next.Data...)
		page.NextCursor = next.NextCursor
	}
	return page, err
}
