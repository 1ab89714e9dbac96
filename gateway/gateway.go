package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
	"github.com/anxin-care/anxin/mqtt"
	"github.com/anxin-care/anxin/spool"
)

// Options are what the process gives the gateway.
type Options struct {
	Stdout io.Writer        // JSON lines; nil: os.Stdout
	Logger *slog.Logger     // nil: built from the config's log section on os.Stderr
	Now    func() time.Time // nil: time.Now
	// RetryFailed is how long a failed driver instance waits before it is
	// started again, doubling to MaxRetryFailed; 0: DefaultRetryFailed.
	RetryFailed time.Duration
	// PortDownAfter is how long a driver's port must be unavailable before
	// its devices are reported offline; 0: the config's offline_after.
	PortDownAfter time.Duration
	// PortUpAfter is how long a driver's port must stay usable before it
	// counts as back; 0: DefaultPortUpAfter.
	PortUpAfter time.Duration
}

// NewLogger builds the structured logger the config asks for.
func NewLogger(c LogConfig, w io.Writer) *slog.Logger {
	lvl, err := parseLevel(c.Level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	o := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// Gateway runs the configured drivers into the spool (and the debug
// output), and the uplink from the spool to the broker.
type Gateway struct {
	cfg    *Config
	opts   Options
	log    *slog.Logger
	reg    *metrics.Registry
	spool  *spool.Spool
	uplink publisher
	buses  *serialport.Buses // polled drivers on one port share its bus

	outMu sync.Mutex
	out   io.Writer

	mu      sync.Mutex
	running map[string]*instance // by instance name
	reload  chan *Config
	// portStatuses: device statuses portState decided, for putPortStatuses
	portStatuses chan portStatus

	onConnection func(connected bool) // tests: the uplink's connection events

	mRejected *metrics.CounterVec
	mMessages *metrics.CounterVec
	mRunning  *metrics.GaugeVec
}

// publisher is all the gateway asks of its uplink (mqtt.Uplink): send the
// spool until ctx ends, say whether it is connected, carry the driver
// states in the status.
type publisher interface {
	Run(ctx context.Context) error
	Connected() bool
	SetDrivers(states map[string]string)
	PublishNow(ctx context.Context, topic string, payload []byte) error
}

// instance is one configured driver and its lifecycle: running, then
// failed or stopped when Run returns on its own. A reload replaces an
// instance whose entry changed or which is not running.
type instance struct {
	entry  DriverEntry
	reg    *metrics.Registry
	cancel context.CancelFunc
	done   chan struct{}
	state  string // anxin.DriverRunning…; guarded by Gateway.mu
	port   portWatch
}

// New prepares a gateway for cfg: it builds every driver (no I/O) so a bad
// driver fails here, before any port is opened.
func New(cfg *Config, opts Options) (*Gateway, error) {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Logger == nil {
		opts.Logger = NewLogger(cfg.Log, os.Stderr)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &Gateway{cfg: cfg, opts: opts, log: opts.Logger, out: opts.Stdout,
		reg: metrics.NewRegistry(), running: map[string]*instance{}, reload: make(chan *Config, 1),
		portStatuses: make(chan portStatus, 256),
		buses:        serialport.NewBuses(opts.Logger, nil)}
	g.mRejected = metrics.NewCounterVec(metrics.CounterOpts{Name: "anxin_gateway_rejected_messages_total",
		Help: "Messages from drivers that broke the MQTT contract and were not spooled."}, []string{"instance"})
	g.mMessages = metrics.NewCounterVec(metrics.CounterOpts{Name: "anxin_gateway_messages_total",
		Help: "Normalized messages produced by drivers, by class (reading|event|status)."}, []string{"instance", "class"})
	g.mRunning = metrics.NewGaugeVec(metrics.GaugeOpts{Name: "anxin_gateway_driver_running",
		Help: "1 while a driver instance runs; 0 after it stopped with an error."}, []string{"instance", "driver"})
	g.reg.MustRegister(g.mRejected, g.mMessages, g.mRunning,
		metrics.NewGoCollector(), metrics.NewProcessCollector())
	for _, e := range cfg.Drivers {
		if _, err := e.Plugin.New(e.Config, g.env(e, metrics.NewRegistry(), nil)); err != nil {
			return nil, fmt.Errorf("driver %s: %w", e.Name, err)
		}
	}
	return g, nil
}

// Registry is the gateway's own metrics registry (drivers' metrics are
// gathered separately, see Gatherer).
func (g *Gateway) Registry() *metrics.Registry { return g.reg }

// Gatherer gathers the gateway's metrics and those of the running drivers.
func (g *Gateway) Gatherer() metrics.Gatherer {
	return metrics.GathererFunc(func() ([]metrics.Family, error) {
		gs := metrics.Gatherers{g.reg}
		g.mu.Lock()
		for _, in := range g.running {
			gs = append(gs, in.reg)
		}
		g.mu.Unlock()
		return gs.Gather()
	})
}

func (g *Gateway) env(e DriverEntry, reg *metrics.Registry, in *instance) drivers.Env {
	env := drivers.Env{
		Household: g.cfg.Household,
		Logger:    g.log.With("driver", e.Driver, "instance", e.Name),
		Now:       g.opts.Now,
		Metrics:   metrics.WrapRegistererWith(metrics.Labels{"instance": e.Name}, reg),
		Serial:    g.buses,
	}
	if in != nil {
		env.PortState = func(up bool) { g.portState(in, up) }
	}
	return env
}

// Reload asks the running gateway to apply cfg (already loaded and
// validated): drivers whose entry changed are restarted, the spool and the
// uplink keep running. Changes to mqtt, spool, log or metrics need a
// restart and are logged as ignored.
func (g *Gateway) Reload(cfg *Config) {
	select {
	case <-g.reload: // a newer config replaces one not yet applied
	default:
	}
	g.reload <- cfg
}

// memorySpoolMax bounds a spool in memory (openSpool): what a small box
// can spare.
const memorySpoolMax = 16 << 20

// openSpool opens the spool in spool.dir; on a disk that cannot be written
// (an SD card the kernel remounted read-only after I/O errors, a full or
// failing one) in memory instead (/dev/shm), so presses still reach the
// broker: lost at a power cut, where the card would have kept them, and
// logged as an error at every start. Any other failure (the directory
// locked by another gatewayd, bad permissions) is returned.
func (g *Gateway) openSpool(cfg *Config) (*spool.Spool, error) {
	opts := spool.Options{Dir: cfg.Spool.Dir, MaxBytes: int64(cfg.Spool.MaxBytes),
		Fsync: spool.FsyncMode(cfg.Spool.Fsync), SyncInterval: cfg.Spool.SyncInterval, Logger: g.log, Metrics: g.reg}
	sp, err := spool.Open(opts)
	if err == nil || !(errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENOSPC)) {
		return sp, err
	}
	mem := "/dev/shm"
	if st, serr := os.Stat(mem); serr != nil || !st.IsDir() {
		mem = os.TempDir()
	}
	opts.Dir = filepath.Join(mem, "anxin-spool-"+cfg.Household)
	opts.MaxBytes = min(opts.MaxBytes, memorySpoolMax)
	msp, merr := spool.Open(opts)
	if merr != nil {
		return nil, errors.Join(err, fmt.Errorf("spool in memory too: %w", merr))
	}
	g.log.Error("spool: its disk cannot be written; spooling in memory instead — a power cut loses what waits there, "+
		"and what the card holds unsent stays there. Replace the card", "dir", cfg.Spool.Dir, "err", err,
		"memory_dir", opts.Dir, "max_bytes", opts.MaxBytes)
	return msp, nil
}

// Run opens the spool, starts the uplink, the metrics server and the
// drivers, and runs until ctx ends. Then it stops the drivers (ports
// closed), fsyncs and closes the spool, publishes the offline status and
// disconnects. It returns an error only when it cannot start.
func (g *Gateway) Run(ctx context.Context) error {
	cfg := g.cfg
	g.log.Info("gatewayd starting", "config", cfg)
	var upDone chan struct{}
	upCtx, upCancel := context.WithCancel(context.Background())
	defer upCancel()
	if !cfg.MQTT.Broker.IsZero() {
		sp, err := g.openSpool(cfg)
		if err != nil {
			return err
		}
		g.mu.Lock()
		g.spool = sp
		g.mu.Unlock()
		up, err := mqtt.NewUplink(mqtt.UplinkOptions{Broker: cfg.MQTT.Broker, Fallback: cfg.MQTT.Fallback, ClientID: cfg.MQTT.ClientID,
			Username: cfg.MQTT.Username, Password: string(cfg.MQTT.Password), TLS: cfg.MQTT.tls,
			Household: cfg.Household, Keepalive: cfg.MQTT.Keepalive, Window: cfg.MQTT.Window,
			MinRetry: cfg.MQTT.Reconnect.Min, MaxRetry: cfg.MQTT.Reconnect.Max, AckTimeout: cfg.MQTT.AckTimeout,
			OnConnection: g.onConnection, Logger: g.log, Now: g.opts.Now, Metrics: g.reg}, sp)
		if err != nil {
			return errors.Join(err, sp.Close())
		}
		g.mu.Lock()
		g.uplink = up
		g.mu.Unlock()
		upDone = make(chan struct{})
		go func() {
			defer close(upDone)
			if err := up.Run(upCtx); err != nil {
				g.log.Error("uplink stopped", "err", err)
			}
		}()
	} else {
		g.log.Info("no mqtt.broker: messages go to stdout only")
	}
	var srv *http.Server
	if cfg.Metrics.Listen != "" {
		l, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			g.log.Error("metrics not served", "listen", cfg.Metrics.Listen, "err", err)
		} else {
			mux := http.NewServeMux()
			mux.Handle("/metrics", metrics.HandlerFor(g.Gatherer()))
			srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
			go func() {
				if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
					g.log.Error("metrics server", "err", err)
				}
			}()
		}
	}

	go g.putPortStatuses(ctx)
	g.apply(ctx, cfg.Drivers)
	for loop := true; loop; {
		select {
		case <-ctx.Done():
			loop = false
		case next := <-g.reload:
			g.warnStatic(next)
			g.apply(ctx, next.Drivers)
			g.log.Info("config reloaded", "config", next)
		}
	}

	g.log.Info("gatewayd stopping")
	g.apply(ctx, nil) // stop every driver and wait: ports closed
	var errs []error
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		errs = append(errs, srv.Shutdown(sctx))
		cancel()
	}
	if g.spool != nil {
		errs = append(errs, g.spool.Sync())
		upCancel()
		<-upDone // waits briefly for PUBACKs, publishes offline, disconnects
		errs = append(errs, g.spool.Close())
	}
	err := errors.Join(errs...)
	if err != nil {
		g.log.Error("gatewayd stopped with errors", "err", err)
		return err
	}
	g.log.Info("gatewayd stopped")
	return nil
}

