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

// parseLifetime reads a lifetime as parseSeconds does. It must be
// positive: a key that expires at once is a mistake.
func parseLifetime(s string) (int64, error) {
	secs, err := parseSeconds("lifetime", s)
	if err != nil {
		return 0, err
	}
	if secs == 0 {
		return 0, fmt.Errorf("lifetime %q is zero", s)
	}
	return secs, nil
}

// parseSeconds reads a span of time as whole seconds ("3600"), days
// ("30d"), a Go duration ("3600s", "1h30m"), or days followed by a
// duration ("1d12h"). It must not be negative and must be a whole number
// of seconds, because the API counts in seconds. what names the span in
// errors.
func parseSeconds(what, s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty %s", what)
	}
	if isDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q is too long", what, s)
		}
		return n, nil
	}
	var days int64
	rest := s
	if i := strings.IndexByte(s, 'd'); i > 0 && isDigits(s[:i]) {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n > math.MaxInt64/86400 {
			return 0, fmt.Errorf("%s %q is too long", what, s)
		}
		days, rest = n, s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("%s %q: want seconds, days (30d) or a duration (1h30m)", what, s)
		}
		if d < 0 {
			return 0, fmt.Errorf("%s %q is negative", what, s)
		}
		if d%time.Second != 0 {
			return 0, fmt.Errorf("%s %q is not a whole number of seconds", what, s)
		}
	}
	secs := int64(d / time.Second)
	if days > (math.MaxInt64-secs)/86400 {
		return 0, fmt.Errorf("%s %q is too long", what, s)
	}
	return secs + days*86400, nil
}

// formatSeconds writes secs the way parseSeconds reads it, in days, hours,
// minutes and seconds: 90d, 1d12h, 1h30m, 0s.
func formatSeconds(secs int64) string {
	if secs == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		unit string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if q := secs / u.n; q > 0 {
			fmt.Fprintf(&b, "%d%s", q, u.unit)
			secs -= q * u.n
		}
	}
	return b.String()
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// gracePeriod is the --grace flag of `keys rotate`, in seconds; zero is
// allowed and ends the old key at once.
type gracePeriod int64

// UnmarshalText lets kong parse --grace with parseSeconds.
func (g *gracePeriod) UnmarshalText(text []byte) error {
	secs, err := parseSeconds("grace period", string(text))
	if err != nil {
		return err
	}
	*g = gracePeriod(secs)
	return nil
}

// rateLimitFlag is a --rate-limit NAME:LIMIT:WINDOW flag of keys and
// owners.
type rateLimitFlag keyward.RateLimit

// UnmarshalText lets kong parse --rate-limit with parseRateLimit.
func (f *rateLimitFlag) UnmarshalText(text []byte) error {
	rl, err := parseRateLimit(string(text))
	if err != nil {
		return err
	}
	*f = rateLimitFlag(rl)
	return nil
}

// rateLimits returns the flags' limits for the API.
func rateLimits(flags []rateLimitFlag) []keyward.RateLimit {
	out := make([]keyward.RateLimit, len(flags))
	for i, f := range flags {
		out[i] = keyward.RateLimit(f)
	}
	return out
}

// parseRateLimit reads NAME:LIMIT:WINDOW, such as default:100:60 or
// default:100:1m; the window is read by parseSeconds. Only the syntax is
// checked here: the server checks the ranges and names the field.
func parseRateLimit(s string) (keyward.RateLimit, error) {
	const want = "want NAME:LIMIT:WINDOW, such as default:100:60 or default:100:1m"
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] == "" {
		return keyward.RateLimit{}, fmt.Errorf("rate limit %q: %s", s, want)
	}
	limit, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return keyward.RateLimit{}, fmt.Errorf("rate limit %q: limit %q is not a whole number", s, parts[1])
	}
	window, err := parseSeconds("window", parts[2])
	if err != nil {
		return keyward.RateLimit{}, fmt.Errorf("rate limit %q: %v", s, err)
	}
	return keyward.RateLimit{Name: parts[0], Limit: limit, Window: window}, nil
}

