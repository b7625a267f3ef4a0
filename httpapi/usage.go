package httpapi

import (
	"net/http"

	"keyward"
)

// handleFindKeyUsage answers one key's verification counts per bucket.
func (s *Server) handleFindKeyUsage(w http.ResponseWriter, r *http.Request) error {
	q, err := usageQuery(r)
	if err != nil {
		return err
	}
	u, err := s.Usage.FindKeyUsage(r.Context(), r.PathValue("id"), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

// handleFindUsage answers the org's verification counts per bucket.
func (s *Server) handleFindUsage(w http.ResponseWriter, r *http.Request) error {
	q, err := usageQuery(r)
	if err != nil {
		return err
	}
	u, err := s.Usage.FindUsage(r.Context(), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

// usageQuery reads from, to and bucket; absent ones are left to the
// service's defaults, which also checks the range.
func usageQuery(r *http.Request) (keyward.UsageQuery, error) {
	q := newQuery(r)
	uq := keyward.UsageQuery{
		From:   q.dateTime("from"),
		To:     q.dateTime("to"),
		Bucket: q.oneOf("bucket", keyward.BucketMinute, keyward.BucketHour, keyward.BucketDay),
	}
	return uq, q.err()
}
