package service_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func TestUsage(t *testing.T) {
	f := newFixture(t)
	a := f.create(t, f.root, keyward.KeyCreate{Name: "a"})
	b := f.create(t, f.root, keyward.KeyCreate{Name: "b"})
	_, otherRoot, err := f.svc.CreateOrg(t.Context(), "other")
	if err != nil {
		t.Fatal(err)
	}
	other := f.create(t, f.as(otherRoot.Key), keyward.KeyCreate{Name: "theirs"})
	// f.now is 2026-11-23 12:00 UTC.
	at := func(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, time.UTC) }
	err = f.db.AddUsage(t.Context(), []keyward.UsageCount{
		{OrgID: f.org.ID, KeyID: a.ID, Minute: at(9, 5), Code: keyward.CodeValid, Count: 3},
		{OrgID: f.org.ID, KeyID: a.ID, Minute: at(9, 59), Code: keyward.CodeRateLimited, Count: 2},
		{OrgID: f.org.ID, KeyID: a.ID, Minute: at(11, 0), Code: keyward.CodeValid, Count: 1},
		{OrgID: f.org.ID, KeyID: b.ID, Minute: at(9, 30), Code: keyward.CodeValid, Count: 10},
		{OrgID: other.OrgID, KeyID: other.ID, Minute: at(9, 30), Code: keyward.CodeValid, Count: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	bucket := func(start time.Time, codes map[string]int64) keyward.UsageBucket {
		var total int64
		for _, n := range codes {
			total += n
		}
		return keyward.UsageBucket{Start: start, Total: total, Codes: codes}
	}
	var none map[string]int64 // an empty bucket; its JSON writes {}

	for _, tt := range []struct {
		name  string
		keyID string
		q     keyward.UsageQuery
		want  *keyward.Usage
	}{
		{"key by hour, aligned outwards", a.ID, keyward.UsageQuery{From: ptr(at(8, 30)), To: ptr(at(11, 1)), Bucket: "hour"}, &keyward.Usage{
			KeyID: &a.ID, Bucket: "hour", From: at(8, 0), To: at(12, 0),
			Data: []keyward.UsageBucket{
				bucket(at(8, 0), none),
				bucket(at(9, 0), map[string]int64{keyward.CodeValid: 3, keyward.CodeRateLimited: 2}),
				bucket(at(10, 0), none),
				bucket(at(11, 0), map[string]int64{keyward.CodeValid: 1}),
			},
		}},
		{"key by minute", a.ID, keyward.UsageQuery{From: ptr(at(9, 4)), To: ptr(at(9, 7)), Bucket: "minute"}, &keyward.Usage{
			KeyID: &a.ID, Bucket: "minute", From: at(9, 4), To: at(9, 7),
			Data: []keyward.UsageBucket{
				bucket(at(9, 4), none),
				bucket(at(9, 5), map[string]int64{keyward.CodeValid: 3}),
				bucket(at(9, 6), none),
			},
		}},
		{"org by day", "", keyward.UsageQuery{From: ptr(at(0, 0).AddDate(0, 0, -1)), Bucket: "day"}, &keyward.Usage{
			Bucket: "day", From: at(0, 0).AddDate(0, 0, -1), To: at(0, 0).AddDate(0, 0, 1),
			Data: []keyward.UsageBucket{
				bucket(at(0, 0).AddDate(0, 0, -1), none),
				bucket(at(0, 0), map[string]int64{keyward.CodeValid: 14, keyward.CodeRateLimited: 2}),
			},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got *keyward.Usage
			var err error
			if tt.keyID == "" {
				got, err = f.svc.FindUsage(f.root, tt.q)
			} else {
				got, err = f.svc.FindKeyUsage(f.root, tt.keyID, tt.q)
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}

	// Defaults: by hour, the 24 hours ending with the current hour.
	f.now = at(12, 34)
	got, err := f.svc.FindUsage(f.root, keyward.UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Bucket != keyward.BucketHour || !got.From.Equal(at(13, 0).Add(-24*time.Hour)) || !got.To.Equal(at(13, 0)) || len(got.Data) != 24 {
		t.Errorf("default query: bucket %s, %v to %v, %d buckets; want hour, the 24 hours to %v", got.Bucket, got.From, got.To, len(got.Data), at(13, 0))
	}
	var total int64
	for _, b := range got.Data {
		total += b.Total
	}
	if total != 16 {
		t.Errorf("org total %d, want 16: the other org's counts must not show", total)
	}

	// A deleted key's usage stays readable; another org's key is not found.
	if _, err := f.svc.DeleteKey(f.root, b.ID); err != nil {
		t.Fatal(err)
	}
	if got, err = f.svc.FindKeyUsage(f.root, b.ID, keyward.UsageQuery{}); err != nil || got.Data[20].Total != 10 {
		t.Errorf("deleted key's usage: %+v, %v; want 10 in the 09:00 bucket", got, err)
	}
	for _, id := range []string{other.ID, "0193aaaa-0000-7000-8000-000000000000"} {
		if _, err := f.svc.FindKeyUsage(f.root, id, keyward.UsageQuery{}); keyward.ErrorCode(err) != keyward.ENOTFOUND {
			t.Errorf("FindKeyUsage(%s): got %v, want not found", id, err)
		}
	}
}

// lastUsageDay is the last day a usage query may name.
var lastUsageDay = time.Date(9998, 12, 31, 0, 0, 0, 0, time.UTC)

func TestUsageQueryValidation(t *testing.T) {
	f := newFixture(t)
	reader := f.create(t, f.root, keyward.KeyCreate{Name: "reader", Permissions: []string{keyward.PermKeysRead}})
	for _, tt := range []struct {
		name string
		q    keyward.UsageQuery
		want string
	}{
		{"unknown bucket", keyward.UsageQuery{Bucket: "week"}, "bucket"},
		{"from after to", keyward.UsageQuery{From: ptr(f.now), To: ptr(f.now.Add(-time.Hour))}, "from"},
		{"empty range", keyward.UsageQuery{From: ptr(f.now), To: ptr(f.now)}, "from"},
		{"1441 minutes", keyward.UsageQuery{From: ptr(f.now.Add(-1441 * time.Minute)), To: ptr(f.now), Bucket: "minute"}, "from"},
		{"1441 days", keyward.UsageQuery{From: ptr(f.now.AddDate(0, 0, -1441)), Bucket: "day"}, "from"},
		{"thousand years by hour", keyward.UsageQuery{From: ptr(f.now.AddDate(-1000, 0, 0))}, "from"},
		// Aligned up, this to would be in year 10000, which JSON cannot
		// write.
		{"to in 9999", keyward.UsageQuery{From: ptr(lastUsageDay), To: ptr(time.Date(9999, 12, 31, 23, 30, 0, 0, time.UTC)), Bucket: "day"}, "to"},
		{"from before 1970", keyward.UsageQuery{From: ptr(time.Unix(-1, 0)), To: ptr(time.Unix(3600, 0))}, "from"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.FindUsage(f.root, tt.q)
			wantInvalid(t, err, tt.want)
		})
	}
	// The bounds themselves answer, and the answer encodes.
	for _, q := range []keyward.UsageQuery{
		{From: ptr(lastUsageDay), To: ptr(lastUsageDay.Add(24*time.Hour - time.Nanosecond)), Bucket: "day"},
		{From: ptr(time.Unix(0, 0)), To: ptr(time.Unix(3600, 0))},
	} {
		got, err := f.svc.FindUsage(f.root, q)
		if err != nil {
			t.Errorf("FindUsage(%v to %v): %v", q.From, q.To, err)
			continue
		}
		if _, err := json.Marshal(got); err != nil {
			t.Errorf("FindUsage(%v to %v) answer: %v", q.From, q.To, err)
		}
	}
	got, err := f.svc.FindUsage(f.root, keyward.UsageQuery{From: ptr(f.now.Add(-1440 * time.Minute)), To: ptr(f.now), Bucket: "minute"})
	if err != nil || len(got.Data) != keyward.MaxUsageBuckets {
		t.Errorf("1440 minutes: %d buckets, %v; want %d", len(got.Data), err, keyward.MaxUsageBuckets)
	}
	if _, err := f.svc.FindUsage(f.as(reader.Key), keyward.UsageQuery{}); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("FindUsage without %s: got %v, want forbidden", keyward.PermUsageRead, err)
	}
}
