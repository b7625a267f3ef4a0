package keyward_test

import (
	"encoding/json"
	"testing"
	"time"

	"keyward"
)

// TestEmptyListsJSON pins the wire form of the answers whose lists and
// counts are always present: empty ones as [] and {}, never null.
func TestEmptyListsJSON(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	limits := []keyward.RateLimit{{Name: "default", Limit: 10, Window: 60}}
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"owner without limits", &keyward.Owner{ID: "u1", OrgID: "o1"},
			`{"owner_id":"u1","org_id":"o1","rate_limits":[],"updated_at":null}`},
		{"owner with limits", keyward.Owner{ID: "u1", OrgID: "o1", RateLimits: limits, UpdatedAt: &now},
			`{"owner_id":"u1","org_id":"o1","rate_limits":[{"name":"default","limit":10,"window":60}],"updated_at":"2026-11-23T12:00:00Z"}`},
		{"policy without IPs", &keyward.OrgPolicy{AllowNonExpiring: true},
			`{"max_key_lifetime":null,"default_key_lifetime":null,"allowed_ips":[],"allow_non_expiring":true}`},
		{"policy with IPs", keyward.OrgPolicy{AllowedIPs: []string{"10.0.0.0/8"}},
			`{"max_key_lifetime":null,"default_key_lifetime":null,"allowed_ips":["10.0.0.0/8"],"allow_non_expiring":false}`},
		{"usage without buckets", &keyward.Usage{Bucket: keyward.BucketHour, From: now, To: now},
			`{"key_id":null,"bucket":"hour","from":"2026-11-23T12:00:00Z","to":"2026-11-23T12:00:00Z","data":[]}`},
		{"usage with buckets", &keyward.Usage{Bucket: keyward.BucketHour, From: now, To: now.Add(2 * time.Hour), Data: []keyward.UsageBucket{
			{Start: now},
			{Start: now.Add(time.Hour), Total: 2, Codes: map[string]int64{keyward.CodeValid: 2}},
		}},
			`{"key_id":null,"bucket":"hour","from":"2026-11-23T12:00:00Z","to":"2026-11-23T14:00:00Z","data":[` +
				`{"start":"2026-11-23T12:00:00Z","total":0,"codes":{}},` +
				`{"start":"2026-11-23T13:00:00Z","total":2,"codes":{"VALID":2}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestBucketWidth(t *testing.T) {
	tests := []struct {
		bucket string
		want   time.Duration
		ok     bool
	}{
		{keyward.BucketMinute, time.Minute, true},
		{keyward.BucketHour, time.Hour, true},
		{keyward.BucketDay, 24 * time.Hour, true},
		{"week", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		if got, ok := keyward.BucketWidth(tt.bucket); got != tt.want || ok != tt.ok {
			t.Errorf("BucketWidth(%q) = %v, %v; want %v, %v", tt.bucket, got, ok, tt.want, tt.ok)
		}
	}
}
