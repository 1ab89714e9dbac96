package zigbee2mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/mqttsource"
)

// ErrUnknownDevice is returned for a message of a device that is not in
// devices: (only when devices are configured).
var ErrUnknownDevice = errors.New("device is not listed in the devices config")

// IAS zone status bits (ZCL 8.2.2.2.1.3): bit 0 alarm1, bit 1 alarm2,
// bit 2 tamper, bit 3 battery, bit 4 supervision reports, bit 5 restore
// reports. The HS1CG-E sends 34 (alarm2 + restore reports) in an alarm and 32
// after it; its converter reads alarm1 only. The override raises on either
// alarm bit, so a device that uses alarm1 is not missed either.
const zoneAlarms = 1<<0 | 1<<1

// tri is a boolean that may be unknown (nothing heard since start).
type tri uint8

const (
	unknown tri = iota
	isFalse
	isTrue
)

func triOf(b bool) tri {
	if b {
		return isTrue
	}
	return isFalse
}

// device is a configured (or, in auto mode, discovered) device and what the
// driver last heard from it: alarms are emitted on edges, not on every
// periodic report.
type device struct {
	id          string
	kind        anxin.Kind
	actions     map[string]anxin.EventType
	gasFromZone bool

	smoke, gas, leak, tamper, batteryLow tri
	online                               tri
	lastAction                           map[anxin.EventType]time.Time
}

// Network turns what zigbee2mqtt publishes into contract messages. It keeps
// per-device state and is not safe for concurrent use.
type Network struct {
	base      string
	auto      bool
	debounce  time.Duration
	household string
	byName    map[string]*device
	bridgeID  string
	bridge    tri // the bridge's last state
	status    func(anxin.DeviceStatus)
	log       *slog.Logger
	metrics   *networkMetrics
}

// NewNetwork builds a Network from a validated config.
func NewNetwork(cfg *Config, household string, log *slog.Logger, reg metrics.Registerer) (*Network, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	m, err := newNetworkMetrics(reg)
	if err != nil {
		return nil, err
	}
	n := &Network{base: cfg.BaseTopic, auto: cfg.Auto(), debounce: cfg.ActionDebounce, bridgeID: cfg.BridgeDevice,
		household: household, byName: make(map[string]*device, len(cfg.Devices)), log: log, metrics: m}
	for _, d := range cfg.Devices {
		dev := &device{id: d.Device, kind: d.Kind, gasFromZone: d.GasFromZonestatus,
			actions: map[string]anxin.EventType{"emergency": anxin.EventButtonPressed}}
		for a, e := range d.Actions {
			dev.actions[strings.ToLower(a)] = e
		}
		n.byName[d.Name] = dev
	}
	return n, nil
}

// OnStatus sets where device and bridge statuses go: zigbee2mqtt's
// availability of a device, and the bridge's own state, as
// anxin.DeviceStatus (published retained on anxin/v1/<hh>/<dev>/status).
// Nil (the default, as in gatewayd decode): they are only logged and
// exported as gauges.
func (n *Network) OnStatus(f func(anxin.DeviceStatus)) { n.status = f }

// Skip reports whether a topic carries nothing the driver reads (bridge
// topics other than bridge/state, /set and /get commands); the source drops
// such messages before queueing them.
func (n *Network) Skip(topic string) bool {
	rest, ok := strings.CutPrefix(topic, n.base+"/")
	if !ok {
		return false
	}
	if strings.HasPrefix(rest, "bridge/") {
		return rest != "bridge/state"
	}
	return strings.HasSuffix(rest, "/set") || strings.HasSuffix(rest, "/get") ||
		strings.Contains(rest, "/set/") || strings.Contains(rest, "/get/")
}

// Handle reads one message from topic and emits the contract messages it
// means, stamped at now. Alarm events come first, then the reading. It
// returns an error for a payload it cannot read (after emitting whatever
// parts it could), or ErrUnknownDevice.
func (n *Network) Handle(topic string, payload []byte, now time.Time, emit func(anxin.Message)) error {
	return n.handle(topic, payload, nil, now, emit)
}