func (g *Gateway) warnStatic(next *Config) {
	a, b := *g.cfg, *next
	a.Drivers, b.Drivers = nil, nil
	a.MQTT.tls, b.MQTT.tls = nil, nil
	if fmt.Sprintf("%#v", a) != fmt.Sprintf("%#v", b) || a.MQTT.Password != b.MQTT.Password {
		g.log.Warn("reload: only drivers are reloaded; changes to household, mqtt, spool, output, log, metrics or offline_after need a restart")
	}
}

// apply makes the running driver instances match want: instances that are
// gone or changed are stopped (and waited for) before new ones start.
func (g *Gateway) apply(ctx context.Context, want []DriverEntry) {
	keep := map[string]bool{}
	for _, e := range want {
		g.mu.Lock()
		in, ok := g.running[e.Name]
		up := ok && in.state == anxin.DriverRunning
		g.mu.Unlock()
		if up && sameDriver(in.entry, e) {
			keep[e.Name] = true
		}
	}
	var stopping []*instance
	g.mu.Lock()
	for name, in := range g.running {
		if !keep[name] {
			in.cancel() // a failed or stopped instance has ended already
			stopping = append(stopping, in)
			delete(g.running, name)
		}
	}
	g.mu.Unlock()
	for _, in := range stopping {
		<-in.done
		g.mRunning.DeleteLabelValues(in.entry.Name, in.entry.Driver)
	}
	for _, e := range want {
		if keep[e.Name] {
			continue
		}
		g.start(ctx, e)
	}
	g.reportStates()
}

