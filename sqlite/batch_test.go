package sqlite

import (
	"context"
	"testing"
	"time"
)

// A batch whose commit panics answers its creates with an error and hands
// the lead on: later creates still commit.
func TestCreateBatchPanic(t *testing.T) {
	var b createBatch
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the commit's panic did not reach the leader")
			}
		}()
		b.do(&createRequest{ctx: context.Background()}, func(context.Context, []*createRequest) { panic("commit failed") })
	}()
	done := make(chan error, 1)
	go func() {
		done <- b.do(&createRequest{ctx: context.Background()}, func(context.Context, []*createRequest) {})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("create after a panicked batch: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a create after a panicked batch never returned")
	}
}
