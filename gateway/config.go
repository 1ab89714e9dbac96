// Package gateway is gatewayd: its configuration, the loop that runs the
// configured drivers into the spool and the uplink, reloads and clean
// shutdown, and `gatewayd decode`. cmd/gatewayd only parses flags and
// signals.
package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
	"github.com/anxin-care/anxin/drivers/tcpserver"
	"github.com/anxin-care/anxin/internal/configerr"
	"github.com/anxin-care/anxin/internal/configtree"
	"github.com/anxin-care/anxin/spool"
)

// Config is gatewayd's configuration file. See docs/gatewayd.md and
// configs/gatewayd.example.yaml.
type Config struct {
	Household string        `mapstructure:"household"`
	MQTT      MQTTConfig    `mapstructure:"mqtt"`
	Spool     SpoolConfig   `mapstructure:"spool"`
	Output    OutputConfig  `mapstructure:"output"`
	Log       LogConfig     `mapstructure:"log"`
	Metrics   MetricsConfig `mapstructure:"metrics"`
	// OfflineAfter is how long a driver's port (or home broker) must be
	// unavailable before its devices are reported offline (portstate.go).
	OfflineAfter time.Duration `mapstructure:"offline_after"`
	// Drivers are the `drivers:` entries, decoded by each driver's plugin.
	Drivers []DriverEntry `mapstructure:"drivers"`
}

// MQTTConfig is the uplink to the district broker.
type MQTTConfig struct {
	Broker anxin.BrokerURL `mapstructure:"broker"` // empty: no uplink, JSON lines on stdout
	// Fallback are the other nodes of a clustered broker tier, tried in
	// turn when a connection fails (the one that worked goes first).
	Fallback     []anxin.BrokerURL `mapstructure:"fallback"`
	ClientID     string            `mapstructure:"client_id"`
	Username     string            `mapstructure:"username"`
	Password     Secret            `mapstructure:"password"`
	PasswordFile string            `mapstructure:"password_file"`
	TLS          TLSConfig         `mapstructure:"tls"`
	Keepalive    time.Duration     `mapstructure:"keepalive"`
	Window       int               `mapstructure:"window"` // publishes awaiting PUBACK at once
	Reconnect    Reconnect         `mapstructure:"reconnect"`
	AckTimeout   time.Duration     `mapstructure:"ack_timeout"`

	tls *tls.Config // built by Load from the files
}

// Reconnect bounds the uplink's backoff between connection attempts.
type Reconnect struct {
	Min time.Duration `mapstructure:"min"`
	Max time.Duration `mapstructure:"max"`
}

