package keyward_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"keyward"
)

func TestVerifyResultJSON(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   keyward.VerifyResult
		want string
	}{
		{"not found says nothing more", keyward.VerifyResult{Code: keyward.CodeNotFound, KeyID: "leak"}, `{"valid":false,"code":"NOT_FOUND"}`},
		{"found has every field", keyward.VerifyResult{Valid: true, Code: keyward.CodeValid, KeyID: "k1", Name: "n"},
			`{"valid":true,"code":"VALID","key_id":"k1","name":"n","owner_id":null,"service_account_id":null,"permissions":[],"metadata":{},"expires_at":null,"rate_limits":[],"credits":null}`},
		{"revoked too", keyward.VerifyResult{Code: keyward.CodeRevoked, KeyID: "k1", Name: "n", OwnerID: "u", Permissions: []string{"a"}, Metadata: json.RawMessage(`{"x":1}`)},
			`{"valid":false,"code":"REVOKED","key_id":"k1","name":"n","owner_id":"u","service_account_id":null,"permissions":["a"],"metadata":{"x":1},"expires_at":null,"rate_limits":[],"credits":null}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(&tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			var back keyward.VerifyResult
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if back.Code != tt.in.Code || back.Valid != tt.in.Valid {
				t.Errorf("round trip: got %+v", back)
			}
		})
	}
}

// reflectedJSON is the answer as encoding/json writes it by reflection:
// the reference that the hand-written AppendJSON must match byte for byte.
func reflectedJSON(t testing.TB, r *keyward.VerifyResult) string {
	t.Helper()
	var v any = struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
	}{r.Valid, r.Code}
	if r.Code != keyward.CodeNotFound {
		var owner, account *string
		if r.OwnerID != "" {
			owner = &r.OwnerID
		}
		if r.ServiceAccountID != "" {
			account = &r.ServiceAccountID
		}
		permissions, limits, metadata := r.Permissions, r.RateLimits, r.Metadata
		if permissions == nil {
			permissions = []string{}
		}
		if limits == nil {
			limits = []keyward.RateLimitState{}
		}
		if len(metadata) == 0 {
			metadata = json.RawMessage("{}")
		}
		v = struct {
			Valid            bool                     `json:"valid"`
			Code             string                   `json:"code"`
			KeyID            string                   `json:"key_id"`
			Name             string                   `json:"name"`
			OwnerID          *string                  `json:"owner_id"`
			ServiceAccountID *string                  `json:"service_account_id"`
			Permissions      []string                 `json:"permissions"`
			Metadata         json.RawMessage          `json:"metadata"`
			ExpiresAt        *time.Time               `json:"expires_at"`
			RateLimits       []keyward.RateLimitState `json:"rate_limits"`
			Credits          *keyward.CreditsState    `json:"credits"`
		}{r.Valid, r.Code, r.KeyID, r.Name, owner, account, permissions, metadata, r.ExpiresAt, limits, r.Credits}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVerifyResultAppendJSON(t *testing.T) {
	expires := time.Date(2027, 1, 2, 3, 4, 5, 600, time.FixedZone("", 3600))
	for _, r := range []keyward.VerifyResult{
		{Code: keyward.CodeNotFound},
		{Valid: true, Code: keyward.CodeValid, KeyID: "01j", Name: "ci <build> & \"deploy\"\n\t\x01\x7f",
			OwnerID: "user-ü", ServiceAccountID: "sa", Permissions: []string{"a.read", "b:*"},
			Metadata: json.RawMessage(`{"plan":"pro","html":"<b>&amp;</b>","sep":"\u2028 \u2029","ok":"€"}`), ExpiresAt: &expires,
			RateLimits: []keyward.RateLimitState{{Name: "default", Limit: 10, Remaining: 9, Reset: expires.UTC()}, {Name: "burst", Limit: 1, Reset: expires}},
			Credits:    &keyward.CreditsState{Remaining: -1}},
		{Code: keyward.CodeRevoked, Name: "bad utf-8 \xff\xfe end", Metadata: json.RawMessage("{ \"spaced\" : [1, 2] }")},
		{Code: keyward.CodeUsageExceeded, Credits: &keyward.CreditsState{}, Permissions: []string{}},
	} {
		if got, want := string(r.AppendJSON(nil)), reflectedJSON(t, &r); got != want {
			t.Errorf("AppendJSON:\ngot  %s\nwant %s", got, want)
		}
	}
}

// FuzzVerifyResultAppendJSON holds the hand-written encoding to
// encoding/json's for any strings, metadata object and times.
func FuzzVerifyResultAppendJSON(f *testing.F) {
	f.Add("VALID", "ci", "u1", "a.read", `{"plan":"pro"}`, int64(1700000000), int64(5))
	f.Add("REVOKED", "<&>\u2028", "", "\xff", `{ "a" : "\u2029" }`, int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, code, name, owner, permission, metadata string, unix, remaining int64) {
		at := time.Unix(unix%(1<<35), remaining).UTC()
		r := keyward.VerifyResult{Code: code, KeyID: name + owner, Name: name, OwnerID: owner, ServiceAccountID: permission,
			Permissions: []string{permission, name}, ExpiresAt: &at,
			RateLimits: []keyward.RateLimitState{{Name: permission, Limit: unix, Remaining: remaining, Reset: at}},
			Credits:    &keyward.CreditsState{Remaining: remaining}}
		// Metadata is a JSON object, validated on write.
		if json.Valid([]byte(metadata)) && strings.HasPrefix(strings.TrimLeft(metadata, " \t\r\n"), "{") {
			r.Metadata = json.RawMessage(metadata)
		}
		if got, want := string(r.AppendJSON(nil)), reflectedJSON(t, &r); got != want {
			t.Errorf("AppendJSON:\ngot  %s\nwant %s", got, want)
		}
	})
}
