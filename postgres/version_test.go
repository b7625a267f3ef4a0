package postgres

import "testing"

func TestCheckServerVersion(t *testing.T) {
	tests := []struct {
		num     int
		version string
		want    string
	}{
		{130014, "13.14 (Debian 13.14-1.pgdg120+1)", "PostgreSQL 14 or later required, server is 13.14"},
		{120000, "12.0", "PostgreSQL 14 or later required, server is 12.0"},
		{140000, "14.0", ""},
		{150020, "15.20 (Debian 15.20-0+deb12u1)", ""},
		{180000, "18.0", ""},
	}
	for _, tt := range tests {
		err := checkServerVersion(tt.num, tt.version)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("checkServerVersion(%d, %q) = %q, want %q", tt.num, tt.version, got, tt.want)
		}
	}
}
