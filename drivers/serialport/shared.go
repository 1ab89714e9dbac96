package serialport

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// Several polled drivers can sit on one RS-485 bus: CJ/T 188 water meters
// and DL/T 645 electricity meters wired to the same adapter. Opened twice,
// the port would carry two masters that talk over each other and read each
// other's replies. Buses gives every polled driver on a port the same open
// port and the same Bus, so there is one transaction at a time on the wire,
// and reopens a lost port once for all of them.

// Buses is the registry of the shared buses of one gateway, by port
// identity (Config.Key). gatewayd makes one and hands it to every driver as
// drivers.Env.Serial; RunBus takes a driver's bus from it.
type Buses struct {
	log  *slog.Logger
	open Opener

	mu      sync.Mutex
	buses   map[string]*sharedBus
	closing map[string]chan struct{} // keepers of released buses, until their port is closed
}

// NewBuses makes a registry. log gets the buses' own lines (port opened,
// lost, reopened: once per port, not once per driver); open nil is Open.
func NewBuses(log *slog.Logger, open Opener) *Buses {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if open == nil {
		open = Open
	}
	return &Buses{log: log, open: open, buses: map[string]*sharedBus{}, closing: map[string]chan struct{}{}}
}

// Users lists the drivers on each open bus, by port label (tests, status).
func (r *Buses) Users() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for _, s := range r.buses {
		out[s.label] = s.userNames()
	}
	return out
}

var _ drivers.SerialBuses = (*Buses)(nil)

// busesFrom returns the registry gatewayd put in env, or nil.
func busesFrom(env drivers.Env) *Buses {
	r, _ := env.Serial.(*Buses)
	return r
}

// BusUse is one polled driver on a bus.
type BusUse struct {
	Port Config
	// Options are the driver's own timeout and gap for each transaction.
	Options BusOptions
	// Reconnect is the backoff of the port while it is unavailable. On a
	// shared port the shortest of its drivers' applies (the smallest min,
	// max and healthy of each).
	Reconnect Reconnect
	// Driver names the driver in the bus's log lines.
	Driver string
	// Open replaces Open when the driver has a bus of its own (env.Serial
	// is nil: tests); a shared bus uses its registry's opener.
	Open Opener
}

// BusHandle is a driver's handle on its (possibly shared) bus.
type BusHandle struct {
	s   *sharedBus
	opt BusOptions
}

// Transact runs one request/reply transaction with the driver's timeout
// and gap, after any transaction of another driver on the same port. It
// returns ErrNoReply after the timeout, an *IOError when the port failed
// (the session should return it: RunBus waits until the port is back),
// ctx.Err() when ctx ends.
func (h *BusHandle) Transact(ctx context.Context, req []byte, complete Complete) ([]byte, error) {
	s := h.s
	s.mu.Lock()
	b, lost := s.bus, s.lost
	s.mu.Unlock()
	if b == nil {
		return nil, &IOError{Op: "write", Err: ErrPortClosed}
	}
	reply, err := b.TransactWith(ctx, req, complete, h.opt)
	if IsIOError(err) {
		s.lose(b, lost, err)
	}
	return reply, err
}

// RunBus runs a polled driver's session on the bus of u.Port until ctx
// ends. With a registry in env.Serial the bus is shared with every other
// polled driver on the same port: one open port, one transaction at a
// time, reopened once for all when it is lost. Without one the driver has a
// bus of its own. session is called once the port is open, and again after
// it was lost and reopened; it returns the *IOError of a failed transaction,
// or nil when ctx ends. RunBus returns nil when ctx ends, or a permanent
// error: permission denied, not a serial port, line settings that differ
// from those of the drivers already on the port.
func RunBus(ctx context.Context, env drivers.Env, u BusUse, session func(ctx context.Context, bus *BusHandle) error) error {
	r := busesFrom(env)
	if r == nil {
		r = NewBuses(env.Logger, u.Open)
	}
	state := drivers.NewPortTeller(env.PortState)
	s, release, err := r.acquire(u, env)
	if err != nil {
		state.Set(false)
		env.Logger.Error("serial port cannot be used; not retrying", "port", u.Port.Label(), "err", err)
		return err
	}
	defer release()
	h := &BusHandle{s: s, opt: u.Options}
	retry := backoff{bo: func() Reconnect { return u.Reconnect }}
	for {
		if !s.isUp() {
			state.Set(false)
		}
		if err := s.waitUp(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			state.Set(false)
			return err // logged by the bus
		}
		state.Set(true)
		start := time.Now()
		err := session(ctx, h)
		switch {
		case ctx.Err() != nil:
			return nil
		case IsPermanent(err):
			state.Set(false)
			env.Logger.Error("serial session failed; not retrying", "port", s.label, "err", err)
			return err
		case IsIOError(err):
			// The port is lost; the bus reopens it (and logs it) once for
			// every driver on it, with its own backoff. Wait for it.
			state.Set(false)
			retry.reset()
			continue
		}
		// The session ended for a reason of its own (the sink failed):
		// the port is fine; try again after a backoff.
		wait := retry.next(time.Since(start))
		env.Logger.Warn("bus session ended; starting again", "port", s.label, "err", err, "retry_in", wait)
		if !anxin.SleepContext(ctx, wait) {
			return nil
		}
	}
}

