package keyward

import (
	"context"
	"encoding/json"
	"time"
)

// Usage bucket widths.
const (
	BucketMinute = "minute"
	BucketHour   = "hour"
	BucketDay    = "day"
)

// BucketWidth returns the width of the named bucket, and false for an
// unknown name. Truncating to a width aligns to UTC: time.Truncate counts
// from the zero time, a UTC midnight, and neither Go nor Unix time has leap
// seconds.
func BucketWidth(bucket string) (time.Duration, bool) {
	switch bucket {
	case BucketMinute:
		return time.Minute, true
	case BucketHour:
		return time.Hour, true
	case BucketDay:
		return 24 * time.Hour, true
	}
	return 0, false
}

// MaxUsageBuckets bounds the buckets of one usage answer.
const MaxUsageBuckets = 1440

// UsageCount is a number of verifications of one key with one reason code
// within one minute, as the verify path flushes them.
type UsageCount struct {
	OrgID  string
	KeyID  string
	Minute time.Time
	Code   string
	Count  int64
}

// UsageFilter selects usage. From is inclusive, To exclusive; both are
// aligned to Bucket.
type UsageFilter struct {
	// KeyID limits the usage to one key; empty means the whole org.
	KeyID  string
	From   time.Time
	To     time.Time
	Bucket string
}

// UsageBucket counts the verifications of one time bucket.
type UsageBucket struct {
	Start time.Time `json:"start"`
	Total int64     `json:"total"`
	// Codes counts by reason code; codes that did not occur are absent.
	Codes map[string]int64 `json:"codes"`
}

// MarshalJSON writes no codes as {}, not null, so that clients index them
// without a nil check.
func (b UsageBucket) MarshalJSON() ([]byte, error) {
	type plain UsageBucket
	p := plain(b)
	if p.Codes == nil {
		p.Codes = map[string]int64{}
	}
	return json.Marshal(p)
}

// Usage is a series of buckets from From to To, one per bucket, empty
// ones included.
type Usage struct {
	KeyID  *string       `json:"key_id"`
	Bucket string        `json:"bucket"`
	From   time.Time     `json:"from"`
	To     time.Time     `json:"to"`
	Data   []UsageBucket `json:"data"`
}

// MarshalJSON writes no buckets as [], not null.
func (u Usage) MarshalJSON() ([]byte, error) {
	type plain Usage
	p := plain(u)
	p.Data = nonNil(p.Data)
	return json.Marshal(p)
}

// UsageQuery is the input of UsageService: zero From, To and Bucket take
// defaults (the last 24 hours by hour).
type UsageQuery struct {
	From   *time.Time
	To     *time.Time
	Bucket string
}

// UsageService reads verification counts of the caller's org. Counts are
// flushed from memory every few seconds, so the current minute lags.
type UsageService interface {
	// FindKeyUsage needs admin:usage:read. Returns EFORBIDDEN, ENOTFOUND,
	// EINVALID (a bad range or bucket).
	FindKeyUsage(ctx context.Context, keyID string, q UsageQuery) (*Usage, error)
	// FindUsage answers the whole org's counts. Needs admin:usage:read.
	// Returns EFORBIDDEN, EINVALID.
	FindUsage(ctx context.Context, q UsageQuery) (*Usage, error)
}
