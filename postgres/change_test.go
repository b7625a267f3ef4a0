package postgres

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func TestChangeRoundTrip(t *testing.T) {
	hash := sha256.Sum256([]byte("k"))
	for _, c := range []keyward.Change{
		{Kind: keyward.ChangeAll},
		{Kind: keyward.ChangeKey, OrgID: "org1", KeyHash: hash[:]},
		{Kind: keyward.ChangeOwner, OrgID: "org1", OwnerID: "user 42 with spaces"},
		{Kind: keyward.ChangePolicy, OrgID: "org1"},
	} {
		if got := decodeChange(encodeChange(c)); !cmp.Equal(got, c) {
			t.Errorf("decodeChange(encodeChange(%+v)) = %+v", c, got)
		}
	}
}

// TestDecodeChangeMalformed checks that a payload this version did not
// write drops everything rather than nothing.
func TestDecodeChangeMalformed(t *testing.T) {
	for _, p := range []string{"", "*", "k", "k org", "k org zz", "k org 00", "o org", "o org ", "p", "p org extra", "x org", "k  " + strings.Repeat("0", 64)} {
		if got := decodeChange(p); got.Kind != keyward.ChangeAll {
			t.Errorf("decodeChange(%q) = %+v, want ChangeAll", p, got)
		}
	}
}

func TestChannelFor(t *testing.T) {
	if got, want := channelFor("public"), "keyward_changes.public"; got != want {
		t.Errorf("channelFor(public) = %q, want %q", got, want)
	}
	long := strings.Repeat("s", 63)
	if got := channelFor(long); len(got) > 63 || got == channelFor(long[1:]+"t") {
		t.Errorf("channelFor(63 bytes) = %q: too long or not distinct", got)
	}
}

// FuzzDecodeChange checks that any payload decodes to a change that
// encodes back to itself, or to ChangeAll.
func FuzzDecodeChange(f *testing.F) {
	hash := sha256.Sum256([]byte("k"))
	for _, c := range []keyward.Change{
		{Kind: keyward.ChangeKey, OrgID: "o", KeyHash: hash[:]},
		{Kind: keyward.ChangeOwner, OrgID: "o", OwnerID: "a b"},
		{Kind: keyward.ChangePolicy, OrgID: "o"},
	} {
		f.Add(encodeChange(c))
	}
	f.Fuzz(func(t *testing.T, payload string) {
		c := decodeChange(payload)
		if c.Kind == keyward.ChangeAll {
			return
		}
		again := decodeChange(encodeChange(c))
		if again.Kind != c.Kind || again.OrgID != c.OrgID || again.OwnerID != c.OwnerID || !bytes.Equal(again.KeyHash, c.KeyHash) {
			t.Errorf("decodeChange(%q) = %+v, which round-trips to %+v", payload, c, again)
		}
	})
}
