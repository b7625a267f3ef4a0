package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// testUsage checks that counts add up per key, minute and code, and sum
// into UTC buckets of a minute, an hour and a day, From inclusive and To
// exclusive, one org at a time.
func testUsage(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	acme := createOrg(t, s, "acme")
	initech := createOrg(t, s, "initech")
	k1 := createKey(t, s, newKey(acme))
	k2 := createKey(t, s, newKey(acme))
	theirs := createKey(t, s, newKey(initech))

	count := func(k *keyward.Key, minute time.Time, code string, n int64) keyward.UsageCount {
		return keyward.UsageCount{OrgID: k.OrgID, KeyID: k.ID, Minute: minute, Code: code, Count: n}
	}
	const valid, limited, exceeded = keyward.CodeValid, keyward.CodeRateLimited, keyward.CodeUsageExceeded
	batches := [][]keyward.UsageCount{
		{
			count(k1, utc(2026, time.March, 1, 23, 58), valid, 3),
			count(k1, utc(2026, time.March, 1, 23, 58), limited, 1),
			count(k1, utc(2026, time.March, 1, 23, 59), valid, 2),
			count(k2, utc(2026, time.March, 1, 23, 59), valid, 5),
			count(k1, utc(2026, time.March, 2, 0, 0), valid, 4),
			count(k1, utc(2026, time.March, 2, 1, 30), exceeded, 6),
			count(theirs, utc(2026, time.March, 1, 23, 59), valid, 100),
		},
		// A later flush of the same minute, key and code adds to it.
		{count(k1, utc(2026, time.March, 1, 23, 58), valid, 7)},
		{},
	}
	for _, b := range batches {
		if err := s.AddUsage(ctx, b); err != nil {
			t.Fatalf("AddUsage(%d counts): %v", len(b), err)
		}
	}

	bucket := func(start time.Time, codes map[string]int64) keyward.UsageBucket {
		b := keyward.UsageBucket{Start: start, Codes: codes}
		for _, n := range codes {
			b.Total += n
		}
		return b
	}
	tests := []struct {
		name  string
		orgID string
		f     keyward.UsageFilter
		want  []keyward.UsageBucket
	}{
		{
			name:  "one key by minute",
			orgID: acme.ID,
			f:     keyward.UsageFilter{KeyID: k1.ID, Bucket: keyward.BucketMinute, From: utc(2026, time.March, 1, 23, 58), To: utc(2026, time.March, 2, 0, 1)},
			want: []keyward.UsageBucket{
				bucket(utc(2026, time.March, 1, 23, 58), map[string]int64{valid: 10, limited: 1}),
				bucket(utc(2026, time.March, 1, 23, 59), map[string]int64{valid: 2}),
				bucket(utc(2026, time.March, 2, 0, 0), map[string]int64{valid: 4}),
			},
		},
		{
			name:  "To is exclusive",
			orgID: acme.ID,
			f:     keyward.UsageFilter{KeyID: k1.ID, Bucket: keyward.BucketMinute, From: utc(2026, time.March, 1, 23, 0), To: utc(2026, time.March, 1, 23, 59)},
			want: []keyward.UsageBucket{
				bucket(utc(2026, time.March, 1, 23, 58), map[string]int64{valid: 10, limited: 1}),
			},
		},
		{
			name:  "the org by hour",
			orgID: acme.ID,
			f:     keyward.UsageFilter{Bucket: keyward.BucketHour, From: utc(2026, time.March, 1, 23, 0), To: utc(2026, time.March, 2, 2, 0)},
			want: []keyward.UsageBucket{
				bucket(utc(2026, time.March, 1, 23, 0), map[string]int64{valid: 17, limited: 1}),
				bucket(utc(2026, time.March, 2, 0, 0), map[string]int64{valid: 4}),
				bucket(utc(2026, time.March, 2, 1, 0), map[string]int64{exceeded: 6}),
			},
		},
		{
			name:  "From is inclusive",
			orgID: acme.ID,
			f:     keyward.UsageFilter{Bucket: keyward.BucketHour, From: utc(2026, time.March, 2, 0, 0), To: utc(2026, time.March, 2, 1, 0)},
			want: []keyward.UsageBucket{
				bucket(utc(2026, time.March, 2, 0, 0), map[string]int64{valid: 4}),
			},
		},
		{
			name:  "the org by day",
			orgID: acme.ID,
			f:     keyward.UsageFilter{Bucket: keyward.BucketDay, From: utc(2026, time.February, 1, 0, 0), To: utc(2026, time.March, 3, 0, 0)},
			want: []keyward.UsageBucket{
				bucket(utc(2026, time.March, 1, 0, 0), map[string]int64{valid: 17, limited: 1}),
				bucket(utc(2026, time.March, 2, 0, 0), map[string]int64{valid: 4, exceeded: 6}),
			},
		},
		{
			name:  "another org's counts stay apart",
			orgID: initech.ID,
			f:     keyward.UsageFilter{Bucket: keyward.BucketDay, From: utc(2026, time.March, 1, 0, 0), To: utc(2026, time.March, 3, 0, 0)},
			want: []keyward.UsageBucket{
				bucket(utc(2026, time.March, 1, 0, 0), map[string]int64{valid: 100}),
			},
		},
		{
			name:  "another org's key",
			orgID: initech.ID,
			f:     keyward.UsageFilter{KeyID: k1.ID, Bucket: keyward.BucketDay, From: utc(2026, time.March, 1, 0, 0), To: utc(2026, time.March, 3, 0, 0)},
		},
		{
			name:  "a range without counts",
			orgID: acme.ID,
			f:     keyward.UsageFilter{Bucket: keyward.BucketMinute, From: utc(2026, time.March, 1, 0, 0), To: utc(2026, time.March, 1, 1, 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.FindUsage(ctx, tt.orgID, tt.f)
			if err != nil {
				t.Fatalf("FindUsage: %v", err)
			}
			if len(tt.want) == 0 && len(got) == 0 {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FindUsage(%+v) mismatch (-want +got):\n%s", tt.f, diff)
			}
		})
	}

	_, err := s.FindUsage(ctx, acme.ID, keyward.UsageFilter{Bucket: "week", From: utc(2026, time.March, 1, 0, 0), To: utc(2026, time.March, 8, 0, 0)})
	wantField(t, err, "bucket")
}
