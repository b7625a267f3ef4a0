package verify

import (
	"encoding/binary"
	"runtime"
	"slices"
	"sync"
	"weak"
)

// permissionLists interns the permission lists of cached keys. Keys hold
// a few of their org's few permissions, so most lists repeat: shared, a
// list costs a cached key one pointer instead of a slice, its strings and
// its backing array. The table holds the lists weakly: a list lives while
// a cached key holds it, and its row goes when it does.
type permissionLists struct {
	mu   sync.Mutex
	rows map[string]weak.Pointer[[]string]
}

// noPermissions is the list of keys whose permissions are nil.
var noPermissions = new([]string)

// intern returns the shared copy of perms, which it may keep: a list that
// the store returned is the caller's own. Callers must not change it.
func (t *permissionLists) intern(perms []string) *[]string {
	if perms == nil {
		return noPermissions
	}
	// Each string prefixed with its length: no two lists share a row,
	// whatever bytes their permissions hold.
	var buf []byte
	for _, p := range perms {
		buf = binary.AppendUvarint(buf, uint64(len(p)))
		buf = append(buf, p...)
	}
	key := string(buf)
	t.mu.Lock()
	defer t.mu.Unlock()
	if list := t.rows[key].Value(); list != nil {
		return list
	}
	list := &perms
	*list = slices.Clip(perms)
	if t.rows == nil {
		t.rows = make(map[string]weak.Pointer[[]string])
	}
	t.rows[key] = weak.Make(list)
	runtime.AddCleanup(list, t.drop, key)
	return list
}

// drop deletes the row of a list that no cached key holds any more,
// unless a newer list of the same permissions took its place.
func (t *permissionLists) drop(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rows[key].Value() == nil {
		delete(t.rows, key)
	}
}
