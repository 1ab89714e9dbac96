package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anxin-care/anxin/gateway"
)

// gatewayd check on a bad file: the Mandarin line on stderr, the English
// error returned (main prints it after), exit status 1, no table.
func TestCheckExplainsConfigError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gw.yaml")
	bad := "household: hh-0001\ndrivers:\n  - driver: cjt188\n    name: water\n    baud: 2400\n" +
		"    port: {path: /dev/ttyUSB0}\n    meters: [{address: \"12345678901234\", device: wm1}]\n"
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	err := m.Run(context.Background(), []string{"check", "-config", p})
	if err == nil || !strings.HasPrefix(err.Error(), "config "+p+": drivers[0].baud: unknown key (known: di_order, gap,") {
		t.Fatalf("err %v", err)
	}
	want := "gatewayd: 配置有误，没有进行检查：第 1 路驱动（name: water，cjt188）的 baud 项：没有这一项：它应写在 port 下面"
	if !strings.HasPrefix(errOut.String(), want) || strings.Count(errOut.String(), "\n") != 1 || out.Len() != 0 {
		t.Fatalf("stderr %q, stdout %q", errOut.String(), out.String())
	}
}

// A rejected SIGHUP reload: one log line with the Mandarin explanation (zh)
// ahead of the English error (err); the running config is kept.
func TestReloadLogExplainsConfigError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(p, []byte("household: hh-0001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(cfg, gateway.Options{Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{gw: gw, cfgPath: p}
	if err := os.WriteFile(p, []byte("household: hh-0001\nmqtt: {keepalive: 5 minutes}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	m.reloadLogged(slog.New(slog.NewTextHandler(&logs, nil)))
	line := logs.String()
	zh := `zh="配置有误，没有重新加载，网关继续按原来的配置运行：mqtt.keepalive 项：“5 minutes” 不是时长：`
	en := `err="config ` + p + `: mqtt.keepalive: \"5 minutes\" is not a duration like 30s"`
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, `msg="reload failed; keeping the running config"`) ||
		!strings.Contains(line, zh) || !strings.Contains(line, en) || strings.Index(line, zh) > strings.Index(line, en) {
		t.Fatalf("log line %s", line)
	}
}

// A config with no drivers (a drivers: list lost to a typo or an indent)
// reads no device: gatewayd check passed it with an empty table and exit
// 0, so a home was watched by nothing. It says so and fails.
func TestCheckRefusesAConfigWithoutDrivers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(p, []byte("household: hh-0001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	err := m.Run(context.Background(), []string{"check", "-config", p})
	if err == nil || !strings.Contains(out.String(), "没有任何驱动") {
		t.Fatalf("check of a config without drivers: err %v, stdout %q", err, out.String())
	}
}

// The same config checked against the household register: the register
// matching (the household is in it, nothing here is unregistered) must
// not turn the failure into exit 0, though no driver reads the home.
func TestCheckWithRegisterRefusesAConfigWithoutDrivers(t *testing.T) {
	dir := t.TempDir()
	p, reg := filepath.Join(dir, "gw.yaml"), filepath.Join(dir, "households.yaml")
	if err := os.WriteFile(p, []byte("household: hh-0001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	register := "households:\n  - id: hh-0001\n    devices:\n      - {id: btn1, kind: call_button}\n"
	if err := os.WriteFile(reg, []byte(register), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	err := m.Run(context.Background(), []string{"check", "-config", p, "-households", reg})
	if err == nil || !strings.Contains(out.String(), "没有任何驱动") {
		t.Fatalf("check of a config without drivers, with a register: err %v, stdout %q", err, out.String())
	}
}
