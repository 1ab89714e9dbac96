package dlt645

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
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

// noisyPort is simPort with line noise before every reply, sent without its
// FE wake-up bytes.
type noisyPort struct {
	*simPort
	noise []byte
}

func (p *noisyPort) Write(b []byte) (int, error) {
	p.mu.Lock()
	before := len(p.in)
	p.mu.Unlock()
	n, err := p.simPort.Write(b)
	p.mu.Lock()
	if len(p.in) > before {
		p.in = append(append(append([]byte{}, p.in[:before]...), p.noise...), bytes.TrimLeft(p.in[before:], "\xFE")...)
	}
	p.mu.Unlock()
	return n, err
}

// TestPollNoiseBeforeReply: the live poll reads every reply behind the noise.
func TestPollNoiseBeforeReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pm1, _ := NewSimulator(trapAddr)
		pm1.Set(DICombinedEnergy, 5)
		pm1.Set(DIForwardEnergy, 4.5)
		pm1.Set(DIVoltageA, 220.1)
		port := &noisyPort{simPort: &simPort{meters: []*Simulator{pm1}}, noise: trapNoise(0)}
		env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: prometheus.NewRegistry()}
		cfg := NewConfig()
		cfg.Port.Path = "/dev/ttyFAKE"
		cfg.Meters = []Meter{{Address: trapAddr, Device: "pm1"}}
		d, err := New(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		d.open = func(serialport.Config) (serialport.Port, error) { return port, nil }
		sink := &collector{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx, sink) }()
		time.Sleep(50 * time.Minute) // rounds at 0, 15, 30, 45 min
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
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
		in := append(append([]byte{}, noise...), reply...)
		at := int64(len(in) - len(reply) + 4) // the frame after its FE wake-up bytes
		found, swallowed := false, false
		err = framing.Scan(bytes.NewReader(in), func(off int64, b []byte) {
			end := off + int64(len(b))
			found = found || off == at && bytes.Equal(b, reply[4:])
			swallowed = swallowed || off < at && end > at
		}, func(int64, error) {})
		if err != nil {
			t.Fatal(err)
		}
		// The one exception: a candidate in the noise that validated (its end
		// byte and checksum right by chance, 1 in 65,536) overlapping the
		// frame; a valid frame is consumed whole, and the protocol cannot
		// tell which of the two is the meter's.
		if !found && !swallowed {
			t.Fatalf("noise % X then a valid frame: frame not found", noise)
		}
	})
}
