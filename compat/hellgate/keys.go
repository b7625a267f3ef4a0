package hellgate

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"keyward"
	"keyward/compat/internal/compatapi"
	"keyward/httpapi"
)

// scopes are the document's 22 scopes. Each is granted as the Keyward
// permission of the same name; the admin:api-keys ones are Keyward's own
// management permissions, so a key holding them may call /v1 too.
var scopes = []string{
	"admin:api-keys:create",
	"admin:api-keys:read",
	"admin:api-keys:update",
	"admin:api-keys:delete",
	"admin:webhooks:create",
	"admin:webhooks:read",
	"admin:webhooks:delete",
	"pci:tokens:create",
	"pci:tokens:read",
	"pci:tokens:update",
	"pci:tokens:delete",
	"pci:tokens:forward",
	"network:tokens:create",
	"network:tokens:read",
	"network:tokens:delete",
	"network:tokens:use",
	"generic:tokens:create",
	"generic:tokens:read",
	"generic:tokens:delete",
	"admin:types:create",
	"admin:types:read",
	"admin:types:delete",
}

// MaxExpiresIn is the document's longest lifetime, 90 days in seconds.
const MaxExpiresIn = 7776000

// KeyName names every key created through the profile: the document has no
// name, and Keyward requires one. It tells the key's origin in /v1 lists.
const KeyName = "hellgate key"

// maxQuotedScope bounds how much of an unknown scope an error quotes. It
// exceeds keyformat.MaxLen, so a key sent as a scope is quoted whole and
// redaction recognizes it.
const maxQuotedScope = 100

// createRequest is the document's request body.
type createRequest struct {
	Scopes []string `json:"scopes"`
	// ExpiresIn is seconds from creation; nil (absent or null) never
	// expires.
	ExpiresIn *int64 `json:"expires_in"`
}

// keyCreate maps the request to the service's input, checking what the
// document alone defines: the scope list and the expires_in range. Every
// other rule is the service's.
func (req *createRequest) keyCreate() (keyward.KeyCreate, error) {
	var errs []keyward.FieldError
	if len(req.Scopes) == 0 {
		errs = append(errs, keyward.FieldError{Field: "scopes", Message: "is required: an array of at least one scope"})
	}
	for i, scope := range req.Scopes {
		if len(errs) == maxFieldErrors {
			break
		}
		if !slices.Contains(scopes, scope) {
			errs = append(errs, keyward.FieldError{
				Field:   fmt.Sprintf("scopes[%d]", i),
				Message: fmt.Sprintf("%.*q is not one of the documented scopes", maxQuotedScope, scope),
			})
		}
	}
	if req.ExpiresIn != nil && (*req.ExpiresIn < 1 || *req.ExpiresIn > MaxExpiresIn) && len(errs) < maxFieldErrors {
		errs = append(errs, keyward.FieldError{Field: "expires_in", Message: fmt.Sprintf("must be an integer from 1 to %d", MaxExpiresIn)})
	}
	if errs != nil {
		return keyward.KeyCreate{}, keyward.Invalid(errs...)
	}
	return keyward.KeyCreate{Name: KeyName, Permissions: req.Scopes, ExpiresIn: req.ExpiresIn}, nil
}

// createdKey is the document's response, members in its order. A key that
// never expires has no expires_at: the document types it as a date-time
// that is not required, not as nullable.
type createdKey struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	KeyValue  string     `json:"key_value"`
	Scopes    []string   `json:"scopes"`
}

// apiKey is a key as the list and get siblings show it: the response of
// create without key_value, which is shown once. Keys created elsewhere
// show their permissions as they are, even outside the 22 scopes.
type apiKey struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Scopes    []string   `json:"scopes"`
}

func newAPIKey(k *keyward.Key) apiKey {
	return apiKey{ID: k.ID, CreatedAt: k.CreatedAt.UTC(), ExpiresAt: utc(k.ExpiresAt), Scopes: compatapi.NonNil(k.Permissions)}
}

// keyList is a page of the list sibling. NextCursor is null on the last
// page.
type keyList struct {
	Data       []apiKey `json:"data"`
	NextCursor *string  `json:"next_cursor"`
}

// handleCreateKey is the document's operation. It answers 200: the
// document says only "Success response", and a client generated from it
// may accept no other 2xx.
func (s *server) handleCreateKey(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	in, err := req.keyCreate()
	if err != nil {
		return err
	}
	k, err := s.keys.CreateKey(r.Context(), in)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, createdKey{
		ID:        k.ID,
		CreatedAt: k.CreatedAt.UTC(),
		ExpiresAt: utc(k.ExpiresAt),
		KeyValue:  k.Secret,
		Scopes:    compatapi.NonNil(k.Permissions),
	})
}

// handleFindKeys lists the org's unrevoked keys, a page at a time: a key
// deleted (revoked) through the profile is gone from its view.
func (s *server) handleFindKeys(w http.ResponseWriter, r *http.Request) error {
	f, err := compatapi.KeyPage(r)
	if err != nil {
		return err
	}
	f.Revoked = new(false)
	page, err := s.keys.FindKeys(r.Context(), f)
	if err != nil {
		return err
	}
	out := keyList{Data: make([]apiKey, 0, len(page.Data))}
	for _, k := range page.Data {
		out.Data = append(out.Data, newAPIKey(k))
	}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

// handleFindKeyByID answers one unrevoked key; a revoked one is not found,
// as after a DELETE.
func (s *server) handleFindKeyByID(w http.ResponseWriter, r *http.Request) error {
	k, err := s.keys.FindKeyByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if k.RevokedAt != nil {
		return keyward.Errorf(keyward.ENOTFOUND, "Key not found.")
	}
	return httpapi.WriteJSON(w, http.StatusOK, newAPIKey(k))
}

// handleRevokeKey revokes the key, which then fails verification at once;
// Keyward keeps its record for the audit trail. Revoking is idempotent, so
// a repeated DELETE answers 204 too.
func (s *server) handleRevokeKey(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.keys.RevokeKey(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
