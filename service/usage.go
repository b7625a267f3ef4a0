package service

import (
	"context"
	"fmt"
	"time"

	"keyward"
)

// defaultUsageSpan is the range of a usage query that gives none.
const defaultUsageSpan = 24 * time.Hour

// FindKeyUsage implements keyward.UsageService. A deleted key's usage
// stays readable: the counts outlive it, as its audit trail does.
func (s *Service) FindKeyUsage(ctx context.Context, keyID string, q keyward.UsageQuery) (*keyward.Usage, error) {
	p, err := authorize(ctx, keyward.PermUsageRead)
	if err != nil {
		return nil, err
	}
	f, err := s.usageFilter(q)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.FindKeyByID(ctx, p.OrgID, keyID); err != nil {
		return nil, err
	}
	f.KeyID = keyID
	return s.findUsage(ctx, p.OrgID, f)
}

// FindUsage implements keyward.UsageService.
func (s *Service) FindUsage(ctx context.Context, q keyward.UsageQuery) (*keyward.Usage, error) {
	p, err := authorize(ctx, keyward.PermUsageRead)
	if err != nil {
		return nil, err
	}
	f, err := s.usageFilter(q)
	if err != nil {
		return nil, err
	}
	return s.findUsage(ctx, p.OrgID, f)
}

// usageFilter resolves a query's defaults, bucket hour and the 24 hours
// that end with the current bucket, and widens the range to whole buckets
// (UTC): from down, to up.
func (s *Service) usageFilter(q keyward.UsageQuery) (keyward.UsageFilter, error) {
	f := keyward.UsageFilter{Bucket: q.Bucket}
	if f.Bucket == "" {
		f.Bucket = keyward.BucketHour
	}
	width, ok := keyward.BucketWidth(f.Bucket)
	if !ok {
		return f, keyward.Invalid(keyward.FieldError{Field: "bucket", Message: "must be minute, hour or day"})
	}
	var v validator
	v.usageTime("from", q.From)
	v.usageTime("to", q.To)
	if err := v.err(); err != nil {
		return f, err
	}
	f.To = alignUp(s.clock(), width)
	if q.To != nil {
		f.To = alignUp(q.To.UTC(), width)
	}
	f.From = f.To.Add(-defaultUsageSpan)
	if q.From != nil {
		f.From = q.From.UTC()
	}
	f.From = f.From.Truncate(width)
	if !f.From.Before(f.To) {
		return f, keyward.Invalid(keyward.FieldError{Field: "from", Message: "must be before to"})
	}
	// Count in seconds: a Duration saturates at 292 years.
	if n := (f.To.Unix() - f.From.Unix()) / int64(width/time.Second); n > keyward.MaxUsageBuckets {
		return f, keyward.Invalid(keyward.FieldError{Field: "from", Message: fmt.Sprintf(
			"the range holds %d %s buckets, more than the %d one answer may hold: narrow it or use a wider bucket",
			n, f.Bucket, keyward.MaxUsageBuckets)})
	}
	return f, nil
}

// Usage times lie in [minUsageTime, maxUsageTime): aligned up to a day,
// the latest still has a four-digit year, which RFC 3339 (and so the JSON
// answer) requires.
var (
	minUsageTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxUsageTime = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
)

// usageTime checks a query's from or to.
func (v *validator) usageTime(field string, t *time.Time) {
	if t != nil && (t.Before(minUsageTime) || !t.Before(maxUsageTime)) {
		v.add(field, "must be between 1970-01-01 and 9998-12-31")
	}
}

// alignUp returns t if it starts a bucket, else the start of the next one.
func alignUp(t time.Time, width time.Duration) time.Time {
	if down := t.Truncate(width); !down.Equal(t) {
		return down.Add(width)
	}
	return t
}

// findUsage reads the counts and fills the buckets that have none, so that
// a chart gets every point.
func (s *Service) findUsage(ctx context.Context, orgID string, f keyward.UsageFilter) (*keyward.Usage, error) {
	stored, err := s.store.FindUsage(ctx, orgID, f)
	if err != nil {
		return nil, err
	}
	byStart := make(map[int64]keyward.UsageBucket, len(stored))
	for _, b := range stored {
		byStart[b.Start.Unix()] = b
	}
	width, _ := keyward.BucketWidth(f.Bucket) // checked by usageFilter
	data := make([]keyward.UsageBucket, 0, f.To.Sub(f.From)/width)
	for t := f.From; t.Before(f.To); t = t.Add(width) {
		b := byStart[t.Unix()]
		b.Start = t
		data = append(data, b)
	}
	u := &keyward.Usage{Bucket: f.Bucket, From: f.From, To: f.To, Data: data}
	if f.KeyID != "" {
		u.KeyID = &f.KeyID
	}
	return u, nil
}