// sharedBus is one port and its Bus, kept open by a keeper goroutine while
// it has users.
type sharedBus struct {
	r       *Buses
	key     string
	label   string
	cfg     Config // line settings, defaults applied
	metrics *Metrics
	cancel  context.CancelFunc
	done    chan struct{} // closed when the keeper returned: the port is closed

	users []*busUser // guarded by r.mu

	mu      sync.Mutex
	bus     *Bus          // nil while the port is closed
	lost    chan error    // tells the keeper the current port failed
	err     error         // the keeper stopped for good (permanent error)
	changed chan struct{} // closed (and replaced) at every change of bus or err
}

type busUser struct {
	driver string
	bo     Reconnect
	reg    metrics.Registerer
	mine   bool // the metrics were registered in reg for this user (unregister on release)
}

func (r *Buses) acquire(u BusUse, env drivers.Env) (*sharedBus, func(), error) {
	c, err := u.Port.checked()
	if err != nil {
		return nil, nil, err
	}
	label := c.Label()
	user := &busUser{driver: u.Driver, bo: u.Reconnect.withDefaults(), reg: env.Metrics}
	key := c.Key()
	r.mu.Lock()
	s := r.buses[key]
	if s == nil {
		// The first user's registry holds the port's collectors (reused
		// when they are there already, as for a port of its own).
		m, err := NewMetrics(env.Metrics)
		if err != nil {
			r.mu.Unlock()
			return nil, nil, err
		}
		kctx, cancel := context.WithCancel(context.Background())
		s = &sharedBus{r: r, key: key, label: label, cfg: c, metrics: m, cancel: cancel,
			done: make(chan struct{}), changed: make(chan struct{})}
		r.buses[key] = s
		go s.keep(kctx, r.closing[key])
	} else {
		if mine, theirs := line(c), line(s.cfg); mine != theirs {
			r.mu.Unlock()
			return nil, nil, &OpenError{Port: label, Permanent: true,
				Err: fmt.Errorf("line settings %s differ from %s, used on this port by %s: a bus has one speed and framing",
					mine, theirs, strings.Join(s.userNames(), ", "))}
		}
		user.mine = s.metrics.registerIn(env.Metrics)
	}
	s.users = append(s.users, user)
	r.mu.Unlock()
	return s, sync.OnceFunc(func() { r.release(s, user) }), nil
}

func (r *Buses) release(s *sharedBus, u *busUser) {
	if u.mine {
		s.metrics.unregisterFrom(u.reg)
	}
	r.mu.Lock()
	s.users = slices.DeleteFunc(s.users, func(x *busUser) bool { return x == u })
	last := len(s.users) == 0
	if last {
		delete(r.buses, s.key)
		r.closing[s.key] = s.done
	}
	r.mu.Unlock()
	if !last {
		return
	}
	// The last user leaves: close the port before returning, so that a
	// driver started next (a reload) finds it closed.
	s.cancel()
	<-s.done
	r.mu.Lock()
	if r.closing[s.key] == s.done {
		delete(r.closing, s.key)
	}
	r.mu.Unlock()
}

