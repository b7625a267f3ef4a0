package httpapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// Both usage routes read from, to and bucket the same way, and leave
// absent ones to the service's defaults.
func TestFindUsage_Query(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		query string
		want  keyward.UsageQuery
	}{
		{"defaults", "", keyward.UsageQuery{}},
		{"all", "?from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z&bucket=minute", keyward.UsageQuery{From: &from, To: &to, Bucket: keyward.BucketMinute}},
		{"offset", "?from=2026-03-01T02:00:00%2B02:00", keyward.UsageQuery{From: &from}},
		{"fraction", "?to=2026-03-02T00:00:00.000Z&bucket=day", keyward.UsageQuery{To: &to, Bucket: keyward.BucketDay}},
		{"hour", "?bucket=hour", keyward.UsageQuery{Bucket: keyward.BucketHour}},
	}
	routes := []struct {
		path string
		key  string
	}{
		{"/v1/keys/k1/usage", "k1"},
		{"/v1/usage", ""},
	}
	for _, rt := range routes {
		for _, tt := range tests {
			t.Run(rt.path+" "+tt.name, func(t *testing.T) {
				s := MustOpenServer(t)
				var got keyward.UsageQuery
				answer := &keyward.Usage{Bucket: keyward.BucketHour, From: from, To: to,
					Data: []keyward.UsageBucket{{Start: from, Total: 3, Codes: map[string]int64{keyward.CodeValid: 2, keyward.CodeRateLimited: 1}}}}
				if rt.key != "" {
					answer.KeyID = &rt.key
				}
				s.usage.FindKeyUsageFn = func(ctx context.Context, keyID string, q keyward.UsageQuery) (*keyward.Usage, error) {
					checkContext(t, ctx)
					if keyID != rt.key {
						t.Errorf("key id: got %q, want %q", keyID, rt.key)
					}
					got = q
					return answer, nil
				}
				s.usage.FindUsageFn = func(ctx context.Context, q keyward.UsageQuery) (*keyward.Usage, error) {
					checkContext(t, ctx)
					if rt.key != "" {
						t.Error("FindUsage called for a key's usage")
					}
					got = q
					return answer, nil
				}
				res := s.do(t, http.MethodGet, rt.path+tt.query, "")
				wantStatus(t, res, http.StatusOK)
				// Times compare by instant: an offset in the query is kept.
				if diff := cmp.Diff(tt.want, got, cmp.Comparer(time.Time.Equal)); diff != "" {
					t.Errorf("query (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(answer, decodeResponse[*keyward.Usage](t, res)); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// Empty series and buckets answer [] and {}, as documented, not null.
func TestFindUsage_EmptyShapes(t *testing.T) {
	s := MustOpenServer(t)
	s.usage.FindUsageFn = func(ctx context.Context, q keyward.UsageQuery) (*keyward.Usage, error) {
		return &keyward.Usage{Bucket: keyward.BucketDay, From: testTime, To: testTime, Data: []keyward.UsageBucket{{Start: testTime}}}, nil
	}
	res := s.do(t, http.MethodGet, "/v1/usage", "")
	wantStatus(t, res, http.StatusOK)
	want := `{"key_id":null,"bucket":"day","from":"2026-03-04T05:06:07Z","to":"2026-03-04T05:06:07Z",` +
		`"data":[{"start":"2026-03-04T05:06:07Z","total":0,"codes":{}}]}` + "\n"
	if got := string(res.body); got != want {
		t.Errorf("body: got %s, want %s", got, want)
	}
	s.usage.FindUsageFn = func(ctx context.Context, q keyward.UsageQuery) (*keyward.Usage, error) {
		return &keyward.Usage{Bucket: keyward.BucketDay, From: testTime, To: testTime}, nil
	}
	res = s.do(t, http.MethodGet, "/v1/usage", "")
	wantStatus(t, res, http.StatusOK)
	if got := decodeResponse[map[string]any](t, res)["data"]; !cmp.Equal(got, []any{}) {
		t.Errorf("data: got %#v, want []", got)
	}
}

// A bad parameter is answered 400 naming it, before the service is
// reached (the mocks have no functions: reaching one panics).
func TestFindUsage_InvalidQuery(t *testing.T) {
	tests := []struct {
		query  string
		fields []string
	}{
		{"?from=yesterday", []string{"from"}},
		{"?to=2026-03-02", []string{"to"}},
		{"?from=2026-03-01T00:00:00", []string{"from"}},
		// An unescaped + arrives as a space.
		{"?from=2026-03-01T02:00:00+02:00", []string{"from"}},
		{"?from=", []string{"from"}},
		{"?bucket=week", []string{"bucket"}},
		{"?bucket=Hour", []string{"bucket"}},
		{"?bucket=", []string{"bucket"}},
		{"?from=x&to=y&bucket=z", []string{"from", "to", "bucket"}},
		{"?since=2026-03-01T00:00:00Z", []string{"since"}},
		{"?bucket=day&bucket=hour", []string{"bucket"}},
	}
	for _, path := range []string{"/v1/keys/k1/usage", "/v1/usage"} {
		for _, tt := range tests {
			t.Run(path+tt.query, func(t *testing.T) {
				s := MustOpenServer(t)
				wantProblem(t, s.do(t, http.MethodGet, path+tt.query, ""), http.StatusBadRequest, keyward.EINVALID, tt.fields...)
			})
		}
	}
}
