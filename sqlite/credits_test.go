package sqlite

import (
	"strings"
	"testing"
)

// TestNewestOfLinePlan checks that finding a line's newest key is one
// search of the line index on both columns, not a scan of the org's keys,
// since it runs under the write lock on the verification path.
func TestNewestOfLinePlan(t *testing.T) {
	db := NewDB(":memory:")
	if err := db.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })

	rows, err := db.reader.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+newestOfLine, "org", "line")
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatalf("Scan: %v", err)
		}
		steps = append(steps, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	const want = "SEARCH keys USING INDEX keys_org_id_line_id (org_id=? AND line_id=?)"
	if got := strings.Join(steps, "; "); got != want {
		t.Errorf("plan = %q, want %q", got, want)
	}
}
