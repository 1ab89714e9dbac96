package modbus

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/drivertest"
)

// TestGasAlarmNotLostWhenTheSpoolRefusesItOnce: a wired gas detector's
// contact opens; the spool refuses the gas event once (disk full for a
// moment, an I/O error on the SD card). The detector stays in alarm, so
// the event must be raised when the spool takes it again. The input state
// was recorded as "in alarm" before the Put, and survives the reopen of
// the port, so no later poll sees an edge: the gas alarm was never raised.
func TestGasAlarmNotLostWhenTheSpoolRefusesItOnce(t *testing.T) {
	dev := newPtyDevice(t)
	reg := metrics.NewRegistry()
	cfg := NewConfig()
	cfg.Port.Path = dev.link
	cfg.PollInterval = 50 * time.Millisecond
	cfg.Timeout = 150 * time.Millisecond
	cfg.Units = []Unit{{Unit: 2, Inputs: []InputEvent{
		{Input: 0, Device: "gas1", Kind: anxin.KindGasDetector, Event: anxin.EventGas},
	}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := &slave{inputs: map[byte][]*atomic.Bool{2: {new(atomic.Bool)}}}
	go s.serve(t, dev.master)
	d := newPtyDriver(t, cfg, reg)
	sink := &memSink{}
	refusing := drivertest.RefuseOnce(sink, func(m anxin.Message) bool { return m.IsEvent() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, refusing) }()
	eventually(t, "polling", func() bool { return s.requests.Load() >= 2 })
	s.inputs[2][0].Store(true) // gas, and it stays
	eventually(t, "the gas event refused once raised when the spool takes it", func() bool {
		for _, m := range sink.snapshot() {
			if m.Event == anxin.EventGas {
				return true
			}
		}
		return false
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}
