package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A worker account made without -area (the flag forgotten at 3 a.m.) must
// not silently see the whole district: the defaults are role worker and
// area "" (whole district), so the forgotten flag fails open.
func TestWorkerWithoutAreaIsRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alarmd.yaml")
	if err := os.WriteFile(cfg, []byte("store: {path: "+filepath.Join(dir, "alarmd.db")+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	args := []string{"-config", cfg, "-login", "wangfang", "-name", "王芳"}
	if code := accountMain(args, strings.NewReader("a-long-password\n"), &out, &errs); code == 0 {
		t.Errorf("a worker without -area was saved (exit 0): %s", strings.TrimSpace(out.String()))
	}
}
