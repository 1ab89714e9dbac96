package cjt188

import (
	"bytes"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport/frametest"
)

// The field capture of issue 13: a stray 68H whose claimed length lands on
// the real frame made the scanner skip a whole false frame, past the real
// frame's start.
var fieldNoise = []byte{0x00, 0x13, 0xFF, 0x68, 0x16}

// TestNoiseBeforeReplyDecoded: line noise ending in 68H and any filler byte
// never hides the valid reply after it (gatewayd decode).
func TestNoiseBeforeReplyDecoded(t *testing.T) {
	for _, addr := range []string{"00000000000001", "12345678901234"} {
		reply, err := EncodeReply(addr, DefaultType, 1234.56, true, false)
		if err != nil {
			t.Fatal(err)
		}
		reply = reply[2:] // a meter that sends no FE wake-up bytes
		r := decode(append(append([]byte{}, fieldNoise...), reply...))
		if len(r.msgs) != 1 || len(r.errs) != 1 || r.errs[0].Offset != 3 {
			t.Errorf("%s: field capture: %d readings, errors %v; want 1 reading and one error at offset 3", addr, len(r.msgs), r.errs)
		}
		for filler := range 256 {
			in := append([]byte{0x68, byte(filler)}, reply...)
			if n, err := check(in); n > 0 && err == nil {
				continue // this filler makes the false frame's checksum right: a frame indeed
			}
			if r := decode(in); len(r.msgs) != 1 {
				t.Errorf("%s: 68 %02X + reply: %d readings, errors %v", addr, filler, len(r.msgs), r.errs)
			}
		}
	}
}

// TestPollNoiseBeforeReply: the live poll reads the reply behind the same
// noise (it reported the meter silent after 4 polls with 0 readings).
func TestPollNoiseBeforeReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wm1, _ := NewSimulator("00000000000001")
		wm1.SetTotal(10)
		port := &simPort{meters: []*Simulator{wm1}, noise: fieldNoise}
		env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: metrics.NewRegistry()}
		cfg := NewConfig()
		cfg.Port.Path = "/dev/ttyFAKE"
		cfg.Meters = []Meter{{"00000000000001", "wm1"}}
		d, err := New(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		sink, stop := startPolls(t, d, port)
		time.Sleep(50 * time.Minute) // rounds at 0, 15, 30, 45 min
		synctest.Wait()
		stop()
		if got := sink.count("wm1", 10); got != 4 {
			t.Errorf("%d readings in 4 polls behind line noise, want 4", got)
		}
	})
}

// FuzzNoiseThenFrame is the resync invariant: any noise followed by a valid
// frame yields that frame, at its offset.
func FuzzNoiseThenFrame(f *testing.F) {
	f.Add(fieldNoise, uint32(123456), true)
	f.Add([]byte{0x68, 0x16}, uint32(0), false)
	f.Add(bytes.Repeat([]byte{0x68}, 300), uint32(99999999), true)
	f.Fuzz(func(t *testing.T, noise []byte, hundredths uint32, valve bool) {
		total := float64(hundredths%100000000) / 100
		reply, err := EncodeReply("00000000000042", DefaultType, total, valve, false)
		if err != nil {
			t.Fatal(err)
		}
		frametest.NoiseThenFrame(t, framing, noise, reply, 2)
	})
}
