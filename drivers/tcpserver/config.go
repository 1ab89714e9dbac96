package tcpserver

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// Terminal maps one device's protocol id to where its messages go.
type Terminal struct {
	ID        string `mapstructure:"id" yaml:"id"`               // as the device sends it; leading zeros optional
	Household string `mapstructure:"household" yaml:"household"` // "": gatewayd's household
	Device    string `mapstructure:"device" yaml:"device"`
	Kind      string `mapstructure:"kind" yaml:"kind"`   // "": tracker
	Model     string `mapstructure:"model" yaml:"model"` // a driver's vendor profile, "": its default
}

// ListenConfig is the part of a dial-in driver's config that the listener
// and the terminal mapping need.
type ListenConfig struct {
	Listen      string        `mapstructure:"listen" yaml:"listen"`
	IdleTimeout time.Duration `mapstructure:"idle_timeout" yaml:"idle_timeout"`
	// FirstFrame: a new connection must send its first valid frame within
	// this, or idle_timeout if shorter (a terminal logs in at once; a port
	// scanner or a slowloris would otherwise hold a connection slot for
	// idle_timeout)
	FirstFrame     time.Duration `mapstructure:"first_frame_timeout" yaml:"first_frame_timeout"`
	MaxConnections int           `mapstructure:"max_connections" yaml:"max_connections"`
	MaxFrameRate   float64       `mapstructure:"max_frame_rate" yaml:"max_frame_rate"`
	Terminals      []Terminal    `mapstructure:"terminals" yaml:"terminals"`

	defaultListen string // SetDefaults': the example a bad listen address is shown
}

// SetDefaults fills what a config may leave out.
func (c *ListenConfig) SetDefaults(listen string) {
	c.Listen, c.defaultListen = listen, listen
	c.IdleTimeout = 5 * time.Minute
	c.FirstFrame = 30 * time.Second
	c.MaxConnections = 20000
	c.MaxFrameRate = 20
}

// Key is how ids are compared: without leading zeros (a 2013 JT/T 808
// header pads an 11-digit phone to 12 digits).
func Key(id string) string {
	k := strings.TrimLeft(id, "0")
	if k == "" && id != "" {
		return "0"
	}
	return k
}

// Validate checks the config without binding the port. idOK says whether
// the protocol can send an id, idReason (drivers.ErrorReasons) what its
// ids are; a refused id is masked like in the logs.
func (c *ListenConfig) Validate(idOK func(string) bool, idReason string) error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		// the example is this protocol's own port: the one its devices dial
		example := c.defaultListen
		if example == "" {
			example = ":端口号"
		}
		return drivers.Because("listen", drivers.ReasonListen, "%q is not host:port: %v", c.Listen, err).
			WithValue(c.Listen).WithRange(example)
	}
	if c.IdleTimeout < time.Second {
		return drivers.OutOfRange("idle_timeout", c.IdleTimeout, ">= 1s")
	}
	if c.FirstFrame < time.Second {
		return drivers.OutOfRange("first_frame_timeout", c.FirstFrame, ">= 1s")
	}
	if c.MaxConnections < 1 {
		return drivers.OutOfRange("max_connections", c.MaxConnections, ">= 1")
	}
	if !(c.MaxFrameRate >= 0) || math.IsInf(c.MaxFrameRate, 1) { // NaN and +Inf would turn the pace off unsaid
		return drivers.OutOfRange("max_frame_rate", c.MaxFrameRate, ">= 0 (0: no limit)")
	}
	seen := map[string]string{} // Key → the id as first written
	devs := map[string]bool{}
	for i, t := range c.Terminals {
		key := fmt.Sprintf("terminals[%d]", i)
		if !idOK(t.ID) {
			return drivers.Because(key+".id", idReason, "%s is not an id this protocol sends", MaskTerminal(t.ID)).
				WithValue(MaskTerminal(t.ID))
		}
		if first, ok := seen[Key(t.ID)]; ok {
			if first != t.ID { // the same number with other zeros in front: it is sent zero-padded
				return drivers.Because(key+".id", drivers.ReasonTerminalSame, "%s is an earlier terminal's id: leading zeros do not count",
					MaskTerminal(t.ID)).WithValue(MaskTerminal(t.ID))
			}
			return drivers.Duplicate(key+".id", MaskTerminal(t.ID))
		}
		seen[Key(t.ID)] = t.ID
		if t.Household != "" && !anxin.ValidID(t.Household) {
			return drivers.NotID(key+".household", t.Household)
		}
		if !anxin.ValidID(t.Device) {
			return drivers.NotID(key+".device", t.Device)
		}
		if t.Kind != "" && !anxin.Kind(t.Kind).Valid() {
			return drivers.NotKind(key+".kind", anxin.Kind(t.Kind))
		}
		if devs[t.Household+"/"+t.Device] {
			return drivers.NewConfigError(drivers.ValueDuplicate, key+".device", "%q is used twice in one household", t.Device).
				WithValue(t.Device)
		}
		devs[t.Household+"/"+t.Device] = true
	}
	return nil
}

