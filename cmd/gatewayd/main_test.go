package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/cjt188"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/mqtt"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// gatewaydBinary builds the real gatewayd once per test run.
func gatewaydBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gatewayd-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gatewayd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

type decodeRun struct {
	stdout []anxin.Message
	errors []struct {
		Error  string `json:"error"`
		Offset int64  `json:"offset"`
	}
	code int
	raw  string
}

func runDecode(t *testing.T, stdin []byte, args ...string) decodeRun {
	t.Helper()
	cmd := exec.Command(gatewaydBinary(t), append([]string{"decode"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := decodeRun{raw: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		return r
	} else if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" {
			continue
		}
		m, err := anxin.ParseMessage("", []byte(l))
		if err != nil {
			t.Fatalf("stdout line is not a contract message: %q: %v", l, err)
		}
		r.stdout = append(r.stdout, m)
	}
	for _, l := range strings.Split(strings.TrimSpace(errOut.String()), "\n") {
		if l == "" {
			continue
		}
		var e struct {
			Error  string `json:"error"`
			Offset int64  `json:"offset"`
		}
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Error == "" {
			t.Fatalf("stderr line is not {\"error\",\"offset\"}: %q", l)
		}
		r.errors = append(r.errors, e)
	}
	return r
}

func need(t *testing.T, driver string) {
	t.Helper()
	if _, ok := drivers.Lookup(driver); !ok {
		t.Skipf("driver %s not linked in yet", driver)
	}
}

func TestDecodeBinaryErrors(t *testing.T) {
	r := runDecode(t, nil, "--driver", "no-such-driver")
	if r.code == 0 || !strings.Contains(r.raw, `unknown driver "no-such-driver"`) {
		t.Fatalf("unknown driver: exit %d, %q", r.code, r.raw)
	}
	if len(drivers.Names()) == 0 {
		return
	}
	r = runDecode(t, nil, "--driver", drivers.Names()[0], "--in", "/nonexistent/capture")
	if r.code == 0 || !strings.Contains(r.raw, "/nonexistent/capture") {
		t.Fatalf("unreadable file: exit %d, %q", r.code, r.raw)
	}
	r = runDecode(t, nil)
	if r.code == 0 || !strings.Contains(r.raw, "--driver") {
		t.Fatalf("missing --driver: exit %d, %q", r.code, r.raw)
	}
}

func fixture(t *testing.T, parts ...string) string {
	return filepath.Join(append([]string{testenv.RepoRoot(t), "testdata", "fixtures"}, parts...)...)
}

func TestDecodeBinaryNMEA(t *testing.T) {
	need(t, "nmea")
	r := runDecode(t, nil, "--driver", "nmea", "--in", fixture(t, "nmea", "gpsd-beidou-bd.log"), "--household", "hh-0009")
	if r.code != 0 || len(r.stdout) == 0 {
		t.Fatalf("exit %d, %d messages, stderr %q", r.code, len(r.stdout), r.raw)
	}
	for _, m := range r.stdout {
		if m.Kind != anxin.KindTracker || m.Household != "hh-0009" {
			t.Fatalf("unexpected message %+v", m)
		}
		if lat := m.Fields["lat"].Float(); lat < -90 || lat > 90 || lat == 0 {
			t.Fatalf("lat %v", lat)
		}
	}
}

func TestDecodeBinaryCJT188(t *testing.T) {
	need(t, "cjt188")
	b, err := os.ReadFile(fixture(t, "frames", "cjt188_frames.json"))
	if err != nil {
		t.Fatal(err)
	}
	var frames []struct {
		ID      string `json:"id"`
		Hex     string `json:"hex"`
		Decoded struct {
			C    string `json:"C"`
			Addr string `json:"addr"`
			CSOK bool   `json:"cs_ok"`
		} `json:"decoded"`
	}
	if err := json.Unmarshal(b, &frames); err != nil {
		t.Fatal(err)
	}
	var capture, damaged []byte
	replies := map[string]bool{}
	nReplies := 0
	for i, f := range frames {
		raw, err := hex.DecodeString(strings.ReplaceAll(f.Hex, " ", ""))
		if err != nil {
			t.Fatalf("%s: %v", f.ID, err)
		}
		capture = append(capture, raw...)
		if f.Decoded.C == "81" && f.Decoded.CSOK {
			nReplies++
			replies[f.Decoded.Addr] = true
			if i == len(frames)-1 || nReplies == 1 {
				raw = append([]byte(nil), raw...)
				raw[len(raw)-2] ^= 0x01 // break this reply's checksum
			}
		}
		damaged = append(damaged, raw...)
	}
	r := runDecode(t, capture, "--driver", "cjt188")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.raw)
	}
	readings := 0
	for _, m := range r.stdout {
		if m.Kind != anxin.KindWaterMeter || m.Household != "decode" {
			t.Fatalf("unexpected %+v", m)
		}
		if _, ok := m.Fields["total_m3"]; ok {
			readings++
			if !replies[m.Device] {
				t.Errorf("device %s is not the address of any reply frame", m.Device)
			}
		}
	}
	if readings != nReplies {
		t.Fatalf("%d readings from %d valid replies", readings, nReplies)
	}
	r2 := runDecode(t, damaged, "--driver", "cjt188")
	if r2.code != 0 || len(r2.errors) == 0 {
		t.Fatalf("broken checksum: exit %d, %d error lines", r2.code, len(r2.errors))
	}
	got := 0
	for _, m := range r2.stdout {
		if _, ok := m.Fields["total_m3"]; ok {
			got++
		}
	}
	if got >= readings {
		t.Fatalf("a frame with a broken checksum still gave a reading (%d of %d)", got, readings)
	}
	for _, e := range r2.errors {
		if e.Offset < 0 || e.Offset >= int64(len(damaged)) {
			t.Fatalf("error offset %d outside the capture", e.Offset)
		}
	}
}

