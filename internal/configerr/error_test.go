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
