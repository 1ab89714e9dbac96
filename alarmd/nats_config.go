package alarmd

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/configerr"
)

// NATSConfig is the clustered broker tier (docs/deployment.md, "Broker
// tier: NATS JetStream"): gateways publish MQTT 3.1.1 to a NATS cluster's
// MQTT listeners and alarmd consumes the stream nats-server stores their
// QoS 1 messages in. Empty URLs: the MQTT path (embedded broker or
// mqtt.broker), unchanged.
type NATSConfig struct {
	URLs          []string      `mapstructure:"urls"` // nats://host:4222 of each node
	Stream        string        `mapstructure:"stream"`
	Partitions    int           `mapstructure:"partitions"`
	Replicas      int           `mapstructure:"replicas"`
	Consumer      string        `mapstructure:"consumer"`
	User          string        `mapstructure:"user"`
	Password      Secret        `mapstructure:"password"`
	PasswordFile  string        `mapstructure:"password_file"`
	CredsFile     string        `mapstructure:"creds_file"`
	AckWait       time.Duration `mapstructure:"ack_wait"`
	MaxAckPending int           `mapstructure:"max_ack_pending"`
}

func natsDefaults(d map[string]any) {
	d["nats.urls"] = ""
	d["nats.stream"] = "$MQTT_msgs"
	d["nats.partitions"] = 1
	d["nats.replicas"] = 3
	d["nats.consumer"] = "anxin"
	d["nats.user"] = ""
	d["nats.password"] = ""
	d["nats.password_file"] = ""
	d["nats.creds_file"] = ""
	d["nats.ack_wait"] = "30s"
	d["nats.max_ack_pending"] = 10000
}

// Enabled reports whether alarmd consumes from NATS.
func (n NATSConfig) Enabled() bool { return len(n.URLs) > 0 }

func (c *Config) validateNATS() error {
	n := &c.NATS
	var errs []error
	if err := readSecret("nats.password", &n.Password, n.PasswordFile); err != nil {
		errs = append(errs, err)
	}
	var urls []string
	for _, u := range n.URLs {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	n.URLs = urls
	if !n.Enabled() {
		return errors.Join(errs...)
	}
	for _, s := range n.URLs {
		if err := badPort("nats.urls", anxin.CheckURLPorts(s)); err != nil {
			errs = append(errs, err)
			break
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
			// the URL is not printed: it may hold a password
			errs = append(errs, badValue("nats-url", "nats.urls", "", "each must be nats://host:port or tls://host:port (put credentials in nats.user/password)"))
			break
		}
		if u.User != nil {
			errs = append(errs, badValue("nats-url-credentials", "nats.urls", "", "must not hold credentials: use nats.user and nats.password(_file) or nats.creds_file"))
			break
		}
	}
	if n.Stream == "" {
		errs = append(errs, missing("nats.stream", "is empty"))
	}
	if n.Partitions < 1 || n.Partitions > 1024 {
		errs = append(errs, outOfRange("nats.partitions", n.Partitions, "1..1024"))
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		errs = append(errs, outOfRange("nats.replicas", n.Replicas, "1..5"))
	}
	if n.Consumer == "" || strings.ContainsAny(n.Consumer, ".*> \t") {
		errs = append(errs, typed(configerr.NotID("nats.consumer", n.Consumer)))
	}
	if n.CredsFile != "" {
		if _, err := os.Stat(n.CredsFile); err != nil {
			errs = append(errs, unreadableFile("nats.creds_file", n.CredsFile, err))
		}
		if n.User != "" {
			errs = append(errs, conflict("nats.creds_file", "nats.creds_file and nats.user are both set; use one", "nats.user"))
		}
	}
	if n.AckWait < time.Second {
		errs = append(errs, outOfRange("nats.ack_wait", n.AckWait, ">= 1s"))
	}
	if n.MaxAckPending < 1 || n.MaxAckPending > 1_000_000 {
		errs = append(errs, outOfRange("nats.max_ack_pending", n.MaxAckPending, "1..1000000"))
	}
	if c.Cluster.Lease <= 2*c.Cluster.Poll {
		errs = append(errs, outOfRange("cluster.lease", c.Cluster.Lease, "> 2 × cluster.poll "+configerr.ShortDuration(c.Cluster.Poll)))
	}
	if !c.MQTT.Broker.IsZero() {
		errs = append(errs, conflict("nats.urls", "nats.urls and mqtt.broker are both set: with NATS, gateways publish to the NATS cluster's MQTT listeners and alarmd does not subscribe over MQTT", "mqtt.broker"))
	}
	return errors.Join(errs...)
}

// instanceName is cluster.instance, or the host name and process id.
func instanceName(c *Config) string {
	if c.Cluster.Instance != "" {
		return c.Cluster.Instance
	}
	h, _ := os.Hostname()
	if h == "" {
		h = "alarmd"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}