// backoff is the shortest reconnect backoff of the bus's drivers.
func (s *sharedBus) backoff() Reconnect {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	var bo Reconnect
	for i, u := range s.users {
		if i == 0 {
			bo = u.bo
			continue
		}
		bo.Min, bo.Max, bo.Healthy = min(bo.Min, u.bo.Min), min(bo.Max, u.bo.Max), min(bo.Healthy, u.bo.Healthy)
	}
	return bo
}

func (s *sharedBus) userNames() []string {
	names := make([]string, len(s.users))
	for i, u := range s.users {
		names[i] = u.driver
	}
	return names
}

// keep keeps the port open while the bus has users.
func (s *sharedBus) keep(ctx context.Context, prev chan struct{}) {
	defer close(s.done)
	if prev != nil {
		// The same port, released a moment ago, is still closing (its
		// keeper was cancelled: it ends soon). Wait for it even when this
		// bus is released meanwhile: done closes only after prev, so the
		// next bus on the port, which waits for done, never finds the port
		// still open.
		<-prev
	}
	attrs := func() []any {
		s.r.mu.Lock()
		defer s.r.mu.Unlock()
		return []any{"drivers", strings.Join(s.userNames(), ",")}
	}
	k := keeper{open: s.r.open, cfg: s.cfg, log: s.r.log.With("port", s.label), metrics: s.metrics, bo: s.backoff, attrs: attrs}
	err := k.run(ctx, func(ctx context.Context, p Port) error {
		b := NewBus(p, BusOptions{})
		lost := make(chan error, 1)
		s.set(b, lost, nil)
		var err error
		select {
		case <-ctx.Done():
		case err = <-lost:
		}
		s.mu.Lock()
		if s.bus == b {
			s.bus = nil
			s.signal()
		}
		s.mu.Unlock()
		b.shut() // waits for a transaction in progress before the port is closed
		return err
	})
	if err != nil {
		s.set(nil, nil, err)
	}
}

func (s *sharedBus) set(b *Bus, lost chan error, err error) {
	s.mu.Lock()
	s.bus, s.lost, s.err = b, lost, err
	s.signal()
	s.mu.Unlock()
}

// signal wakes everyone waiting for a change; s.mu is held.
func (s *sharedBus) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// lose takes b out of service after a failed transaction and tells the
// keeper, which closes the port and reopens it.
func (s *sharedBus) lose(b *Bus, lost chan error, err error) {
	s.mu.Lock()
	if s.bus == b {
		s.bus = nil
		s.signal()
	}
	s.mu.Unlock()
	select {
	case lost <- err:
	default: // told already
	}
}

// isUp reports whether the port is open now.
func (s *sharedBus) isUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bus != nil
}

