package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func TestParseLifetime(t *testing.T) {
	tests := []parseCase[int64]{
		{in: "3600", want: 3600},
		{in: "1", want: 1},
		{in: "30d", want: 30 * 86400},
		{in: "3600s", want: 3600},
		{in: "1h30m", want: 5400},
		{in: "1d12h", want: 86400 + 12*3600},
		{in: "90m", want: 5400},
		{in: "", wantErr: true},
		{in: "0", wantErr: true},
		{in: "0d", wantErr: true},
		{in: "0s", wantErr: true},
		{in: "-5s", wantErr: true},
		{in: "-5", wantErr: true},
		{in: "1.5s", wantErr: true},
		{in: "500ms", wantErr: true},
		{in: "30x", wantErr: true},
		{in: "d", wantErr: true},
		{in: "1dd", wantErr: true},
		{in: "1d-1h", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
		{in: "106751991167301d", wantErr: true},
		{in: "106751991167300d1000000h", wantErr: true},
	}
	checkParse(t, parseLifetime, tests)
}

func FuzzParseLifetime(f *testing.F) {
	for _, s := range []string{"3600", "30d", "1h30m", "1d12h", "1.5s", "-1d", "9223372036854775807", "106751991167300d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		secs, err := parseLifetime(s)
		if err != nil {
			return
		}
		if secs <= 0 {
			t.Fatalf("parseLifetime(%q) = %d, want a positive lifetime", s, secs)
		}
		// Every accepted lifetime reads back the same as plain seconds.
		again, err := parseLifetime(strconv.FormatInt(secs, 10))
		if err != nil || again != secs {
			t.Fatalf("parseLifetime(%q) = %d, but %d reads back as %d, %v", s, secs, secs, again, err)
		}
	})
}

