package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anxin-care/anxin/internal/testenv"
)

// TestSystemdUnit: the shipped unit restarts gatewayd always, runs it as a
// dedicated user in dialout with its state in /var/lib/anxin, reloads with
// SIGHUP, and passes systemd-analyze verify (when installed) with the real
// binary in place.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "deploy", "gatewayd.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"\nRestart=always\n", "\nUser=anxin\n", "\nSupplementaryGroups=dialout\n",
		"\nStateDirectory=anxin\n", "\nExecReload=/bin/kill -HUP $MAINPID\n",
		"\nExecStart=/usr/local/bin/gatewayd -config /etc/anxin/gatewayd.yaml\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "gatewayd.service")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(unit, "/usr/local/bin/gatewayd", gatewaydBinary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", p).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
