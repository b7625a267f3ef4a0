// Package keyformat generates, parses and hashes Keyward's API keys.
//
// A key reads <prefix>_<random><checksum>, GitHub's token scheme:
//
//   - prefix names the org or environment (kw_live, kw_test, ...) and matches
//     [a-z0-9_]{1,16}. It may itself contain underscores, so keys are parsed
//     from the end, where every part has a fixed width.
//   - random is 32 bytes from crypto/rand in base62 (0-9A-Za-z), left-padded
//     to 43 characters.
//   - checksum is the CRC32 (IEEE) of everything before it, base62, left-padded
//     to 6 characters. It lets a typo or a truncated paste be rejected before
//     any lookup, and lets secret scanners tell real keys from look-alikes.
package keyformat

import (
	"crypto/rand"
	"errors"
	"hash/crc32"
	"unsafe"
)

// Prefixes used when an org configures none.
const (
	DefaultPrefix = "kw_live"
	TestPrefix    = "kw_test"
)

const (
	// MaxPrefixLen is the longest prefix a key may have.
	MaxPrefixLen = 16
	// RandomLen is the width of the random part: 62^43 > 2^256, so 43 base62
	// digits hold 32 bytes.
	RandomLen = 43
	// ChecksumLen is the width of the checksum: 62^6 > 2^32.
	ChecksumLen = 6
	// DisplayRandomLen is how many random characters DisplayPrefix shows:
	// enough to tell keys apart in a list, far too few to guess the rest.
	DisplayRandomLen = 8

	randomBytes = 32
	// suffixLen is everything after the prefix: separator, random, checksum.
	suffixLen = 1 + RandomLen + ChecksumLen
)

// MinLen and MaxLen bound the length of a well-formed key.
const (
	MinLen = 1 + suffixLen
	MaxLen = MaxPrefixLen + suffixLen
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// digitValue maps a byte to its base62 value, or 0xff for any other byte.
var digitValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// ValidPrefix reports whether p matches [a-z0-9_]{1,16}.
func ValidPrefix(p string) bool {
	if len(p) == 0 || len(p) > MaxPrefixLen {
		return false
	}
	for i := range len(p) {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// errInvalidPrefix reports a programming error: callers validate prefixes
// coming from users with ValidPrefix first. Generate still refuses, because
// a key that never parses would be handed out and then never verify.
var errInvalidPrefix = errors.New("keyformat: invalid key prefix")

// Generate returns a new key with prefix. Callers validate a prefix from user
// input with ValidPrefix first, to report it as a field error; Generate
// returns an internal error for one that slipped through.
func Generate(prefix string) (string, error) {
	if !ValidPrefix(prefix) {
		return "", errInvalidPrefix
	}
	var random [randomBytes]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", err
	}
	n := len(prefix) + suffixLen
	buf := make([]byte, n)
	copy(buf, prefix)
	buf[len(prefix)] = '_'
	encodeRandom(buf[len(prefix)+1:n-ChecksumLen], &random)
	encodeChecksum(buf[n-ChecksumLen:], crc32.ChecksumIEEE(buf[:n-ChecksumLen]))
	return string(buf), nil
}

// encodeRandom writes b as a big-endian number in base62 into dst (RandomLen
// bytes), most significant digit first, left-padded with '0'.
func encodeRandom(dst []byte, b *[randomBytes]byte) {
	// Long division by 62 over 32-bit limbs; each step yields one digit.
	var limbs [randomBytes / 4]uint32
	for i := range limbs {
		limbs[i] = uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
	}
	for i := len(dst) - 1; i >= 0; i-- {
		var rem uint64
		for j := range limbs {
			cur := rem<<32 | uint64(limbs[j])
			limbs[j] = uint32(cur / 62)
			rem = cur % 62
		}
		dst[i] = alphabet[rem]
	}
}

// encodeChecksum writes v in base62 into dst (ChecksumLen bytes), left-padded
// with '0'.
func encodeChecksum(dst []byte, v uint32) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = alphabet[v%62]
		v /= 62
	}
}

// Parse reports whether key is well-formed with a correct checksum, and
// returns its prefix. It does not allocate: the prefix is a substring of key.
func Parse(key string) (prefix string, ok bool) {
	n := len(key)
	if n < MinLen || n > MaxLen {
		return "", false
	}
	prefix = key[:n-suffixLen]
	if !ValidPrefix(prefix) || key[n-suffixLen] != '_' {
		return "", false
	}
	for i := n - suffixLen + 1; i < n-ChecksumLen; i++ {
		if digitValue[key[i]] == 0xff {
			return "", false
		}
	}
	// Decode into 64 bits: six digits can exceed 2^32, and a value that
	// does must not wrap around onto a valid checksum.
	var sum uint64
	for i := n - ChecksumLen; i < n; i++ {
		d := digitValue[key[i]]
		if d == 0xff {
			return "", false
		}
		sum = sum*62 + uint64(d)
	}
	if sum != uint64(crc32.ChecksumIEEE(bytesOf(key[:n-ChecksumLen]))) {
		return "", false
	}
	return prefix, true
}

// DisplayPrefix returns prefix + "_" + the first 8 random characters (safe
// to show); key must have passed Parse. It answers "" for a key too short to
// have passed.
func DisplayPrefix(key string) string {
	if len(key) < MinLen {
		return ""
	}
	return key[:len(key)-suffixLen+1+DisplayRandomLen]
}

// bytesOf returns a read-only view of s's bytes. crc32 and sha256 take a
// []byte, and a []byte(s) conversion (or a stack copy that then escapes
// through their function-variable dispatch) costs an allocation on every
// verification. The callees only read the slice and keep no reference to it.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
