package verify

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestPermissionListsShareEqualLists(t *testing.T) {
	var lists permissionLists
	for _, tt := range []struct {
		name  string
		a, b  []string
		share bool
	}{
		{"equal", []string{"docs.read", "docs.write"}, []string{"docs.read", "docs.write"}, true},
		{"empty", []string{}, []string{}, true},
		{"nil", nil, nil, true},
		{"nil and empty", nil, []string{}, false},
		{"order", []string{"a", "b"}, []string{"b", "a"}, false},
		{"joined", []string{"a", "b"}, []string{"ab"}, false},
		{"separator inside", []string{"a\x01a"}, []string{"a", "a"}, false},
		{"empty string", []string{""}, []string{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := lists.intern(slices.Clone(tt.a)), lists.intern(slices.Clone(tt.b))
			if got := a == b; got != tt.share {
				t.Errorf("shared: got %v, want %v", got, tt.share)
			}
			if !slices.Equal(*a, tt.a) || (*a == nil) != (tt.a == nil) {
				t.Errorf("got %q, want %q", *a, tt.a)
			}
			if !slices.Equal(*b, tt.b) || (*b == nil) != (tt.b == nil) {
				t.Errorf("got %q, want %q", *b, tt.b)
			}
			runtime.KeepAlive(a)
		})
	}
}

// A list that no key holds any more leaves the table.
func TestPermissionListsDropUnusedLists(t *testing.T) {
	var lists permissionLists
	lists.intern([]string{"docs.read"})
	kept := lists.intern([]string{"docs.write"})
	for deadline := time.Now().Add(5 * time.Second); ; {
		runtime.GC()
		lists.mu.Lock()
		n := len(lists.rows)
		lists.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rows after the list was dropped: got %d, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := lists.intern([]string{"docs.write"}); got != kept {
		t.Error("a list still held was not shared")
	}
}
