package httpapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func testServiceAccount() *keyward.ServiceAccount {
	return &keyward.ServiceAccount{ID: "sa-1", OrgID: "org-1", Name: "deployer", Description: "CI", CreatedAt: testTime, CreatedBy: "key-admin"}
}

func TestCreateServiceAccount(t *testing.T) {
	s := MustOpenServer(t)
	want := testServiceAccount()
	var got keyward.ServiceAccountCreate
	s.accounts.CreateServiceAccountFn = func(ctx context.Context, in keyward.ServiceAccountCreate) (*keyward.ServiceAccount, error) {
		checkContext(t, ctx)
		got = in
		return want, nil
	}
	res := s.do(t, http.MethodPost, "/v1/service-accounts", `{"name":"deployer","description":"CI"}`)
	wantStatus(t, res, http.StatusCreated)
	if diff := cmp.Diff(keyward.ServiceAccountCreate{Name: "deployer", Description: "CI"}, got); diff != "" {
		t.Errorf("input (-want +got):\n%s", diff)
	}
	if loc := res.header.Get("Location"); loc != "/v1/service-accounts/sa-1" {
		t.Errorf("Location: got %q, want /v1/service-accounts/sa-1", loc)
	}
	if diff := cmp.Diff(want, decodeResponse[*keyward.ServiceAccount](t, res)); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestFindServiceAccounts(t *testing.T) {
	s := MustOpenServer(t)
	page := keyward.Page[*keyward.ServiceAccount]{Data: []*keyward.ServiceAccount{testServiceAccount()}, NextCursor: "c2"}
	var got keyward.ServiceAccountFilter
	s.accounts.FindServiceAccountsFn = func(ctx context.Context, f keyward.ServiceAccountFilter) (keyward.Page[*keyward.ServiceAccount], error) {
		checkContext(t, ctx)
		got = f
		return page, nil
	}
	res := s.do(t, http.MethodGet, "/v1/service-accounts?cursor=c1&limit=2", "")
	wantStatus(t, res, http.StatusOK)
	if diff := cmp.Diff(keyward.ServiceAccountFilter{Cursor: "c1", Limit: 2}, got); diff != "" {
		t.Errorf("filter (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(page, decodeResponse[keyward.Page[*keyward.ServiceAccount]](t, res)); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestFindServiceAccountByID(t *testing.T) {
	s := MustOpenServer(t)
	want := testServiceAccount()
	s.accounts.FindServiceAccountByIDFn = func(ctx context.Context, id string) (*keyward.ServiceAccount, error) {
		checkContext(t, ctx)
		if id != want.ID {
			t.Errorf("id: got %q, want %q", id, want.ID)
		}
		return want, nil
	}
	res := s.do(t, http.MethodGet, "/v1/service-accounts/sa-1", "")
	wantStatus(t, res, http.StatusOK)
	if diff := cmp.Diff(want, decodeResponse[*keyward.ServiceAccount](t, res)); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestDeleteServiceAccount(t *testing.T) {
	s := MustOpenServer(t)
	want := testServiceAccount()
	want.DeletedAt = new(testTime.Add(time.Minute))
	s.accounts.DeleteServiceAccountFn = func(ctx context.Context, id string) (*keyward.ServiceAccount, error) {
		checkContext(t, ctx)
		if id != want.ID {
			t.Errorf("id: got %q, want %q", id, want.ID)
		}
		return want, nil
	}
	res := s.do(t, http.MethodDelete, "/v1/service-accounts/sa-1", "")
	wantStatus(t, res, http.StatusOK)
	if diff := cmp.Diff(want, decodeResponse[*keyward.ServiceAccount](t, res)); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}