// TLSConfig holds file paths; the files are read when the config is loaded.
type TLSConfig struct {
	CAFile             string `mapstructure:"ca_file"`
	CertFile           string `mapstructure:"cert_file"`
	KeyFile            string `mapstructure:"key_file"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
}

// SpoolConfig is the durable queue between drivers and uplink.
type SpoolConfig struct {
	Dir          string        `mapstructure:"dir"`
	MaxBytes     ByteSize      `mapstructure:"max_bytes"`
	Fsync        string        `mapstructure:"fsync"`         // always | batch
	SyncInterval time.Duration `mapstructure:"sync_interval"` // batch: readings fsynced this often
}

// OutputConfig is the debug output.
type OutputConfig struct {
	Stdout bool `mapstructure:"stdout"` // also print every message as a JSON line
}

// LogConfig sets the structured log on stderr.
type LogConfig struct {
	Level  string `mapstructure:"level"`  // debug | info | warn | error
	Format string `mapstructure:"format"` // text | json
}

// MetricsConfig exposes Prometheus metrics over HTTP.
type MetricsConfig struct {
	Listen string `mapstructure:"listen"` // host:port; empty: not served
}

// DriverEntry is one configured driver instance.
type DriverEntry struct {
	Driver string         // plugin name
	Name   string         // instance name, unique; defaults to the driver name
	Plugin drivers.Plugin // the registered plugin
	Config drivers.Config // decoded and validated
	raw    map[string]any
}

// Secret is a string that never prints.
type Secret string

func (Secret) String() string { return "<secret>" }

// LogValue keeps secrets out of slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("<secret>") }

// GoString keeps secrets out of %#v.
func (Secret) GoString() string { return `"<secret>"` }

// ByteSize is a size in bytes written as 64MiB, 512KiB, 1GB or a number.
type ByteSize int64

// ParseByteSize reads a size with an optional KiB/MiB/GiB (or KB/MB/GB,
// K/M/G: binary too) suffix.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult := map[string]float64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}[unit]
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || f < 0 || f*mult > 1<<50 {
		return 0, fmt.Errorf("%q is not a size like 64MiB", s)
	}
	return ByteSize(f * mult), nil
}

// Defaults returns the configuration before the file is applied.
func Defaults() *Config {
	return &Config{
		MQTT: MQTTConfig{Keepalive: 30 * time.Second, Window: 256, AckTimeout: time.Minute,
			Reconnect: Reconnect{Min: time.Second, Max: 2 * time.Minute}},
		Spool: SpoolConfig{Dir: "/var/lib/anxin/spool", MaxBytes: 64 << 20, Fsync: "batch",
			SyncInterval: 200 * time.Millisecond},
		Log:          LogConfig{Level: "info", Format: "text"},
		OfflineAfter: DefaultPortDownAfter,
	}
}

// driversKey is the top-level key the config tree reads as drivers: the
// last spelling in byte order that is not all lower case (Drivers: over
// drivers:, as configtree decides for every key), else drivers.
func driversKey(top map[string]yaml.Node) string {
	key := "drivers"
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if k != "drivers" && strings.ToLower(k) == "drivers" {
			key = k
		}
	}
	return key
}

// EnvPrefix starts every environment override: ANXIN_MQTT_PASSWORD sets
// mqtt.password.
const EnvPrefix = "ANXIN"

// Load reads, decodes and validates the config file at path, with
// environment overrides. It reads files (the config, password_file, TLS
// files) but never opens a port or connects. Errors name the key.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		ce := &drivers.ConfigError{Kind: drivers.FileUnreadable, Detail: err.Error(), File: path, Err: err}
		return nil, fmt.Errorf("config: %w", ce)
	}
	cfg, err := Parse(data)
	if err != nil {
		ce := drivers.AsConfigError(err)
		ce.File = path
		return nil, fmt.Errorf("config %s: %w", path, ce)
	}
	return cfg, nil
}

// Parse is Load on the bytes of a config file. Its errors are
// *drivers.ConfigError, so that they can be explained (ConfigErrorText).
func Parse(data []byte) (*Config, error) {
	cfg, err := parse(data)
	if err != nil {
		return nil, drivers.AsConfigError(err)
	}
	return cfg, nil
}

func parse(data []byte) (*Config, error) {
	// drivers: read as they are so driver keys keep their case (the
	// tree lowercases keys, and device names are keys in some drivers),
	// under the spelling of drivers the tree reads (Drivers: too)
	var raw struct {
		Drivers []map[string]any
	}
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		return nil, configerr.YAMLSyntax(data, err)
	}
	if n, ok := top[driversKey(top)]; ok {
		if err := n.Decode(&raw.Drivers); err != nil {
			return nil, configerr.YAMLSyntax(data, err)
		}
	}

	v := configtree.New()
	if err := v.ReadYAML(data); err != nil {
		return nil, configerr.YAMLSyntax(data, err)
	}
	// an empty variable is as good as unset
	for _, k := range settingKeys(reflect.TypeFor[Config](), "") {
		val, ok := os.LookupEnv(configtree.EnvName(EnvPrefix, k))
		v.BindEnv(k, val, ok && val != "")
	}
	settings := v.AllSettings()
	delete(settings, "drivers")

	cfg := Defaults()
	if err := checkKeys(settings, reflect.TypeFor[Config](), ""); err != nil {
		return nil, err
	}
	if err := decode(settings, cfg, true, ""); err != nil {
		return nil, err
	}
	if cfg.MQTT.PasswordFile != "" {
		if cfg.MQTT.Password != "" {
			return nil, conflict("mqtt.password_file", "set either password or password_file, not both", "mqtt.password")
		}
		b, err := os.ReadFile(cfg.MQTT.PasswordFile)
		if err != nil {
			return nil, unreadable("mqtt.password_file", cfg.MQTT.PasswordFile, err, errors.Unwrap(err))
		}
		cfg.MQTT.Password = Secret(strings.TrimRight(string(b), "\r\n"))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.decodeDrivers(raw.Drivers); err != nil {
		return nil, err
	}
	if cfg.MQTT.TLS != (TLSConfig{}) || cfg.MQTT.Broker.TLS() || slices.ContainsFunc(cfg.MQTT.Fallback, anxin.BrokerURL.TLS) {
		t, err := cfg.MQTT.TLS.load()
		if err != nil {
			return nil, err
		}
		cfg.MQTT.tls = t
	}
	return cfg, nil
}

// Validate checks the gateway's own keys (not the drivers').
func (c *Config) Validate() error {
	if !anxin.ValidID(c.Household) {
		if c.Household == "" {
			return drivers.Missing("household", "%q is not [A-Za-z0-9_-]{1,64}", c.Household)
		}
		return drivers.NotID("household", c.Household)
	}
	m := c.MQTT
	if m.Broker.IsZero() && len(m.Fallback) > 0 {
		return drivers.NewConfigError(drivers.KeyNeedsOther, "mqtt.fallback", "set without mqtt.broker").WithChoices("mqtt.broker")
	}
	for i, b := range m.Fallback {
		if b.IsZero() {
			return drivers.Missing(fmt.Sprintf("mqtt.fallback[%d]", i), "empty broker URL")
		}
	}
	if !m.Broker.IsZero() {
		if c.Spool.Dir == "" {
			return drivers.Missing("spool.dir", "required when mqtt.broker is set")
		}
	}
	switch {
	case m.ClientID != "" && len(m.ClientID) > 128:
		return outOfRange("mqtt.client_id", m.ClientID, "<= 128", "longer than 128 bytes")
	case m.Keepalive < time.Second:
		return outOfRange("mqtt.keepalive", m.Keepalive, ">= 1s", "%s is below 1s", m.Keepalive)
	case m.Window < 1 || m.Window > 60000:
		return outOfRange("mqtt.window", m.Window, "1..60000", "%d is not within 1..60000", m.Window)
	case m.Reconnect.Min <= 0:
		return outOfRange("mqtt.reconnect.min", m.Reconnect.Min, "> 0", "%s must be positive", m.Reconnect.Min)
	case m.Reconnect.Max < m.Reconnect.Min:
		return outOfRange("mqtt.reconnect.max", m.Reconnect.Max, ">= reconnect.min "+m.Reconnect.Min.String(),
			"%s is below reconnect.min %s", m.Reconnect.Max, m.Reconnect.Min)
	case m.AckTimeout < time.Second:
		return outOfRange("mqtt.ack_timeout", m.AckTimeout, ">= 1s", "%s is below 1s", m.AckTimeout)
	case m.Username == "" && m.Password != "":
		return drivers.NewConfigError(drivers.KeyNeedsOther, "mqtt.password", "set without mqtt.username").WithChoices("mqtt.username")
	case (m.TLS.CertFile == "") != (m.TLS.KeyFile == ""):
		return conflict("mqtt.tls", "cert_file and key_file go together", "cert_file", "key_file")
	case c.OfflineAfter < time.Second:
		return outOfRange("offline_after", c.OfflineAfter, ">= 1s", "%s is below 1s", c.OfflineAfter)
	case c.Spool.MaxBytes < 1<<20:
		return outOfRange("spool.max_bytes", int64(c.Spool.MaxBytes), ">= 1MiB", "%d is below 1MiB", c.Spool.MaxBytes)
	case !spool.FsyncMode(c.Spool.Fsync).Valid():
		return drivers.NotChoice("spool.fsync", c.Spool.Fsync, "always", "batch")
	case c.Spool.SyncInterval <= 0 || c.Spool.SyncInterval > time.Minute:
		return outOfRange("spool.sync_interval", c.Spool.SyncInterval, "(0, 1m]", "%s is not within (0, 1m]", c.Spool.SyncInterval)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return err
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return drivers.NotChoice("log.format", c.Log.Format, "text", "json")
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			return drivers.Because("metrics.listen", drivers.ReasonMetricsListen, "%q is not host:port", c.Metrics.Listen).
				WithValue(c.Metrics.Listen)
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, drivers.NotChoice("log.level", s, "debug", "info", "warn", "error")
}

func (t TLSConfig) load() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, unreadable("mqtt.tls.ca_file", t.CAFile, err, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, drivers.Because("mqtt.tls.ca_file", drivers.ReasonTLSNoPEM, "no PEM certificate in %s", t.CAFile).
				WithValue(t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			ce := drivers.Because("mqtt.tls.cert_file", drivers.ReasonTLSKeyPair, "%v", err).WithValue(t.CertFile)
			ce.Err = err
			return nil, ce
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// decodeDrivers decodes each `drivers:` entry with its plugin, strictly,
// and validates it. It never opens a port.
func (c *Config) decodeDrivers(entries []map[string]any) error {
	names := map[string]int{}
	for i, e := range entries {
		key := fmt.Sprintf("drivers[%d]", i)
		// inEntry types err and says which entry it is about
		inEntry := func(err error, driver, inst string) error {
			ce := drivers.AsConfigError(err)
			ce.Entry, ce.Driver, ce.Instance = i+1, driver, inst
			return ce
		}
		if e == nil {
			return inEntry(drivers.Missing(key, "empty entry").WithChoices(drivers.Names()...), "", "")
		}
		name, ok := e["driver"].(string)
		if !ok || name == "" {
			return inEntry(drivers.Missing(key+".driver", "missing (one of %s)", strings.Join(drivers.Names(), ", ")).
				WithChoices(drivers.Names()...), "", "")
		}
		p, ok := drivers.Lookup(name)
		if !ok {
			return inEntry(drivers.NewConfigError(drivers.DriverUnknown, key+".driver", "unknown driver %q (known: %s)",
				name, strings.Join(drivers.Names(), ", ")).WithValue(name).WithChoices(drivers.Names()...), "", "")
		}
		inst := name
		if n, has := e["name"]; has {
			s, ok := n.(string)
			if !ok || !anxin.ValidID(s) {
				ce := drivers.NewConfigError(drivers.ValueNotID, key+".name", "%v is not [A-Za-z0-9_-]{1,64}", n).WithValue(n)
				return inEntry(ce, name, "")
			}
			inst = s
		}
		if prev, dup := names[inst]; dup {
			ce := drivers.NewConfigError(drivers.ValueDuplicate, key+".name",
				"instance %q is configured twice (give each a distinct name)", inst).WithValue(inst)
			ce.Choices = []string{fmt.Sprintf("drivers[%d]", prev)}
			return inEntry(ce, name, inst)
		}
		names[inst] = i
		rest := maps.Clone(e)
		delete(rest, "driver")
		delete(rest, "name")
		cfg := p.NewConfig()
		if err := checkKeys(rest, reflect.TypeOf(cfg), key+"."); err != nil {
			return inEntry(err, name, inst)
		}
		if err := decode(rest, cfg, false, key+"."); err != nil {
			ce := drivers.AsConfigError(err)
			ce.Detail += " (driver " + name + ")"
			if tcpserver.IDKey(ce.Key) && ce.Value != "" {
				// a SIM's number written unquoted: the wrong type, still personal
				ce.Value = tcpserver.MaskTerminal(ce.Value)
			}
			return inEntry(ce, name, inst)
		}
		if err := cfg.Validate(); err != nil {
			return inEntry(drivers.UnderKey(key, err), name, inst)
		}
		c.Drivers = append(c.Drivers, DriverEntry{Driver: name, Name: inst, Plugin: p, Config: cfg, raw: e})
	}
	return checkPorts(c.Drivers)
}

// checkPorts checks the drivers that name the same serial port: polled
// meters may share a bus when their line settings agree; a streaming
// driver or Modbus must have its port alone (serialport.CheckSharing).
func checkPorts(entries []DriverEntry) error {
	var uses []serialport.PortUse
	for i, e := range entries {
		u, ok := e.Config.(serialport.User)
		if !ok {
			continue
		}
		port, mode := u.SerialPort()
		uses = append(uses, serialport.PortUse{Key: fmt.Sprintf("drivers[%d]", i), Name: e.Name,
			Driver: e.Driver, Port: port, Mode: mode})
	}
	if err := serialport.CheckSharing(uses); err != nil {
		ce := drivers.AsConfigError(err)
		// the entry is the later of the two, as CheckSharing names it first
		for i, e := range entries {
			if strings.HasPrefix(ce.Key, fmt.Sprintf("drivers[%d].", i)) {
				ce.Entry, ce.Driver, ce.Instance = i+1, e.Driver, e.Name
			}
		}
		return ce
	}
	return nil
}

// conflict is the error for keys that do not go together.
func conflict(key, detail string, others ...string) *drivers.ConfigError {
	return drivers.NewConfigError(drivers.KeysConflict, key, "%s", detail).WithChoices(others...)
}

// outOfRange is the error for a value outside what is allowed.
func outOfRange(key string, value any, allowed, format string, args ...any) *drivers.ConfigError {
	return drivers.NewConfigError(drivers.ValueOutOfRange, key, format, args...).WithValue(value).WithRange(allowed)
}

// unreadable is the error for a file named by key that cannot be read;
// detail is the part of err the English line shows.
func unreadable(key, path string, err, detail error) *drivers.ConfigError {
	if detail == nil {
		detail = err
	}
	ce := drivers.NewConfigError(drivers.FileUnreadable, key, "%v", detail).WithValue(path)
	ce.Err = err
	return ce
}

// decode fills out from in strictly: unknown keys are errors and durations
// must be strings like 30s. fromEnv also turns strings into numbers and
// booleans, since environment overrides arrive as strings.
func decode(in map[string]any, out any, fromEnv bool, prefix string) error {
	hooks := []mapstructure.DecodeHookFunc{configerr.DurationHook, byteSizeHook, brokerURLHook}
	if fromEnv {
		hooks = append(hooks, envScalarHook)
	}
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result: out, ErrorUnused: true, WeaklyTypedInput: false, TagName: "mapstructure",
		DecodeHook: mapstructure.ComposeDecodeHookFunc(hooks...),
	})
	if err != nil {
		return err
	}
	// mapstructure panics on a key that is not a string (1:, or an empty
	// key as in {&a , b}) when it lists unknown keys
	if err := textKeys(in, strings.TrimSuffix(prefix, ".")); err != nil {
		return err
	}
	if err := d.Decode(in); err != nil {
		return configerr.FromDecode(err, prefix)
	}
	return nil
}

// textKeys finds the first mapping, in key order, with a key YAML did not
// read as text; its error names the mapping's key.
func textKeys(v any, key string) error {
	join := func(k string) string {
		if key == "" {
			return k
		}
		return key + "." + k
	}
	switch m := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if err := textKeys(m[k], join(k)); err != nil {
				return err
			}
		}
	case map[any]any:
		for k := range m {
			if _, ok := k.(string); !ok {
				return &drivers.ConfigError{Kind: drivers.FileSyntax, Key: key, Detail: fmt.Sprintf("key %v is not text", k)}
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k.(string))
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := textKeys(m[k], join(k)); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range m {
			if err := textKeys(e, fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

var brokerURLType = reflect.TypeFor[anxin.BrokerURL]()

func brokerURLHook(from, to reflect.Type, data any) (any, error) {
	if to != brokerURLType {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, drivers.Because("", drivers.ReasonBrokerURL, "is not a URL like tcp://host:1883")
	}
	b, err := anxin.ParseBrokerURL(s)
	var pe *anxin.PortError
	switch {
	case err == nil:
		return b, nil
	case errors.As(err, &pe):
		return nil, configerr.BadPort("", pe)
	}
	// the URL is never the value shown: it may hold a password; a scheme
	// cannot (url.Parse allows only letters, digits, + - . in one)
	if u, perr := url.Parse(s); perr == nil && u.Hostname() != "" {
		// the English line too: no user name (the URL as redacted, less its user)
		bare := *u
		bare.User = nil
		detail := strings.Replace(err.Error(), u.Redacted(), bare.String(), 1)
		return nil, drivers.Because("", drivers.ReasonBrokerScheme, "%s", detail).WithValue(u.Scheme)
	}
	return nil, drivers.Because("", drivers.ReasonBrokerURL, "%s", err.Error())
}

func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != byteSizeType {
		return data, nil
	}
	switch v := data.(type) {
	case string:
		b, err := ParseByteSize(v)
		if err != nil {
			return nil, drivers.NewConfigError(drivers.ValueNotSize, "", "%v", err).WithValue(v)
		}
		return b, nil
	case int:
		return ByteSize(v), nil
	case int64:
		return ByteSize(v), nil
	}
	return nil, drivers.NewConfigError(drivers.ValueNotSize, "", "%v is not a size like 64MiB", data).WithValue(data)
}

func envScalarHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || from.Kind() != reflect.String {
		return data, nil
	}
	switch to.Kind() {
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			ce := drivers.NewConfigError(drivers.ValueWrongType, "", "%q is not true or false", s).WithValue(s)
			ce.Want = "bool"
			return nil, ce
		}
		return b, nil
	case reflect.Int, reflect.Int32, reflect.Int64:
		if to == durationType || to == byteSizeType {
			return data, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			ce := drivers.NewConfigError(drivers.ValueWrongType, "", "%q is not a whole number", s).WithValue(s)
			ce.Want = "number"
			return nil, ce
		}
		return n, nil
	}
	return data, nil
}

// settingKeys lists the dotted keys of a config struct, for env binding.
func settingKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			keys = append(keys, settingKeys(f.Type, prefix+tag+".")...)
			continue
		}
		keys = append(keys, prefix+tag)
	}
	return keys
}

// checkKeys reports the first key in m that the struct type t does not
// have, with its full dotted name, so a typo is pointed at exactly.
func checkKeys(m map[string]any, t reflect.Type, prefix string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	fields := map[string]reflect.Type{}
	remain := false
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			name, opts, _ := strings.Cut(tag, ",")
			switch {
			case strings.Contains(opts, "remain"):
				remain = true
			case strings.Contains(opts, "squash") || (f.Anonymous && name == ""):
				ft := f.Type
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					collect(ft)
				}
			case name == "-":
			case f.IsExported():
				if name == "" {
					name = strings.ToLower(f.Name)
				}
				fields[name] = f.Type
			}
		}
	}
	collect(t)
	if remain {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		ft, ok := fields[k]
		if !ok {
			if lk := strings.ToLower(k); fields[lk] != nil {
				ft, ok = fields[lk], true
			}
		}
		if !ok {
			known := slices.Sorted(maps.Keys(fields))
			ce := drivers.NewConfigError(drivers.KeyUnknown, prefix+k, "unknown key (known: %s)", strings.Join(known, ", ")).
				WithChoices(known...)
			if ce.Suggest = suggestKey(k, fields); ce.Suggest != "" {
				ce.Suggest = prefix + ce.Suggest
				ce.Detail += "; did you mean " + ce.Suggest + "?"
			}
			return ce
		}
		if err := checkValue(m[k], ft, prefix+k); err != nil {
			return err
		}
	}
	return nil
}

// suggestKey guesses the key meant by an unknown one: a known key one
// level down (baud written beside port: instead of under it), else a known
// key one or two letters away (devcie).
func suggestKey(k string, fields map[string]reflect.Type) string {
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		t := fields[name]
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType {
			continue
		}
		for i := range t.NumField() {
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("mapstructure"), ","); tag == strings.ToLower(k) {
				return name + "." + tag
			}
		}
	}
	return configerr.Closest(strings.ToLower(k), slices.Sorted(maps.Keys(fields)))
}

func checkValue(v any, t reflect.Type, key string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if sub, ok := v.(map[string]any); ok {
			return checkKeys(sub, t, key+".")
		}
	case reflect.Slice, reflect.Array:
		if list, ok := v.([]any); ok {
			for i, e := range list {
				if err := checkValue(e, t.Elem(), fmt.Sprintf("%s[%d]", key, i)); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if sub, ok := v.(map[string]any); ok {
			for _, k := range slices.Sorted(maps.Keys(sub)) {
				if err := checkValue(sub[k], t.Elem(), key+"."+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// LogValue describes the config for the start-up log line, secrets hidden.
func (c *Config) LogValue() slog.Value {
	names := make([]string, len(c.Drivers))
	for i, d := range c.Drivers {
		names[i] = d.Name + "(" + d.Driver + ")"
	}
	return slog.GroupValue(
		slog.String("household", c.Household),
		slog.Any("broker", c.MQTT.Broker),
		slog.String("username", c.MQTT.Username),
		slog.Any("password", c.MQTT.Password),
		slog.String("spool", c.Spool.Dir),
		slog.String("drivers", strings.Join(names, ",")),
	)
}

// sameDriver reports whether two entries configure the same thing.
func sameDriver(a, b DriverEntry) bool {
	return a.Driver == b.Driver && a.Name == b.Name && reflect.DeepEqual(a.raw, b.raw)
}