// DriverStates is the state of each configured driver instance, by name.
func (g *Gateway) DriverStates() map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	states := make(map[string]string, len(g.running))
	for name, in := range g.running {
		states[name] = in.state
	}
	return states
}

// setState records an instance's new state and reports it.
func (g *Gateway) setState(in *instance, state string) {
	g.mu.Lock()
	in.state = state
	g.mu.Unlock()
	v := 0.0
	if state == anxin.DriverRunning {
		v = 1
	}
	g.mRunning.WithLabelValues(in.entry.Name, in.entry.Driver).Set(v)
	g.reportStates()
}

// reportStates puts the driver states in the uplink's retained status.
func (g *Gateway) reportStates() {
	g.mu.Lock()
	up := g.uplink
	g.mu.Unlock()
	if up != nil {
		up.SetDrivers(g.DriverStates())
	}
}

func (g *Gateway) start(ctx context.Context, e DriverEntry) {
	reg := metrics.NewRegistry()
	log := g.log.With("driver", e.Driver, "instance", e.Name)
	dctx, cancel := context.WithCancel(ctx)
	in := &instance{entry: e, reg: reg, cancel: cancel, done: make(chan struct{}), state: anxin.DriverRunning}
	g.mu.Lock()
	g.running[e.Name] = in
	g.mu.Unlock()
	d, err := e.Plugin.New(e.Config, g.env(e, reg, in))
	if err != nil {
		close(in.done)
		log.Error("driver failed: not started; a reload (SIGHUP) tries again", "err", err)
		g.setState(in, anxin.DriverFailed)
		return
	}
	g.mRunning.WithLabelValues(e.Name, e.Driver).Set(1)
	sink := g.sink(e.Name, log)
	go func() {
		defer close(in.done)
		defer in.port.end() // a stopped instance reports nothing more (its successor does)
		wait := cmp.Or(g.opts.RetryFailed, DefaultRetryFailed)
		for {
			log.Info("driver started")
			began := time.Now()
			err := d.Run(dctx, sink)
			if dctx.Err() != nil {
				log.Info("driver stopped")
				return
			}
			if time.Since(began) > MaxRetryFailed {
				wait = cmp.Or(g.opts.RetryFailed, DefaultRetryFailed) // it ran well for a while
			}
			if err != nil {
				log.Error("driver failed; started again after the wait, or at once on a reload (SIGHUP)", "err", err, "in", wait)
				g.setState(in, anxin.DriverFailed)
			} else {
				log.Warn("driver returned before it was stopped; started again after the wait, or at once on a reload (SIGHUP)", "in", wait)
				g.setState(in, anxin.DriverStopped)
			}
			// A fresh instance each time (its edge and de-bounce state
			// from nothing: an input still in alarm is raised again, not
			// lost) with a fresh registry for its metrics.
			for d = nil; d == nil; {
				if !anxin.SleepContext(dctx, wait) {
					return
				}
				wait = min(2*wait, MaxRetryFailed)
				reg := metrics.NewRegistry()
				if d, err = e.Plugin.New(e.Config, g.env(e, reg, in)); err != nil {
					log.Error("driver failed: not started", "err", err, "in", wait)
					continue
				}
				g.mu.Lock()
				in.reg = reg
				g.mu.Unlock()
			}
			g.setState(in, anxin.DriverRunning)
		}
	}()
}

