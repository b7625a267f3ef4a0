package httpapi

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

// The policy answers every member, nulls included; a policy without an IP
// list answers [] rather than null.
func TestFindOrgPolicy(t *testing.T) {
	tests := []struct {
		name   string
		policy *keyward.OrgPolicy
		want   string
	}{
		{"default", &keyward.OrgPolicy{AllowNonExpiring: true},
			`{"max_key_lifetime":null,"default_key_lifetime":null,"allowed_ips":[],"allow_non_expiring":true}`},
		{"set", &keyward.OrgPolicy{MaxKeyLifetime: new(int64(7776000)), DefaultKeyLifetime: new(int64(2592000)), AllowedIPs: []string{"10.0.0.0/8"}},
			`{"max_key_lifetime":7776000,"default_key_lifetime":2592000,"allowed_ips":["10.0.0.0/8"],"allow_non_expiring":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			s.org.FindOrgPolicyFn = func(ctx context.Context) (*keyward.OrgPolicy, error) {
				checkContext(t, ctx)
				return tt.policy, nil
			}
			res := s.do(t, http.MethodGet, "/v1/org/policy", "")
			wantStatus(t, res, http.StatusOK)
			if got := string(res.body); got != tt.want+"\n" {
				t.Errorf("body: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestUpdateOrgPolicy(t *testing.T) {
	tests := []struct {
		name string
		body string
		want keyward.OrgPolicyUpdate
	}{
		{"everything", `{"max_key_lifetime":7776000,"default_key_lifetime":86400,"allowed_ips":["10.0.0.0/8","::1"],"allow_non_expiring":false}`,
			keyward.OrgPolicyUpdate{MaxKeyLifetime: new(int64(7776000)), DefaultKeyLifetime: new(int64(86400)),
				AllowedIPs: []string{"10.0.0.0/8", "::1"}, AllowNonExpiring: new(false)}},
		{"defaults", `{}`, keyward.OrgPolicyUpdate{}},
		{"nulls", `{"max_key_lifetime":null,"default_key_lifetime":null,"allowed_ips":null,"allow_non_expiring":null}`, keyward.OrgPolicyUpdate{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustOpenServer(t)
			want := &keyward.OrgPolicy{MaxKeyLifetime: new(int64(7776000)), AllowedIPs: []string{"10.0.0.0/8"}}
			var got keyward.OrgPolicyUpdate
			s.org.UpdateOrgPolicyFn = func(ctx context.Context, upd keyward.OrgPolicyUpdate) (*keyward.OrgPolicy, error) {
				checkContext(t, ctx)
				got = upd
				return want, nil
			}
			res := s.do(t, http.MethodPut, "/v1/org/policy", tt.body)
			wantStatus(t, res, http.StatusOK)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("update (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, decodeResponse[*keyward.OrgPolicy](t, res)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpdateOrgPolicy_Invalid(t *testing.T) {
	tests := []struct {
		body   string
		fields []string
	}{
		{`{"max_key_lifetime":"90d"}`, []string{"max_key_lifetime"}},
		{`{"allow_non_expiring":"no"}`, []string{"allow_non_expiring"}},
		{`{"allowed_ips":"10.0.0.0/8"}`, []string{"allowed_ips"}},
		{`{"max_ttl":3600}`, []string{"max_ttl"}},
		{``, nil},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			// The mock has no function: reaching the service panics.
			s := MustOpenServer(t)
			wantProblem(t, s.do(t, http.MethodPut, "/v1/org/policy", tt.body), http.StatusBadRequest, keyward.EINVALID, tt.fields...)
		})
	}
}
