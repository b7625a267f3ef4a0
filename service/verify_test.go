package service_test

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func TestVerifyUsageValidation(t *testing.T) {
	f := newFixture(t)
	k := f.create(t, f.root, keyward.KeyCreate{
		Name:       "metered",
		RateLimits: []keyward.RateLimit{{Name: "default", Limit: 10, Window: 60}},
		Credits:    &keyward.CreditsInput{Remaining: ptr[int64](5)},
	})
	tooMany := make([]keyward.RateLimitUse, keyward.MaxRateLimits+1)
	for i := range tooMany {
		tooMany[i].Name = "l" + strconv.Itoa(i)
	}
	for _, tt := range []struct {
		name string
		req  keyward.VerifyRequest
		want []string
	}{
		{"negative cost", keyward.VerifyRequest{Key: k.Secret, Cost: ptr[int64](-1)}, []string{"cost"}},
		{"huge cost", keyward.VerifyRequest{Key: k.Secret, Cost: ptr[int64](1_000_000_001)}, []string{"cost"}},
		{"too many limits", keyward.VerifyRequest{Key: k.Secret, RateLimits: tooMany}, []string{"rate_limits"}},
		{"empty name", keyward.VerifyRequest{Key: k.Secret, RateLimits: []keyward.RateLimitUse{{Name: ""}}}, []string{"rate_limits[0].name"}},
		{"name twice", keyward.VerifyRequest{Key: k.Secret, RateLimits: []keyward.RateLimitUse{{Name: "default"}, {Name: "default"}}}, []string{"rate_limits[1].name"}},
		{"negative limit cost", keyward.VerifyRequest{Key: k.Secret, RateLimits: []keyward.RateLimitUse{{Name: "default", Cost: ptr[int64](-1)}}}, []string{"rate_limits[0].cost"}},
		{"huge limit cost", keyward.VerifyRequest{Key: k.Secret, RateLimits: []keyward.RateLimitUse{{Name: "default", Cost: ptr[int64](1_000_000_001)}}}, []string{"rate_limits[0].cost"}},
		{"name the key lacks", keyward.VerifyRequest{Key: k.Secret, RateLimits: []keyward.RateLimitUse{{Name: "default"}, {Name: "nope"}}}, []string{"rate_limits[1].name"}},
	} {
		_, err := f.svc.Verify(f.root, tt.req)
		if keyward.ErrorCode(err) != keyward.EINVALID {
			t.Errorf("%s: got %v, want EINVALID", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, fieldNames(err)); diff != "" {
			t.Errorf("%s: fields (-want +got):\n%s", tt.name, diff)
		}
	}

	// Nothing was spent by the rejected calls: a read shows it all.
	res, err := f.svc.Verify(f.root, keyward.VerifyRequest{Key: k.Secret, Cost: ptr[int64](0),
		RateLimits: []keyward.RateLimitUse{{Name: "default", Cost: ptr[int64](0)}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != keyward.CodeValid || len(res.RateLimits) != 1 || res.RateLimits[0].Remaining != 10 || res.Credits == nil || res.Credits.Remaining != 5 {
		t.Errorf("got %s, limits %+v, credits %+v; want VALID with 10 and 5 left", res.Code, res.RateLimits, res.Credits)
	}
	res, err = f.svc.Verify(f.root, keyward.VerifyRequest{Key: k.Secret, Cost: ptr[int64](2)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != keyward.CodeValid || res.RateLimits[0].Remaining != 9 || res.Credits.Remaining != 3 {
		t.Errorf("default costs: got %s, limits %+v, credits %+v; want VALID with 9 and 3 left", res.Code, res.RateLimits, res.Credits)
	}
}