// handle is Handle with extra keys merged into a state payload where it lacks
// them (the raw zonestatus a recorded z2m log carries beside the payload).
func (n *Network) handle(topic string, payload []byte, extra map[string]json.RawMessage, now time.Time, emit func(anxin.Message)) error {
	if len(payload) > anxin.MaxPayload {
		return fmt.Errorf("payload of %d bytes exceeds %d", len(payload), anxin.MaxPayload)
	}
	rest, ok := strings.CutPrefix(topic, n.base+"/")
	if !ok {
		if !n.auto {
			return fmt.Errorf("topic %q is not under base_topic %s", clip(topic), n.base)
		}
		// auto mode reads captures made with any base topic
		if _, rest, ok = strings.Cut(topic, "/"); !ok || rest == "" {
			return fmt.Errorf("topic %q is not <base>/<name>", clip(topic))
		}
	}
	switch {
	case rest == "bridge/state":
		return n.bridgeState(payload, now)
	case strings.HasPrefix(rest, "bridge/"), strings.HasSuffix(rest, "/set"), strings.HasSuffix(rest, "/get"):
		return nil
	}
	if name, ok := strings.CutSuffix(rest, "/availability"); ok {
		return n.availability(name, payload, now)
	}
	if name, ok := strings.CutSuffix(rest, "/action"); ok {
		dev, err := n.device(name, func() anxin.Kind { return anxin.KindCallButton }, now)
		if err != nil || dev == nil {
			return err
		}
		n.action(dev, string(bytes.TrimSpace(payload)), now, emit)
		return nil
	}
	return n.state(rest, payload, extra, now, emit)
}

// device finds the device called name; in auto mode it adds it, with the
// kind infer returns (nil: not known yet, the message is skipped).
func (n *Network) device(name string, infer func() anxin.Kind, now time.Time) (*device, error) {
	if d, ok := n.byName[name]; ok {
		if d.kind == "" {
			d.kind = infer()
			if d.kind != "" && d.online != unknown {
				// auto mode: its availability came before anything said
				// what it is (the retained one, at start); now it counts
				n.emitStatus(d.id, d.online == isTrue, now)
			}
		}
		return d, nil
	}
	if !n.auto {
		n.metrics.unknown.Inc()
		return nil, fmt.Errorf("%q: %w", clip(name), ErrUnknownDevice)
	}
	if len(n.byName) >= maxDevices {
		return nil, fmt.Errorf("auto mode tracks at most %d devices; list them in the devices config", maxDevices)
	}
	d := &device{id: SanitizeName(name), kind: infer(),
		actions: map[string]anxin.EventType{"emergency": anxin.EventButtonPressed}}
	n.byName[name] = d
	return d, nil
}

// state reads a device state payload: a JSON object.
func (n *Network) state(name string, payload []byte, extra map[string]json.RawMessage, now time.Time, emit func(anxin.Message)) error {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(payload, &p); err != nil || p == nil {
		return fmt.Errorf("device %q: payload is not a JSON object", clip(name))
	}
	for k, v := range extra {
		if _, ok := p[k]; !ok {
			p[k] = v
		}
	}
	dev, err := n.device(name, func() anxin.Kind { return inferKind(p) }, now)
	if err != nil {
		return err
	}
	if dev.kind == "" {
		return nil // auto mode: nothing says what this device is yet
	}
	var bad []string
	if raw, ok := p["action"]; ok && !isNull(raw) {
		var a string
		if json.Unmarshal(raw, &a) != nil {
			bad = append(bad, "action")
		} else {
			n.action(dev, a, now, emit)
		}
	}
	gasKey := "gas"
	if dev.gasFromZone {
		gasKey = "" // the converter's gas key is wrong for this device
		if raw, ok := p["zonestatus"]; ok && !isNull(raw) {
			zs, err := strconv.ParseUint(string(raw), 10, 16)
			if err != nil {
				bad = append(bad, "zonestatus")
			} else {
				n.edge(dev, &dev.gas, zs&zoneAlarms != 0, anxin.EventGas, anxin.EventGasClear, now, emit)
			}
		}
	}
	for _, a := range []struct {
		key       string
		st        *tri
		on, clear anxin.EventType
	}{
		{"smoke", &dev.smoke, anxin.EventSmoke, anxin.EventSmokeClear},
		{gasKey, &dev.gas, anxin.EventGas, anxin.EventGasClear},
		{"water_leak", &dev.leak, anxin.EventWaterLeak, anxin.EventWaterLeakClear},
		{"tamper", &dev.tamper, anxin.EventTamper, ""},
	} {
		if a.key == "" {
			continue
		}
		b, ok, err := boolKey(p, a.key)
		if err != nil {
			bad = append(bad, a.key)
		} else if ok {
			n.edge(dev, a.st, b, a.on, a.clear, now, emit)
		}
	}

	fields := anxin.Fields{}
	if low, ok, err := boolKey(p, "battery_low"); err != nil {
		bad = append(bad, "battery_low")
	} else if ok {
		fields["battery_low"] = anxin.Bool(low)
		n.edge(dev, &dev.batteryLow, low, anxin.EventLowBattery, "", now, emit)
	}
	if v, ok, err := numKey(p, "battery", 0, 100); err != nil {
		bad = append(bad, "battery")
	} else if ok {
		fields["battery_pct"] = anxin.Num(v)
	}
	if v, ok, err := numKey(p, "linkquality", 0, 255); err != nil {
		bad = append(bad, "linkquality")
	} else if ok {
		fields["link_quality"] = anxin.Num(v)
	}
	if len(fields) > 0 {
		m := n.message(dev, now)
		m.Fields = fields
		emit(m)
	}
	if len(bad) > 0 {
		return fmt.Errorf("device %q: unreadable keys %s", clip(name), strings.Join(bad, ", "))
	}
	return nil
}

