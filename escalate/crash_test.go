package escalate_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

const crashAckTimeout = 2 * time.Second

// TestCrashChild is the escalation service as a process of its own, run by
// TestCrashResume (skipped otherwise): a file store, the Twilio notifier
// pointed at the parent's fake, webhooks on a real port.
func TestCrashChild(t *testing.T) {
	dbPath := os.Getenv("ANXIN_CRASH_DB")
	if dbPath == "" {
		t.Skip("run by TestCrashResume")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	opened, _ := time.Parse(time.RFC3339Nano, os.Getenv("ANXIN_CRASH_OPENED"))
	al := &alarms{m: map[string]anxin.Alarm{}, chains: db}
	var ids []string
	for i, id := range append([]string{"01CRASH"}, strings.Fields(os.Getenv("ANXIN_CRASH_MORE"))...) {
		al.put(anxin.Alarm{ID: id, Household: household.ID, Rule: "button" + strconv.Itoa(i), Severity: anxin.SeverityCritical,
			Route: anxin.RouteFamily, State: anxin.AlarmOpen, Reason: "一键呼叫按钮被按下", OpenedAt: opened})
		ids = append(ids, id)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	tw, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From,
		PublicURL: publicURL, APIBaseURL: os.Getenv("ANXIN_CRASH_TWILIO"), CallEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := escalate.New(escalate.Options{
		Config: escalate.Config{PublicURL: publicURL, AckTimeout: crashAckTimeout, Rounds: 2, AckSecret: ackSecret,
			RetryMin: 200 * time.Millisecond, RetryMax: time.Second},
		Store: db, Alarms: al, Households: households{household.ID: household}, Visits: db,
		Notifier: tw, Provider: "twilio", Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	twilio.NewWebhooks(twiliotest.AuthToken, publicURL, svc, log).Mount(mux)
	srv := &http.Server{Addr: os.Getenv("ANXIN_CRASH_LISTEN"), Handler: mux}
	go func() { _ = srv.ListenAndServe() }()
	// as alarmd does at start: resume stored chains and read the outbox
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "every chain finished", 40*time.Second, func() bool {
		for _, id := range ids {
			if c, err := db.Chain(ctx, id); err != nil || !c.Finished {
				return false
			}
		}
		return true
	})
	_ = svc.Close()
	_ = db.Close()
}

type child struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startChild(t *testing.T, env []string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.v")}
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor waits (testenv.Eventually) until cond holds of the fake's timeline.
func waitFor(t *testing.T, fake *twiliotest.Server, within time.Duration, what string, cond func([]twiliotest.Event) bool) {
	t.Helper()
	testenv.Eventually(t, what, within, func() bool { return cond(fake.Events()) })
}

func count(evs []twiliotest.Event, kind string) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// kill -9 in the middle of a step's SMS request (Twilio got it, alarmd never
// saw the answer), down for 1.5 s, restart: the chain looks the SMS up instead
// of sending it again, goes on at the same step, places the step's call (the
// step's wait starts from there) and walks to the end with every step sent
// exactly once.
func TestCrashResume(t *testing.T) {
	fake, env := crashPeers(t)
	first := startChild(t, env)
	waitFor(t, fake, 20*time.Second, "step 1's SMS", func(evs []twiliotest.Event) bool { return count(evs, "sms") >= 1 })
	fake.Fault("sms", twiliotest.Fault{Hang: true}) // step 2's SMS: accepted, never answered
	waitFor(t, fake, 20*time.Second, "step 2's SMS", func(evs []twiliotest.Event) bool { return count(evs, "sms") >= 2 })
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	killed := time.Now()
	// the deadline of step 2 as the killed process stored it
	dbPath := strings.TrimPrefix(env[0], "ANXIN_CRASH_DB=")
	stored := storedChain(t, dbPath)
	if stored.Step != 1 || stored.State != anxin.ChainWalking {
		t.Fatalf("chain at the kill: %+v", stored)
	}
	<-time.After(1500 * time.Millisecond) // the outage
	second := startChild(t, env)
	done := make(chan error, 1)
	go func() { done <- second.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("restarted child: %v\n%s", err, second.out.String())
		}
	case <-time.After(50 * time.Second):
		_ = second.cmd.Process.Kill()
		t.Fatalf("restarted child did not finish\n%s", second.out.String())
	}

	evs := fake.Events()
	var smsTo, callTo []string
	var smsAt, callAt []time.Time
	bodies := map[string]int{}
	for _, e := range evs {
		switch e.Kind {
		case "sms":
			smsTo, smsAt = append(smsTo, e.To), append(smsAt, e.At)
			bodies[e.Body]++
		case "call":
			callTo, callAt = append(callTo, e.To), append(callAt, e.At)
		}
	}
	order := []string{phone1, phone2, phone3, phone1, phone2, phone3}
	if got := strings.Join(smsTo, " "); got != strings.Join(append(order, phone3), " ") { // + the duty SMS
		t.Fatalf("SMS went to %s\n--- first run:\n%s\n--- second run:\n%s", got, first.out.String(), second.out.String())
	}
	// Step 2's call comes after its SMS, which hung at the kill: the restart
	// places it however late it resumed, since step 2's wait had not started
	// (a step's deadline counts from its requests, and the killed process
	// never finished them: none was stored)
	calls, attempts := order, 13 // 6 SMS + 6 calls + 1 duty SMS
	if got := strings.Join(callTo, " "); got != strings.Join(calls, " ") {
		t.Fatalf("calls went to %s\n--- second run:\n%s", got, second.out.String())
	}
	for b, n := range bodies {
		if n != 1 {
			t.Fatalf("an SMS was sent %d times: %.60s", n, b)
		}
	}
	if n := count(evs, "list-sms"); n != 1 {
		t.Fatalf("%d message lookups after the restart, want 1", n)
	}
	if !stored.Deadline.IsZero() {
		t.Fatalf("step 2 had a deadline (%v) before its call was made", stored.Deadline)
	}
	// Step 3 went out a full ack timeout after step 2's call, made by the
	// restart: the person rung last got the whole wait
	resumed := resumedAt(t, second.out.String())
	t.Logf("step 2 → step 3: %v; killed %v after step 2's SMS, down 1.5s, resumed %v after the kill; step 2's call %v after the resume, step 3 %v after it",
		smsAt[2].Sub(smsAt[1]), killed.Sub(smsAt[1]), resumed.Sub(killed), callAt[1].Sub(resumed), smsAt[2].Sub(callAt[1]))
	if smsAt[2].Before(callAt[1].Add(crashAckTimeout)) {
		t.Fatalf("step 3 came %v after step 2's call, before the ack timeout (%v)", smsAt[2].Sub(callAt[1]), crashAckTimeout)
	}
	db, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Chain(context.Background(), "01CRASH")
	if err != nil || c.State != anxin.ChainUnanswered || !c.Finished {
		t.Fatalf("chain %+v %v", c, err)
	}
	as, err := db.Attempts(context.Background(), "01CRASH")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, a := range as {
		if a.Purpose == anxin.PurposeStep && a.Tries != 1 && a.ID != "01CRASH/s1/sms" {
			t.Errorf("attempt %s tried %d times", a.ID, a.Tries)
		}
		ids[a.ID] = true
	}
	if len(ids) != attempts {
		t.Fatalf("%d attempts, want %d (SMS, calls and the duty SMS)", len(ids), attempts)
	}
}

// crashPeers starts the fake Twilio (every call rings) forwarding its
// callbacks to the child's port, and gives the child's environment.
func crashPeers(t *testing.T) (*twiliotest.Server, []string) {
	t.Helper()
	fake := twiliotest.New()
	for _, p := range []string{phone1, phone2, phone3} {
		fake.Script(p, twiliotest.Script{Call: twiliotest.Ring})
	}
	port := testenv.FreePort(t)
	fake.Deliver = func(r *http.Request) *http.Response {
		req, _ := http.NewRequest(r.Method, "http://127.0.0.1:"+strconv.Itoa(port)+r.RequestURI, r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil // the child is down: Twilio would retry later; we drop it
		}
		return resp
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, []string{
		"ANXIN_CRASH_DB=" + filepath.Join(t.TempDir(), "alarmd.db"), "ANXIN_CRASH_TWILIO=" + srv.URL,
		"ANXIN_CRASH_LISTEN=127.0.0.1:" + strconv.Itoa(port), "ANXIN_CRASH_OPENED=" + time.Now().UTC().Format(time.RFC3339Nano),
	}
}

var attemptInTwiML = regexp.MustCompile(`attempt=([^"&]+)`)

// Two alarms ring the same contact; kill -9 while the first call request is
// at the provider (placed, never answered) and the other alarm's call went
// through. After the restart each alarm holds its own call: the lookup
// skips the call the other alarm holds, nothing is placed twice, and no
// call is ended on behalf of another alarm.
func TestCrashTwoAlarmsCallOneNumber(t *testing.T) {
	fake, env := crashPeers(t)
	env = append(env, "ANXIN_CRASH_MORE=01CRASH2")
	fake.Fault("call", twiliotest.Fault{Hang: true})
	first := startChild(t, env)
	waitFor(t, fake, 20*time.Second, "both alarms' first calls", func(evs []twiliotest.Event) bool { return count(evs, "call") >= 2 })
	// The fake records a call when the request arrives, before the child
	// has stored the answered call's id: killed in between, neither attempt
	// holds a call, and nothing tells the two lookups which call is whose
	// (Twilio lists calls by number and time only). Kill once the answered
	// one is stored, as this test means.
	dbPath := strings.TrimPrefix(env[0], "ANXIN_CRASH_DB=")
	waitStored(t, dbPath, "the answered call's id stored by its attempt", func(as []anxin.Attempt) bool {
		for _, a := range as {
			if a.Channel == anxin.ChannelVoice && a.ProviderID != "" {
				return true
			}
		}
		return false
	}, "01CRASH", "01CRASH2")
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	second := startChild(t, env)
	if err := second.cmd.Wait(); err != nil {
		t.Fatalf("restarted child: %v\n--- first run:\n%s\n--- second run:\n%s", err, first.out.String(), second.out.String())
	}
	owner := map[string]string{} // call SID → the attempt whose request made it
	placed := map[string]int{}
	for _, e := range fake.Events() {
		if e.Kind != "call" || e.Sid == "" {
			continue
		}
		m := attemptInTwiML.FindStringSubmatch(e.Body)
		if m == nil {
			t.Fatalf("no attempt in the call's TwiML: %.200s", e.Body)
		}
		id, _ := url.QueryUnescape(strings.ReplaceAll(m[1], "&amp;", "&"))
		owner[e.Sid] = id
		placed[id]++
	}
	db, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, alarm := range []string{"01CRASH", "01CRASH2"} {
		as, err := db.Attempts(context.Background(), alarm)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.Channel != anxin.ChannelVoice {
				continue
			}
			if placed[a.ID] != 1 {
				t.Errorf("attempt %s placed %d calls, want 1", a.ID, placed[a.ID])
			}
			if owner[a.ProviderID] != a.ID {
				t.Errorf("attempt %s holds call %s, which attempt %s placed", a.ID, a.ProviderID, owner[a.ProviderID])
			}
		}
	}
	for _, e := range fake.Events() {
		if e.Kind == "cancel" && alarmOfAttempt(owner[e.Sid]) == "" {
			t.Errorf("a cancel for a call nobody placed: %s", e.Sid)
		}
	}
}

// waitStored waits (testenv.Eventually) until cond holds of the attempts of
// the alarms as the running child's store file holds them.
func waitStored(t *testing.T, path, what string, cond func([]anxin.Attempt) bool, alarms ...string) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testenv.Eventually(t, what, 20*time.Second, func() bool {
		var all []anxin.Attempt
		for _, id := range alarms {
			as, err := db.Attempts(context.Background(), id)
			if err != nil {
				return false // the child is writing; read again
			}
			all = append(all, as...)
		}
		return cond(all)
	})
}

func alarmOfAttempt(id string) string {
	a, _, _ := strings.Cut(id, "/")
	return a
}

// storedChain reads the crash test's chain from the store file.
func storedChain(t *testing.T, path string) anxin.Chain {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Chain(context.Background(), "01CRASH")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var resumedLine = regexp.MustCompile(`(?m)^time=(\S+) level=INFO msg="chain resumed" alarm=01CRASH `)

// resumedAt is when the restarted child resumed the chain, from its log
// (the text handler's millisecond time, so never later than the moment).
func resumedAt(t *testing.T, out string) time.Time {
	t.Helper()
	m := resumedLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the restarted child did not log resuming the chain:\n%s", out)
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatal(err)
	}
	return at
}
