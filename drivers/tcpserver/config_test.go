package tcpserver

import (
	"math"
	"strings"
	"testing"
)

// TestMaxFrameRateNaNIsRefused: max_frame_rate: .inf passed the check
// and turned the per-connection pace off without a word (a flooding device
// no longer slowed); NaN must not either (NaN < 0 is false).
func TestMaxFrameRateNaNIsRefused(t *testing.T) {
	for _, rate := range []float64{math.NaN(), math.Inf(1), -1} {
		var c ListenConfig
		c.SetDefaults(":8808")
		c.MaxFrameRate = rate
		if err := c.Validate(func(string) bool { return true }, ""); err == nil || !strings.Contains(err.Error(), "max_frame_rate") {
			t.Errorf("max_frame_rate %v: %v, want refused", rate, err)
		}
	}
}