// DefaultRetryFailed is how long a failed driver instance waits before it
// is started again, doubling to MaxRetryFailed. What fails a driver's Run
// is meant not to pass by itself (a port without permission, a path that
// is not a serial port), but an installer who fixes it should not also
// have to know to reload, and a port that udev hands to dialout a moment
// after gatewayd started must not leave the home unwatched.
const (
	DefaultRetryFailed = 30 * time.Second
	MaxRetryFailed     = 5 * time.Minute
)

// sink completes, checks and stores the messages of one driver instance.
// It also takes device statuses (anxin.StatusSink), which drivers find by
// a type assertion.
func (g *Gateway) sink(instance string, log *slog.Logger) drivers.Sink {
	return &instanceSink{g: g, log: log,
		rejected: g.mRejected.WithLabelValues(instance),
		readings: g.mMessages.WithLabelValues(instance, "reading"),
		events:   g.mMessages.WithLabelValues(instance, "event"),
		statuses: g.mMessages.WithLabelValues(instance, "status"),
	}
}

type instanceSink struct {
	g                                    *Gateway
	log                                  *slog.Logger
	rejected, readings, events, statuses metrics.Counter
}

var _ anxin.StatusSink = (*instanceSink)(nil)

func (s *instanceSink) Put(ctx context.Context, m anxin.Message) error {
	g := s.g
	Complete(&m, g.cfg.Household, g.opts.Now)
	if err := m.Validate(); err != nil {
		s.rejected.Inc()
		s.log.Warn("message rejected: breaks the MQTT contract", "message", m.String(), "err", err)
		return nil
	}
	if m.IsEvent() {
		s.events.Inc()
	} else {
		s.readings.Inc()
	}
	if g.spool != nil {
		if err := g.spool.Put(ctx, m); err != nil {
			if ctx.Err() != nil {
				return err
			}
			if m.IsEvent() && anxin.ErrorCode(err) != anxin.EINVALID && g.publishNow(ctx, m) {
				// the spool's disk fails (an SD card gone read-only):
				// the press reached the broker all the same
				s.log.Error("event not spooled: the spool's disk fails; sent straight to the broker, which acknowledged it",
					"message", m.String(), "err", err)
				return nil
			}
			s.log.Error("message not spooled", "message", m.String(), "err", err)
			return err
		}
	}
	if g.spool == nil || g.cfg.Output.Stdout {
		return g.print(m)
	}
	return nil
}

