package main

import (
	"encoding/json"
	"testing"
)

func TestAnswerBody(t *testing.T) {
	for _, size := range []int{45, 46, 237, 1000} {
		b, err := answerBody(size)
		if err != nil {
			t.Fatalf("answerBody(%d): %v", size, err)
		}
		if got := len(b); got != size {
			t.Errorf("answerBody(%d) has %d bytes", size, got)
		}
		var v struct{ Valid bool }
		if err := json.Unmarshal(b, &v); err != nil || !v.Valid {
			t.Errorf("answerBody(%d) = %q: not a valid answer: %v", size, b, err)
		}
	}
	if _, err := answerBody(10); err == nil {
		t.Errorf("answerBody(10) = nil error, want one: too small")
	}
}
