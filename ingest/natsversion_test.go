package ingest

import "testing"

func TestServerOlder(t *testing.T) {
	for _, c := range []struct {
		v     string
		older bool
	}{
		{"2.9.10", true},
		{"2.10.29", true},
		{"2.11.0-RC.1", true}, // a release candidate comes before its release
		{"2.11.0", false},
		{"2.11.0-dev", true},
		{"2.15.3", false},
		{"3.0.0", false},
		{"v2.9.10", true},
		{"", false},       // not connected: nothing to say
		{"custom", false}, // not a version: nothing to say
		{"2.12", false},   // short forms read as .0
		{"2.10", true},
	} {
		if got := serverOlder(c.v, "2.11.0"); got != c.older {
			t.Errorf("serverOlder(%q, 2.11.0) = %v, want %v", c.v, got, c.older)
		}
	}
}