// formatRateLimit writes rl the way parseRateLimit reads it.
func formatRateLimit(rl keyward.RateLimit) string {
	return rl.Name + ":" + strconv.FormatInt(rl.Limit, 10) + ":" + formatSeconds(rl.Window)
}

// rateLimitUseFlag is a --rate-limit NAME[:COST] flag of verify.
type rateLimitUseFlag keyward.RateLimitUse

// UnmarshalText lets kong parse verify's --rate-limit with
// parseRateLimitUse.
func (f *rateLimitUseFlag) UnmarshalText(text []byte) error {
	use, err := parseRateLimitUse(string(text))
	if err != nil {
		return err
	}
	*f = rateLimitUseFlag(use)
	return nil
}

// parseRateLimitUse reads NAME or NAME:COST; without a cost the server
// takes 1.
func parseRateLimitUse(s string) (keyward.RateLimitUse, error) {
	name, cost, hasCost := strings.Cut(s, ":")
	if name == "" || strings.Contains(cost, ":") {
		return keyward.RateLimitUse{}, fmt.Errorf("rate limit %q: want NAME or NAME:COST, such as default or default:5", s)
	}
	use := keyward.RateLimitUse{Name: name}
	if hasCost {
		n, err := strconv.ParseInt(cost, 10, 64)
		if err != nil {
			return keyward.RateLimitUse{}, fmt.Errorf("rate limit %q: cost %q is not a whole number", s, cost)
		}
		use.Cost = &n
	}
	return use, nil
}

// refillFlag is a --refill daily:AMOUNT or monthly:AMOUNT:DAY flag.
type refillFlag keyward.CreditRefill

// UnmarshalText lets kong parse --refill with parseRefill.
func (f *refillFlag) UnmarshalText(text []byte) error {
	r, err := parseRefill(string(text))
	if err != nil {
		return err
	}
	*f = refillFlag(r)
	return nil
}

// parseRefill reads daily:AMOUNT or monthly:AMOUNT:DAY. Only the syntax is
// checked here: the server checks the ranges and names the field.
func parseRefill(s string) (keyward.CreditRefill, error) {
	const want = "want daily:AMOUNT or monthly:AMOUNT:DAY, such as daily:1000 or monthly:50000:1"
	parts := strings.Split(s, ":")
	var r keyward.CreditRefill
	switch {
	case parts[0] == keyward.RefillDaily && len(parts) == 2:
	case parts[0] == keyward.RefillMonthly && len(parts) == 3:
		day, err := strconv.ParseInt(parts[2], 10, 32)
		if err != nil {
			return r, fmt.Errorf("refill %q: day %q is not a day of the month", s, parts[2])
		}
		r.Day = int(day)
	default:
		return r, fmt.Errorf("refill %q: %s", s, want)
	}
	amount, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return keyward.CreditRefill{}, fmt.Errorf("refill %q: amount %q is not a whole number", s, parts[1])
	}
	r.Interval, r.Amount = parts[0], amount
	return r, nil
}

// creditsFlags are the --credits and --refill flags of keys create and
// update.
type creditsFlags struct {
	Credits *int64     `name:"credits" placeholder:"N" xor:"credits-balance" help:"Credits the key may spend; each valid verification spends its cost. Without credits a key is unlimited. On update --credits and --refill replace both (keys credits changes the balance alone)."`
	Refill  refillFlag `name:"refill" placeholder:"daily:AMOUNT|monthly:AMOUNT:DAY" xor:"credits-refill" help:"Set the credits back to AMOUNT every day, or every month on DAY, at 00:00 UTC. Without --credits the key starts with AMOUNT."`
}

// input returns the credits the flags describe, nil when neither was
// given.
func (f creditsFlags) input() *keyward.CreditsInput {
	if f.Credits == nil && f.Refill.Interval == "" {
		return nil
	}
	in := &keyward.CreditsInput{Remaining: f.Credits}
	if f.Refill.Interval != "" {
		r := keyward.CreditRefill(f.Refill)
		in.Refill = &r
		if in.Remaining == nil {
			in.Remaining = &r.Amount
		}
	}
	return in
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
