package alarmd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/configerr"
	"github.com/anxin-care/anxin/internal/configtree"
	"github.com/anxin-care/anxin/postgres"
)

// Config is the whole alarmd configuration (see docs/alarmd.md).
type Config struct {
	MQTT           MQTTConfig    `mapstructure:"mqtt"`
	HTTP           HTTPConfig    `mapstructure:"http"`
	Store          StoreConfig   `mapstructure:"store"`
	Influx         InfluxConfig  `mapstructure:"influx"`
	Ingest         IngestConfig  `mapstructure:"ingest"`
	Notify         NotifyConfig  `mapstructure:"notify"`
	API            APIConfig     `mapstructure:"api"`
	Care           CareConfig    `mapstructure:"care"`
	Web            WebConfig     `mapstructure:"web"`
	RulesFile      string        `mapstructure:"rules_file"`
	HouseholdsFile string        `mapstructure:"households_file"`
	Log            LogConfig     `mapstructure:"log"`
	Cluster        ClusterConfig `mapstructure:"cluster"`
	NATS           NATSConfig    `mapstructure:"nats"`
}

// ClusterConfig is for several alarmd sharing one PostgreSQL store (store.url
// set): each claims work (a chain's pass, a share of the readings) in the
// database for a lease, so any of them may take over what another left.
type ClusterConfig struct {
	// Instance names this alarmd among its peers (claims and logs say it);
	// empty: the host name and the process id.
	Instance string `mapstructure:"instance"`
	// Lease is how long a claim holds without being renewed: the time
	// after an alarmd's death before its work is taken over.
	Lease time.Duration `mapstructure:"lease"`
	// Poll is how often the database is read for work that fell due
	// (a chain's timer, a lease run out).
	Poll time.Duration `mapstructure:"poll"`
}

