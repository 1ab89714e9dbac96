package dlt645

import (
	"bytes"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport/frametest"
)

// trapAddr is any meter address.
const trapAddr = "000000001501"

// trapNoise is a stray 68H with a second 68H seven bytes on and a length
// (12H) that ends the false frame on the following reply's end byte: the
// scanner skipped that whole false frame and the reply with it.
func trapNoise(filler byte) []byte {
	return []byte{0x68, filler, filler, filler, filler, filler, filler, 0x68, filler, 0x12}
}

// TestNoiseBeforeReplyDecoded: noise never hides the valid reply after it.
func TestNoiseBeforeReplyDecoded(t *testing.T) {
	reply, err := EncodeReply(trapAddr, DICombinedEnergy, 12.5)
	if err != nil {
		t.Fatal(err)
	}
	reply = reply[4:] // no FE wake-up bytes
	for filler := range 256 {
		in := append(trapNoise(byte(filler)), reply...)
		if n, err := check(in); n > 0 && err == nil {
			continue // this filler makes the false frame's checksum right: a frame indeed
		}
		if r := decode(in); len(r.msgs) != 1 || len(r.errs) != 1 || r.errs[0].Offset != 0 {
			t.Errorf("68 %02X×6 + reply: %d readings, errors %v; want 1 and one error at 0", filler, len(r.msgs), r.errs)
		}
	}
}

// TestPollNoiseBeforeReply: the live poll reads every reply behind the noise.
func TestPollNoiseBeforeReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pm1, _ := NewSimulator(trapAddr)
		pm1.Set(DICombinedEnergy, 5)
		pm1.Set(DIForwardEnergy, 4.5)
		pm1.Set(DIVoltageA, 220.1)
		port := &simPort{meters: []*Simulator{pm1}, noise: trapNoise(0)}
		env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: metrics.NewRegistry()}
		cfg := NewConfig()
		cfg.Port.Path = "/dev/ttyFAKE"
		cfg.Meters = []Meter{{Address: trapAddr, Device: "pm1"}}
		d, err := New(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		sink, stop := startPolls(t, d, port)
		time.Sleep(50 * time.Minute) // rounds at 0, 15, 30, 45 min
		synctest.Wait()
		stop()
		want := anxin.Fields{"energy_kwh": anxin.Num(5), "forward_energy_kwh": anxin.Num(4.5), "voltage_v": anxin.Num(220.1)}
		if got := sink.find("pm1", want); got != 4 {
			t.Errorf("%d full readings in 4 polls behind line noise, want 4", got)
		}
	})
}

// FuzzNoiseThenFrame is the resync invariant: any noise followed by a valid
// frame yields that frame, at its offset.
func FuzzNoiseThenFrame(f *testing.F) {
	f.Add(trapNoise(0), uint32(1250))
	f.Add([]byte{0x68, 0x16}, uint32(0))
	f.Add(bytes.Repeat([]byte{0x68}, 300), uint32(99999999))
	f.Fuzz(func(t *testing.T, noise []byte, hundredths uint32) {
		reply, err := EncodeReply(trapAddr, DICombinedEnergy, float64(hundredths%1000000)/100)
		if err != nil {
			t.Fatal(err)
		}
		frametest.NoiseThenFrame(t, framing, noise, reply, 4)
	})
}
