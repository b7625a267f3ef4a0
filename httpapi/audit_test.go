package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func TestFindAuditEvents(t *testing.T) {
	s := MustOpenServer(t)
	page := keyward.Page[*keyward.AuditEvent]{Data: []*keyward.AuditEvent{{
		ID: "ev-1", OrgID: "org-1", Time: testTime, ActorKeyID: "key-admin", Action: keyward.ActionKeyUpdate,
		TargetType: "key", TargetID: "k1", RequestID: "req-1", SourceIP: "10.0.0.1", UserAgent: "curl/8",
		Details: json.RawMessage(`{"name":"new"}`),
	}}}
	var got keyward.AuditFilter
	s.audit.FindAuditEventsFn = func(ctx context.Context, f keyward.AuditFilter) (keyward.Page[*keyward.AuditEvent], error) {
		checkContext(t, ctx)
		got = f
		return page, nil
	}
	res := s.do(t, http.MethodGet, "/v1/audit-events?action=key.update&target_id=k1&cursor=c&limit=10", "")
	wantStatus(t, res, http.StatusOK)
	want := keyward.AuditFilter{Action: "key.update", TargetID: "k1", Cursor: "c", Limit: 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("filter (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(page, decodeResponse[keyward.Page[*keyward.AuditEvent]](t, res)); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}