func TestDecodeBinaryZigbee2MQTT(t *testing.T) {
	need(t, "zigbee2mqtt")
	f, err := os.Open(fixture(t, "zigbee2mqtt", "z2m-real-payloads.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var capture bytes.Buffer
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct {
			Topic      string          `json:"topic"`
			Payload    json.RawMessage `json:"payload"`
			PayloadRaw *string         `json:"payload_raw"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		p := string(l.Payload)
		if l.PayloadRaw != nil {
			p = *l.PayloadRaw
		}
		fmt.Fprintf(&capture, "%s %s\n", l.Topic, p)
	}
	in := filepath.Join(t.TempDir(), "z2m.txt")
	if err := os.WriteFile(in, capture.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runDecode(t, nil, "--driver", "zigbee2mqtt", "--in", in)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.raw)
	}
	sos := 0
	for _, m := range r.stdout {
		if m.Event == anxin.EventButtonPressed {
			sos++
		}
	}
	if sos == 0 {
		t.Fatalf("no button_pressed from the SOS payloads; got %d messages", len(r.stdout))
	}
}

// TestGatewaydBinaryEndToEnd runs the real binary: zigbee2mqtt payloads on a
// home broker become contract events at the district broker (both are one
// embedded broker here); SIGHUP with a broken file keeps it running, SIGTERM
// stops it with exit 0 and a retained offline status.
func TestGatewaydBinaryEndToEnd(t *testing.T) {
	need(t, "zigbee2mqtt")
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var mu sync.Mutex
	var events []anxin.Message
	var statuses []string
	cl := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("district").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			mu.Lock()
			defer mu.Unlock()
			if strings.HasSuffix(m.Topic(), "/gateway/status") {
				statuses = append(statuses, string(m.Payload()))
			} else if msg, err := anxin.ParseMessage(m.Topic(), m.Payload()); err == nil {
				events = append(events, msg)
			} else {
				t.Errorf("bad message on %s: %v", m.Topic(), err)
			}
		}))
	if tok := cl.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer cl.Disconnect(50)
	if tok := cl.Subscribe("anxin/v1/#", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond) // polling a real peer with a deadline
		}
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatewayd.yaml")
	conf := fmt.Sprintf(`
household: hh-0001
mqtt: {broker: %[1]q, reconnect: {min: 100ms, max: 1s}}
spool: {dir: %[2]q}
log: {level: info}
drivers:
  - driver: zigbee2mqtt
    name: zigbee
    broker: %[1]q
    base_topic: z2m
    devices:
      - {name: "0x847127fffe0542eb", device: btn1, kind: call_button}
      - {name: kitchen_smoke, device: smoke1, kind: smoke_detector}
`, b.URL(), filepath.Join(dir, "spool"))
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startGatewayd(t, cfgPath, true)
	cmd, logs := gw.cmd, gw.logs
	waitFor("online status", func() bool { return len(statuses) > 0 && strings.Contains(statuses[0], "online") })

	publish := func(topic, payload string) {
		t.Helper()
		if tok := cl.Publish(topic, 1, false, payload); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	// the driver subscribes after it connected: retry the press until it lands
	deadline := time.Now().Add(20 * time.Second)
	for {
		publish("z2m/0x847127fffe0542eb", `{"action":"emergency","battery":null,"linkquality":90}`)
		mu.Lock()
		n := len(events)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event from the SOS press; log:\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	if e := events[0]; e.Device != "btn1" || e.Event != anxin.EventButtonPressed || e.Household != "hh-0001" {
		t.Fatalf("event %+v", e)
	}
	mu.Unlock()

	// a broken config on SIGHUP: logged, the old one keeps running
	if err := os.WriteFile(cfgPath, []byte(conf+"bogus_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "bogus_key") {
		if time.Now().After(deadline) {
			t.Fatalf("bad reload not logged:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	publish("z2m/kitchen_smoke", `{"smoke":true,"battery":90}`)
	waitFor("smoke event after the failed reload", func() bool {
		for _, e := range events {
			if e.Device == "smoke1" && e.Event == anxin.EventSmoke {
				return true
			}
		}
		return false
	})
	rss := testenv.VmRSS(cmd.Process.Pid)
	t.Logf("gatewayd RSS with the zigbee2mqtt driver and uplink running: %d KiB", rss)

	gw.stop(t)
	waitFor("offline status", func() bool {
		return strings.Contains(statuses[len(statuses)-1], `"offline"`)
	})
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
}

// gatewaydProcess is the real binary running a config; it is killed when
// the test ends (a no-op once it exited).
type gatewaydProcess struct {
	cmd          *exec.Cmd
	stdout, logs *syncBuffer // the same buffer when started with combined output
	exited       chan error
}

// startGatewayd starts the binary on cfgPath; combined puts stdout (the
// JSON-lines debug output) into the log buffer too.
func startGatewayd(t *testing.T, cfgPath string, combined bool) *gatewaydProcess {
	t.Helper()
	p := &gatewaydProcess{cmd: exec.Command(gatewaydBinary(t), "-config", cfgPath), logs: &syncBuffer{}, exited: make(chan error, 1)}
	p.stdout = p.logs
	if !combined {
		p.stdout = &syncBuffer{}
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	return p
}

// stop sends SIGTERM and wants a clean exit within 15 s.
func (p *gatewaydProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("gatewayd did not stop on SIGTERM")
	}
}

type syncBuffer = testenv.SyncBuffer

func TestBinaryRejectsBadConfigBeforeStarting(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	spool := filepath.Join(dir, "spool")
	if err := os.WriteFile(p, []byte("household: hh-1\nmqtt: {broker: tcp://127.0.0.1:1}\nspool: {dir: "+spool+
		", fsync: evn}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gatewaydBinary(t), "-config", p).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `spool.fsync: "evn" is not always|batch`) {
		t.Fatalf("exit %v, output %q", err, out)
	}
	// the installer's Mandarin line first, the English detail after it
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || lines[0] != "gatewayd: 配置有误，网关未启动：spool.fsync 项：“evn” 不是可用的值（只能写：always、batch）" ||
		!strings.HasPrefix(lines[1], "gatewayd: config "+p+": spool.fsync:") {
		t.Fatalf("stderr lines %q", lines)
	}
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Fatal("the spool was created although the config is invalid")
	}
	out, err = exec.Command(gatewaydBinary(t), "-version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gatewayd ") {
		t.Fatalf("-version: %v %q", err, out)
	}
}

// TestMainInProcess starts Main on a temp dir, as the STYLE guide asks, with
// a broker-less config: messages go to stdout.
func TestMainInProcess(t *testing.T) {
	need(t, "zigbee2mqtt")
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(`household: hh-0002
drivers: [{driver: zigbee2mqtt, broker: %q, base_topic: z2m, devices: [{name: leak, device: leak1, kind: water_leak_detector}]}]
`, b.URL())), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, logs syncBuffer
	m := &Main{Stdout: &out, Stderr: &logs}
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background(), []string{"-config", p}) }()
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("z2m"))
	if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), `"event":"water_leak"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no water_leak line on stdout; logs:\n%s", logs.String())
		}
		pub.Publish("z2m/leak", 1, false, `{"water_leak":true}`).WaitTimeout(time.Second)
		time.Sleep(100 * time.Millisecond)
	}
	if err := m.Reload(); err != nil {
		t.Fatalf("reload of an unchanged file: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestGatewaydFiveDrivers runs the real binary with five drivers — three on
// serial pseudo-terminals (cjt188, nmea, rf433) and two on an MQTT home
// broker (zigbee2mqtt, tasmota) — checks all five run and deliver through
// the uplink, and logs the resident memory and idle CPU (the goal:
// under 20 MB RSS, near-zero idle CPU).
func TestGatewaydFiveDrivers(t *testing.T) {
	for _, d := range []string{"cjt188", "nmea", "rf433", "zigbee2mqtt", "tasmota"} {
		need(t, d)
	}
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var mu sync.Mutex
	got := map[string]int{} // device -> messages
	cl := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("district").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if msg, err := anxin.ParseMessage(m.Topic(), m.Payload()); err == nil {
				mu.Lock()
				got[msg.Device]++
				mu.Unlock()
			}
		}))
	if tok := cl.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer cl.Disconnect(50)
	if tok := cl.Subscribe("anxin/v1/+/+/+", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	ptys := map[string]*os.File{}
	paths := map[string]string{}
	for _, name := range []string{"water", "gnss", "rf"} {
		master, slave, err := pty.Open()
		if err != nil {
			t.Skipf("no pty: %v", err)
		}
		defer master.Close()
		defer slave.Close()
		ptys[name], paths[name] = master, slave.Name()
	}
	// The water meter answers gatewayd's first poll (poll_interval is 1h, so
	// the idle window below has no polls in it).
	wm, err := cjt188.NewSimulator("12345678901234")
	if err != nil {
		t.Fatal(err)
	}
	wm.SetTotal(321.09)
	go wm.Serve(t.Context(), ptys["water"]) // ends when the master is closed
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatewayd.yaml")
	conf := fmt.Sprintf(`
household: hh-0001
mqtt: {broker: %[1]q}
spool: {dir: %[2]q}
metrics: {listen: %[6]q}
drivers:
  - driver: cjt188
    name: water
    port: {path: %[3]q}
    meters: [{address: "12345678901234", device: wm1}]
    poll_interval: 1h
  - driver: nmea
    name: gnss
    device: tracker1
    port: {path: %[4]q, baud: 9600}
  - driver: rf433
    name: rf
    port: {path: %[5]q, baud: 9600}
    codes: [{code: "8d3cf6", device: btn9, kind: call_button, event: button_pressed}]
  - driver: zigbee2mqtt
    name: zigbee
    broker: %[1]q
    base_topic: z2m
    devices: [{name: sos, device: btn1, kind: call_button}]
  - driver: tasmota
    name: rfbridge
    broker: %[1]q
    codes: [{code: "4AF10A", device: btn2, kind: call_button, event: button_pressed}]
`, b.URL(), filepath.Join(dir, "spool"), paths["water"], paths["gnss"], paths["rf"], metricsAddr)
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startGatewayd(t, cfgPath, true)
	cmd, logs := gw.cmd, gw.logs

	nmeaLog, err := os.ReadFile(fixture(t, "nmea", "gpsd-beidou-bd.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"wm1": true, "tracker1": true, "btn9": true, "btn1": true, "btn2": true}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		missing := []string{}
		for d := range want {
			if got[d] == 0 {
				missing = append(missing, d)
			}
		}
		mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no messages from %v; log:\n%s", missing, logs.String())
		}
		// the devices speak (again) until gatewayd has heard each of them
		ptys["gnss"].Write(nmeaLog)
		ptys["rf"].Write([]byte("8D3CF6\r\n"))
		cl.Publish("z2m/sos", 1, false, `{"action":"emergency"}`)
		cl.Publish("tele/bridge1/RESULT", 1, false, `{"Time":"2026-11-23T08:00:00","RfReceived":{"Sync":14010,"Low":440,"High":1300,"Data":"4AF10A","RfKey":"None"}}`)
		time.Sleep(300 * time.Millisecond)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, in := range []string{"water", "gnss", "rf", "zigbee", "rfbridge"} {
		if !regexp.MustCompile(`anxin_gateway_driver_running\{driver="[a-z0-9]+",instance="` + in + `"\} 1`).Match(body) {
			t.Errorf("driver instance %s not running; metrics:\n%s", in, grepLines(string(body), "driver_running"))
		}
	}
	t.Logf("gatewayd with five drivers: VmRSS %d KiB after the traffic", testenv.VmRSS(cmd.Process.Pid))
	if os.Getenv("ANXIN_LONG") != "" {
		before := cpuTicks(cmd.Process.Pid)
		<-time.After(10 * time.Second) // a measurement window, not synchronisation
		t.Logf("idle CPU over 10 s: %d ticks (1 tick = 10 ms), VmRSS %d KiB", cpuTicks(cmd.Process.Pid)-before, testenv.VmRSS(cmd.Process.Pid))
	}
	gw.stop(t)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// cpuTicks is utime+stime of a process in clock ticks.
func cpuTicks(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return u + st
}

// TestCrashGatewaydBinaryKill9WhileOffline: the real gatewayd spools events
// while the district broker is down, is killed with SIGKILL, and after a
// restart (broker back) every spooled event arrives, in order.
func TestCrashGatewaydBinaryKill9WhileOffline(t *testing.T) {
	need(t, "zigbee2mqtt")
	home, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	district := testenv.StartMosquitto(t)
	district.Stop() // the 4G link is down

	dir := t.TempDir()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfgPath := filepath.Join(dir, "gatewayd.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
household: hh-0001
mqtt: {broker: %q, reconnect: {min: 100ms, max: 300ms}}
spool: {dir: %q}
metrics: {listen: %q}
drivers:
  - driver: zigbee2mqtt
    broker: %q
    base_topic: z2m
    devices: [{name: kitchen_smoke, device: smoke1, kind: smoke_detector}]
`, district.URL, filepath.Join(dir, "spool"), metricsAddr, home.URL())), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() (*exec.Cmd, *syncBuffer, chan error) {
		gw := startGatewayd(t, cfgPath, true)
		return gw.cmd, gw.logs, gw.exited
	}
	depth := func() int {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^anxin_spool_depth_messages (\d+)`).FindSubmatch(body)
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	cmd, logs, exited := start()
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(home.URL()).SetClientID("z2m"))
	if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	// wait until the driver listens: the first alarm is retried until spooled
	deadline := time.Now().Add(20 * time.Second)
	for depth() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing spooled; log:\n%s", logs.String())
		}
		pub.Publish("z2m/kitchen_smoke", 1, false, `{"smoke":true}`).WaitTimeout(time.Second)
		time.Sleep(100 * time.Millisecond)
	}
	base := depth()
	const toggles = 40 // smoke_clear, smoke, smoke_clear, …
	for i := range toggles {
		p := `{"smoke":false}`
		if i%2 == 1 {
			p = `{"smoke":true}`
		}
		if tok := pub.Publish("z2m/kitchen_smoke", 1, false, p); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	want := base + toggles
	deadline = time.Now().Add(20 * time.Second)
	for depth() < want {
		if time.Now().After(deadline) {
			t.Fatalf("spool depth %d, want %d; log:\n%s", depth(), want, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited

	district.Restart()
	var mu sync.Mutex
	var events []anxin.EventType
	ids := map[string]bool{}
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(district.URL).SetClientID("alarmd").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			msg, err := anxin.ParseMessage(m.Topic(), m.Payload())
			if err != nil {
				return // the gateway status
			}
			mu.Lock()
			defer mu.Unlock()
			if !ids[msg.ID] {
				ids[msg.ID] = true
				events = append(events, msg.Event)
			}
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	if tok := sub.Subscribe("anxin/v1/+/+/event", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	cmd, logs, exited = start()
	deadline = time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(events)
		mu.Unlock()
		if n >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d spooled events arrived after the restart; log:\n%s", n, want, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	tail := events[base:want]
	for i, e := range tail {
		wantEv := anxin.EventSmokeClear
		if i%2 == 1 {
			wantEv = anxin.EventSmoke
		}
		if e != wantEv {
			t.Fatalf("event %d after the restart is %s, want %s (order lost)", i, e, wantEv)
		}
	}
	mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
