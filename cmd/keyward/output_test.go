package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"keyward"
	"keyward/client"
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{
			name: "api error with fields",
			err: fmt.Errorf("create: %w", &client.APIError{
				Err: &keyward.Error{Code: keyward.EINVALID, Message: "name: must not be empty (and 1 more)", Fields: []keyward.FieldError{
					{Field: "name", Message: "must not be empty"}, {Field: "prefix", Message: "too long"},
				}},
				StatusCode: 400,
				RequestID:  "req-1",
			}),
			want: "name: must not be empty (and 1 more) (code invalid, request req-1)\n  name: must not be empty\n  prefix: too long",
		},
		{
			name: "api error without request id",
			err:  &client.APIError{Err: &keyward.Error{Code: keyward.EFORBIDDEN, Message: "Forbidden"}, StatusCode: 403},
			want: "Forbidden (code forbidden)",
		},
		{
			name: "domain error",
			err:  keyward.Invalid(keyward.FieldError{Field: "id", Message: "must not be empty"}),
			want: "id: must not be empty (code invalid)\n  id: must not be empty",
		},
		{
			name: "other error",
			err:  errors.New("dial tcp: connection refused"),
			want: "dial tcp: connection refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorText(tt.err); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeyStatus(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	tests := []struct {
		name string
		key  keyward.Key
		want string
	}{
		{"active", keyward.Key{Enabled: true}, "active"},
		{"active until later", keyward.Key{Enabled: true, ExpiresAt: &future}, "active"},
		{"expired", keyward.Key{Enabled: true, ExpiresAt: &past}, "expired"},
		{"disabled", keyward.Key{ExpiresAt: &past}, "disabled"},
		{"revoked beats disabled", keyward.Key{RevokedAt: &past}, "revoked"},
		{"deleted", keyward.Key{Enabled: true, DeletedAt: &past}, "deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keyStatus(&tt.key, now); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrintKeyTable(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	keys := []*keyward.Key{
		{ID: "k1", Name: "ci", KeyPrefix: "kw_live_abcdefgh", Permissions: []string{"a.read", "b.write"},
			Enabled: true, OwnerID: "user-1", ExpiresAt: &exp},
		{ID: "k2", Name: "deploy bot", KeyPrefix: "kw_test_ijklmnop", ServiceAccountID: "sa1"},
	}
	var b strings.Builder
	if err := printKeyTable(&b, keys); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID  NAME        PREFIX            PERMISSIONS     EXPIRES               STATUS    OWNER\n" +
		"k1  ci          kw_live_abcdefgh  a.read,b.write  2030-01-02T03:04:05Z  active    user-1\n" +
		"k2  deploy bot  kw_test_ijklmnop  -               never                 disabled  sa:sa1\n"
	if got := b.String(); got != want {
		t.Errorf("got table\n%s\nwant\n%s", got, want)
	}
}

func TestPrintUsageTable(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	buckets := []keyward.UsageBucket{
		{Start: start, Total: 4, Codes: map[string]int64{"VALID": 2, "RATE_LIMITED": 1, "EXPIRED": 1}},
		{Start: start.Add(time.Hour), Total: 0, Codes: map[string]int64{}},
	}
	var b strings.Builder
	if err := printUsageTable(&Globals{Stdout: &b}, buckets); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"START                 TOTAL  CODES\n" +
		"2026-03-01T10:00:00Z  4      EXPIRED=1,RATE_LIMITED=1,VALID=2\n" +
		"2026-03-01T11:00:00Z  0      -\n"
	if got := b.String(); got != want {
		t.Errorf("got table\n%s\nwant\n%s", got, want)
	}
}

func TestCreditsAndLimitsText(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"unlimited", credits(nil), "unlimited"},
		{"balance", credits(&keyward.Credits{Remaining: 5}), "5"},
		{"daily", credits(&keyward.Credits{Remaining: 0, Refill: &keyward.CreditRefill{Amount: 100, Interval: keyward.RefillDaily}}),
			"0 (refill to 100 daily)"},
		{"monthly", credits(&keyward.Credits{Remaining: 9, Refill: &keyward.CreditRefill{Amount: 50, Interval: keyward.RefillMonthly, Day: 31}}),
			"9 (refill to 50 monthly on day 31)"},
		{"no limits", rateLimitList(nil), "-"},
		{"limits as flags", rateLimitList([]keyward.RateLimit{{Name: "default", Limit: 100, Window: 60}, {Name: "daily", Limit: 5, Window: 86400}}),
			"default:100:1m,daily:5:1d"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}
