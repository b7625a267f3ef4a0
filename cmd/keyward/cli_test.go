package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func TestParseLifetime(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "3600", want: 3600},
		{in: "1", want: 1},
		{in: "30d", want: 30 * 86400},
		{in: "3600s", want: 3600},
		{in: "1h30m", want: 5400},
		{in: "1d12h", want: 86400 + 12*3600},
		{in: "90m", want: 5400},
		{in: "", wantErr: true},
		{in: "0", wantErr: true},
		{in: "0d", wantErr: true},
		{in: "0s", wantErr: true},
		{in: "-5s", wantErr: true},
		{in: "-5", wantErr: true},
		{in: "1.5s", wantErr: true},
		{in: "500ms", wantErr: true},
		{in: "30x", wantErr: true},
		{in: "d", wantErr: true},
		{in: "1dd", wantErr: true},
		{in: "1d-1h", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
		{in: "106751991167301d", wantErr: true},
		{in: "106751991167300d1000000h", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseLifetime(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("got %d, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func FuzzParseLifetime(f *testing.F) {
	for _, s := range []string{"3600", "30d", "1h30m", "1d12h", "1.5s", "-1d", "9223372036854775807", "106751991167300d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		secs, err := parseLifetime(s)
		if err != nil {
			return
		}
		if secs <= 0 {
			t.Fatalf("parseLifetime(%q) = %d, want a positive lifetime", s, secs)
		}
		// Every accepted lifetime reads back the same as plain seconds.
		again, err := parseLifetime(strconv.FormatInt(secs, 10))
		if err != nil || again != secs {
			t.Fatalf("parseLifetime(%q) = %d, but %d reads back as %d, %v", s, secs, secs, again, err)
		}
	})
}

func TestParseJSONObject(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: `{"team": "billing", "n": 1}`, want: `{"team":"billing","n":1}`},
		{in: ` {} `, want: `{}`},
		{in: `[1]`, wantErr: true},
		{in: `"x"`, wantErr: true},
		{in: `null`, wantErr: true},
		{in: `{"a":`, wantErr: true},
		{in: `{} {}`, wantErr: true},
		{in: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseJSONObject([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Errorf("got %s, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func FuzzParseJSONObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2]}`, `[]`, `{"a":`, " {\n} "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		obj, err := parseJSONObject(in)
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(obj, &m); err != nil || m == nil {
			t.Fatalf("parseJSONObject(%q) = %s, which is no JSON object: %v", in, obj, err)
		}
		if !bytes.Equal(obj, bytes.TrimSpace(obj)) {
			t.Fatalf("parseJSONObject(%q) = %q, want it compact", in, obj)
		}
	})
}

func TestCollect(t *testing.T) {
	// pages serves ["a","b"] then ["c"]; the cursor of page n is "n".
	pages := map[string]keyward.Page[string]{
		"":  {Data: []string{"a", "b"}, NextCursor: "1"},
		"1": {Data: []string{"c"}},
	}
	fetch := func(ctx context.Context, cursor string, limit int) (keyward.Page[string], error) {
		if limit != 2 {
			t.Errorf("got limit %d, want 2", limit)
		}
		return pages[cursor], nil
	}
	tests := []struct {
		name string
		p    pageFlags
		want keyward.Page[string]
	}{
		{"one page", pageFlags{Limit: 2}, keyward.Page[string]{Data: []string{"a", "b"}, NextCursor: "1"}},
		{"from a cursor", pageFlags{Limit: 2, Cursor: "1"}, keyward.Page[string]{Data: []string{"c"}}},
		{"all", pageFlags{Limit: 2, All: true}, keyward.Page[string]{Data: []string{"a", "b", "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(t.Context(), tt.p, fetch)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("page (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("repeated cursor stops", func(t *testing.T) {
		loop := func(ctx context.Context, cursor string, limit int) (keyward.Page[string], error) {
			return keyward.Page[string]{Data: []string{"x"}, NextCursor: "same"}, nil
		}
		if _, err := collect(t.Context(), pageFlags{All: true}, loop); err == nil {
			t.Error("got no error from a server that repeats its cursor")
		}
	})
}
