package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/testenv"
)

// TestSIGHUPRestartsFailedDriver is the installer's story of issue 13: the
// meter's port is wrong at start (not a serial port: a fatal error, the
// driver fails), the installer fixes it and sends SIGHUP with the config
// unchanged, and the meter is read.
func TestSIGHUPRestartsFailedDriver(t *testing.T) {
	need(t, "cjt188")
	dir := t.TempDir()
	port := filepath.Join(dir, "ttyWATER")
	if err := os.WriteFile(port, nil, 0o600); err != nil { // a plain file: not a serial port
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "gatewayd.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
household: hh-0001
drivers:
  - driver: cjt188
    name: water
    port: {path: %q}
    meters: [{address: "12345678901234", device: wm1}]
    poll_interval: 1h
`, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startGatewayd(t, cfgPath, false)
	testenv.Eventually(t, "the driver fails on a plain file", 15*time.Second, func() bool {
		return strings.Contains(gw.logs.String(), "driver failed")
	})

	tty := waterMeterOnPTY(t, "12345678901234", 42.5)
	if err := os.Remove(port); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(tty, port); err != nil {
		t.Fatal(err)
	}
	if err := gw.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "a reading after SIGHUP", 15*time.Second, func() bool {
		return strings.Contains(gw.stdout.String(), `"device":"wm1"`)
	})
	gw.stop(t)
}