// InstanceName is Instance, or the host name and the process id when it is
// empty (unique among live processes; a restart is a new instance).
func (c ClusterConfig) InstanceName() string {
	if c.Instance != "" {
		return c.Instance
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "alarmd"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// MQTTConfig says where readings come from.
type MQTTConfig struct {
	Broker       anxin.BrokerURL `mapstructure:"broker"` // tcp://host:port; empty: embedded broker on Listen
	Listen       string          `mapstructure:"listen"`
	ClientID     string          `mapstructure:"client_id"` // stable: the broker keeps the session under it
	Username     string          `mapstructure:"username"`
	Password     Secret          `mapstructure:"password"`
	PasswordFile string          `mapstructure:"password_file"`
	// GatewayPasswordFile is the embedded broker's gateway logins, in
	// mosquitto's password-file format (usernames are household ids).
	GatewayPasswordFile string `mapstructure:"gateway_password_file"`
	// AllowAnonymous lets an embedded broker on a non-loopback listen run
	// without gateway_password_file (anyone who reaches it is believed).
	AllowAnonymous bool            `mapstructure:"allow_anonymous"`
	TLS            BrokerTLSConfig `mapstructure:"tls"`
	// ReadPace (external broker): the readings' socket is read at most
	// once per read_pace while they trickle in (sooner once 16 are
	// waiting), so one wake-up takes many of them; events and statuses then
	// come on a second, unpaced connection (session client_id +
	// "-readings" holds the readings). 0: one connection, each message
	// read as it comes. A reading that follows others waits at most this
	// long.
	ReadPace time.Duration `mapstructure:"read_pace"`
}

// BrokerTLSConfig is the embedded broker's optional TLS listener: gateways
// present a certificate from the local CA whose CN is their household id.
type BrokerTLSConfig struct {
	Listen       string `mapstructure:"listen"` // empty: no TLS listener
	CertFile     string `mapstructure:"cert_file"`
	KeyFile      string `mapstructure:"key_file"`
	ClientCAFile string `mapstructure:"client_ca_file"`
}

// HTTPConfig is the webhook, ack-link, records and health server.
type HTTPConfig struct {
	Listen    string `mapstructure:"listen"`
	PublicURL string `mapstructure:"public_url"`
	// DebugListen serves Go's profiles (net/http/pprof: CPU, heap,
	// goroutines) for measuring what alarmd spends; loopback only; empty:
	// off.
	DebugListen string `mapstructure:"debug_listen"`
}

// StoreConfig selects the store: SQLite at Path (the default), or
// PostgreSQL when URL is set (several alarmd sharing one database).
type StoreConfig struct {
	Path    string `mapstructure:"path"`
	URL     Secret `mapstructure:"url"` // postgres://user:password@host:5432/db?sslmode=…; may hold a password
	URLFile string `mapstructure:"url_file"`
}

// InfluxConfig is the time-series archive (InfluxDB v2 write API).
type InfluxConfig struct {
	URL           string        `mapstructure:"url"` // empty: readings are not archived
	Token         Secret        `mapstructure:"token"`
	TokenFile     string        `mapstructure:"token_file"`
	Org           string        `mapstructure:"org"`
	Bucket        string        `mapstructure:"bucket"`
	BatchSize     int           `mapstructure:"batch_size"`
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	Queue         int           `mapstructure:"queue"` // points held while the store is slow; oldest dropped beyond
	// QueryURL is where the archive is read back through the Prometheus
	// query API (VictoriaMetrics: usually the same as URL); empty: the web
	// app's elder page shows no water chart or device readings.
	QueryURL     string        `mapstructure:"query_url"`
	QueryTimeout time.Duration `mapstructure:"query_timeout"`
}

// IngestConfig tunes the pipeline from the broker to the store.
type IngestConfig struct {
	Batch       int           `mapstructure:"batch"`        // messages committed in one transaction at most
	BatchWait   time.Duration `mapstructure:"batch_wait"`   // how long a partial batch waits for more
	Inflight    int           `mapstructure:"inflight"`     // unacknowledged messages held at most
	DedupWindow time.Duration `mapstructure:"dedup_window"` // how long a message id is remembered
	// StateFlush: the rule state of households that only reported quiet
	// readings is written this often (and at shutdown); what a crash may
	// make the timers forget
	StateFlush time.Duration `mapstructure:"state_flush"`
	// SeenFlush: the rule state of a household whose readings only
	// advanced last-seen times and meter values (no use, no alarm,
	// nothing learned) waits until its readings are this far past its
	// last write; the restore after a crash allows for what it forgot
	// (0s: written as any change, every state_flush)
	SeenFlush time.Duration `mapstructure:"seen_flush"`
	// StuckAfter: a batch loop on one batch (or its commit's retries)
	// this long is reported by /healthz and, in a cluster, gives its
	// partitions up to peers until it moves
	StuckAfter time.Duration `mapstructure:"stuck_after"`
}

// LogConfig is the log level.
type LogConfig struct {
	Level string `mapstructure:"level"` // debug, info, warn, error
}

// defaults are every scalar key with its default; they are also the set of
// known keys, and what ANXIN_… environment variables can override.
func defaults() map[string]any {
	d := map[string]any{
		"mqtt.broker":                "",
		"mqtt.listen":                "127.0.0.1:1883",
		"mqtt.client_id":             "alarmd",
		"mqtt.username":              "",
		"mqtt.password":              "",
		"mqtt.password_file":         "",
		"mqtt.gateway_password_file": "",
		"mqtt.allow_anonymous":       false,
		"mqtt.tls.listen":            "",
		"mqtt.tls.cert_file":         "",
		"mqtt.tls.key_file":          "",
		"mqtt.tls.client_ca_file":    "",
		"mqtt.read_pace":             "5ms",
		"http.listen":                "127.0.0.1:8080",
		"http.public_url":            "http://127.0.0.1:8080",
		"http.debug_listen":          "",
		"store.path":                 "alarmd.db",
		"store.url":                  "",
		"store.url_file":             "",
		"cluster.instance":           "",
		"cluster.lease":              "15s",
		"cluster.poll":               "1s",
		"influx.url":                 "",
		"influx.token":               "",
		"influx.token_file":          "",
		"influx.org":                 "anxin",
		"influx.bucket":              "readings",
		"influx.batch_size":          5000,
		"influx.flush_interval":      "1s",
		"influx.queue":               100000,
		"influx.query_url":           "",
		"influx.query_timeout":       "2s",
		"ingest.batch":               2000,
		"ingest.batch_wait":          "5ms",
		"ingest.inflight":            10000,
		"ingest.dedup_window":        "24h",
		"ingest.state_flush":         "10s",
		"ingest.seen_flush":          "15m",
		"ingest.stuck_after":         "1m",
		"rules_file":                 "",
		"households_file":            "households.yaml",
		"log.level":                  "info",
	}
	notifyDefaults(d)
	apiDefaults(d)
	careDefaults(d)
	webDefaults(d)
	natsDefaults(d)
	return d
}

// secretKeys are the keys whose values never appear in a log or an error.
func secretKeys() []string {
	return []string{"mqtt.password", "influx.token", "notify.ack_secret", "notify.twilio.auth_token",
		"notify.aliyun.access_key_secret", "notify.aliyun.report_secret", "api.tokens", "nats.password"}
}

// Load reads the config file at path (empty: defaults only), applies
// ANXIN_… environment overrides and *_file secrets, and validates it.
// Unknown keys and bad values are errors naming the key.
func Load(path string) (*Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, typed(&configerr.ConfigError{Kind: configerr.FileUnreadable, Detail: err.Error(), File: path, Err: err})
		}
		data = b
	}
	c, err := Parse(data, os.LookupEnv)
	if err != nil && path != "" {
		var ce *configerr.ConfigError
		if errors.As(err, &ce) {
			ce.File = path
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, err
}

// Parse is Load on bytes with an injectable environment lookup.
func Parse(data []byte, env func(string) (string, bool)) (cfg *Config, err error) {
	defer func() {
		// the YAML and mapstructure decoders are not hardened against every input
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("config: cannot be read: %v", r)
		}
	}()
	v := configtree.New()
	def := defaults()
	for k, val := range def {
		v.SetDefault(k, val)
	}
	if len(data) > 0 {
		if err := v.ReadYAML(data); err != nil {
			msg := strings.TrimPrefix(firstLine(err.Error()), "yaml: ")
			var ce *configerr.ConfigError
			errors.As(configerr.YAMLSyntax(data, errors.New(msg)), &ce)
			ce.Detail = "not valid YAML: " + strings.TrimPrefix(ce.Detail, "yaml: ")
			return nil, typed(ce)
		}
	}
	// environment overrides: ANXIN_NOTIFY_TWILIO_AUTH_TOKEN → notify.twilio.auth_token
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	for k := range def {
		if val, ok := env(configtree.EnvName("ANXIN", k)); ok {
			v.Set(k, val)
		}
	}
	secrets := collectSecrets(v)
	var unknown []string
	for _, k := range v.AllKeys() {
		if _, ok := def[k]; ok || knownList(k) {
			continue
		}
		if _, m := v.Get(k).(map[string]any); m && section(def, k) {
			continue // notify: with its keys commented out (null): the defaults'
		}
		unknown = append(unknown, k)
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, unknownKey(unknown, def)
	}
	c := new(Config)
	err = v.UnmarshalExact(c, mapstructure.ComposeDecodeHookFunc(
		durationHook, mapstructure.StringToSliceHookFunc(","), dateToString, brokerURL))
	if err != nil {
		ce := configerr.FromDecode(err, "")
		if secretKey(ce.Key) || personalKey(ce.Key) {
			ce.Value = ""
		}
		return nil, redact(typed(ce), secrets)
	}
	if err := c.validate(); err != nil {
		return nil, redact(err, secrets)
	}
	return c, nil
}

// brokerURL parses mqtt.broker into a type that never prints its password.
func brokerURL(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[anxin.BrokerURL]() {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, errors.New("is not a URL like tcp://host:1883")
	}
	b, err := anxin.ParseBrokerURL(s)
	var pe *anxin.PortError
	if errors.As(err, &pe) {
		return nil, configerr.BadPort("", pe)
	}
	return b, err
}

// dateToString lets YAML dates (2026-12-20, decoded as timestamps) fill
// string fields as YYYY-MM-DD.
func dateToString(from, to reflect.Type, data any) (any, error) {
	if t, ok := data.(time.Time); ok && to.Kind() == reflect.String {
		if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
			return t.Format(time.DateOnly), nil
		}
		return t.Format(time.RFC3339Nano), nil
	}
	return data, nil
}

