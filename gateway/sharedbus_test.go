package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/cjt188"
	"github.com/anxin-care/anxin/drivers/dlt645"
	"github.com/anxin-care/anxin/drivers/serialport/linetest"
)

// meterLine is one RS-485 bus with a CJ/T 188 water meter and a DL/T 645
// electricity meter on it, behind a pty; link is the port path.
type meterLine struct {
	wm   *cjt188.Simulator
	pm   *dlt645.Simulator
	line *linetest.Line
	link string
}

func newMeterLine(t *testing.T) *meterLine {
	wm, err := cjt188.NewSimulator("12345678901234")
	if err != nil {
		t.Fatal(err)
	}
	pm, err := dlt645.NewSimulator("000000000001")
	if err != nil {
		t.Fatal(err)
	}
	wm.SetTotal(1000.1)
	pm.Set(dlt645.DICombinedEnergy, 6.35)
	pm.Set(dlt645.DIForwardEnergy, 6.3)
	pm.Set(dlt645.DIVoltageA, 231.9)
	parseCJ := func(b []byte) error { _, err := cjt188.ParseFrame(b); return err }
	parseDL := func(b []byte) error { _, err := dlt645.ParseFrame(b); return err }
	return &meterLine{wm: wm, pm: pm, link: filepath.Join(t.TempDir(), "ttyRS485"),
		line: &linetest.Line{Latency: 10 * time.Millisecond, Devices: []linetest.Device{
			{Name: "cjt188", Frame: linetest.ByParse(parseCJ, 300), Reply: wm.Reply},
			{Name: "dlt645", Frame: linetest.ByParse(parseDL, 300), Reply: pm.Reply},
		}}}
}

// plug makes a new pty, points the link at it and serves the bus on it
// until unplug (or the end of the test).
func (l *meterLine) plug(t *testing.T) (unplug func()) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := os.Symlink(slave.Name(), l.link+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(l.link+".new", l.link); err != nil {
		t.Fatal(err)
	}
	go l.line.Serve(master) // ends when the master is closed
	unplug = func() { master.Close(); slave.Close() }
	t.Cleanup(unplug)
	return unplug
}

// readings returns the readings of dev on stdout.
func readings(t *testing.T, out *lockedBuffer, dev string) []anxin.Message {
	var ms []anxin.Message
	for _, l := range out.lines() {
		m, err := anxin.ParseMessage("", []byte(l))
		if err != nil {
			t.Fatalf("stdout line %q: %v", l, err)
		}
		if m.Device == dev {
			ms = append(ms, m)
		}
	}
	return ms
}

// metricSum sums a metric over its series in the gateway's gatherer.
func metricSum(t *testing.T, g *Gateway, name string) float64 {
	mfs, err := g.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.Name != name {
			continue
		}
		for _, m := range mf.Metrics {
			sum += m.Value
		}
	}
	return sum
}

// meanInterval is the mean time between the first n readings.
func meanInterval(ms []anxin.Message, n int) time.Duration {
	return ms[n-1].TS.Sub(ms[0].TS) / time.Duration(n-1)
}

