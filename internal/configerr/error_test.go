package configerr

import (
	"testing"
	"time"
)

// A duration is shown as an installer writes it, in both lines.
func TestOutOfRangeDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2 * time.Minute: "2m", time.Hour: "1h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s",
		500 * time.Millisecond: "500ms", 0: "0s", -time.Second: "-1s",
	} {
		e := OutOfRange("idle_timeout", d, ">= 1s")
		if e.Value != want || e.Error() != "idle_timeout: "+want+" is out of range (allowed: >= 1s)" || e.Range != ">= 1s" {
			t.Errorf("%v: %q %q", d, e.Value, e)
		}
	}
}

// The key probably meant is at most two edits away and not a short name
// most of which was changed.
func TestClosest(t *testing.T) {
	names := []string{"address", "phone", "id", "tier"}
	for key, want := range map[string]string{
		"adress": "address", "adderss": "address", "phnoe": "phone", "pone": "phone",
		"ip": "id", "tire": "tier", "xyz": "", "": "",
	} {
		if got := Closest(key, names); got != want {
			t.Errorf("Closest(%q) = %q, want %q", key, got, want)
		}
	}
}
