package keyward_test

import (
	"encoding/json"
	"testing"

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
