package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// alarmdBinary builds cmd/alarmd once per test run.
func alarmdBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "alarmd-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "alarmd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// logTail collects the daemon's JSON log lines.
type logTail struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   bytes.Buffer
	seen  chan struct{}
}

func (l *logTail) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		l.mu.Lock()
		l.raw.Write(sc.Bytes())
		l.raw.WriteByte('\n')
		l.lines = append(l.lines, m)
		l.mu.Unlock()
		select {
		case l.seen <- struct{}{}:
		default:
		}
	}
}

// wait returns the first line whose msg starts with prefix (after skip lines).
func (l *logTail) wait(t *testing.T, prefix string, skip int) (map[string]any, int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		for i := skip; i < len(l.lines); i++ {
			if msg, _ := l.lines[i]["msg"].(string); strings.HasPrefix(msg, prefix) {
				l.mu.Unlock()
				return l.lines[i], i + 1
			}
		}
		l.mu.Unlock()
		select {
		case <-l.seen:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no log line %q:\n%s", prefix, l.String())
		}
	}
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raw.String()
}

func TestIntegrationAlarmdBinaryReloadAndStop(t *testing.T) {
	bin := alarmdBinary(t)
	dir := t.TempDir()
	hh := filepath.Join(dir, "households.yaml")
	rulesFile := filepath.Join(dir, "rules.yaml")
	cfgFile := filepath.Join(dir, "alarmd.yaml")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(hh, "households:\n  - id: hh-0001\n    elder: {name: 张桂兰, tier: high}\n    contacts: [{name: 李明, relation: child, phone: \"+8613900000001\"}]\n")
	write(rulesFile, "rules:\n  - {name: button, kind: event, severity: critical, events: [button_pressed]}\n")
	write(cfgFile, fmt.Sprintf(`
mqtt: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:0"}
store: {path: %q}
rules_file: %q
households_file: %q
`, filepath.Join(dir, "alarmd.db"), rulesFile, hh))
	const secret = "ack-secret-that-must-not-leak-0123456789"
	cmd := exec.Command(bin, "-config", cfgFile)
	cmd.Env = append(os.Environ(), "ANXIN_NOTIFY_ACK_SECRET="+secret, "ANXIN_LOG_LEVEL=debug")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	logs := &logTail{seen: make(chan struct{}, 1)}
	go func() { logs.read(stderr); exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	open, next := logs.wait(t, "alarmd open", 0)
	addr, _ := open["http"].(string)
	health := func() int {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := health(); code != 200 {
		t.Fatalf("/healthz %d", code)
	}

	// a bad rules file: rejected with the reason, the daemon runs on
	write(rulesFile, "rules:\n  - {name: button, kind: event, severity: loud, events: [button_pressed]}\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line, next := logs.wait(t, "reload rejected", next)
	if e, _ := line["err"].(string); !strings.Contains(e, "severity") || !strings.Contains(line["msg"].(string), "rules") {
		t.Fatalf("rejection does not say what is wrong: %v", line)
	}
	// a bad households file: the same
	write(rulesFile, "rules:\n  - {name: button, kind: event, severity: critical, events: [button_pressed]}\n")
	write(hh, "households:\n  - id: hh-0001\n    contacts: [{name: 李明, phone: \"13900000001\"}]\n")
	_ = cmd.Process.Signal(syscall.SIGHUP)
	line, next = logs.wait(t, "reload rejected", next)
	if e, _ := line["err"].(string); !strings.Contains(e, "E.164") {
		t.Fatalf("households rejection: %v", line)
	}
	// a good reload
	write(hh, "households:\n  - id: hh-0002\n")
	_ = cmd.Process.Signal(syscall.SIGHUP)
	_, _ = logs.wait(t, "reloaded", next)
	if code := health(); code != 200 {
		t.Fatalf("/healthz after reloads %d", code)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit 20 s after SIGTERM")
	}
	out := logs.String()
	for _, leak := range []string{secret, "13900000001", "张桂兰", "李明"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q in the logs:\n%s", leak, out)
		}
	}
}

func TestAlarmdBadConfigExits2(t *testing.T) {
	bin := alarmdBinary(t)
	p := filepath.Join(t.TempDir(), "alarmd.yaml")
	if err := os.WriteFile(p, []byte("mqtt: {brokr: tcp://x:1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-config", p).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "mqtt.brokr") {
		t.Fatalf("exit %v, output %s", err, out)
	}
	// `alarmd replay` is the replay package's Main: bad arguments exit 2 and say why
	out, err = exec.Command(bin, "replay").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "replay: --format") {
		t.Fatalf("replay: exit %v, output %s", err, out)
	}
}
