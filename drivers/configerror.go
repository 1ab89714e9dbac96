package drivers

import (
	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/configerr"
)

// The configuration error type is shared with alarmd (internal/configerr),
// so that both daemons explain a bad key the same way in Mandarin; these
// names keep the drivers' Validate code as it was.
type (
	ConfigKind  = configerr.ConfigKind
	ConfigError = configerr.ConfigError
)

// The kinds of configuration error (see configerr).
const (
	KeyUnknown       = configerr.KeyUnknown
	KeyMissing       = configerr.KeyMissing
	KeyNeedsOther    = configerr.KeyNeedsOther
	ValueBad         = configerr.ValueBad
	ValueNotChoice   = configerr.ValueNotChoice
	ValueWrongType   = configerr.ValueWrongType
	ValueNotDuration = configerr.ValueNotDuration
	ValueNotSize     = configerr.ValueNotSize
	ValueNotID       = configerr.ValueNotID
	ValueOutOfRange  = configerr.ValueOutOfRange
	ValueDuplicate   = configerr.ValueDuplicate
	KeysConflict     = configerr.KeysConflict
	DriverUnknown    = configerr.DriverUnknown
	FileUnreadable   = configerr.FileUnreadable
	FileSyntax       = configerr.FileSyntax
)

// ConfigKinds lists every kind, for tests that each has its words.
var ConfigKinds = configerr.ConfigKinds

// The constructors drivers' Validate uses.
var (
	NewConfigError = configerr.NewConfigError
	NotChoice      = configerr.NotChoice
	NotID          = configerr.NotID
	Missing        = configerr.Missing
	Duplicate      = configerr.Duplicate
	OutOfRange     = configerr.OutOfRange
	Because        = configerr.Because // reason: one of ErrorReasons
	UnderKey       = configerr.UnderKey
	AsConfigError  = configerr.AsConfigError
)

// NotKind is the error for a device kind the contract does not have.
func NotKind(key string, kind anxin.Kind) *ConfigError {
	c := make([]string, len(anxin.Kinds))
	for i, k := range anxin.Kinds {
		c[i] = string(k)
	}
	return NotChoice(key, string(kind), c...)
}

// NotEvent is the error for an event type the contract does not have.
func NotEvent(key string, ev anxin.EventType) *ConfigError {
	c := make([]string, len(anxin.EventTypes))
	for i, e := range anxin.EventTypes {
		c[i] = string(e)
	}
	return NotChoice(key, string(ev), c...)
}

// A problem no ConfigKind says carries one of ErrorReasons (ConfigError's
// Reason), which gatewayd words in Mandarin in one table (its
// configtext.go); the English detail stays what developers read.
const (
	ReasonListen          = "listen-address"      // a dial-in driver's listen: not host:port (Range: its default, e.g. :8001)
	ReasonMetricsListen   = "metrics-listen"      // metrics.listen: not host:port
	ReasonTerminalJT808   = "jt808-terminal-id"   // terminals[i].id: not up to 20 digits (shown masked)
	ReasonTerminalWatch3g = "watch3g-terminal-id" // terminals[i].id: not up to 20 letters and digits (shown masked)
	ReasonTerminalSame    = "terminal-same-id"    // terminals[i].id: an earlier id with other leading zeros
	ReasonBrokerURL       = "broker-url"          // broker: not a URL like tcp://host:1883 (never quoted: it may hold a password)
	ReasonBrokerScheme    = "broker-scheme"       // broker: a scheme paho does not dial (Value: the scheme)
	ReasonBrokerUserinfo  = "broker-credentials"  // broker: user or password in the URL (never quoted)
	ReasonClientID        = "mqtt-client-id"      // client_id: over 128 bytes or with / + #
	ReasonTopicFilter     = "topic-filter"        // an MQTT filter with a misplaced + or #, empty or too long
	ReasonTopicCapture    = "topic-capture"       // jsonmap topic: a {capture} not a whole level or not [A-Za-z0-9_]
	ReasonDeviceTemplate  = "device-template"     // jsonmap device: not literal id characters and captured {names}
	ReasonJSONPath        = "json-path"           // jsonmap: not a path like $.gps.lat
	ReasonScaleBoolean    = "scale-boolean"       // jsonmap scale: of a true/false field
	ReasonScaleNumber     = "scale-number"        // scale: zero or not finite
	ReasonBaseTopic       = "base-topic"          // zigbee2mqtt base_topic: wildcards, leading or trailing /
	ReasonZigbeeName      = "zigbee-name"         // zigbee2mqtt devices[i].name: + or #, or too long
	ReasonZigbeeSubtopic  = "zigbee-subtopic"     // zigbee2mqtt devices[i].name: ends like a sub-topic
	ReasonZigbeeReset     = "zigbee-empty-action" // zigbee2mqtt actions: the empty action (a reset)
	ReasonReservedDevice  = "reserved-device"     // the device id of the gateway's own status
	ReasonUSBID           = "usb-id"              // port.usb.vid, .pid: not 4 hex digits
	ReasonWaterAddress    = "cjt188-address"      // cjt188 meters[i].address: not 14 digits
	ReasonPowerAddress    = "dlt645-address"      // dlt645 meters[i].address: not 12 digits
	ReasonMeterType       = "cjt188-meter-type"   // cjt188 meter_type: not two hex digits
	ReasonRFCode          = "rf-code"             // codes[i].code: not 1-6 hex digits
	ReasonTLSNoPEM        = "tls-no-pem"          // mqtt.tls.ca_file: no PEM certificate in it
	ReasonTLSKeyPair      = "tls-key-pair"        // mqtt.tls.cert_file: the pair does not load
)

// ErrorReasons lists every Reason a gatewayd config error may carry, for
// the test that each has its Mandarin words. The serial port's sharing
// reasons (port-settings, port-alone, usb-ambiguous) and BadPort's port
// are worded by configerr itself.
var ErrorReasons = []string{ReasonListen, ReasonMetricsListen, ReasonTerminalJT808, ReasonTerminalWatch3g, ReasonTerminalSame, ReasonBrokerURL, ReasonBrokerScheme,
	ReasonBrokerUserinfo, ReasonClientID, ReasonTopicFilter, ReasonTopicCapture, ReasonDeviceTemplate, ReasonJSONPath,
	ReasonScaleBoolean, ReasonScaleNumber, ReasonBaseTopic, ReasonZigbeeName, ReasonZigbeeSubtopic, ReasonZigbeeReset,
	ReasonReservedDevice, ReasonUSBID, ReasonWaterAddress, ReasonPowerAddress, ReasonMeterType, ReasonRFCode,
	ReasonTLSNoPEM, ReasonTLSKeyPair}
