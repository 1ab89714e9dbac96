// Command gatewayd runs at the home: it reads the configured sensors,
// spools normalized messages durably and publishes them to the district
// broker. `gatewayd decode` decodes captures offline. See docs/gatewayd.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	_ "github.com/anxin-care/anxin/drivers/all" // links every driver in
	"github.com/anxin-care/anxin/gateway"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m := &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	err := m.Run(ctx, os.Args[1:])
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "gatewayd:", err)
		os.Exit(1)
	}
}

// Main is the gatewayd process, startable from a test.
type Main struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	mu      sync.Mutex
	gw      *gateway.Gateway
	cancel  context.CancelFunc
	done    chan struct{}
	cfgPath string
}

// Run parses args and runs until ctx ends (or Close). SIGHUP reloads the
// config file; a bad file keeps the running config.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "decode" {
		return m.decode(args[1:])
	}
	if len(args) > 0 && args[0] == "check" {
		return m.check(ctx, args[1:])
	}
	fs := flag.NewFlagSet("gatewayd", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	cfgPath := fs.String("config", "/etc/anxin/gatewayd.yaml", "config file (YAML)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gatewayd [-config FILE] | gatewayd -version\n"+
			"       gatewayd decode --driver NAME [--in FILE] [--config FILE] [--household ID]\n"+
			"       gatewayd check [-config FILE] [-households FILE] [-wait 10s]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(m.Stdout, "gatewayd", version)
		return nil
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// strict: a bad config fails here, before any port is opened
	cfg, err := gateway.Load(*cfgPath)
	if err != nil {
		m.explain(err, gateway.AtStart)
		return err
	}
	logger := gateway.NewLogger(cfg.Log, m.Stderr)
	gw, err := gateway.New(cfg, gateway.Options{Stdout: m.Stdout, Logger: logger})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	m.gw, m.cancel, m.done, m.cfgPath = gw, cancel, make(chan struct{}), *cfgPath
	done := m.done
	m.mu.Unlock()
	defer close(done)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: reloading the config", "file", *cfgPath)
				m.reloadLogged(logger)
			}
		}
	}()
	return gw.Run(ctx)
}

// explain prints a configuration error in Mandarin for the installer;
// the English error, which the caller returns, follows it on stderr.
func (m *Main) explain(err error, stage gateway.ConfigStage) {
	fmt.Fprintln(m.Stderr, "gatewayd:", gateway.ConfigErrorText(err, stage))
}

// reloadLogged reloads on SIGHUP; a refused file is logged with the
// Mandarin explanation (zh) ahead of the English error (err).
func (m *Main) reloadLogged(logger *slog.Logger) {
	if err := m.Reload(); err != nil {
		logger.Warn("reload failed; keeping the running config",
			"zh", gateway.ConfigErrorText(err, gateway.AtReload), "err", err)
	}
}

// Reload re-reads the config file and applies it, or returns why not.
func (m *Main) Reload() error {
	m.mu.Lock()
	gw, path := m.gw, m.cfgPath
	m.mu.Unlock()
	if gw == nil {
		return errors.New("not running")
	}
	cfg, err := gateway.Load(path)
	if err != nil {
		return err
	}
	if _, err := gateway.New(cfg, gateway.Options{Stdout: io.Discard, Logger: nil}); err != nil {
		return err
	}
	gw.Reload(cfg)
	return nil
}

// Close stops a running Run and waits for it to finish.
func (m *Main) Close() error {
	m.mu.Lock()
	cancel, done := m.cancel, m.done
	m.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	return nil
}

func (m *Main) decode(args []string) error {
	fs := flag.NewFlagSet("gatewayd decode", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var o gateway.DecodeOptions
	fs.StringVar(&o.Driver, "driver", "", "driver name (required)")
	fs.StringVar(&o.In, "in", "", "capture file (default: stdin)")
	fs.StringVar(&o.ConfigPath, "config", "", "gatewayd config: use its entry for the driver")
	fs.StringVar(&o.Household, "household", "", `household id of the messages (default: the config's, else "decode")`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Driver == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("decode: --driver NAME is required and takes no arguments")
	}
	o.Stdin, o.Stdout, o.Stderr = m.Stdin, m.Stdout, m.Stderr
	if err := gateway.Decode(o); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// errCheckFailed is check's exit status 1: the table says why.
var errCheckFailed = errors.New("检查未通过：有设备没有应答，或与登记表不符（check: not every device answered, or the register does not match）")

// check validates the config, runs every driver once (ports opened, each
// meter polled) and prints a table of what answered; with -households it
// also compares the device ids with the household register.
func (m *Main) check(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gatewayd check", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	cfgPath := fs.String("config", "/etc/anxin/gatewayd.yaml", "config file (YAML)")
	register := fs.String("households", "", "household register (alarmd's households.yaml) to compare device ids with")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for every device")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("check: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := gateway.Load(*cfgPath)
	if err != nil {
		m.explain(err, gateway.AtCheck)
		return err
	}
	fmt.Fprintf(m.Stdout, "配置无误：%s（住户 %s，%d 路驱动）\n", *cfgPath, cfg.Household, len(cfg.Drivers))
	failed := false
	if len(cfg.Drivers) == 0 {
		// a drivers: list lost to a typo or an indent: the home would be
		// watched by nothing
		fmt.Fprintln(m.Stdout, "配置里没有任何驱动：这个网关不读任何设备，请检查 drivers: 一节（是否写错或缩进不对）")
		failed = true
	}
	if *register != "" {
		b, err := os.ReadFile(*register)
		if err != nil {
			return err
		}
		errs, warnings, err := gateway.RegisterProblems(cfg, b)
		if err != nil {
			return err
		}
		for _, e := range errs {
			fmt.Fprintf(m.Stdout, "登记不符：%s\n", e)
		}
		for _, w := range warnings {
			fmt.Fprintf(m.Stdout, "登记提示：%s\n", w)
		}
		if len(errs) == 0 {
			fmt.Fprintf(m.Stdout, "登记一致：%s 中住户 %s 下登记了这里的每个设备\n", *register, cfg.Household)
		}
		failed = failed || len(errs) > 0
	}
	rows := gateway.Check(ctx, cfg, *wait)
	gateway.PrintCheck(m.Stdout, rows)
	for _, r := range rows {
		failed = failed || !r.OK()
	}
	if failed {
		return errCheckFailed
	}
	return nil
}
