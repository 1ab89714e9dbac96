// Command anxin-demo runs the whole of anxin on one machine in one process:
// alarmd on embedded defaults (embedded MQTT broker, SQLite, the log
// notifier) and gatewayd with a simulated household kit — a CJ/T 188 water
// meter, an NMEA tracker and a 433 MHz call button, each speaking its real
// protocol through a pseudo-terminal. About 20 s after start the button is
// pressed; the log shows the alarm, the contact chain walking, and an
// acknowledgement link to open (or POST) to accept. Ctrl-C stops it.
//
//	go run ./cmd/anxin-demo [-http 127.0.0.1:8080] [-mqtt 127.0.0.1:1883] [-data DIR]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"

	"sync"
	"syscall"
	"time"

	"github.com/anxin-care/anxin/alarmd"
	_ "github.com/anxin-care/anxin/drivers/all" // links every driver in
	"github.com/anxin-care/anxin/gateway"
)

// DemoToken is the records API bearer token of the demo (loopback only;
// never use it anywhere else).
const DemoToken = "anxin-demo-token-not-a-secret"

// Household is the demo household's id.
const Household = "hh-0001"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout))
}

type options struct {
	http, mqtt, data string
	pressAfter       time.Duration
	exitAfter        time.Duration
	ackTimeout       time.Duration
	fixEvery         time.Duration
	pollEvery        time.Duration
	logLevel         string
}

func parseFlags(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("anxin-demo", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.http, "http", "127.0.0.1:8080", "alarmd's HTTP listen address (ack links, webhooks, records API)")
	fs.StringVar(&o.mqtt, "mqtt", "127.0.0.1:1883", "the embedded MQTT broker's address; a free port is used if it is taken")
	fs.StringVar(&o.data, "data", "", "directory for the store, spool and households.yaml (kept); empty: a temp dir removed at exit")
	fs.DurationVar(&o.pressAfter, "press-after", 20*time.Second, "the call button is pressed this long after start")
	fs.DurationVar(&o.exitAfter, "exit-after", 0, "stop by itself after this long (0: run until Ctrl-C)")
	fs.DurationVar(&o.ackTimeout, "ack-timeout", 20*time.Second, "wait per contact before the chain moves to the next (production default 3m)")
	fs.DurationVar(&o.fixEvery, "fix-every", 5*time.Second, "the tracker sends a fix this often")
	fs.DurationVar(&o.pollEvery, "poll-every", 10*time.Second, "gatewayd polls the water meter this often (production: 15m)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for name, d := range map[string]time.Duration{"press-after": o.pressAfter, "ack-timeout": o.ackTimeout,
		"fix-every": o.fixEvery, "poll-every": o.pollEvery} {
		if d <= 0 {
			return nil, fmt.Errorf("-%s must be a positive duration", name)
		}
	}
	if o.exitAfter < 0 {
		return nil, errors.New("-exit-after must not be negative")
	}
	return o, nil
}

// run is the demo; it returns the exit code.
func run(ctx context.Context, args []string, out io.Writer) int {
	o, err := parseFlags(args, out)
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(out, "anxin-demo:", err)
		return 2
	}
	w := &lockedWriter{w: out}
	if err := demo(ctx, o, w); err != nil {
		fmt.Fprintln(w, "anxin-demo:", err)
		return 1
	}
	return 0
}