// publishNow sends m straight to the broker, past the spool, and reports
// whether the broker acknowledged it (connected, within 10 s).
func (g *Gateway) publishNow(ctx context.Context, m anxin.Message) bool {
	g.mu.Lock()
	up := g.uplink
	g.mu.Unlock()
	if up == nil {
		return false
	}
	payload, err := json.Marshal(&m)
	if err != nil {
		return false
	}
	return up.PublishNow(ctx, m.Topic(), payload) == nil
}

// PutStatus spools a device status (published retained on
// anxin/v1/<hh>/<dev>/status), durable when it returns, like an event.
// Without a broker it is only logged: stdout carries contract messages.
func (s *instanceSink) PutStatus(ctx context.Context, st anxin.DeviceStatus) error {
	g := s.g
	if st.TS.IsZero() {
		st.TS = g.opts.Now()
	}
	if st.Household == "" {
		st.Household = g.cfg.Household
	}
	if err := st.Validate(); err != nil {
		s.rejected.Inc()
		s.log.Warn("status rejected: breaks the MQTT contract", "status", st.String(), "err", err)
		return nil
	}
	s.statuses.Inc()
	if g.spool == nil {
		s.log.Info("device status (no broker: not sent)", "status", st.String())
		return nil
	}
	if err := g.spool.PutStatus(ctx, st); err != nil {
		if ctx.Err() == nil {
			s.log.Error("status not spooled", "status", st.String(), "err", err)
		}
		return err
	}
	return nil
}

func (g *Gateway) print(m anxin.Message) error {
	b, err := json.Marshal(&m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	g.outMu.Lock()
	defer g.outMu.Unlock()
	_, err = g.out.Write(b)
	return err
}

// Complete fills what a driver may leave out: the id (assigned before
// spooling, so a resent message keeps it), the time and the household.
func Complete(m *anxin.Message, household string, now func() time.Time) {
	if m.TS.IsZero() {
		m.TS = now()
	}
	m.TS = m.TS.UTC()
	if m.ID == "" {
		m.ID = anxin.NewID(m.TS)
	}
	if m.Household == "" {
		m.Household = household
	}
}

// Stats is the spool's state, for tests and the status line.
func (g *Gateway) Stats() (spool.Stats, bool) {
	g.mu.Lock()
	sp := g.spool
	g.mu.Unlock()
	if sp == nil {
		return spool.Stats{}, false
	}
	return sp.Stats(), true
}

// Connected reports whether the uplink is connected.
func (g *Gateway) Connected() bool {
	g.mu.Lock()
	up := g.uplink
	g.mu.Unlock()
	return up != nil && up.Connected()
}
