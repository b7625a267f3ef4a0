package orgapi

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"keyward"
	"keyward/authz"
	"keyward/compat/internal/compatapi"
	"keyward/httpapi"
)

// Scopes of the document and the Keyward permissions they stand for.
// "read" and "write" are plain one-segment permissions.
const (
	scopeRead      = "read"
	scopeReadWrite = "read-write"
	permRead       = "read"
	permWrite      = "write"
)

// defaultScope is the scope of a key created without one: the narrower
// one, since the document names no default.
const defaultScope = scopeRead

// scopePermissions maps each scope to the permissions of the key.
var scopePermissions = map[string][]string{
	scopeRead:      {permRead},
	scopeReadWrite: {permRead, permWrite},
}

// createRequest is the document's request body. Every member is a string;
// "" and null mean absent, as a client whose fields lack omitempty sends.
type createRequest struct {
	Name             string `json:"name"`
	Description      string `json:"description"`
	ExpiresAt        string `json:"expiresAt"`
	Scope            string `json:"scope"`
	ServiceAccountID string `json:"serviceAccountId"`
}

// keyCreate maps the body onto the service's input. Only the members the
// service cannot read as they are (scope, expiresAt) are checked here;
// every other rule is the service's.
func (in *createRequest) keyCreate() (keyward.KeyCreate, error) {
	var fields []keyward.FieldError
	scope := in.Scope
	if scope == "" {
		scope = defaultScope
	}
	perms, ok := scopePermissions[scope]
	if !ok {
		fields = append(fields, keyward.FieldError{Field: "scope", Message: fmt.Sprintf("must be %q or %q", scopeRead, scopeReadWrite)})
	}
	var expiresAt *time.Time
	if in.ExpiresAt != "" {
		var t time.Time
		// UnmarshalText is strict RFC 3339, as the JSON decoding of /v1 is.
		if err := t.UnmarshalText([]byte(in.ExpiresAt)); err != nil {
			fields = append(fields, keyward.FieldError{Field: "expiresAt", Message: "must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z"})
		} else {
			expiresAt = &t
		}
	}
	if fields != nil {
		return keyward.KeyCreate{}, keyward.Invalid(fields...)
	}
	return keyward.KeyCreate{
		Name:             in.Name,
		Description:      in.Description,
		Permissions:      slices.Clone(perms),
		ExpiresAt:        expiresAt,
		ServiceAccountID: in.ServiceAccountID,
	}, nil
}

// parseCreate reads and maps the body of a create request.
func parseCreate(w http.ResponseWriter, r *http.Request) (keyward.KeyCreate, error) {
	var in createRequest
	if err := httpapi.DecodeJSON(w, r, &in); err != nil {
		return keyward.KeyCreate{}, err
	}
	return in.keyCreate()
}

// apiKey is the document's API key. Every member is a string, as
// documented, none nullable: an absent value is "".
type apiKey struct {
	CreatedAt         string `json:"createdAt"`
	CreatedBy         string `json:"createdBy"`
	Description       string `json:"description"`
	ExpiresAt         string `json:"expiresAt"`
	ID                string `json:"id"`
	Key               string `json:"key"`
	KeyPrefix         string `json:"keyPrefix"`
	LastUsedAt        string `json:"lastUsedAt"`
	LastUsedIP        string `json:"lastUsedIp"`
	LastUsedUserAgent string `json:"lastUsedUserAgent"`
	Name              string `json:"name"`
	OrganizationID    string `json:"organizationId"`
	RevokedAt         string `json:"revokedAt"`
	Scope             string `json:"scope"`
	ServiceAccountID  string `json:"serviceAccountId"`
	UserID            string `json:"userId"`
}

// newAPIKey maps a Keyward key; secret is "" but in the create answer.
func newAPIKey(k *keyward.Key, secret string) *apiKey {
	return &apiKey{
		CreatedAt:         formatTime(&k.CreatedAt),
		CreatedBy:         k.CreatedBy,
		Description:       k.Description,
		ExpiresAt:         formatTime(k.ExpiresAt),
		ID:                k.ID,
		Key:               secret,
		KeyPrefix:         k.KeyPrefix,
		LastUsedAt:        formatTime(k.LastUsedAt),
		LastUsedIP:        k.LastUsedIP,
		LastUsedUserAgent: k.LastUsedUserAgent,
		Name:              k.Name,
		OrganizationID:    k.OrgID,
		RevokedAt:         formatTime(k.RevokedAt),
		Scope:             scopeOf(k.Permissions),
		ServiceAccountID:  k.ServiceAccountID,
		UserID:            k.OwnerID,
	}
}

// scopeOf names the scope that perms grant: read-write when they cover
// both read and write, read when they cover read only, and "" for keys
// made elsewhere with permissions that fit neither.
func scopeOf(perms []string) string {
	if !authz.Allowed(perms, permRead) {
		return ""
	}
	if authz.Allowed(perms, permWrite) {
		return scopeReadWrite
	}
	return scopeRead
}

// formatTime writes t in RFC 3339 UTC, and nil as "".
func formatTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// handleCreate creates a key and answers it with its secret, which no
// later answer repeats. The document answers 200, not 201.
func (s *server) handleCreate(w http.ResponseWriter, r *http.Request) error {
	in, err := parseCreate(w, r)
	if err != nil {
		return err
	}
	k, err := s.keys.CreateKey(r.Context(), in)
	if err != nil {
		return serviceError(err)
	}
	return writeData(w, r, newAPIKey(k.Key, k.Secret), nil)
}

// handleList answers a page of the org's keys, revoked ones included, by
// id; nextCursor fetches the next page and is "" on the last.
func (s *server) handleList(w http.ResponseWriter, r *http.Request) error {
	f, err := compatapi.KeyPage(r)
	if err != nil {
		return err
	}
	page, err := s.keys.FindKeys(r.Context(), f)
	if err != nil {
		return serviceError(err)
	}
	data := make([]*apiKey, 0, len(page.Data))
	for _, k := range page.Data {
		data = append(data, newAPIKey(k, ""))
	}
	return writeData(w, r, data, &page.NextCursor)
}

// handleGet answers one key.
func (s *server) handleGet(w http.ResponseWriter, r *http.Request) error {
	k, err := s.keys.FindKeyByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return serviceError(err)
	}
	return writeData(w, r, newAPIKey(k, ""), nil)
}

// handleRevoke revokes a key, irreversibly and idempotently, and answers
// it with revokedAt set. It reads no body: DELETE has none, and the revoke
// action needs no input.
func (s *server) handleRevoke(w http.ResponseWriter, r *http.Request) error {
	k, err := s.keys.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return serviceError(err)
	}
	return writeData(w, r, newAPIKey(k, ""), nil)
}
