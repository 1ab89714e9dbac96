package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/cjt188"
	"github.com/anxin-care/anxin/drivers/dlt645"
	"github.com/anxin-care/anxin/drivers/modbus"
	"github.com/anxin-care/anxin/drivers/serialport/linetest"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestGatewaydBusMetersAndModbus runs the real binary with the three
// polled serial drivers: a CJ/T 188 water meter and a DL/T 645 electricity
// meter on ONE pseudo-terminal (one RS-485 bus, both drivers configured on
// the same port), and a Modbus RTU meter on another. All three deliver
// readings; the shared bus sees no collision and no bad frame; log lines
// name the driver once; SIGTERM stops it cleanly.
func TestGatewaydBusMetersAndModbus(t *testing.T) {
	for _, d := range []string{"cjt188", "dlt645", "modbus"} {
		need(t, d)
	}
	dir := t.TempDir()
	plug := func(name string) (*os.File, string) {
		master, slave, err := pty.Open()
		if err != nil {
			t.Skipf("no pty: %v", err)
		}
		t.Cleanup(func() { master.Close(); slave.Close() })
		link := filepath.Join(dir, name)
		if err := os.Symlink(slave.Name(), link); err != nil {
			t.Fatal(err)
		}
		return master, link
	}

	// One bus, two protocols.
	wm, _ := cjt188.NewSimulator("12345678901234")
	wm.SetTotal(42.5)
	pm, _ := dlt645.NewSimulator("000000000001")
	pm.Set(dlt645.DICombinedEnergy, 6.35)
	pm.Set(dlt645.DIForwardEnergy, 6.3)
	pm.Set(dlt645.DIVoltageA, 231.9)
	parseCJ := func(b []byte) error { _, err := cjt188.ParseFrame(b); return err }
	parseDL := func(b []byte) error { _, err := dlt645.ParseFrame(b); return err }
	bus := &linetest.Line{Latency: 10 * time.Millisecond, Devices: []linetest.Device{
		{Name: "cjt188", Frame: linetest.ByParse(parseCJ, 300), Reply: wm.Reply},
		{Name: "dlt645", Frame: linetest.ByParse(parseDL, 300), Reply: pm.Reply},
	}}
	busMaster, busPath := plug("ttyRS485")
	go bus.Serve(busMaster) // ends when the master is closed

	// A Modbus meter on a bus of its own.
	mb := modbus.NewSimulator()
	energy := modbus.Register{Name: "energy_kwh", Register: 0, Format: modbus.FormatUint32, Scale: 0.01}
	volts := modbus.Register{Name: "voltage_v", Register: 10, Type: modbus.TypeInput, Scale: 0.1}
	mb.SetValue(1, energy, 123456)
	mb.SetValue(1, volts, 2301)
	mbMaster, mbPath := plug("ttyModbus")
	go mb.Serve(mbMaster)

	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfgPath := filepath.Join(dir, "gatewayd.yaml")
	conf := fmt.Sprintf(`
household: hh-0001
log: {level: debug, format: json}
metrics: {listen: %[3]q}
drivers:
  - driver: cjt188
    name: water
    port: {path: %[1]q, baud: 2400, parity: even}
    meters: [{address: "12345678901234", device: wm1}]
    poll_interval: 200ms
    timeout: 1s
    gap: 5ms
  - driver: dlt645
    name: power
    port: {path: %[1]q, baud: 2400, parity: even}
    meters: [{address: "000000000001", device: pm1}]
    poll_interval: 200ms
    timeout: 1s
    gap: 5ms
  - driver: modbus
    name: mbmeter
    port: {path: %[2]q, baud: 9600}
    poll_interval: 200ms
    timeout: 1s
    units:
      - unit: 1
        device: pm2
        kind: power_meter
        registers:
          - {name: energy_kwh, register: 0, format: uint32, scale: 0.01}
          - {name: voltage_v, register: 10, type: input, scale: 0.1}
`, busPath, mbPath, metricsAddr)
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startGatewayd(t, cfgPath, false)
	stdout, logs := gw.stdout, gw.logs

	want := map[string]anxin.Fields{
		"wm1": {"total_m3": anxin.Num(42.5)},
		"pm1": {"energy_kwh": anxin.Num(6.35), "forward_energy_kwh": anxin.Num(6.3), "voltage_v": anxin.Num(231.9)},
		"pm2": {"energy_kwh": anxin.Num(1234.56), "voltage_v": anxin.Num(230.1)},
	}
	counts := func() map[string]int {
		got := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			m, err := anxin.ParseMessage("", []byte(l))
			if err != nil {
				continue // a line being written
			}
			w, ok := want[m.Device]
			if !ok {
				t.Errorf("unexpected message %s", l)
				continue
			}
			for k, v := range w {
				if f, ok := m.Fields[k]; !ok || f.Float() < v.Float()-1e-9 || f.Float() > v.Float()+1e-9 {
					t.Errorf("%s: %s = %v, want %v (%s)", m.Device, k, f, v, l)
				}
			}
			got[m.Device]++
		}
		return got
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := counts()
		if got["wm1"] >= 3 && got["pm1"] >= 3 && got["pm2"] >= 3 {
			break
		}
		if time.Now().After(deadline) || t.Failed() {
			t.Fatalf("readings %v; log:\n%s", got, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a real process's output with a deadline
	}
	if c := bus.Collisions(); c != 0 {
		t.Errorf("%d requests written on the shared bus while a reply was due", c)
	}

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, in := range []string{"water", "power", "mbmeter"} {
		if !regexp.MustCompile(`anxin_gateway_driver_running\{driver="[a-z0-9]+",instance="` + in + `"\} 1`).Match(body) {
			t.Errorf("driver instance %s not running; metrics:\n%s", in, grepLines(string(body), "driver_running"))
		}
	}
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "anxin_meter_bad_frames_total") || strings.HasPrefix(l, "anxin_meter_no_reply_total") {
			if v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64); v != 0 {
				t.Errorf("%s", l)
			}
		}
	}
	if !regexp.MustCompile(`anxin_modbus_requests_total\{[^}]*result="ok"[^}]*\} [1-9]`).Match(body) {
		t.Errorf("no ok Modbus requests counted:\n%s", grepLines(string(body), "modbus"))
	}
	// The shared port shows up under both instances using it.
	for _, in := range []string{"water", "power"} {
		if !regexp.MustCompile(`anxin_serial_connected\{instance="` + in + `",port="` + regexp.QuoteMeta(busPath) + `"\} 1`).Match(body) {
			t.Errorf("shared port not connected for %s:\n%s", in, grepLines(string(body), "anxin_serial_connected"))
		}
	}

	gw.stop(t)
	for _, l := range strings.Split(logs.String(), "\n") {
		if n := strings.Count(l, `"driver":`); n > 1 {
			t.Errorf("log line names the driver %d times: %s", n, l)
		}
	}
}
