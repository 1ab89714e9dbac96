package nmea

import (
	"context"
	"github.com/anxin-care/anxin/internal/testenv"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	"github.com/creack/pty"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

// ptyDevice plays a serial device on a pseudo-terminal. The driver opens a
// symlink to the pty's slave; the device vanishes (pty closed, link
// removed) and comes back (new pty, link re-pointed) like a USB adapter.
type ptyDevice struct {
	t             *testing.T
	link          string
	master, slave *os.File
}

func newPtyDevice(t *testing.T) *ptyDevice {
	d := &ptyDevice{t: t, link: filepath.Join(t.TempDir(), "ttyGNSS")}
	d.comeBack()
	t.Cleanup(d.vanish)
	return d
}

func (d *ptyDevice) comeBack() {
	m, s, err := pty.Open()
	if err != nil {
		d.t.Fatal(err)
	}
	d.master, d.slave = m, s
	if err := os.Symlink(s.Name(), d.link); err != nil {
		d.t.Fatal(err)
	}
}

func (d *ptyDevice) vanish() {
	if d.master == nil {
		return
	}
	if err := os.Remove(d.link); err != nil {
		d.t.Error(err)
	}
	d.master.Close()
	d.slave.Close()
	d.master, d.slave = nil, nil
}

func (d *ptyDevice) write(s string) {
	if _, err := d.master.Write([]byte(s)); err != nil {
		d.t.Fatal(err)
	}
}

// gaugeValue reads a metric with one label value from reg (-1 when absent).
func gaugeValue(t *testing.T, reg *metrics.Registry, name, label string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.Name != name {
			continue
		}
		for _, m := range mf.Metrics {
			for _, lp := range m.Labels {
				if lp.Value == label {
					return m.Value
				}
			}
		}
	}
	return -1
}

// eventually is testenv.Eventually with the pty tests' 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 10*time.Second, cond)
}

type memSink struct {
	mu   sync.Mutex
	msgs []anxin.Message
}

func (s *memSink) Put(_ context.Context, m anxin.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *memSink) snapshot() []anxin.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]anxin.Message(nil), s.msgs...)
}

func TestIntegrationPty(t *testing.T) {
	dev := newPtyDevice(t)
	reg := metrics.NewRegistry()
	cfg := NewConfig()
	cfg.Device, cfg.Port.Path = "trk1", dev.link
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: reg}
	d, err := newDriver(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	d.reconnect = serialport.Reconnect{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	sink := &memSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	connected := func(v float64) func() bool {
		return func() bool { return gaugeValue(t, reg, "anxin_serial_connected", dev.link) == v }
	}
	eventually(t, "port open", connected(1))

	// A real capture, preceded by garbage and a 1 KiB line without newline
	// that must be dropped, written in odd-sized pieces that split sentences.
	capture, err := os.ReadFile(filepath.Join(fixtures, "gpsd-beidou-bd.log"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := decodeFile(t, filepath.Join(fixtures, "gpsd-beidou-bd.log"))
	stream := "\x00\xff garbage\r\n" + strings.Repeat("x", 1024) + "\n" +
		"$GNRMC,000000.00,A,3000.0000,N,12000.0000,E,0.0,,231126,,,A*00\r\n" + // bad checksum
		string(capture)
	for i := 0; i < len(stream); i += 37 {
		dev.write(stream[i:min(i+37, len(stream))])
	}
	eventually(t, "readings of the capture", func() bool { return len(sink.snapshot()) >= len(want) })
	got := sink.snapshot()
	if len(got) != len(want) {
		t.Fatalf("%d readings, want %d", len(got), len(want))
	}
	for i, m := range got {
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		if m.Fields["lat"].Float() != want[i].Lat || m.Fields["lon"].Float() != want[i].Lon {
			t.Errorf("reading %d: %v, want %v,%v", i, m.Fields, want[i].Lat, want[i].Lon)
		}
	}
	if v := gaugeValue(t, reg, "anxin_nmea_sentences_total", "too_long"); v != 1 {
		t.Errorf("too_long = %v, want 1", v)
	}

	// The adapter vanishes, then comes back on a new pty behind the same path.
	dev.vanish()
	eventually(t, "port lost", connected(0))
	dev.comeBack()
	eventually(t, "port reopened", connected(1))
	fix := Fix{Time: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), Lat: 39.9087, Lon: 116.3975, AltM: 44,
		Quality: 1, HasQuality: true}
	dev.write(string(EncodeFix(fix)))
	eventually(t, "reading after reconnect", func() bool { return len(sink.snapshot()) == len(want)+1 })
	last := sink.snapshot()[len(want)]
	if last.Fields["lat"].Float() != 39.9087 || last.Fields["lon"].Float() != 116.3975 {
		t.Errorf("reading after reconnect: %v", last.Fields)
	}
	// A GGA-only module: the pause after the sentence ends the epoch.
	dev.write(withSum("GPGGA,080001.00,3954.5220,N,11623.8500,E,1,08,0.9,44.0,M,,M,,"))
	eventually(t, "GGA-only reading after a pause", func() bool { return len(sink.snapshot()) == len(want)+2 })
	if m := sink.snapshot()[len(want)+1]; m.Fields["sats"].Float() != 8 {
		t.Errorf("GGA-only reading: %v", m.Fields)
	}
	if v := gaugeValue(t, reg, "anxin_serial_reconnects_total", dev.link); v < 1 {
		t.Errorf("reconnects = %v", v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}
