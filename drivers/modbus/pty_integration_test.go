package modbus

import (
	"context"
	"encoding/binary"
	"github.com/anxin-care/anxin/internal/testenv"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	d := &ptyDevice{t: t, link: filepath.Join(t.TempDir(), "ttyRS485")}
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

// slave plays Modbus RTU units on the pty's master side. It is written by
// hand from the spec (not with the package's frame splitter): read 8-byte
// requests, check their CRC, answer.
type slave struct {
	holding, input map[byte]map[uint16]uint16 // unit -> register -> value
	inputs         map[byte][]*atomic.Bool    // unit -> discrete inputs
	requests       atomic.Int64
	badCRCAt       int64 // answer request number N with a corrupted CRC
	junkAt         int64 // answer request number N after junk, in two writes
}

func (s *slave) serve(t *testing.T, dev *os.File) {
	var buf []byte
	chunk := make([]byte, 256)
	for {
		n, err := dev.Read(chunk)
		if err != nil {
			return // the device vanished
		}
		buf = append(buf, chunk[:n]...)
		for len(buf) >= 8 {
			req := buf[:8]
			if binary.LittleEndian.Uint16(req[6:]) != CRC16(req[:6]) {
				buf = buf[1:]
				continue
			}
			buf = buf[8:]
			s.answer(dev, req)
		}
	}
}

func (s *slave) answer(dev *os.File, req []byte) {
	nr := s.requests.Add(1)
	unit, fc := req[0], req[1]
	addr, qty := binary.BigEndian.Uint16(req[2:]), binary.BigEndian.Uint16(req[4:])
	var resp []byte
	switch fc {
	case 3, 4:
		regs := s.holding[unit]
		if fc == 4 {
			regs = s.input[unit]
		}
		if regs == nil {
			return // no such unit: silence, as on a real bus
		}
		resp = []byte{unit, fc, byte(2 * qty)}
		for a := addr; a < addr+qty; a++ {
			v, ok := regs[a]
			if !ok {
				resp = []byte{unit, fc | 0x80, 2} // illegal data address
				break
			}
			resp = binary.BigEndian.AppendUint16(resp, v)
		}
	case 2:
		ins := s.inputs[unit]
		if ins == nil {
			return
		}
		resp = []byte{unit, fc, byte((qty + 7) / 8)}
		bits := make([]byte, (qty+7)/8)
		for i := uint16(0); i < qty; i++ {
			if int(addr+i) < len(ins) && ins[addr+i].Load() {
				bits[i/8] |= 1 << (i % 8)
			}
		}
		resp = append(resp, bits...)
	default:
		resp = []byte{unit, fc | 0x80, 1}
	}
	resp = AppendCRC(resp)
	switch nr {
	case s.badCRCAt:
		resp[len(resp)-1] ^= 0xFF
	case s.junkAt:
		dev.Write([]byte{0x00, 0x55, 0xAA})
		dev.Write(resp[:3])
		resp = resp[3:]
	}
	dev.Write(resp)
}

// regs splits wire bytes into 16-bit register values.
func regs(m map[uint16]uint16, addr uint16, wire []byte) {
	for i := 0; i+1 < len(wire); i += 2 {
		m[addr+uint16(i/2)] = binary.BigEndian.Uint16(wire[i:])
	}
}

// newPtyDriver makes cfg's driver (cfg validated), reconnecting fast;
// ANXIN_DEBUG=1 shows its log.
func newPtyDriver(t *testing.T, cfg *Config, reg *metrics.Registry) *driver {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("ANXIN_DEBUG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	env := drivers.Env{Household: "hh-0001", Logger: logger, Now: time.Now, Metrics: reg}
	d, err := newDriver(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	d.reconnect = serialport.Reconnect{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	return d
}

func TestIntegrationPty(t *testing.T) {
	dev := newPtyDevice(t)
	reg := metrics.NewRegistry()
	cfg := NewConfig()
	cfg.Port.Path = dev.link
	cfg.PollInterval = 50 * time.Millisecond
	cfg.Timeout = 150 * time.Millisecond
	cfg.Units = []Unit{
		{Unit: 1, Device: "pm1", Kind: anxin.KindPowerMeter, Registers: []Register{
			{Name: "energy_kwh", Register: 0x0000, Format: FormatUint32, Scale: 0.01},
			// signed: a meter total may not be negative (the contract), reactive power may
			{Name: "reactive_power_var", Register: 0x0002, Format: FormatInt32, Byte: LittleEndian, Word: LowFirst, Scale: 0.001},
			{Name: "voltage_v", Register: 0x000A, Type: TypeInput, Scale: 0.1},
			{Name: "power_w", Register: 0x000C, Type: TypeInput, Format: FormatFloat32, Word: LowFirst},
			{Name: "rssi", Register: 0x0010, Type: TypeInput, Format: FormatInt16},
		}},
		{Unit: 2, Inputs: []InputEvent{
			{Input: 0, Device: "smoke1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmoke},
			{Input: 1, Device: "gas1", Kind: anxin.KindGasDetector, Event: anxin.EventGas, Invert: true},
		}},
		{Unit: 9, Inputs: []InputEvent{{Input: 0, Device: "leak9", Kind: anxin.KindWaterLeakDetector, Event: anxin.EventWaterLeak}}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	u1 := cfg.Units[0].Registers
	s := &slave{
		holding: map[byte]map[uint16]uint16{1: {}}, input: map[byte]map[uint16]uint16{1: {}},
		inputs:   map[byte][]*atomic.Bool{2: {new(atomic.Bool), new(atomic.Bool)}},
		badCRCAt: 2, junkAt: 5,
	}
	s.inputs[2][1].Store(true) // the NC gas contact is closed: at rest
	regs(s.holding[1], 0x0000, u1[0].Encode(123456))
	regs(s.holding[1], 0x0002, u1[1].Encode(-98765))
	regs(s.input[1], 0x000A, u1[2].Encode(2301))
	regs(s.input[1], 0x000C, u1[3].Encode(1500.5))
	regs(s.input[1], 0x0010, u1[4].Encode(-70))
	go s.serve(t, dev.master)

	d := newPtyDriver(t, cfg, reg)
	sink := &memSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()

	events := func() []string {
		var evs []string
		for _, m := range sink.snapshot() {
			if m.IsEvent() {
				evs = append(evs, m.Device+":"+string(m.Event))
			}
		}
		return evs
	}
	fullReading := func() (anxin.Message, bool) {
		for _, m := range sink.snapshot() {
			if m.Device == "pm1" && len(m.Fields) == 5 {
				return m, true
			}
		}
		return anxin.Message{}, false
	}
	eventually(t, "a full meter reading", func() bool { _, ok := fullReading(); return ok })
	m, _ := fullReading()
	want := map[string]float64{"energy_kwh": 1234.56, "reactive_power_var": -98.765, "voltage_v": 230.1, "power_w": 1500.5, "rssi": -70}
	for k, v := range want {
		if got := m.Fields[k].Float(); got < v-1e-9 || got > v+1e-9 {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if err := m.Validate(); err != nil || m.Kind != anxin.KindPowerMeter {
		t.Errorf("reading %+v: %v", m, err)
	}

	// Smoke: rising edge raises, falling edge clears.
	s.inputs[2][0].Store(true)
	eventually(t, "smoke", func() bool { return len(events()) == 1 })
	s.inputs[2][0].Store(false)
	eventually(t, "smoke_clear", func() bool { return len(events()) == 2 })
	if got := events(); got[0] != "smoke1:smoke" || got[1] != "smoke1:smoke_clear" {
		t.Fatalf("events %v", got)
	}
	// Unit 9 never answers: counted, and the rest of the bus goes on.
	eventually(t, "unit 9 timeouts counted", func() bool { return counterValue(t, reg, "9", "timeout") >= 1 })
	if v := counterValue(t, reg, "1", "bad_frame"); v < 1 {
		t.Errorf("bad CRC reply not counted as bad_frame (%v)", v)
	}

	// The adapter vanishes and comes back; detector state survives, so the
	// gas contact opening afterwards is one gas event and nothing repeats.
	dev.vanish()
	eventually(t, "port lost", connected(t, reg, dev.link, 0))
	dev.comeBack()
	go s.serve(t, dev.master)
	eventually(t, "port reopened", connected(t, reg, dev.link, 1))
	n := len(sink.snapshot())
	eventually(t, "readings after reconnect", func() bool { return len(sink.snapshot()) > n+2 })
	s.inputs[2][1].Store(false) // NC contact opens: gas
	eventually(t, "gas", func() bool { return len(events()) == 3 })
	if got := events(); got[2] != "gas1:gas" {
		t.Fatalf("events %v", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
	if got := events(); len(got) != 3 {
		t.Errorf("events %v", got)
	}
}

func connected(t *testing.T, reg *metrics.Registry, link string, v float64) func() bool {
	return func() bool { return gaugeValue(t, reg, "anxin_serial_connected", link) == v }
}

// counterValue reads anxin_modbus_requests_total for a unit and result.
func counterValue(t *testing.T, reg *metrics.Registry, unit, result string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.Name != "anxin_modbus_requests_total" {
			continue
		}
		for _, m := range mf.Metrics {
			var u, r string
			for _, lp := range m.Labels {
				switch lp.Name {
				case "unit":
					u = lp.Value
				case "result":
					r = lp.Value
				}
			}
			if u == unit && r == result {
				return m.Value
			}
		}
	}
	return 0
}
