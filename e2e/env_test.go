package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary is the real gatewayd or alarmd, built once per test run.
func binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "anxin-e2e-bin")
		if buildErr != nil {
			return
		}
		root := testenv.RepoRoot(t)
		for _, cmd := range []string{"gatewayd", "alarmd"} {
			c := exec.Command("go", "build", "-o", filepath.Join(binDir, cmd), "./cmd/"+cmd)
			c.Dir = root
			if out, err := c.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", cmd, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

func TestMain(m *testing.M) {
	if os.Getenv(fleetEnv) != "" {
		// this test binary re-executed as the fleet of simulated gateways
		os.Exit(fleetMain())
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// output is a process's stdout+stderr, kept whole across restarts (bounded),
// and, with ANXIN_E2E_LOGS=dir, also in a file of that dir (unbounded, with
// the test's kills and restarts marked), kept after the test.
type output struct {
	mu   sync.Mutex
	b    bytes.Buffer
	file *os.File
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.file != nil {
		_, _ = o.file.Write(p)
	}
	if o.b.Len() > 8<<20 {
		o.b.Reset()
	}
	return o.b.Write(p)
}

// mark writes a line of the test's own (a kill, a restart) into the kept
// log file, timestamped like alarmd's log.
func (o *output) mark(what string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.file != nil {
		fmt.Fprintf(o.file, "=== e2e %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), what)
	}
}

var logSeq atomic.Int64

// keepLog opens the file a process's output is kept in when ANXIN_E2E_LOGS
// names a directory: <dir>/<test>.<n>.<name>.log.
func keepLog(t testing.TB, name string) *os.File {
	dir := os.Getenv("ANXIN_E2E_LOGS")
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	test := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s.%d.%s.log", test, logSeq.Add(1), name)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s's output is kept in %s", name, f.Name())
	t.Cleanup(func() { f.Close() })
	return f
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// proc is a daemon under test: started, killed with SIGKILL, restarted.
type proc struct {
	t    testing.TB
	name string
	args []string
	out  *output

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func startProc(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: filepath.Base(bin), args: args, out: &output{}}
	p.out.file = keepLog(t, p.name)
	p.start(bin)
	t.Cleanup(func() { p.Stop() })
	return p
}

func (p *proc) start(bin string) {
	p.t.Helper()
	cmd := exec.Command(bin, p.args...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.out.mark(fmt.Sprintf("started pid %d", cmd.Process.Pid))
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(exited)
	}()
}

func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	select {
	case <-exited:
		return nil
	default:
	}
	p.out.mark(fmt.Sprintf("signal %v to pid %d", sig, cmd.Process.Pid))
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return fmt.Errorf("%s did not stop within 15 s of %v", p.name, sig)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Kill is SIGKILL: no clean-up at all.
func (p *proc) Kill() { _ = p.signal(syscall.SIGKILL) }

// Stop is SIGTERM; it returns how the process exited.
func (p *proc) Stop() error { return p.signal(syscall.SIGTERM) }

// Restart starts the same binary with the same arguments (after Kill or Stop).
func (p *proc) Restart() {
	p.t.Helper()
	p.mu.Lock()
	bin := p.cmd.Path
	p.mu.Unlock()
	p.start(bin)
}

func (p *proc) Output() string { return p.out.String() }

// fakeTwilio serves twiliotest's fake over real HTTP (alarmd's
// notify.twilio.api_base_url points at it) and delivers its signed
// callbacks to alarmd over real HTTP.
type fakeTwilio struct {
	*twiliotest.Server
	URL string
}

func startFakeTwilio(t testing.TB) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{Server: twiliotest.New()}
	srv := httptest.NewServer(f.Server)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	client := &http.Client{Timeout: 10 * time.Second}
	f.Deliver = func(req *http.Request) *http.Response {
		// req targets a path under alarmd's public URL (its Host): send it there
		out, err := http.NewRequest(req.Method, "http://"+req.Host+req.URL.RequestURI(), req.Body)
		if err != nil {
			return nil
		}
		out.Header = req.Header.Clone()
		resp, err := client.Do(out)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp
	}
	return f
}

// events of one kind (sms, call, callback, …) to one number, or to anyone.
func (f *fakeTwilio) events(kind, to string) []twiliotest.Event {
	var out []twiliotest.Event
	for _, e := range f.Events() {
		if e.Kind == kind && (to == "" || e.To == to) {
			out = append(out, e)
		}
	}
	return out
}

// post sends a signed form to alarmd, as Twilio would.
func post(t testing.TB, target string, form map[string]string) (int, string) {
	t.Helper()
	return postSigned(t, target, form, twiliotest.AuthToken)
}

// postSigned signs with token (a forger's, in a test of refusal).
func postSigned(t testing.TB, target string, form map[string]string, token string) (int, string) {
	t.Helper()
	v := make(map[string][]string, len(form))
	for k, s := range form {
		v[k] = []string{s}
	}
	req := twiliotest.SignedRequest(target, v, token)
	out, err := http.NewRequest(http.MethodPost, target, req.Body)
	if err != nil {
		t.Fatal(err)
	}
	out.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const apiToken = "e2e-records-api-token-0123456789"

// apiGet reads the records API with the district token.
func apiGet(t testing.TB, base, path string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// healthy waits for alarmd's /healthz to answer 200; if it never does, the
// test's log gets the tail of alarmd's output.
func healthy(t testing.TB, base string, p *proc, within time.Duration) {
	t.Helper()
	up := false
	defer func() { // Eventually's Fatalf unwinds through here
		if !up {
			t.Logf("alarmd's output:\n%s", tail(p.Output(), 4000))
		}
	}()
	testenv.Eventually(t, "alarmd's /healthz to answer 200", within, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	up = true
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// household is one generated household: elder and a chain of two family
// contacts and a grid worker, numbers derived from its index (made up).
type household struct {
	ID       string
	Elder    string // phone
	Contacts []string
}

func households(n int) []household {
	out := make([]household, n)
	for i := range out {
		out[i] = household{ID: fmt.Sprintf("hh-%04d", i+1), Elder: fmt.Sprintf("+86138%08d", i+1),
			Contacts: []string{fmt.Sprintf("+86139%08d", i+1), fmt.Sprintf("+86137%08d", i+1), fmt.Sprintf("+86136%08d", i+1)}}
	}
	return out
}

func householdsYAML(hs []household, tier string) string {
	var b strings.Builder
	b.WriteString("households:\n")
	for i, h := range hs {
		fmt.Fprintf(&b, `  - id: %s
    elder: {name: 老人%d, phone: %q, address: 安宁村%d号, tier: %s}
    contacts:
      - {name: 子女%d, relation: child, phone: %q}
      - {name: 邻居%d, relation: neighbour, phone: %q}
    community:
      - {name: 网格员%d, role: grid_worker, phone: %q}
    devices: [{id: wm1, kind: water_meter}, {id: btn1, kind: call_button}, {id: trk1, kind: tracker}]
`, h.ID, i+1, h.Elder, i+1, tier, i+1, h.Contacts[0], i+1, h.Contacts[1], i+1, h.Contacts[2])
	}
	return b.String()
}

// alarmdYAML is alarmd's config for a test: a broker, the fake Twilio, the
// records API token, files in dir.
func alarmdYAML(dir, broker, httpAddr, twilioURL string, ackTimeout time.Duration, extra string) string {
	return fmt.Sprintf(`
mqtt: {broker: %q, client_id: alarmd-e2e}
http: {listen: %q, public_url: "http://%s"}
store: {path: %q}
`, broker, httpAddr, httpAddr, filepath.Join(dir, "alarmd.db")) + commonYAML(dir, twilioURL, ackTimeout) + extra
}

// commonYAML is what every e2e alarmd shares: the fake Twilio, the ack
// secret, the records API token, the households file in dir.
func commonYAML(dir, twilioURL string, ackTimeout time.Duration) string {
	return fmt.Sprintf(`notify:
  provider: twilio
  ack_timeout: %s
  rounds: 2
  ack_secret: %q
  twilio: {account_sid: %q, auth_token: %q, from: %q, api_base_url: %q}
api:
  tokens: [{name: district, token: %q, area: ""}]
households_file: %q
log: {level: info}
`, ackTimeout, e2eAckSecret, twiliotest.AccountSID, twiliotest.AuthToken, twiliotest.From, twilioURL, apiToken,
		filepath.Join(dir, "households.yaml"))
}

// scriptContacts makes a third of the households accept at the first
// contact, a third at the second after a missed call, and a third never
// (they walk the whole chain twice).
func scriptContacts(tw *fakeTwilio, hs []household) {
	for i, h := range hs {
		switch i % 3 {
		case 0:
			tw.Script(h.Contacts[0], twiliotest.Script{Call: twiliotest.Press, After: 2 * time.Second})
		case 1:
			tw.Script(h.Contacts[0], twiliotest.Script{Call: twiliotest.NoAnswer, After: time.Second})
			tw.Script(h.Contacts[1], twiliotest.Script{Call: twiliotest.Press, After: 2 * time.Second})
		default:
			for _, c := range h.Contacts {
				tw.Script(c, twiliotest.Script{Call: twiliotest.NoAnswer, After: time.Second})
			}
		}
	}
}

func writeFile(t testing.TB, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type netDialer struct{}

func (netDialer) ok(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// faultSeed is the fault tests' seed: def, or ANXIN_FAULT_SEED.
func faultSeed(t testing.TB, def uint64) uint64 {
	t.Helper()
	s := os.Getenv("ANXIN_FAULT_SEED")
	if s == "" {
		return def
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("ANXIN_FAULT_SEED: %v", err)
	}
	return n
}