// Server returns a server for framing set up from c.
func (c *ListenConfig) Server(f Framing, log *slog.Logger) *Server {
	return &Server{Framing: f, IdleTimeout: c.IdleTimeout, FirstFrame: min(c.FirstFrame, c.IdleTimeout), MaxConns: c.MaxConnections,
		MaxFrameRate: c.MaxFrameRate, Logger: log}
}

// Target is where a known terminal's messages go.
type Target struct {
	Household, Device string
	Kind              anxin.Kind
	Model             string
}

// Directory finds terminals by id.
type Directory map[string]Target

// Directory indexes the terminals; household is gatewayd's, for entries
// that name none.
func (c *ListenConfig) Directory(household string) Directory {
	d := make(Directory, len(c.Terminals))
	for _, t := range c.Terminals {
		tg := Target{Household: t.Household, Device: t.Device, Kind: anxin.Kind(t.Kind), Model: t.Model}
		if tg.Household == "" {
			tg.Household = household
		}
		if tg.Kind == "" {
			tg.Kind = anxin.KindTracker
		}
		d[Key(t.ID)] = tg
	}
	return d
}

// Lookup finds a terminal by the id it sent.
func (d Directory) Lookup(id string) (Target, bool) {
	t, ok := d[Key(id)]
	return t, ok
}

// Counter registers (or finds, after a reload) a counter vector labelled
// by result.
func Counter(reg metrics.Registerer, name, help string) (*metrics.CounterVec, error) {
	cv := metrics.NewCounterVec(metrics.CounterOpts{Name: name, Help: help}, []string{"result"})
	if err := reg.Register(cv); err != nil {
		var are metrics.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*metrics.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return cv, nil
}

// Gate admits the configured terminals. An unknown one is counted
// (result "unknown_terminal") and logged once, its id masked, however often
// it retries.
type Gate struct {
	dir     Directory
	unknown *Once
	frames  *metrics.CounterVec
	log     *slog.Logger
}

// NewGate indexes c's terminals; household is gatewayd's.
func NewGate(c *ListenConfig, household string, log *slog.Logger, frames *metrics.CounterVec) *Gate {
	return &Gate{dir: c.Directory(household), unknown: NewOnce(10000), frames: frames, log: log}
}

// Admit finds the terminal that sent id.
func (g *Gate) Admit(id string, remote net.Addr) (Target, bool) {
	t, ok := g.dir.Lookup(id)
	if !ok {
		g.frames.WithLabelValues("unknown_terminal").Inc()
		if g.unknown.First(Key(id)) {
			g.log.Warn("unknown terminal refused", "terminal", MaskTerminal(id), "remote", remote.String())
		}
	}
	return t, ok
}