// knownList reports whether k is a list-valued key (its items are checked
// by the decoder, which names unknown item keys).
func knownList(k string) bool {
	return slices.Contains(listKeys, k)
}

// section reports whether k is a section of keys (mqtt, notify.twilio).
func section(def map[string]any, k string) bool {
	for d := range def {
		if strings.HasPrefix(d, k+".") {
			return true
		}
	}
	return false
}

// listKeys are the list-valued keys.
var listKeys = []string{"api.tokens", "care.surges", "notify.installers"}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// collectSecrets gathers the raw secret values so errors can be scrubbed.
func collectSecrets(v *configtree.Tree) []string {
	var out []string
	var walk func(x any)
	walk = func(x any) {
		switch t := x.(type) {
		case string:
			if t != "" {
				out = append(out, t)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		case map[string]any:
			for k, e := range t {
				// a *_file key holds the secret's path, not the secret: kept,
				// so that "cannot read <path>" says which file
				if (strings.Contains(k, "token") || strings.Contains(k, "secret") || strings.Contains(k, "password")) &&
					!strings.HasSuffix(k, "_file") {
					walk(e)
				}
			}
		default:
			if x != nil {
				out = append(out, fmt.Sprint(x))
			}
		}
	}
	for _, k := range secretKeys() {
		x := v.Get(k)
		if m, ok := x.([]any); ok { // api.tokens: only the token values
			for _, e := range m {
				if mm, ok := e.(map[string]any); ok {
					walk(mm)
				}
			}
			continue
		}
		walk(x)
	}
	return out
}

// readSecret resolves a secret and its *_file twin.
func readSecret(key string, val *Secret, file string) error {
	if file == "" {
		return nil
	}
	if *val != "" {
		return conflict(key+"_file", fmt.Sprintf("%s and %s_file are both set; use one", key, key), key)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return unreadableFile(key+"_file", file, err)
	}
	*val = Secret(strings.TrimRight(string(b), "\r\n"))
	if *val == "" {
		return badValue("secret-file-empty", key+"_file", file, "%s is empty", file)
	}
	return nil
}

func (c *Config) validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(readSecret("mqtt.password", &c.MQTT.Password, c.MQTT.PasswordFile))
	add(readSecret("influx.token", &c.Influx.Token, c.Influx.TokenFile))
	add(readSecret("store.url", &c.Store.URL, c.Store.URLFile))
	if c.MQTT.Broker.IsZero() && len(c.NATS.URLs) == 0 {
		add(checkHostPort("mqtt.listen", c.MQTT.Listen))
		if !loopback(c.MQTT.Listen) && c.MQTT.GatewayPasswordFile == "" && !c.MQTT.AllowAnonymous {
			add(needs("mqtt.listen", fmt.Sprintf("%q is not loopback: set mqtt.gateway_password_file, "+
				"or mqtt.allow_anonymous: true to let anyone who reaches it publish for any household", c.MQTT.Listen),
				"mqtt.gateway_password_file（或 mqtt.allow_anonymous: true）"))
		}
		if t := c.MQTT.TLS; t.Listen != "" {
			add(checkHostPort("mqtt.tls.listen", t.Listen))
			if t.CertFile == "" || t.KeyFile == "" || t.ClientCAFile == "" {
				add(needs("mqtt.tls.listen", "mqtt.tls needs cert_file, key_file and client_ca_file",
					"mqtt.tls.cert_file", "mqtt.tls.key_file", "mqtt.tls.client_ca_file"))
			}
		}
	}
	if !c.MQTT.Broker.IsZero() && (c.MQTT.GatewayPasswordFile != "" || c.MQTT.TLS.Listen != "") {
		add(conflict("mqtt.broker", "mqtt.gateway_password_file and mqtt.tls are for the embedded broker; "+
			"with mqtt.broker set, give the broker its own password_file and ACL (docs/deployment.md)",
			"mqtt.gateway_password_file", "mqtt.tls"))
	}
	if !anxin.ValidID(c.MQTT.ClientID) {
		add(typed(configerr.NotID("mqtt.client_id", c.MQTT.ClientID)))
	}
	add(checkHostPort("http.listen", c.HTTP.Listen))
	add(checkURL("http.public_url", c.HTTP.PublicURL, "http", "https"))
	if l := c.HTTP.DebugListen; l != "" {
		add(checkHostPort("http.debug_listen", l))
		if !loopback(l) {
			ce := configerr.OutOfRange("http.debug_listen", l, "127.0.0.1:PORT or localhost:PORT")
			ce.Detail = fmt.Sprintf("%q is not loopback: profiles show memory contents and must stay on this machine", l)
			add(typed(ce))
		}
	}
	if u := string(c.Store.URL); u != "" {
		add(checkStoreURL(u))
	} else if c.Store.Path == "" {
		add(missing("store.path", "is empty"))
	}
	if c.Influx.URL != "" {
		add(checkURL("influx.url", c.Influx.URL, "http", "https"))
		if c.Influx.Org == "" || c.Influx.Bucket == "" {
			add(needs("influx.url", "influx.org and influx.bucket must be set when influx.url is", "influx.org", "influx.bucket"))
		}
	}
	add(positive("influx.batch_size", c.Influx.BatchSize, 1, 1_000_000))
	add(positive("influx.queue", c.Influx.Queue, 1, 100_000_000))
	add(positiveDur("influx.flush_interval", c.Influx.FlushInterval))
	add(positiveDur("cluster.lease", c.Cluster.Lease))
	add(positiveDur("cluster.poll", c.Cluster.Poll))
	if c.Cluster.Poll > 0 && c.Cluster.Poll >= c.Cluster.Lease {
		add(outOfRange("cluster.poll", c.Cluster.Poll, "< cluster.lease "+configerr.ShortDuration(c.Cluster.Lease)))
	}
	if len(c.Cluster.Instance) > 128 || strings.ContainsAny(c.Cluster.Instance, " \t\r\n") {
		add(badValue("cluster-instance", "cluster.instance", "", "must be at most 128 bytes without spaces"))
	}
	if c.Influx.QueryURL != "" {
		add(checkURL("influx.query_url", c.Influx.QueryURL, "http", "https"))
	}
	add(positiveDur("influx.query_timeout", c.Influx.QueryTimeout))
	add(positive("ingest.batch", c.Ingest.Batch, 1, 100_000))
	add(positive("ingest.inflight", c.Ingest.Inflight, 1, 65_535))
	add(positiveDur("ingest.batch_wait", c.Ingest.BatchWait))
	add(durBetween("mqtt.read_pace", c.MQTT.ReadPace, 0, 50*time.Millisecond))
	add(positiveDur("ingest.dedup_window", c.Ingest.DedupWindow))
	add(durBetween("ingest.stuck_after", c.Ingest.StuckAfter, 10*time.Second, time.Hour))
	add(durBetween("ingest.state_flush", c.Ingest.StateFlush, time.Second, 30*time.Minute))
	if c.Ingest.SeenFlush != 0 && (c.Ingest.SeenFlush < time.Minute || c.Ingest.SeenFlush > 6*time.Hour) {
		add(outOfRange("ingest.seen_flush", c.Ingest.SeenFlush, "0s (off) or 1m..6h"))
	}
	if _, err := c.Log.SlogLevel(); err != nil {
		add(err)
	}
	add(c.Notify.validate())
	add(c.API.validate())
	add(c.Care.validate())
	add(c.Web.validate())
	add(c.validateNATS())
	return errors.Join(errs...)
}

