package dispersed

import (
	"net/http"
	"net/url"
	"time"

	"keyward"
	"keyward/compat/internal/compatapi"
	"keyward/httpapi"
)

// createRequest is the document's request body. Its json tags are the only
// member names httpapi.DecodeJSON accepts.
type createRequest struct {
	Name        string     `json:"name"`
	Permissions []string   `json:"permissions"`
	AllowedIPs  []string   `json:"allowed_ips"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

// decodeCreate reads a create request and maps it onto keyward.KeyCreate.
// The service validates every value; the document's one constraint that
// Keyward lacks, at least one permission, is checked here.
func decodeCreate(w http.ResponseWriter, r *http.Request) (keyward.KeyCreate, error) {
	var in createRequest
	if err := httpapi.DecodeJSON(w, r, &in); err != nil {
		return keyward.KeyCreate{}, err
	}
	if len(in.Permissions) == 0 {
		return keyward.KeyCreate{}, keyward.Invalid(keyward.FieldError{Field: "permissions", Message: "is required: give at least one permission"})
	}
	return keyward.KeyCreate{
		Name:        in.Name,
		Permissions: in.Permissions,
		AllowedIPs:  in.AllowedIPs,
		ExpiresAt:   in.ExpiresAt,
	}, nil
}

// objectAPIKey and objectList are the "object" members of the answers.
const (
	objectAPIKey = "api_key"
	objectList   = "list"
)

// apiKey is the document's api_key object, members in its order. Every
// member is always present; the nullable ones that Keyward always knows
// (ids, account) are plain strings.
type apiKey struct {
	CreatedAt   *string  `json:"created_at"`
	IsRevoked   bool     `json:"is_revoked"`
	Name        string   `json:"name"`
	Object      string   `json:"object"`
	Permissions []string `json:"permissions"`
	PublicKey   string   `json:"public_key"`
	UpdatedAt   *string  `json:"updated_at"`
	// SecretKey is the plaintext in the create answer and "" in every
	// other: the document marks it a required string, so a typed client
	// keeps decoding, and no later answer can carry the secret.
	SecretKey   string   `json:"secret_key"`
	ID          string   `json:"_id"`
	Account     string   `json:"account"`
	AccountUUID string   `json:"account_uuid"`
	AllowedIPs  []string `json:"allowed_ips"`
	DeletedAt   *string  `json:"deleted_at"`
	ExpiresAt   *string  `json:"expires_at"`
	LastUsedAt  *string  `json:"last_used_at"`
	UUID        string   `json:"uuid"`
}

// newAPIKey maps a Keyward key onto the document's object. Keyward has one
// id per record where Dispersed has two (_id and uuid): both carry it, and
// likewise the org, Dispersed's account, fills account and account_uuid.
func newAPIKey(k *keyward.Key, secret string) apiKey {
	return apiKey{
		CreatedAt:   timestamp(&k.CreatedAt),
		IsRevoked:   k.RevokedAt != nil,
		Name:        k.Name,
		Object:      objectAPIKey,
		Permissions: compatapi.NonNil(k.Permissions),
		PublicKey:   k.KeyPrefix,
		UpdatedAt:   timestamp(&k.UpdatedAt),
		SecretKey:   secret,
		ID:          k.ID,
		Account:     k.OrgID,
		AccountUUID: k.OrgID,
		AllowedIPs:  compatapi.NonNil(k.AllowedIPs),
		DeletedAt:   timestamp(k.DeletedAt),
		ExpiresAt:   timestamp(k.ExpiresAt),
		LastUsedAt:  timestamp(k.LastUsedAt),
		UUID:        k.ID,
	}
}

// timeLayout is the document's date-time format, 2023-11-07T05:31:56Z:
// UTC, whole seconds. Clients that parse it with a fixed layout would
// reject Keyward's microseconds, so they are cut (never rounded up, so an
// expiry is never shown later than it is).
const timeLayout = "2006-01-02T15:04:05Z"

// timestamp formats t in timeLayout, nil as null.
func timestamp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(timeLayout)
	return &s
}

// list is a page of api_key objects in the Stripe style that the object
// member suggests; next_cursor, the opaque cursor of the next page, is
// null on the last one.
type list struct {
	Object     string   `json:"object"`
	Data       []apiKey `json:"data"`
	HasMore    bool     `json:"has_more"`
	NextCursor *string  `json:"next_cursor"`
}

// handleCreate creates a key and answers it with its secret, which no
// later answer repeats.
func (s *server) handleCreate(w http.ResponseWriter, r *http.Request) error {
	in, err := decodeCreate(w, r)
	if err != nil {
		return err
	}
	k, err := s.cfg.Keys.CreateKey(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/v1/api-keys/"+url.PathEscape(k.ID))
	return httpapi.WriteJSON(w, http.StatusCreated, newAPIKey(k.Key, k.Secret))
}

// handleList answers a page of the org's keys, revoked ones included.
func (s *server) handleList(w http.ResponseWriter, r *http.Request) error {
	f, err := compatapi.KeyPage(r)
	if err != nil {
		return err
	}
	page, err := s.cfg.Keys.FindKeys(r.Context(), f)
	if err != nil {
		return err
	}
	out := list{Object: objectList, Data: make([]apiKey, 0, len(page.Data))}
	for _, k := range page.Data {
		out.Data = append(out.Data, newAPIKey(k, ""))
	}
	if page.NextCursor != "" {
		out.HasMore, out.NextCursor = true, &page.NextCursor
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

// handleGet answers one key; its id is the object's uuid.
func (s *server) handleGet(w http.ResponseWriter, r *http.Request) error {
	k, err := s.cfg.Keys.FindKeyByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, newAPIKey(k, ""))
}

// handleRevoke revokes a key, irreversibly and idempotently, and answers
// it with is_revoked true. It revokes rather than deletes: the record stays
// for the audit trail and the list, as the is_revoked member implies. Any
// request body is ignored, since the route takes no input.
func (s *server) handleRevoke(w http.ResponseWriter, r *http.Request) error {
	k, err := s.cfg.Keys.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, newAPIKey(k, ""))
}
