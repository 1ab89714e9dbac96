// Package alarmd wires the central daemon: config, store, embedded broker,
// ingest pipeline, rules, escalation and the HTTP server. cmd/alarmd is a
// thin shell around Main.
package alarmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/dispatch"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/mqtt"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/web"
)

// Main is one running alarmd. Set the exported fields (Config at least),
// then Open, Run, Close. A test starts it with http.listen and mqtt.listen
// on port 0 and store.path in a temp dir.
type Main struct {
	Config     *Config
	ConfigPath string // re-read by Reload; empty: Reload keeps Config
	Store      anxin.Store
	Households anxin.Households
	Logger     *slog.Logger
	Now        func() time.Time
	Metrics    *metrics.Registry

	Escalator anxin.Escalator
	// OrderNotifier sends work order SMS (nil: the escalator's provider).
	OrderNotifier anxin.Notifier

	mu        sync.Mutex
	register  *Register // the care register's households (nil when Households was given)
	broker    *mqtt.Broker
	brokerURL anxin.BrokerURL
	listener  net.Listener
	server    *http.Server
	served    bool // Run took the listener (and shuts the server down)
	mux       *http.ServeMux
	ingest    pipeline
	engine    *rules.Engine
	watch     *fileWatch
	board     *web.Board           // the web app's alarm boards
	notifier  anxin.Notifier       // the escalator's first provider (work order SMS)
	orders    *dispatch.Dispatcher // work orders (wire_orders.go)
	closers   []func() error

	ackOnce sync.Once // ackSecret
	ackKey  []byte
	ackErr  error
}

// pipeline is the ingest side as Main sees it.
type pipeline interface {
	Run(ctx context.Context) error
	Healthy() error
	api.AwayMarks
}