// SlogLevel is the configured level.
func (l LogConfig) SlogLevel() (slog.Level, error) {
	switch strings.ToLower(l.Level) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, notChoice("log.level", l.Level, "debug", "info", "warn", "error")
}

func checkURL(key, s string, schemes ...string) error {
	if err := badPort(key, anxin.CheckURLPorts(s)); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || !slices.Contains(schemes, u.Scheme) {
		shown := anxin.RedactURL(s)
		return notForm(key, shown, "url", fmt.Sprintf("%q is not a %s URL", shown, strings.Join(schemes, "/")))
	}
	return nil
}

// checkStoreURL reads store.url as alarmd's start will (postgres.CheckURL,
// which touches no network), so that alarmd check refuses what the start
// would fail on. The URL may hold a password: no message quotes it.
func checkStoreURL(u string) error {
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return notForm("store.url", "", "postgres", "must be a postgres:// URL (empty: SQLite at store.path)")
	}
	if err := badPort("store.url", anxin.CheckURLPorts(u)); err != nil {
		return err
	}
	if err := postgres.CheckURL(u); err != nil {
		return notForm("store.url", "", "postgres", err.Error())
	}
	return nil
}

// badPort types a port anxin.CheckURLPorts or CheckHostPort refused; nil
// for nil.
func badPort(key string, err error) error {
	var pe *anxin.PortError
	if errors.As(err, &pe) {
		return typed(configerr.BadPort(key, pe))
	}
	return err
}

// loopback reports whether a listen address binds loopback only (no
// lookup: validation never touches the network; names other than
// localhost count as reachable from outside).
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkHostPort(key, s string) error {
	if _, _, err := net.SplitHostPort(s); err != nil {
		return notForm(key, s, "address", fmt.Sprintf("%q is not host:port", s))
	}
	return nil
}

func positive(key string, n, lo, hi int) error {
	if n < lo || n > hi {
		return outOfRange(key, n, fmt.Sprintf("%d..%d", lo, hi))
	}
	return nil
}

func positiveDur(key string, d time.Duration) error {
	if d <= 0 {
		return outOfRange(key, d, "> 0s")
	}
	return nil
}
