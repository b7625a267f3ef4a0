package httpapi

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func TestFindOwner(t *testing.T) {
	s := MustOpenServer(t)
	want := &keyward.Owner{ID: "user 42", OrgID: "org-1", RateLimits: []keyward.RateLimit{{Name: "default", Limit: 1000, Window: 3600}}, UpdatedAt: &testTime}
	s.owners.FindOwnerFn = func(ctx context.Context, ownerID string) (*keyward.Owner, error) {
		checkContext(t, ctx)
		if ownerID != "user 42" {
			t.Errorf("owner id: got %q, want %q", ownerID, "user 42")
		}
		return want, nil
	}
	res := s.do(t, http.MethodGet, "/v1/owners/user%2042", "")
	wantStatus(t, res, http.StatusOK)
	if diff := cmp.Diff(want, decodeResponse[*keyward.Owner](t, res)); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

// An owner never set answers rate_limits [], as documented, not null, and
// updated_at null.
func TestFindOwner_NoLimits(t *testing.T) {
	s := MustOpenServer(t)
	s.owners.FindOwnerFn = func(ctx context.Context, ownerID string) (*keyward.Owner, error) {
		return &keyward.Owner{ID: ownerID, OrgID: "org-1"}, nil
	}
	res := s.do(t, http.MethodGet, "/v1/owners/u1", "")
	wantStatus(t, res, http.StatusOK)
	want := `{"owner_id":"u1","org_id":"org-1","rate_limits":[],"updated_at":null}` + "\n"
	if got := string(res.body); got != want {
		t.Errorf("body: got %s, want %s", got, want)
	}
}

func TestUpdateOwner(t *testing.T) {
	tests := []struct {
		name string
		body string
		want keyward.OwnerUpdate
	}{
		{"limits", `{"rate_limits":[{"name":"default","limit":1000,"window":3600},{"name":"burst","limit":50,"window":1}]}`,
			keyward.OwnerUpdate{RateLimits: []keyward.RateLimit{{Name: "default", Limit: 1000, Window: 3600}, {Name: "burst", Limit: 50, Window: 1}}}},
		{"removed", `{"rate_limits":[]}`, keyward.OwnerUpdate{RateLimits: []keyward.RateLimit{}}},
		{"absent", `{}`, keyward.OwnerUpdate{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			want := &keyward.Owner{ID: "u1", OrgID: "org-1", RateLimits: tt.want.RateLimits, UpdatedAt: &testTime}
			var got keyward.OwnerUpdate
			s.owners.UpdateOwnerFn = func(ctx context.Context, ownerID string, upd keyward.OwnerUpdate) (*keyward.Owner, error) {
				checkContext(t, ctx)
				if ownerID != "u1" {
					t.Errorf("owner id: got %q, want u1", ownerID)
				}
				got = upd
				return want, nil
			}
			res := s.do(t, http.MethodPut, "/v1/owners/u1", tt.body)
			wantStatus(t, res, http.StatusOK)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("update (-want +got):\n%s", diff)
			}
			answer := decodeResponse[*keyward.Owner](t, res)
			if answer.RateLimits == nil {
				t.Error("answer: rate_limits is null, want a list")
			}
		})
	}
}

// The members of each limit are read as strictly as the top level's:
// a misspelt one would otherwise leave the limit at 0.
func TestUpdateOwner_Strict(t *testing.T) {
	tests := []struct {
		body   string
		fields []string
	}{
		{`{"rate_limits":[{"name":"a","limit":1,"window":1,"burst":5}]}`, []string{"rate_limits[0].burst"}},
		{`{"rate_limits":[{"name":"a","limit":1,"window":1},{"name":"b","Limit":1,"window":1}]}`, []string{"rate_limits[1].Limit"}},
		{`{"rate_limits":[{"name":"a","limit":"1","window":1}]}`, []string{"rate_limits[0].limit"}},
		{`{"rate_limits":{"default":{"limit":1}}}`, []string{"rate_limits"}},
		{`{"limits":[]}`, []string{"limits"}},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			// The mock has no function: reaching the service panics.
			s := MustOpenServer(t)
			wantProblem(t, s.do(t, http.MethodPut, "/v1/owners/u1", tt.body), http.StatusBadRequest, keyward.EINVALID, tt.fields...)
		})
	}
}
