package zigbee2mqtt

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/mqttsource"
)

// Defaults.
const (
	DefaultBaseTopic      = "zigbee2mqtt"
	DefaultActionDebounce = 2 * time.Second
	DefaultBridgeDevice   = Name // the bridge's status: anxin/v1/<hh>/zigbee2mqtt/status
	maxDevices            = 1024 // configured devices, and devices tracked in auto mode
)

// Config is the zigbee2mqtt driver's section of the gatewayd config.
type Config struct {
	mqttsource.Config `mapstructure:",squash" yaml:",inline"`
	// BaseTopic is zigbee2mqtt's mqtt.base_topic.
	BaseTopic string `mapstructure:"base_topic" yaml:"base_topic"`
	// ActionDebounce collapses the same action event of one device seen again
	// within this window (z2m may publish an action both in the state payload
	// and on the legacy <name>/action topic). 0 turns it off.
	ActionDebounce time.Duration `mapstructure:"action_debounce" yaml:"action_debounce"`
	// BridgeDevice is the device id under which the bridge's own state
	// (<base_topic>/bridge/state) is published as a device status,
	// anxin/v1/<hh>/<bridge_device>/status. Two zigbee2mqtt instances in one
	// home need two ids.
	BridgeDevice string `mapstructure:"bridge_device" yaml:"bridge_device"`
	// Devices maps zigbee2mqtt friendly names (or IEEE addresses) to contract
	// devices. Empty: auto mode (see docs/drivers-mqtt.md).
	Devices []Device `mapstructure:"devices" yaml:"devices"`
}

// Device is one Zigbee device of the household.
type Device struct {
	// Name is the friendly name as it appears in the topic
	// (zigbee2mqtt/<name>), which is the IEEE address (0x847127fffe0542eb)
	// until it is renamed.
	Name   string     `mapstructure:"name" yaml:"name"`
	Device string     `mapstructure:"device" yaml:"device"` // contract device id
	Kind   anxin.Kind `mapstructure:"kind" yaml:"kind"`
	// Actions maps the device's `action` values to events, in addition to
	// emergency → button_pressed (matched without regard to case).
	Actions map[string]anxin.EventType `mapstructure:"actions" yaml:"actions"`
	// GasFromZonestatus reads gas from the alarm bits of the IAS zone status
	// (a `zonestatus` key: alarm1 = bit 0 or alarm2 = bit 1) instead of the
	// converter's `gas` key: the Heiman HS1CG-E signals gas on alarm2 while
	// its converter reads alarm1 and reports gas:false during an alarm. See
	// docs/drivers-mqtt.md.
	GasFromZonestatus bool `mapstructure:"gas_from_zonestatus" yaml:"gas_from_zonestatus"`
}

// NewConfig returns the defaults: local broker, base topic zigbee2mqtt, auto mode.
func NewConfig() *Config {
	return &Config{
		Config:         mqttsource.DefaultConfig(),
		BaseTopic:      DefaultBaseTopic,
		ActionDebounce: DefaultActionDebounce,
		BridgeDevice:   DefaultBridgeDevice,
	}
}

// Auto reports whether no devices are configured: devices are then named by
// their sanitized friendly name and their kind is inferred from the payload.
func (c *Config) Auto() bool { return len(c.Devices) == 0 }

// Validate checks the config without touching the network.
func (c *Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.BaseTopic == "" {
		return drivers.Missing("base_topic", "empty; zigbee2mqtt's mqtt.base_topic, usually %s", DefaultBaseTopic)
	}
	if strings.ContainsAny(c.BaseTopic, "+#") || strings.HasPrefix(c.BaseTopic, "/") || strings.HasSuffix(c.BaseTopic, "/") {
		return drivers.Because("base_topic", drivers.ReasonBaseTopic, "%q: a topic without wildcards or leading/trailing /", c.BaseTopic).
			WithValue(c.BaseTopic)
	}
	if c.ActionDebounce < 0 || c.ActionDebounce > time.Minute {
		return drivers.OutOfRange("action_debounce", c.ActionDebounce, "0..1m")
	}
	if !anxin.ValidID(c.BridgeDevice) {
		return drivers.NotID("bridge_device", c.BridgeDevice)
	}
	if c.BridgeDevice == anxin.GatewayDevice {
		return reserved("bridge_device", c.BridgeDevice)
	}
	if len(c.Devices) > maxDevices {
		return drivers.OutOfRange("devices", len(c.Devices), fmt.Sprintf("<= %d devices", maxDevices))
	}
	names := make(map[string]bool, len(c.Devices))
	ids := make(map[string]bool, len(c.Devices))
	for i, d := range c.Devices {
		key := fmt.Sprintf("devices[%d]", i)
		switch {
		case d.Name == "":
			return drivers.Missing(key+".name", "the friendly name or IEEE address, as in the topic %s/<name>", c.BaseTopic)
		case len(d.Name) > 256 || strings.ContainsAny(d.Name, "+#"):
			return drivers.Because(key+".name", drivers.ReasonZigbeeName, "%q: the friendly name or IEEE address, without + or #", d.Name).
				WithValue(d.Name)
		case names[d.Name]:
			return drivers.Duplicate(key+".name", fmt.Sprintf("%q", d.Name)).WithValue(d.Name)
		case !anxin.ValidID(d.Device):
			return drivers.NotID(key+".device", d.Device)
		case ids[d.Device]:
			return drivers.Duplicate(key+".device", fmt.Sprintf("%q", d.Device)).WithValue(d.Device)
		case d.Device == anxin.GatewayDevice:
			return reserved(key+".device", d.Device)
		case d.Device == c.BridgeDevice:
			return drivers.NewConfigError(drivers.KeysConflict, key+".device", "%q is the bridge_device (the zigbee2mqtt bridge's status)", d.Device).
				WithValue(d.Device).WithChoices("bridge_device")
		case !d.Kind.Valid():
			return drivers.NotKind(key+".kind", d.Kind)
		case topicSuffix(d.Name):
			return drivers.Because(key+".name", drivers.ReasonZigbeeSubtopic, "%q ends in a zigbee2mqtt sub-topic", d.Name).WithValue(d.Name)
		}
		names[d.Name], ids[d.Device] = true, true
		actions := make([]string, 0, len(d.Actions))
		for a := range d.Actions {
			actions = append(actions, a)
		}
		slices.Sort(actions) // the first bad action is the same on every run
		for _, a := range actions {
			if a == "" {
				return drivers.Because(key+".actions", drivers.ReasonZigbeeReset, "an empty action is a reset, it cannot be mapped")
			}
			if e := d.Actions[a]; !e.Valid() {
				return drivers.NotEvent(key+".actions."+a, e)
			}
		}
	}
	return nil
}

// reserved is the error for the device id of the gateway's own status.
func reserved(key, id string) error {
	return drivers.Because(key, drivers.ReasonReservedDevice, "%q is reserved: anxin/v1/<hh>/gateway/status is the gateway's own status", id).
		WithValue(id)
}

// topicSuffix reports whether a name ends like a sub-topic the driver reads
// as something else.
func topicSuffix(name string) bool {
	for _, s := range []string{"/availability", "/action", "/set", "/get"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return strings.HasPrefix(name, "bridge/") || name == "bridge"
}