// Open opens the store, loads households, starts the embedded broker if no
// broker is configured, connects the ingest pipeline and listens on
// http.listen. Nothing is served until Run.
func (m *Main) Open(ctx context.Context) (err error) {
	if m.Config == nil {
		return errors.New("alarmd: no config")
	}
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	if m.Metrics == nil {
		m.Metrics = metrics.NewRegistry()
		m.Metrics.MustRegister(metrics.NewGoCollector(), metrics.NewProcessCollector())
	}
	defer func() {
		if err != nil {
			_ = m.Close()
		}
	}()
	cfg := m.Config
	if m.Store == nil {
		db, err := OpenStore(ctx, cfg.Store)
		if err != nil {
			return err
		}
		if l, ok := db.(interface{ SetLogger(*slog.Logger) }); ok { // postgres: its register listener
			l.SetLogger(m.Logger.With("component", "store"))
		}
		m.Store = db
		m.closers = append(m.closers, db.Close)
	}
	if m.Households == nil {
		// one truth: the register; households_file is loaded into it
		reg, err := OpenRegister(ctx, m.Store, m.Logger.With("component", "register"))
		if err != nil {
			return err
		}
		if cfg.HouseholdsFile != "" {
			if err := reg.LoadFileAtStart(ctx, cfg.HouseholdsFile, m.Now()); err != nil {
				return err
			}
		}
		m.register, m.Households = reg, reg
	}
	if cfg.MQTT.Broker.IsZero() && !cfg.NATS.Enabled() { // with NATS, gateways publish to its MQTT listeners
		bc, err := brokerConfig(cfg)
		if err != nil {
			return err
		}
		bc.Logger = m.Logger.With("component", "broker")
		b, err := mqtt.StartBrokerWith(bc)
		if err != nil {
			return err
		}
		m.broker, m.brokerURL = b, anxin.MustBrokerURL(b.URL())
		m.closers = append(m.closers, b.Close)
		m.Logger.Info("embedded MQTT broker listening", "addr", b.Addr(), "tls_addr", b.TLSAddr(),
			"gateway_logins", bc.Passwords != nil)
	} else {
		m.brokerURL = cfg.MQTT.Broker
	}

	m.mux = http.NewServeMux()
	if m.Escalator == nil {
		esc, routes, err := newEscalator(m)
		if err != nil {
			return err
		}
		m.Escalator = esc
		routes(m.mux)
	}
	m.board = web.NewBoard()
	m.Escalator = boardEscalator{Escalator: m.Escalator, board: m.board}
	if err := mountCare(m, m.mux); err != nil {
		return err
	}
	m.mux.HandleFunc("GET /healthz", m.healthz)
	m.mux.Handle("GET /metrics", metrics.HandlerFor(m.Metrics))

	if err := m.openIngest(ctx); err != nil {
		return err
	}

	m.watch = m.openWatch()
	if m.watch != nil {
		m.closers = append(m.closers, func() error { return m.watch.w.Close() })
	}

	l, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("alarmd: http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	m.listener = l
	if err := m.openDebug(cfg.HTTP.DebugListen); err != nil {
		return err
	}
	// no ReadTimeout or WriteTimeout: the alarm board's event stream is one
	// long response; idle keep-alive connections are closed after IdleTimeout
	m.server = &http.Server{Handler: m.mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	m.server.RegisterOnShutdown(m.board.Close) // open alarm boards' event streams end
	m.Logger.Info("alarmd open", "http", l.Addr().String(), "broker", m.brokerURL, "store", storeName(cfg.Store))
	return nil
}

// HTTPAddr is the address the HTTP server listens on (after Open).
func (m *Main) HTTPAddr() string {
	if m.listener == nil {
		return ""
	}
	return m.listener.Addr().String()
}

// BrokerURL is the broker alarmd subscribes to: the configured one or the embedded one.
func (m *Main) BrokerURL() anxin.BrokerURL { return m.brokerURL }

// Run serves HTTP and runs the ingest pipeline until ctx is cancelled or
// one of them fails.
func (m *Main) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	m.served = true
	m.mu.Unlock()
	errc := make(chan error, 2)
	go func() {
		err := m.server.Serve(m.listener)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	go func() { errc <- m.ingest.Run(ctx) }()
	watched := make(chan struct{})
	go func() { defer close(watched); m.watchFiles(ctx, m.watch) }()
	defer func() { <-watched }()
	dispatched := make(chan struct{})
	go func() { defer close(dispatched); m.runOrders(ctx) }()
	defer func() { <-dispatched }()
	var first error
	select {
	case first = <-errc:
		cancel()
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := m.server.Shutdown(sctx); err != nil && first == nil {
		first = err
	}
	for range 2 {
		if first != nil {
			break
		}
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	return first
}

// Close releases everything Open acquired, in reverse order.
func (m *Main) Close() error {
	m.mu.Lock()
	closers := m.closers
	m.closers = nil
	served := m.served
	m.mu.Unlock()
	var errs []error
	if m.listener != nil && !served {
		if err := m.listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *Main) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []string
	if err := m.Store.Ping(ctx); err != nil {
		problems = append(problems, "store: "+err.Error())
	}
	if m.ingest != nil {
		if err := m.ingest.Healthy(); err != nil {
			problems = append(problems, "broker: "+err.Error())
		}
	}
	if w, ok := m.Escalator.(interface{ Waiting() int }); ok {
		if n := w.Waiting(); n > 0 {
			problems = append(problems, fmt.Sprintf("escalation: %d alarm(s) waiting for their contact chain to start (retrying; see the log)", n))
		}
	}
	var notes []string
	if n, ok := m.ingest.(interface{ Notes() []string }); ok {
		for _, s := range n.Notes() {
			notes = append(notes, "broker: "+s)
		}
	}
	if e, ok := m.Escalator.(interface {
		ProvidersDown() []escalate.ProviderDown
		ChannelsDown() []anxin.Channel
	}); ok {
		for _, d := range e.ProvidersDown() {
			notes = append(notes, fmt.Sprintf("notify: provider %s down until %s (failing over)", d.Provider, d.Until.UTC().Format(time.RFC3339)))
		}
		for _, ch := range e.ChannelsDown() {
			notes = append(notes, fmt.Sprintf("notify: every provider of %s is down (still tried)", ch))
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range append(problems, notes...) {
			fmt.Fprintln(w, p)
		}
		return
	}
	fmt.Fprintln(w, "ok")
	for _, n := range notes { // degraded, still 200: the contract's 503 is for the store and broker
		fmt.Fprintln(w, n)
	}
}