// TestSharedBusTwoDriversOnePTY: a cjt188 and a dlt645 driver configured on
// the same port of one gatewayd share one open port and one bus lock. Both
// deliver complete readings at their poll rates, no request ever collides
// with a reply on the line, no frame error or unanswered poll is counted;
// when the adapter is pulled and plugged back the port is reopened once for
// both. Log lines name the driver once.
func TestSharedBusTwoDriversOnePTY(t *testing.T) {
	ml := newMeterLine(t)
	unplug := ml.plug(t)
	cfg, err := Parse([]byte(fmt.Sprintf(`
household: hh-0001
drivers:
  - driver: cjt188
    name: water
    port: {path: %[1]q, baud: 2400, parity: even}
    meters: [{address: "12345678901234", device: wm1}]
    poll_interval: 200ms
    timeout: 1s
    gap: 5ms
    reconnect: {min: 50ms, max: 100ms}
  - driver: dlt645
    name: power
    port: {path: %[1]q}
    meters: [{address: "000000000001", device: pm1}]
    poll_interval: 300ms
    timeout: 1s
    gap: 10ms
`, ml.link)))
	if err != nil {
		t.Fatal(err)
	}
	var out, logs lockedBuffer
	g, err := New(cfg, Options{Stdout: &out, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	const nw, np = 8, 6 // readings to wait for: ~1.6 s of polling
	waitUntil(t, "readings of both meters", func() bool {
		return len(readings(t, &out, "wm1")) >= nw && len(readings(t, &out, "pm1")) >= np
	})
	wms, pms := readings(t, &out, "wm1"), readings(t, &out, "pm1")
	for _, m := range wms {
		if m.Fields["total_m3"].Float() != 1000.1 {
			t.Fatalf("water reading %v", m.Fields)
		}
	}
	for _, m := range pms {
		if len(m.Fields) != 3 || m.Fields["energy_kwh"].Float() != 6.35 || m.Fields["voltage_v"].Float() != 231.9 {
			t.Fatalf("power reading %v: every DI should be answered", m.Fields)
		}
	}
	// Each driver keeps its own rate: a ticker cannot run fast, and waiting
	// for the other driver's transaction costs some ms, not rounds (the
	// slack is for a loaded machine).
	for _, c := range []struct {
		dev      string
		ms       []anxin.Message
		n        int
		interval time.Duration
	}{{"wm1", wms, nw, 200 * time.Millisecond}, {"pm1", pms, np, 300 * time.Millisecond}} {
		if got := meanInterval(c.ms, c.n); got < c.interval*9/10 || got > c.interval*2 {
			t.Errorf("%s: a reading every %v, want every %v", c.dev, got, c.interval)
		}
	}
	for _, name := range []string{"anxin_meter_bad_frames_total", "anxin_meter_no_reply_total", "anxin_meter_errors_total"} {
		if v := metricSum(t, g, name); v != 0 {
			t.Errorf("%s = %v, want 0", name, v)
		}
	}
	if c := ml.line.Collisions(); c != 0 {
		t.Errorf("%d requests were written while a reply was due: two masters on the bus", c)
	}
	if ml.line.Requests("cjt188") < nw || ml.line.Requests("dlt645") < 3*np {
		t.Errorf("requests on the line: cjt188 %d, dlt645 %d", ml.line.Requests("cjt188"), ml.line.Requests("dlt645"))
	}

	// The adapter is pulled out and plugged back: one reopen for both.
	unplug()
	if err := os.Remove(ml.link); err != nil {
		t.Fatal(err)
	}
	ml.wm.SetTotal(1000.2)
	ml.pm.Set(dlt645.DICombinedEnergy, 6.4)
	waitUntil(t, "a failed reopen while unplugged", func() bool {
		return metricSum(t, g, "anxin_serial_open_errors_total") >= 1
	})
	ml.plug(t)
	waitUntil(t, "readings of both meters after the replug", func() bool {
		w, p := readings(t, &out, "wm1"), readings(t, &out, "pm1")
		return w[len(w)-1].Fields["total_m3"].Float() == 1000.2 && p[len(p)-1].Fields["energy_kwh"].Float() == 6.4
	})
	if c := ml.line.Collisions(); c != 0 {
		t.Errorf("%d collisions after the replug", c)
	}
	cancel()
	stopped = true
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var opened, reopened, lost int
	for _, l := range logs.lines() {
		if n := strings.Count(l, `"driver":`); n > 1 {
			t.Errorf("log line names the driver %d times: %s", n, l)
		}
		switch {
		case strings.Contains(l, `"msg":"serial port open"`):
			opened++ // perhaps before the second driver came
			continue
		case strings.Contains(l, `"msg":"serial port reconnected"`):
			reopened++
		case strings.Contains(l, `"msg":"serial port lost; reopening"`):
			lost++
		default:
			continue
		}
		if !strings.Contains(l, `"drivers":"cjt188,dlt645"`) && !strings.Contains(l, `"drivers":"dlt645,cjt188"`) {
			t.Errorf("bus log line does not name both drivers: %s", l)
		}
	}
	if opened != 1 || reopened != 1 || lost != 1 {
		t.Errorf("port opened %d, lost %d, reopened %d times; want once each for both drivers\n%s",
			opened, lost, reopened, strings.Join(logs.lines(), "\n"))
	}
}

// TestSharedPortValidation: drivers on one port are checked when the config
// is loaded, before any port is opened.
func TestSharedPortValidation(t *testing.T) {
	const water = `  - driver: cjt188
    name: water
    port: {path: /dev/ttyUSB0, baud: 2400, parity: even}
    meters: [{address: "12345678901234", device: wm1}]
`
	cases := []struct {
		name, second string
		want         []string // nil: accepted
	}{
		{"same line, defaults", `  - driver: dlt645
    name: power
    port: {path: /dev/ttyUSB0}
    meters: [{address: "000000000001", device: pm1}]
`, nil},
		{"baud differs", `  - driver: dlt645
    name: power
    port: {path: /dev/ttyUSB0, baud: 9600}
    meters: [{address: "000000000001", device: pm1}]
`, []string{"drivers[1].port:", `dlt645 "power"`, `cjt188 "water"`, "9600 8E1 vs 2400 8E1", "line settings differ"}},
		{"stream on a polled port", `  - driver: nmea
    name: gnss
    device: trk1
    port: {path: /dev/ttyUSB0, baud: 2400, parity: even}
`, []string{"drivers[1].port:", `nmea "gnss"`, "continuously", `cjt188 "water"`}},
		{"rf433 on a polled port", `  - driver: rf433
    port: {path: /dev/ttyUSB0}
    codes: [{code: "8d3cf6", device: btn9, kind: call_button, event: button_pressed}]
`, []string{"drivers[1].port:", "rf433 (drivers[1])", "continuously"}},
		{"modbus on a polled port", `  - driver: modbus
    port: {path: /dev/ttyUSB0}
    units: [{unit: 1, device: pm2, kind: power_meter, registers: [{name: energy_kwh, register: 0}]}]
`, []string{"drivers[1].port:", "modbus (drivers[1])", `cjt188 "water"`, "opens the serial device itself"}},
		{"another port", `  - driver: nmea
    device: trk1
    port: {path: /dev/ttyUSB1}
`, nil},
	}
	for _, tc := range cases {
		_, err := Parse([]byte("household: hh-0001\ndrivers:\n" + water + tc.second))
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != nil && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case err != nil:
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %q does not say %q", tc.name, err, w)
				}
			}
		}
	}
}
