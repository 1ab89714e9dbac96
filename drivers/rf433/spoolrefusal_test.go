package rf433

import (
	"context"
	"testing"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/drivertest"
)

// TestPressNotLostWhenTheSpoolRefusesItOnce: an elder presses the call
// button once (the remote repeats its code, de-bounced into one press); the
// spool refuses that press once (disk full for a moment, an I/O error on
// the SD card). The press must still be raised when the spool takes it
// again: a 433 MHz remote does not resend, so a dropped press is gone.
func TestPressNotLostWhenTheSpoolRefusesItOnce(t *testing.T) {
	dev := newPtyDevice(t)
	reg := metrics.NewRegistry()
	cfg := NewConfig()
	cfg.Port.Path = dev.link
	cfg.Codes = []Code{{Code: "8d3cf6", Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed}}
	d := newPtyDriver(t, cfg, reg)
	sink := &memSink{}
	refusing := drivertest.RefuseOnce(sink, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, refusing) }()
	eventually(t, "port open", func() bool { return gaugeValue(t, reg, "anxin_serial_connected", dev.link) == 1 })
	dev.write("8D3CF6\r\n8D3CF6\r\n8D3CF6\r\n") // one press, its repeats
	eventually(t, "the press refused once raised when the spool takes it", func() bool {
		return len(sink.snapshot()) == 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}