// action maps an action value to an event; "" (the reset z2m publishes
// right after an action) and unmapped actions emit nothing.
func (n *Network) action(dev *device, action string, now time.Time, emit func(anxin.Message)) {
	if action == "" || action == "null" {
		return
	}
	ev, ok := dev.actions[strings.ToLower(action)]
	if !ok {
		n.log.Debug("zigbee action not mapped to an event", "device", dev.id, "action", clip(action))
		return
	}
	if n.debounce > 0 {
		if dev.lastAction == nil {
			dev.lastAction = make(map[anxin.EventType]time.Time, 1)
		}
		last, seen := dev.lastAction[ev]
		dev.lastAction[ev] = now
		if seen && now.Sub(last) < n.debounce && !now.Before(last) {
			return // the same press published twice (state payload and legacy action topic)
		}
	}
	m := n.message(dev, now)
	m.Event = ev
	emit(m)
}

// edge emits on when the state turns true (also when it was unknown: the
// first report of an alarm after a restart raises it) and clear when it
// turns false after true.
func (n *Network) edge(dev *device, st *tri, v bool, on, clear anxin.EventType, now time.Time, emit func(anxin.Message)) {
	prev := *st
	*st = triOf(v)
	var ev anxin.EventType
	switch {
	case v && prev != isTrue:
		ev = on
	case !v && prev == isTrue:
		ev = clear
	}
	if ev == "" {
		return
	}
	m := n.message(dev, now)
	m.Event = ev
	emit(m)
}

func (n *Network) message(dev *device, now time.Time) anxin.Message {
	return anxin.Message{ID: anxin.NewID(now), TS: now, Household: n.household, Device: dev.id, Kind: dev.kind}
}

// availability reads <base>/<name>/availability: {"state":"online"} or the
// legacy plain online/offline. A change (and the first one heard since
// start) becomes the device's status, for devices whose kind is known (all
// listed ones; in auto mode those that have sent a state: the last
// availability heard becomes their status when the kind is learnt). It is logged and
// exported as anxin_zigbee_device_online. An empty payload (zigbee2mqtt
// clearing the retained availability of a removed or renamed device) is
// ignored.
func (n *Network) availability(name string, payload []byte, now time.Time) error {
	if len(bytes.TrimSpace(payload)) == 0 {
		return nil
	}
	online, err := onlineState(payload)
	if err != nil {
		return fmt.Errorf("availability of %q: %w", clip(name), err)
	}
	dev, ok := n.byName[name]
	if !ok {
		if !n.auto {
			return nil // availability of devices we do not read
		}
		if dev, err = n.device(name, func() anxin.Kind { return "" }, now); err != nil {
			return err
		}
	}
	prev := dev.online
	dev.online = triOf(online)
	n.metrics.deviceOnline.WithLabelValues(dev.id).Set(b2f(online))
	if prev == dev.online {
		return nil
	}
	if online {
		n.log.Info("zigbee device online", "device", dev.id)
	} else {
		n.log.Warn("zigbee device offline (zigbee2mqtt availability)", "device", dev.id)
	}
	if dev.kind != "" {
		n.emitStatus(dev.id, online, now)
	}
	return nil
}