// waitUp waits until the port is open. It returns the keeper's permanent
// error, or ctx.Err().
func (s *sharedBus) waitUp(ctx context.Context) error {
	for {
		s.mu.Lock()
		b, err, changed := s.bus, s.err, s.changed
		s.mu.Unlock()
		switch {
		case err != nil:
			return err
		case b != nil:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// registerIn registers the port's collectors in another driver's
// registry too, so each driver on the port shows the port's state. It
// reports whether it did (false: reg has such collectors already).
func (m *Metrics) registerIn(reg metrics.Registerer) bool {
	done := []metrics.Collector{}
	for _, c := range []metrics.Collector{m.Reconnects, m.OpenErrors, m.Connected} {
		if err := reg.Register(c); err != nil {
			for _, d := range done {
				reg.Unregister(d)
			}
			return false
		}
		done = append(done, c)
	}
	return true
}

func (m *Metrics) unregisterFrom(reg metrics.Registerer) {
	reg.Unregister(m.Reconnects)
	reg.Unregister(m.OpenErrors)
	reg.Unregister(m.Connected)
}

// Key is the identity of the port c selects: configs with the same key
// name the same adapter and share its bus. It is the cleaned path, or the
// USB VID:PID (lower case) and serial number. A port named once by path and
// once by USB identity is not recognised as one.
func (c Config) Key() string {
	if c.Path != "" {
		return "path:" + filepath.Clean(c.Path)
	}
	return "usb:" + strings.ToLower(c.USB.VID) + ":" + strings.ToLower(c.USB.PID) + ":" + c.USB.Serial
}

// line writes the line settings the usual way: 2400 8E1.
func line(c Config) string {
	c.SetDefaults()
	p := map[string]string{"none": "N", "even": "E", "odd": "O"}[c.Parity]
	if p == "" {
		p = c.Parity
	}
	return fmt.Sprintf("%d %d%s%v", c.Baud, c.DataBits, p, c.StopBits)
}

// Mode is how a driver uses its serial port. It decides which drivers can
// share one (CheckSharing).
type Mode int

const (
	// Polled drivers talk request/reply through a Bus (RunBus): CJ/T 188,
	// DL/T 645. Several can share a port.
	Polled Mode = iota + 1
	// Stream drivers read the port continuously (Run): NMEA trackers,
	// 433 MHz receivers. Every byte on the line is theirs.
	Stream
	// Exclusive drivers open the device through a library of their own:
	// Modbus (github.com/simonvetter/modbus opens the device by path and
	// has no way to run over a port opened here).
	Exclusive
)

// User is implemented by the configs of serial drivers, so that gatewayd
// can check who shares a port before anything is opened.
type User interface {
	SerialPort() (Config, Mode)
}

// PortUse is one configured driver instance on a serial port.
type PortUse struct {
	Key    string // where it is configured, e.g. drivers[1]
	Name   string // instance name
	Driver string // plugin name
	Port   Config
	Mode   Mode
}

func (u PortUse) who() string {
	if u.Name == u.Driver {
		return fmt.Sprintf("%s (%s)", u.Driver, u.Key)
	}
	return fmt.Sprintf("%s %q (%s)", u.Driver, u.Name, u.Key)
}

// CheckSharing checks the drivers that name the same port: polled drivers
// may share it when their line settings are equal; a stream or exclusive
// driver must have its port alone. A USB identity without a serial number
// that matches another entry's VID:PID is rejected too: it is the same
// adapter or an ambiguous one. Errors start with the later entry's key and
// name both drivers. It never touches a port.
func CheckSharing(uses []PortUse) error {
	for i, u := range uses {
		for _, v := range uses[:i] {
			if err := checkPair(v, u); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkPair(first, u PortUse) error {
	a, b := first.Port, u.Port
	same := a.Key() == b.Key()
	if a.Path == "" && b.Path == "" && !same &&
		strings.EqualFold(a.USB.VID, b.USB.VID) && strings.EqualFold(a.USB.PID, b.USB.PID) &&
		(a.USB.Serial == "" || b.USB.Serial == "") {
		return conflict(u.Key+".port.usb", first, "usb-ambiguous", "%s and %s both name USB adapter %s:%s, one without usb.serial: "+
			"that is the same adapter or an ambiguous one; give both the adapter's usb.serial",
			u.who(), first.who(), strings.ToLower(b.USB.VID), strings.ToLower(b.USB.PID))
	}
	if !same {
		return nil
	}
	port := b.Label()
	switch {
	case u.Mode == Stream:
		return conflict(u.Key+".port", first, "port-alone", "%s reads %s continuously and cannot share it with %s: "+
			"a streaming driver takes every byte on the line; give each its own port", u.who(), port, first.who())
	case first.Mode == Stream:
		return conflict(u.Key+".port", first, "port-alone", "%s cannot share %s with %s, which reads it continuously: "+
			"a streaming driver takes every byte on the line; give each its own port", u.who(), port, first.who())
	case u.Mode == Exclusive || first.Mode == Exclusive:
		mb, other := u, first
		if first.Mode == Exclusive {
			mb, other = first, u
		}
		return conflict(u.Key+".port", first, "port-alone", "%s and %s are both on %s, but %s opens the serial device itself "+
			"(its library cannot run over a shared bus): give it its own adapter, and list all units of one such bus in one entry",
			u.who(), other.who(), port, mb.who())
	}
	if la, lb := line(a), line(b); la != lb {
		return conflict(u.Key+".port", first, "port-settings", "%s and %s share %s but their line settings differ (%s vs %s): "+
			"a bus has one speed and framing; set the same baud, data_bits, parity and stop_bits in both",
			u.who(), first.who(), port, lb, la)
	}
	return nil
}

// conflict is a sharing refusal: Choices holds the other entry's key,
// Reason which rule was broken.
func conflict(key string, other PortUse, reason, format string, args ...any) error {
	ce := drivers.NewConfigError(drivers.KeysConflict, key, format, args...).WithChoices(other.Key)
	ce.Reason = reason
	return ce
}