func TestParseJSONObject(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: `{"team": "billing", "n": 1}`, want: `{"team":"billing","n":1}`},
		{in: ` {} `, want: `{}`},
		{in: `[1]`, wantErr: true},
		{in: `"x"`, wantErr: true},
		{in: `null`, wantErr: true},
		{in: `{"a":`, wantErr: true},
		{in: `{} {}`, wantErr: true},
		{in: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseJSONObject([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Errorf("got %s, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func FuzzParseJSONObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2]}`, `[]`, `{"a":`, " {\n} "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		obj, err := parseJSONObject(in)
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(obj, &m); err != nil || m == nil {
			t.Fatalf("parseJSONObject(%q) = %s, which is no JSON object: %v", in, obj, err)
		}
		if !bytes.Equal(obj, bytes.TrimSpace(obj)) {
			t.Fatalf("parseJSONObject(%q) = %q, want it compact", in, obj)
		}
	})
}

func TestCollect(t *testing.T) {
	// pages serves ["a","b"] then ["c"]; the cursor of page n is "n".
	pages := map[string]keyward.Page[string]{
		"":  {Data: []string{"a", "b"}, NextCursor: "1"},
		"1": {Data: []string{"c"}},
	}
	fetch := func(ctx context.Context, cursor string, limit int) (keyward.Page[string], error) {
		if limit != 2 {
			t.Errorf("got limit %d, want 2", limit)
		}
		return pages[cursor], nil
	}
	tests := []struct {
		name string
		p    pageFlags
		want keyward.Page[string]
	}{
		{"one page", pageFlags{Limit: 2}, keyward.Page[string]{Data: []string{"a", "b"}, NextCursor: "1"}},
		{"from a cursor", pageFlags{Limit: 2, Cursor: "1"}, keyward.Page[string]{Data: []string{"c"}}},
		{"all", pageFlags{Limit: 2, All: true}, keyward.Page[string]{Data: []string{"a", "b", "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(t.Context(), tt.p, fetch)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("page (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("repeated cursor stops", func(t *testing.T) {
		loop := func(ctx context.Context, cursor string, limit int) (keyward.Page[string], error) {
			return keyward.Page[string]{Data: []string{"x"}, NextCursor: "same"}, nil
		}
		if _, err := collect(t.Context(), pageFlags{All: true}, loop); err == nil {
			t.Error("got no error from a server that repeats its cursor")
		}
	})
}

func TestParseSeconds(t *testing.T) {
	tests := []parseCase[int64]{
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "60", want: 60},
		{in: "1m", want: 60},
		{in: "1h", want: 3600},
		{in: "7d", want: 7 * 86400},
		{in: "1d1s", want: 86401},
		{in: "", wantErr: true},
		{in: "-1s", wantErr: true},
		{in: "1.5s", wantErr: true},
		{in: "soon", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
	}
	checkParse(t, func(s string) (int64, error) { return parseSeconds("span", s) }, tests)
}

func TestFormatSeconds(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0s"},
		{1, "1s"},
		{60, "1m"},
		{5400, "1h30m"},
		{86400, "1d"},
		{90 * 86400, "90d"},
		{86400 + 12*3600 + 1, "1d12h1s"},
	}
	for _, tt := range tests {
		if got := formatSeconds(tt.in); got != tt.want {
			t.Errorf("formatSeconds(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParseSeconds(f *testing.F) {
	for _, s := range []string{"0", "0s", "60", "1m", "1d12h", "-1s", "1.5s", "106751991167300d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		secs, err := parseSeconds("span", s)
		if err != nil {
			return
		}
		if secs < 0 {
			t.Fatalf("parseSeconds(%q) = %d, want no negative span", s, secs)
		}
		// What the CLI prints reads back as the same span.
		again, err := parseSeconds("span", formatSeconds(secs))
		if err != nil || again != secs {
			t.Fatalf("parseSeconds(%q) = %d, printed %q, which reads back as %d, %v", s, secs, formatSeconds(secs), again, err)
		}
	})
}

func TestParseRateLimit(t *testing.T) {
	tests := []parseCase[keyward.RateLimit]{
		{in: "default:100:60", want: keyward.RateLimit{Name: "default", Limit: 100, Window: 60}},
		{in: "burst:10:1s", want: keyward.RateLimit{Name: "burst", Limit: 10, Window: 1}},
		{in: "daily:5000:1d", want: keyward.RateLimit{Name: "daily", Limit: 5000, Window: 86400}},
		// Ranges are the server's to check, so that it names the field.
		{in: "default:0:60", want: keyward.RateLimit{Name: "default", Limit: 0, Window: 60}},
		{in: "default:-1:0", want: keyward.RateLimit{Name: "default", Limit: -1, Window: 0}},
		{in: "default:100", wantErr: true},
		{in: ":100:60", wantErr: true},
		{in: "default:many:60", wantErr: true},
		{in: "default:100:soon", wantErr: true},
		{in: "default:100:-1s", wantErr: true},
		{in: "a:1:2:3", wantErr: true},
		{in: "", wantErr: true},
	}
	checkParse(t, parseRateLimit, tests)
}

func FuzzParseRateLimit(f *testing.F) {
	for _, s := range []string{"default:100:60", "burst:10:1s", "d:1:1d12h", "x:-1:0", "a:1", "::", "a:1:2:3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rl, err := parseRateLimit(s)
		if err != nil {
			return
		}
		if rl.Name == "" || strings.Contains(rl.Name, ":") || rl.Window < 0 {
			t.Fatalf("parseRateLimit(%q) = %+v, want a name without colons and a window of zero or more", s, rl)
		}
		// The listing of a key shows its limits as flags that set them again.
		again, err := parseRateLimit(formatRateLimit(rl))
		if err != nil || again != rl {
			t.Fatalf("parseRateLimit(%q) = %+v, printed %q, which reads back as %+v, %v", s, rl, formatRateLimit(rl), again, err)
		}
	})
}

func TestParseRateLimitUse(t *testing.T) {
	tests := []parseCase[keyward.RateLimitUse]{
		{in: "default", want: keyward.RateLimitUse{Name: "default"}},
		{in: "default:5", want: keyward.RateLimitUse{Name: "default", Cost: ptr(int64(5))}},
		{in: "default:0", want: keyward.RateLimitUse{Name: "default", Cost: ptr(int64(0))}},
		{in: "default:-1", want: keyward.RateLimitUse{Name: "default", Cost: ptr(int64(-1))}},
		{in: "", wantErr: true},
		{in: ":5", wantErr: true},
		{in: "default:", wantErr: true},
		{in: "default:x", wantErr: true},
		{in: "default:1:2", wantErr: true},
	}
	checkParse(t, parseRateLimitUse, tests)
}

func FuzzParseRateLimitUse(f *testing.F) {
	for _, s := range []string{"default", "default:5", ":5", "a:", "a:1:2", "a:+3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		use, err := parseRateLimitUse(s)
		if err != nil {
			return
		}
		if use.Name == "" || strings.Contains(use.Name, ":") {
			t.Fatalf("parseRateLimitUse(%q) = %+v, want a name without colons", s, use)
		}
		if (use.Cost != nil) != strings.Contains(s, ":") {
			t.Fatalf("parseRateLimitUse(%q) = %+v: a cost must come from the text and only from it", s, use)
		}
	})
}

func TestParseRefill(t *testing.T) {
	tests := []parseCase[keyward.CreditRefill]{
		{in: "daily:1000", want: keyward.CreditRefill{Amount: 1000, Interval: keyward.RefillDaily}},
		{in: "monthly:50000:1", want: keyward.CreditRefill{Amount: 50000, Interval: keyward.RefillMonthly, Day: 1}},
		{in: "monthly:5:31", want: keyward.CreditRefill{Amount: 5, Interval: keyward.RefillMonthly, Day: 31}},
		// Ranges are the server's to check, so that it names the field.
		{in: "monthly:5:40", want: keyward.CreditRefill{Amount: 5, Interval: keyward.RefillMonthly, Day: 40}},
		{in: "daily:-1", want: keyward.CreditRefill{Amount: -1, Interval: keyward.RefillDaily}},
		{in: "daily", wantErr: true},
		{in: "daily:10:1", wantErr: true},
		{in: "monthly:10", wantErr: true},
		{in: "weekly:10", wantErr: true},
		{in: "daily:ten", wantErr: true},
		{in: "monthly:10:first", wantErr: true},
		{in: "monthly:10:99999999999", wantErr: true},
		{in: "", wantErr: true},
	}
	checkParse(t, parseRefill, tests)
}

func FuzzParseRefill(f *testing.F) {
	for _, s := range []string{"daily:1000", "monthly:5:31", "monthly:5", "daily:1:1", "weekly:1", "monthly::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRefill(s)
		if err != nil {
			return
		}
		switch {
		case r.Interval == keyward.RefillDaily && r.Day == 0:
		case r.Interval == keyward.RefillMonthly:
		default:
			t.Fatalf("parseRefill(%q) = %+v, want daily without a day or monthly", s, r)
		}
		want := fmt.Sprintf("%s:%d", r.Interval, r.Amount)
		if r.Interval == keyward.RefillMonthly {
			want += fmt.Sprintf(":%d", r.Day)
		}
		if again, err := parseRefill(want); err != nil || again != r {
			t.Fatalf("parseRefill(%q) = %+v, but %q reads back as %+v, %v", s, r, want, again, err)
		}
	})
}

func TestCreditsInput(t *testing.T) {
	daily := refillFlag{Amount: 100, Interval: keyward.RefillDaily}
	tests := []struct {
		name string
		in   creditsFlags
		want *keyward.CreditsInput
	}{
		{"neither", creditsFlags{}, nil},
		{"balance", creditsFlags{Credits: ptr(int64(5))}, &keyward.CreditsInput{Remaining: ptr(int64(5))}},
		{"zero balance", creditsFlags{Credits: ptr(int64(0))}, &keyward.CreditsInput{Remaining: ptr(int64(0))}},
		{"refill starts full", creditsFlags{Refill: daily},
			&keyward.CreditsInput{Remaining: ptr(int64(100)), Refill: &keyward.CreditRefill{Amount: 100, Interval: keyward.RefillDaily}}},
		{"balance and refill", creditsFlags{Credits: ptr(int64(7)), Refill: daily},
			&keyward.CreditsInput{Remaining: ptr(int64(7)), Refill: &keyward.CreditRefill{Amount: 100, Interval: keyward.RefillDaily}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.in.input()); diff != "" {
				t.Errorf("credits (-want +got):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// parseCase is one row of a flag parser's table test.
type parseCase[T any] struct {
	in      string
	want    T
	wantErr bool
}

// checkParse runs parse on every row: an error where one is wanted, else
// the wanted value.
func checkParse[T any](t *testing.T, parse func(string) (T, error), tests []parseCase[T]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parse(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parse(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
