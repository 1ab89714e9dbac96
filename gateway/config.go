// Package gateway is gatewayd: its configuration, the loop that runs the
// configured drivers into the spool and the uplink, reloads and clean
// shutdown, and `gatewayd decode`. cmd/gatewayd only parses flags and
// signals.
package gateway

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
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
		Log: LogConfig{Level: "info", Format: "text"},
	}
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
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse is Load on the bytes of a config file.
func Parse(data []byte) (*Config, error) {
	// drivers: read with yaml.v3 so driver keys keep their case (viper
	// lowercases map keys, and device names are keys in some drivers)
	var raw struct {
		Drivers []map[string]any `yaml:"drivers"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}

	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	for _, k := range settingKeys(reflect.TypeFor[Config](), "") {
		if err := v.BindEnv(k); err != nil {
			return nil, err
		}
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
			return nil, errors.New("mqtt.password_file: set either password or password_file, not both")
		}
		b, err := os.ReadFile(cfg.MQTT.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.password_file: %w", errors.Unwrap(err))
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
		return fmt.Errorf("household: %q is not [A-Za-z0-9_-]{1,64}", c.Household)
	}
	m := c.MQTT
	if m.Broker.IsZero() && len(m.Fallback) > 0 {
		return errors.New("mqtt.fallback: set without mqtt.broker")
	}
	for i, b := range m.Fallback {
		if b.IsZero() {
			return fmt.Errorf("mqtt.fallback[%d]: empty broker URL", i)
		}
	}
	if !m.Broker.IsZero() {
		if c.Spool.Dir == "" {
			return errors.New("spool.dir: required when mqtt.broker is set")
		}
	}
	switch {
	case m.ClientID != "" && len(m.ClientID) > 128:
		return errors.New("mqtt.client_id: longer than 128 characters")
	case m.Keepalive < time.Second:
		return fmt.Errorf("mqtt.keepalive: %s is below 1s", m.Keepalive)
	case m.Window < 1 || m.Window > 60000:
		return fmt.Errorf("mqtt.window: %d is not within 1..60000", m.Window)
	case m.Reconnect.Min <= 0:
		return fmt.Errorf("mqtt.reconnect.min: %s must be positive", m.Reconnect.Min)
	case m.Reconnect.Max < m.Reconnect.Min:
		return fmt.Errorf("mqtt.reconnect.max: %s is below reconnect.min %s", m.Reconnect.Max, m.Reconnect.Min)
	case m.AckTimeout < time.Second:
		return fmt.Errorf("mqtt.ack_timeout: %s is below 1s", m.AckTimeout)
	case m.Username == "" && m.Password != "":
		return errors.New("mqtt.password: set without mqtt.username")
	case (m.TLS.CertFile == "") != (m.TLS.KeyFile == ""):
		return errors.New("mqtt.tls: cert_file and key_file go together")
	case c.Spool.MaxBytes < 1<<20:
		return fmt.Errorf("spool.max_bytes: %d is below 1MiB", c.Spool.MaxBytes)
	case !spool.FsyncMode(c.Spool.Fsync).Valid():
		return fmt.Errorf("spool.fsync: %q is not always|batch", c.Spool.Fsync)
	case c.Spool.SyncInterval <= 0 || c.Spool.SyncInterval > time.Minute:
		return fmt.Errorf("spool.sync_interval: %s is not within (0, 1m]", c.Spool.SyncInterval)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return err
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format: %q is not text|json", c.Log.Format)
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics.listen: %q is not host:port", c.Metrics.Listen)
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
	return 0, fmt.Errorf("log.level: %q is not debug|info|warn|error", s)
}

func (t TLSConfig) load() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt.tls.ca_file: no PEM certificate in %s", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls.cert_file: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// decodeDrivers decodes each `drivers:` entry with its plugin, strictly,
// and validates it. It never opens a port.
func (c *Config) decodeDrivers(entries []map[string]any) error {
	names := map[string]bool{}
	for i, e := range entries {
		key := fmt.Sprintf("drivers[%d]", i)
		if e == nil {
			return fmt.Errorf("%s: empty entry", key)
		}
		name, ok := e["driver"].(string)
		if !ok || name == "" {
			return fmt.Errorf("%s.driver: missing (one of %s)", key, strings.Join(drivers.Names(), ", "))
		}
		p, ok := drivers.Lookup(name)
		if !ok {
			return fmt.Errorf("%s.driver: unknown driver %q (known: %s)", key, name, strings.Join(drivers.Names(), ", "))
		}
		inst := name
		if n, has := e["name"]; has {
			s, ok := n.(string)
			if !ok || !anxin.ValidID(s) {
				return fmt.Errorf("%s.name: %v is not [A-Za-z0-9_-]{1,64}", key, n)
			}
			inst = s
		}
		if names[inst] {
			return fmt.Errorf("%s.name: instance %q is configured twice (give each a distinct name)", key, inst)
		}
		names[inst] = true
		rest := maps.Clone(e)
		delete(rest, "driver")
		delete(rest, "name")
		cfg := p.NewConfig()
		if err := checkKeys(rest, reflect.TypeOf(cfg), key+"."); err != nil {
			return err
		}
		if err := decode(rest, cfg, false, key+"."); err != nil {
			return fmt.Errorf("%w (driver %s)", err, name)
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("%s.%w", key, err)
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
	return serialport.CheckSharing(uses)
}

// decode fills out from in strictly: unknown keys are errors and durations
// must be strings like 30s. fromEnv also turns strings into numbers and
// booleans, since environment overrides arrive as strings.
func decode(in map[string]any, out any, fromEnv bool, prefix string) error {
	hooks := []mapstructure.DecodeHookFunc{durationHook, byteSizeHook, brokerURLHook}
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
	if err := d.Decode(in); err != nil {
		return errors.New(tidyDecodeError(err.Error(), prefix))
	}
	return nil
}

// tidyDecodeError turns mapstructure's multi-line report into one line of
// "key: problem" items, keys prefixed like drivers[2].
func tidyDecodeError(s, prefix string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "*"))
		if l == "" || strings.HasPrefix(l, "decoding failed") || strings.HasSuffix(l, "error(s) decoding:") {
			continue
		}
		if rest, ok := strings.CutPrefix(l, "'"); ok {
			if key, msg, ok := strings.Cut(rest, "' "); ok {
				l = prefix + key + ": " + msg
			}
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, "; ")
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, fmt.Errorf("%v is not a duration like 30s", data)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a duration like 30s", s)
	}
	return d, nil
}

var brokerURLType = reflect.TypeFor[anxin.BrokerURL]()

func brokerURLHook(from, to reflect.Type, data any) (any, error) {
	if to != brokerURLType {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, errors.New("is not a URL like tcp://host:1883")
	}
	return anxin.ParseBrokerURL(s)
}

func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != byteSizeType {
		return data, nil
	}
	switch v := data.(type) {
	case string:
		return ParseByteSize(v)
	case int:
		return ByteSize(v), nil
	case int64:
		return ByteSize(v), nil
	}
	return nil, fmt.Errorf("%v is not a size like 64MiB", data)
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
			return nil, fmt.Errorf("%q is not true or false", s)
		}
		return b, nil
	case reflect.Int, reflect.Int32, reflect.Int64:
		if to == durationType || to == byteSizeType {
			return data, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
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
			return fmt.Errorf("%s%s: unknown key (known: %s)", prefix, k,
				strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
		}
		if err := checkValue(m[k], ft, prefix+k); err != nil {
			return err
		}
	}
	return nil
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
