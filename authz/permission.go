// Package authz matches permissions, evaluates permission queries and
// enforces non-escalation.
//
// A permission is a string of segments separated by '.' or ':', so that both
// styles customers already use work: nodes.read.own and admin:api-keys:create.
// Separators are significant: a pattern matches a permission only when the
// two have the same separator at each position they share, so nodes.read and
// nodes:read are different permissions. Were they interchangeable, a
// customer's own admin.* would cover Keyward's management permissions, such
// as admin:api-keys:create.
//
// A segment is [A-Za-z0-9_-]+ or exactly "*". A "*" segment matches any one
// segment; a "*" that is the last segment matches the rest (one or more
// segments, whatever separators they use). So "*" alone matches every
// permission, and admin:* matches admin:audit:read and admin:a.b but neither
// admin itself nor admin.x.
package authz

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxPermissionLen is the longest permission accepted, in bytes.
const MaxPermissionLen = 255

// CheckPermission returns nil, or an error whose text says why p is not a
// valid permission (empty, too long, empty segment, bad character, "*" mixed
// into a segment like ad*). The text is meant to follow a field name, as in
// "permissions[2]: invalid character '!' at position 6".
func CheckPermission(p string) error {
	if p == "" {
		return errors.New("permission is empty")
	}
	if len(p) > MaxPermissionLen {
		return fmt.Errorf("permission is longer than %d characters", MaxPermissionLen)
	}
	if pos, f := findFault(p); f != faultNone {
		return fmt.Errorf("%s at position %d", f.describe(p, pos), pos+1)
	}
	return nil
}

// fault is what is wrong with a permission's segments.
type fault uint8

const (
	faultNone fault = iota
	faultEmptySegment
	faultBadCharacter
	faultPartialWildcard
)

// describe says what f, found at byte offset pos of p, is.
func (f fault) describe(p string, pos int) string {
	switch f {
	case faultEmptySegment:
		return "empty segment"
	case faultBadCharacter:
		r, _ := utf8.DecodeRuneInString(p[pos:])
		return fmt.Sprintf("invalid character %q", r)
	}
	return `"*" must be a whole segment`
}

// findFault returns the first fault in the segments of a non-empty p, and
// its byte offset. It does not allocate, so that the matching path can use it
// on untrusted input.
func findFault(p string) (pos int, f fault) {
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && !isSeparator(p[i]) {
			if c := p[i]; !isSegmentByte(c) && c != '*' {
				return i, faultBadCharacter
			}
			continue
		}
		seg := p[start:i]
		if seg == "" {
			// Point at the separator next to the gap, never past the end.
			return min(i, len(p)-1), faultEmptySegment
		}
		if seg != "*" {
			if j := strings.IndexByte(seg, '*'); j >= 0 {
				return start + j, faultPartialWildcard
			}
		}
		start = i + 1
	}
	return 0, faultNone
}

// valid reports whether p is a valid permission, without allocating.
func valid(p string) bool {
	if p == "" || len(p) > MaxPermissionLen {
		return false
	}
	_, f := findFault(p)
	return f == faultNone
}

func isSeparator(c byte) bool { return c == '.' || c == ':' }

func isSegmentByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// validSegment reports whether seg is "*" or a non-empty run of segment bytes.
func validSegment(seg string) bool {
	if seg == "*" {
		return true
	}
	for i := range len(seg) {
		if !isSegmentByte(seg[i]) {
			return false
		}
	}
	return seg != ""
}

// Covers reports whether the granted pattern covers every permission the
// requested string (itself possibly a pattern) could stand for. Used for
// non-escalation and for matching a concrete required permission. An invalid
// permission on either side covers and is covered by nothing.
//
// Examples: Covers("*", anything) is true; Covers("admin:*", "admin") is
// false; Covers("admin:*", "admin:api-keys:*") is true but not the other way
// round; Covers("a.b.c", "a.*.c") is false, since a.*.c also stands for
// a.x.c; Covers("nodes.read", "nodes:read") and
// Covers("admin.*", "admin:api-keys:create") are false, since separators
// are significant.
func Covers(granted, requested string) bool {
	return valid(requested) && covers(granted, requested)
}

// covers is Covers for a requested permission already known to be valid. It
// validates granted as it walks, in one pass, because it runs once per
// granted permission on every verification: it may answer false before
// reaching a fault in granted, but answers true only once all of granted has
// been checked.
func covers(granted, requested string) bool {
	if len(granted) > MaxPermissionLen {
		return false
	}
	gi, ri := 0, 0
	// Invariant: requested has a segment at ri.
	for {
		gs, gnext, glast := nextSegment(granted, gi)
		if !validSegment(gs) {
			return false
		}
		if glast && gs == "*" {
			// A trailing "*" takes any non-empty rest, whatever its
			// separators, and requested has one; whatever it holds,
			// wildcards included, stands only for permissions that have
			// that rest. The separator before the "*" was compared on the
			// way here.
			return true
		}
		rs, rnext, rlast := nextSegment(requested, ri)
		// A requested "*" stands for any segment, so only a granted "*"
		// covers it; a literal covers only the same literal. This also
		// refuses a requested trailing "*", which stands for longer
		// permissions too, against a granted literal.
		if gs != "*" && gs != rs {
			return false
		}
		if glast || rlast {
			// Past here one side ends and the other goes on; a requested
			// trailing "*" facing a granted middle "*" lands here as well,
			// since requested then also stands for permissions that stop
			// short of granted's remaining segments.
			return glast && rlast
		}
		// Both go on, so each has a separator here, and every permission
		// requested stands for has its separator at this position: granted
		// covers none of them unless it has the same one.
		if granted[gnext-1] != requested[rnext-1] {
			return false
		}
		gi, ri = gnext, rnext
	}
}

// nextSegment returns the segment of p that starts at i, the start of the
// one after it, and whether it is the last segment.
func nextSegment(p string, i int) (seg string, next int, last bool) {
	for j := i; j < len(p); j++ {
		if isSeparator(p[j]) {
			return p[i:j], j + 1, false
		}
	}
	return p[i:], len(p), true
}

// Allowed reports whether any of granted covers requested. It does not
// allocate: it runs on every verification.
func Allowed(granted []string, requested string) bool {
	return valid(requested) && anyCovers(granted, requested)
}

// anyCovers is Allowed for a requested permission already known to be
// valid, such as a leaf of a parsed Query.
func anyCovers(granted []string, requested string) bool {
	for _, g := range granted {
		if covers(g, requested) {
			return true
		}
	}
	return false
}

// Uncovered returns the requested permissions that no granted one covers,
// or nil when there are none. It is the non-escalation check: a key may give
// another key only permissions its own cover. Invalid requested permissions
// are never covered; callers report them with CheckPermission first.
func Uncovered(granted, requested []string) []string {
	var out []string
	for _, r := range requested {
		if !Allowed(granted, r) {
			out = append(out, r)
		}
	}
	return out
}
