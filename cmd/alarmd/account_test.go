package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anxin-care/anxin/sqlite"
)

// alarmd account writes an account with its password hashed, read from
// stdin; a bad role, a short password or a worker without -area is refused
// with exit code 2.
func TestAccountCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "alarmd.db")
	cfg := filepath.Join(dir, "alarmd.yaml")
	if err := os.WriteFile(cfg, []byte("store: {path: "+db+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	args := []string{"-config", cfg, "-login", "wangfang", "-name", "王芳", "-area", "善广乡/安宁村"}
	if code := accountMain(args, strings.NewReader("a-long-password\n"), &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	if strings.Contains(out.String()+errs.String(), "a-long-password") {
		t.Error("the password was printed")
	}
	s, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.Account(context.Background(), "wangfang")
	if err != nil || a.Role != "worker" || a.Area != "善广乡/安宁村" || !strings.HasPrefix(a.Hash, "$argon2id$v=19$") ||
		strings.Contains(a.Hash, "a-long-password") {
		t.Fatalf("account: %v %+v", err, a)
	}
	for _, bad := range []struct {
		args []string
		pw   string
	}{{append(args, "-role", "boss"), "a-long-password\n"}, {args, "short\n"}, {args, ""},
		// -area forgotten: a worker would see the whole district
		{args[:len(args)-2], "a-long-password\n"}} {
		if code := accountMain(bad.args, strings.NewReader(bad.pw), &out, &errs); code != 2 {
			t.Errorf("%v with %q: exit %d", bad.args, bad.pw, code)
		}
	}
}