// bridgeState reads <base>/bridge/state, the bridge's MQTT will:
// {"state":"online"|"offline"} (zigbee2mqtt 2.x) or plain online/offline
// (1.x). A change becomes the status of device bridge_device.
func (n *Network) bridgeState(payload []byte, now time.Time) error {
	if len(bytes.TrimSpace(payload)) == 0 {
		return nil // a cleared retained state
	}
	online, err := onlineState(payload)
	if err != nil {
		return fmt.Errorf("bridge/state: %w", err)
	}
	n.metrics.bridgeOnline.Set(b2f(online))
	prev := n.bridge
	n.bridge = triOf(online)
	if prev == n.bridge {
		return nil
	}
	if online {
		n.log.Info("zigbee2mqtt bridge online")
	} else {
		n.log.Warn("zigbee2mqtt bridge offline: no Zigbee device can report until it returns")
	}
	n.emitStatus(n.bridgeID, online, now)
	return nil
}

func (n *Network) emitStatus(id string, online bool, now time.Time) {
	if n.status == nil {
		return
	}
	st := anxin.DeviceStatus{Household: n.household, Device: id, State: anxin.StateOffline, TS: now}
	if online {
		st.State = anxin.StateOnline
	}
	n.status(st)
}

func onlineState(payload []byte) (bool, error) {
	s := string(bytes.TrimSpace(payload))
	if strings.HasPrefix(s, "{") {
		var st struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(payload, &st); err != nil {
			return false, errors.New("payload is not {\"state\":…}")
		}
		s = st.State
	}
	switch s {
	case "online":
		return true, nil
	case "offline":
		return false, nil
	}
	return false, fmt.Errorf("state %q is not online or offline", clip(s))
}

// inferKind guesses a device's kind from its payload keys (auto mode).
func inferKind(p map[string]json.RawMessage) anxin.Kind {
	for _, k := range []struct {
		key  string
		kind anxin.Kind
	}{
		{"action", anxin.KindCallButton},
		{"smoke", anxin.KindSmokeDetector},
		{"gas", anxin.KindGasDetector},
		{"water_leak", anxin.KindWaterLeakDetector},
	} {
		if _, ok := p[k.key]; ok {
			return k.kind
		}
	}
	return ""
}

// SanitizeName makes a contract device id of a friendly name: characters
// outside [A-Za-z0-9_-] become _, and it is cut to 64 characters.
func SanitizeName(name string) string {
	b := []byte(name)
	if len(b) > 64 {
		b = b[:64]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// boolKey reads a boolean key; null and absent are "not there".
func boolKey(p map[string]json.RawMessage, key string) (v, ok bool, err error) {
	raw, there := p[key]
	if !there || isNull(raw) {
		return false, false, nil
	}
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, false, errors.New("not a boolean")
}

// numKey reads a number in [lo, hi]; old zigbee2mqtt sent some as strings
// ("battery":"80.00").
func numKey(p map[string]json.RawMessage, key string, lo, hi float64) (float64, bool, error) {
	raw, there := p[key]
	if !there || isNull(raw) {
		return 0, false, nil
	}
	s := string(bytes.TrimSpace(raw))
	if strings.HasPrefix(s, `"`) {
		if json.Unmarshal(raw, &s) != nil {
			return 0, false, errors.New("not a number")
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < lo || v > hi {
		return 0, false, errors.New("not a number in range")
	}
	return v, true, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

type networkMetrics struct {
	deviceOnline *metrics.GaugeVec
	bridgeOnline metrics.Gauge
	unknown      metrics.Counter
}

func newNetworkMetrics(r metrics.Registerer) (*networkMetrics, error) {
	dev, err := mqttsource.Register(r, metrics.NewGaugeVec(metrics.GaugeOpts{
		Name: "anxin_zigbee_device_online",
		Help: "zigbee2mqtt availability of a Zigbee device: 1 online, 0 offline.",
	}, []string{"device"}))
	if err != nil {
		return nil, err
	}
	bridge, err := mqttsource.Register(r, metrics.NewGauge(metrics.GaugeOpts{
		Name: "anxin_zigbee_bridge_online",
		Help: "zigbee2mqtt bridge state: 1 online, 0 offline (its MQTT will).",
	}))
	if err != nil {
		return nil, err
	}
	unknown, err := mqttsource.Register(r, metrics.NewCounter(metrics.CounterOpts{
		Name: "anxin_zigbee_unknown_device_messages_total",
		Help: "zigbee2mqtt messages of devices not listed in devices:.",
	}))
	if err != nil {
		return nil, err
	}
	return &networkMetrics{deviceOnline: dev, bridgeOnline: bridge, unknown: unknown}, nil
}
