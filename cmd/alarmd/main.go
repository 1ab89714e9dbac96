// Command alarmd is anxin's central daemon: it takes readings and events from
// the broker, archives readings, raises alarms and walks contact chains.
//
//	alarmd -config alarmd.yaml     run (SIGHUP reloads, SIGTERM stops)
//	alarmd replay …                replay recorded data through the rules
//	alarmd preview --rule button --household hh-0001 [-config FILE]
//	                               print the SMS, calls and ack page people would get
//	alarmd check [-config FILE]    check the config, households and rules files
//	                               without starting (exit 2 when one is wrong)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/anxin-care/anxin/alarmd"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// parseAndLoad parses flags and loads the config they name; a nil config
// comes with the exit code (2: bad usage or config, said on stderr).
func parseAndLoad(fs *flag.FlagSet, args []string, path *string, stderr io.Writer) (*alarmd.Config, int) {
	if err := fs.Parse(args); err != nil {
		return nil, 2
	}
	cfg, err := alarmd.Load(*path)
	if err != nil {
		explain(stderr, err, alarmd.AtStart)
		return nil, 2
	}
	return cfg, 0
}

// explain prints a configuration error for the operator: the Mandarin
// line, then the English one developers read.
func explain(stderr io.Writer, err error, stage alarmd.ConfigStage) {
	fmt.Fprintln(stderr, "alarmd:", alarmd.ConfigErrorText(err, stage))
	fmt.Fprintln(stderr, err)
}

// checkMain is `alarmd check`: the config file, the households file and
// the rules file it names are read and validated as a start would, and
// nothing is started.
func checkMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alarmd check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (YAML); empty: defaults and ANXIN_… variables")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := alarmd.Load(*path)
	if err == nil {
		err = alarmd.CheckFiles(cfg)
	}
	if err != nil {
		explain(stderr, err, alarmd.AtCheck)
		return 2
	}
	fmt.Fprintln(stdout, alarmd.CheckedText(*path, cfg))
	return 0
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "replay" {
		return replayMain(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "account" {
		return accountMain(args[1:], os.Stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "check" {
		return checkMain(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "preview" {
		return previewMain(args[1:], time.Now(), stdout, stderr)
	}
	tune := os.Getenv("GOGC") == "" // else the environment's, as set
	if tune {
		debug.SetGCPercent(gcSmall) // from the start: the register's load
	}
	fs := flag.NewFlagSet("alarmd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (YAML); empty: defaults and ANXIN_… variables")
	cfg, code := parseAndLoad(fs, args, path, stderr)
	if cfg == nil {
		return code
	}
	profileMemory(cfg.HTTP.DebugListen)
	level, _ := cfg.Log.SlogLevel() // validated by Load
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	m := &alarmd.Main{Config: cfg, ConfigPath: *path, Logger: logger}
	if err := m.Open(ctx); err != nil {
		fmt.Fprintln(stderr, "alarmd:", alarmd.StartErrorText(err, cfg))
		logger.Error("start failed", "err", err)
		return 1
	}
	if tune {
		go tuneGC(ctx)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-hup:
				_ = m.Reload(ctx) // logs why a bad reload was rejected
			case <-ctx.Done():
				return
			}
		}
	}()
	runErr := m.Run(ctx)
	closeErr := m.Close()
	if runErr != nil {
		logger.Error("stopped", "err", runErr)
		return 1
	}
	if closeErr != nil {
		logger.Error("close", "err", closeErr)
		return 1
	}
	logger.Info("stopped")
	return 0
}
