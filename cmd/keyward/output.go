package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"keyward"
	"keyward/client"
)

// printJSON writes v as indented JSON, the same document the API answered,
// so scripts can pipe --json output into jq. HTML escaping is off: the
// output is read by tools, not embedded in pages.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// newTable returns a writer that aligns tab-separated columns.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// field is one "label: value" line of a record listing.
type field struct{ label, value string }

// printFields writes a record as aligned "label: value" lines.
func printFields(w io.Writer, fields []field) error {
	tw := newTable(w)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f.label, f.value)
	}
	return tw.Flush()
}

// keyFields is the listing of a key that get, update, revoke, delete and
// whoami print.
func keyFields(k *keyward.Key, now time.Time) []field {
	lastUsed := "never"
	if k.LastUsedAt != nil {
		lastUsed = formatTime(*k.LastUsedAt)
		if k.LastUsedIP != "" {
			lastUsed += " from " + k.LastUsedIP
		}
		if k.LastUsedUserAgent != "" {
			lastUsed += " (" + k.LastUsedUserAgent + ")"
		}
	}
	metadata := string(k.Metadata)
	if metadata == "" {
		metadata = "{}"
	}
	return []field{
		{"id", k.ID},
		{"name", k.Name},
		{"description", orDash(k.Description)},
		{"prefix", k.KeyPrefix},
		{"status", keyStatus(k, now)},
		{"permissions", list(k.Permissions)},
		{"allowed ips", list(k.AllowedIPs)},
		{"expires", expiry(k.ExpiresAt)},
		{"owner", owner(k)},
		{"metadata", metadata},
		{"rate limits", rateLimitList(k.RateLimits)},
		{"credits", credits(k.Credits)},
		{"created", formatTime(k.CreatedAt)},
		{"updated", formatTime(k.UpdatedAt)},
		{"created by", orDash(k.CreatedBy)},
		{"last used", lastUsed},
		{"revoked", optionalTime(k.RevokedAt)},
		{"deleted", optionalTime(k.DeletedAt)},
		{"rotated from", orDash(k.RotatedFrom)},
		{"rotated to", orDash(k.RotatedTo)},
	}
}

// rateLimitList writes limits as the --rate-limit flags that set them.
func rateLimitList(limits []keyward.RateLimit) string {
	if len(limits) == 0 {
		return "-"
	}
	s := make([]string, len(limits))
	for i, rl := range limits {
		s[i] = formatRateLimit(rl)
	}
	return strings.Join(s, ",")
}

// credits writes a key's balance and its refill.
func credits(c *keyward.Credits) string {
	if c == nil {
		return "unlimited"
	}
	s := fmt.Sprint(c.Remaining)
	if r := c.Refill; r != nil {
		s += fmt.Sprintf(" (refill to %d %s", r.Amount, r.Interval)
		if r.Interval == keyward.RefillMonthly {
			s += fmt.Sprintf(" on day %d", r.Day)
		}
		s += ")"
	}
	return s
}

// printKey writes one key's listing.
func printKey(w io.Writer, k *keyward.Key) error {
	return printFields(w, keyFields(k, time.Now()))
}

// printKeyTable writes keys one per row.
func printKeyTable(w io.Writer, keys []*keyward.Key) error {
	now := time.Now()
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tPERMISSIONS\tEXPIRES\tSTATUS\tOWNER")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			k.ID, k.Name, k.KeyPrefix, list(k.Permissions), expiry(k.ExpiresAt), keyStatus(k, now), owner(k))
	}
	return tw.Flush()
}

// keyStatus is the lifecycle state a person reads in a table.
func keyStatus(k *keyward.Key, now time.Time) string {
	switch k.Status(now) {
	case keyward.CodeRevoked:
		return "revoked"
	case keyward.CodeDisabled:
		return "disabled"
	case keyward.CodeExpired:
		return "expired"
	case keyward.CodeNotFound:
		return "deleted"
	}
	return "active"
}

// owner names a key's owner: a user id, or a service account marked "sa:".
func owner(k *keyward.Key) string {
	switch {
	case k.OwnerID != "":
		return k.OwnerID
	case k.ServiceAccountID != "":
		return "sa:" + k.ServiceAccountID
	}
	return "-"
}

func expiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return formatTime(*t)
}

func optionalTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return formatTime(*t)
}

func formatTime(t time.Time) string {
	return t.Format(time.RFC3339)
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printServiceAccount writes one service account's listing.
func printServiceAccount(w io.Writer, sa *keyward.ServiceAccount) error {
	return printFields(w, []field{
		{"id", sa.ID},
		{"name", sa.Name},
		{"description", orDash(sa.Description)},
		{"created", formatTime(sa.CreatedAt)},
		{"created by", orDash(sa.CreatedBy)},
		{"deleted", optionalTime(sa.DeletedAt)},
	})
}

// printNextCursor tells a person how to fetch the page after a listing. It
// goes to stderr so that the table on stdout stays clean for tools.
func printNextCursor(g *Globals, cursor string) {
	if cursor != "" {
		fmt.Fprintf(g.Stderr, "more results: repeat with --cursor %s, or pass --all\n", cursor)
	}
}

// errorText renders err for the terminal. An API error shows its message,
// code and request id (what an operator greps the server logs for), then
// one indented line per invalid field.
func errorText(err error) string {
	var e *keyward.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(e.Message)
	b.WriteString(" (code ")
	b.WriteString(e.Code)
	if id := client.RequestID(err); id != "" {
		b.WriteString(", request ")
		b.WriteString(id)
	}
	b.WriteString(")")
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return b.String()
}