// lockedWriter keeps log lines and banners from interleaving.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func demo(ctx context.Context, o *options, out *lockedWriter) (err error) {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
	lvl, ok := level[o.logLevel]
	if !ok {
		return fmt.Errorf("-log-level %q is not debug, info, warn or error", o.logLevel)
	}
	if o.exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.exitAfter)
		defer cancel()
	}

	dir := o.data
	if dir == "" {
		if dir, err = os.MkdirTemp("", "anxin-demo-"); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	httpAddr, httpMoved, err := pickAddr(o.http)
	if err != nil {
		return fmt.Errorf("-http: %w", err)
	}
	mqttAddr, mqttMoved, err := pickAddr(o.mqtt)
	if err != nil {
		return fmt.Errorf("-mqtt: %w", err)
	}
	base := "http://" + httpAddr
	banners := &bannerWriter{out: out, base: base}
	logger := slog.New(&watchHandler{next: slog.NewTextHandler(out, &slog.HandlerOptions{Level: lvl}), b: banners})
	if httpMoved {
		logger.Warn("demo: -http address is taken; using a free port instead", "wanted", o.http, "using", httpAddr)
	}
	if mqttMoved {
		logger.Warn("demo: -mqtt address is taken; the embedded broker uses a free port instead", "wanted", o.mqtt, "using", mqttAddr)
	}

	cfg, err := alarmdConfig(dir, httpAddr, mqttAddr, o.ackTimeout)
	if err != nil {
		return err
	}
	m := &alarmd.Main{Config: cfg, Logger: logger.With("daemon", "alarmd")}
	if err := m.Open(ctx); err != nil {
		return fmt.Errorf("alarmd: %w", err)
	}
	closeAlarmd := sync.OnceValue(m.Close)
	defer func() { err = errors.Join(err, closeAlarmd()) }()
	if err := demoWeb(ctx, m.Store, time.Now()); err != nil {
		return fmt.Errorf("web app accounts: %w", err)
	}

	k, err := newKit(logger.With("daemon", "kit"), time.Now)
	if err != nil {
		return err
	}
	k.pressAfter, k.fixEvery, k.useEvery = o.pressAfter, o.fixEvery, o.pollEvery
	closeKit := sync.OnceValue(k.Close)
	defer func() { err = errors.Join(err, closeKit()) }()

	gcfg, err := gatewayConfig(dir, m.BrokerURL().Dial(), k, o.pollEvery)
	if err != nil {
		return err
	}
	gw, err := gateway.New(gcfg, gateway.Options{Stdout: io.Discard, Logger: logger.With("daemon", "gatewayd")})
	if err != nil {
		return fmt.Errorf("gatewayd: %w", err)
	}

	// alarmd runs until the gateway has stopped (so the gateway can flush
	// its spool and say offline to the broker alarmd embeds)
	alarmdCtx, stopAlarmd := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAlarmd()
	alarmdDone := make(chan error, 1)
	go func() { alarmdDone <- m.Run(alarmdCtx) }()
	gwDone := make(chan error, 1)
	go func() { gwDone <- gw.Run(ctx) }()
	kitCtx, stopKit := context.WithCancel(ctx)
	defer stopKit()
	k.Run(kitCtx)

	banners.start(o, dir, mqttAddr)
	go reportReadings(kitCtx, gw, logger, 15*time.Second)

	var runErr error
	select {
	case <-ctx.Done():
		runErr = <-gwDone
	case runErr = <-gwDone:
		runErr = errors.Join(errors.New("gatewayd stopped"), runErr)
	case err := <-alarmdDone:
		stopKit()
		<-gwDone
		return errors.Join(errors.New("alarmd stopped"), err)
	}
	logger.Info("demo: stopping", "why", context.Cause(ctx))
	stopKit()
	stopAlarmd()
	if err := <-alarmdDone; err != nil {
		runErr = errors.Join(runErr, err)
	}
	if err := closeAlarmd(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if err := closeKit(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if runErr == nil {
		logger.Info("demo: stopped cleanly: ptys closed, spool flushed, store closed")
	}
	return runErr
}

// pickAddr returns want if it can be listened on, else a free port on the
// same host.
func pickAddr(want string) (addr string, moved bool, err error) {
	host, _, err := net.SplitHostPort(want)
	if err != nil {
		return "", false, err
	}
	if l, err := net.Listen("tcp", want); err == nil {
		// port 0 asks for a free port: that is not a move
		return l.Addr().String(), false, l.Close()
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", false, err
	}
	addr = l.Addr().String()
	return addr, true, l.Close()
}

// secretIn keeps the ack-link key in the data dir, so links in the log
// still work after a restart with the same -data.
func secretIn(dir string) (string, error) {
	p := filepath.Join(dir, "ack-secret")
	if b, err := os.ReadFile(p); err == nil && len(b) >= 32 {
		return p, nil
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return p, os.WriteFile(p, []byte(hex.EncodeToString(b)+"\n"), 0o600)
}

func alarmdConfig(dir, httpAddr, mqttAddr string, ackTimeout time.Duration) (*alarmd.Config, error) {
	hh := filepath.Join(dir, "households.yaml")
	if _, err := os.Stat(hh); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(hh, []byte(demoHouseholds), 0o600); err != nil {
			return nil, err
		}
	}
	secret, err := secretIn(dir)
	if err != nil {
		return nil, err
	}
	yaml := fmt.Sprintf(`
mqtt: {listen: %q}
http: {listen: %q, public_url: %q}
store: {path: %q}
notify: {provider: log, ack_timeout: %s, rounds: 2, ack_secret_file: %q}
api:
  tokens: [{name: demo, token: %q, area: ""}]
households_file: %q
`, mqttAddr, httpAddr, "http://"+httpAddr, filepath.Join(dir, "alarmd.db"), ackTimeout, secret, DemoToken, hh)
	return alarmd.Parse([]byte(yaml), nil)
}

func gatewayConfig(dir, broker string, k *kit, poll time.Duration) (*gateway.Config, error) {
	yaml := fmt.Sprintf(`
household: %s
mqtt: {broker: %q, client_id: anxin-demo-gw, reconnect: {min: 200ms, max: 5s}}
spool: {dir: %q}
log: {level: info}
drivers:
  - driver: cjt188
    name: water
    port: {path: %q, baud: 2400, parity: even}
    meters: [{address: %q, device: wm1}]
    poll_interval: %s
    timeout: 1s
  - driver: nmea
    name: tracker
    device: trk1
    port: {path: %q, baud: 9600}
  - driver: rf433
    name: rf
    port: {path: %q, baud: 9600}
    format: hex
    codes: [{code: %q, device: btn1, kind: call_button, event: button_pressed}]
`, Household, broker, filepath.Join(dir, "spool"), k.water.Path(), meterAddress, poll,
		k.gnss.Path(), k.rf.Path(), buttonCode)
	return gateway.Parse([]byte(yaml))
}

// demoHouseholds is the one demo household. Names and numbers are made up
// (the +86 numbers are in no real range used here).
const demoHouseholds = `# anxin demo household: edit and restart with the same -data to try changes.
households:
  - id: hh-0001
    elder: {name: 张桂兰, phone: "+8613800000000", address: 善广乡安宁村3组12号, tier: high}
    contacts:                   # personal chain, in order, at most 4
      - {name: 李明, relation: child, phone: "+8613900000001"}
      - {name: 李芳, relation: child, phone: "+8613900000011"}
    community:                  # walked after the personal contacts
      - {name: 王芳, role: grid_worker, phone: "+8613700000002"}
    devices:
      - {id: wm1, kind: water_meter}
      - {id: trk1, kind: tracker}
      - {id: btn1, kind: call_button}
`

// reportReadings logs, now and then, how many readings each simulated
// device has produced: the meter and the tracker work quietly otherwise.
func reportReadings(ctx context.Context, gw *gateway.Gateway, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mfs, err := gw.Gatherer().Gather()
		if err != nil {
			continue
		}
		args := []any{}
		for _, mf := range mfs {
			if mf.Name != "anxin_gateway_messages_total" {
				continue
			}
			for _, m := range mf.Metrics {
				var instance, class string
				for _, l := range m.Labels {
					switch l.Name {
					case "instance":
						instance = l.Value
					case "class":
						class = l.Value
					}
				}
				if n := int(m.Value); n > 0 {
					plural := class + "s" // readings, events
					if class == "status" {
						plural = "statuses"
					}
					args = append(args, instance+"_"+plural, n)
				}
			}
		}
		log.Info("demo: messages from the simulated kit so far", args...)
	}
}
