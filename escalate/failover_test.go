package escalate_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/sqlite"
)

// channelFake is a provider whose every send answers as told.
type channelFake struct {
	name string
	mu   sync.Mutex
	// fail: "" sends, "permanent", "retry", "maybe" (unknown outcome)
	fail  string
	sends []anxin.Notification
	// cannotTell makes Lookup answer "cannot tell" (as a modem, or Aliyun
	// for calls, always does); lookups counts its calls
	cannotTell bool
	lookups    int
	calls      int // every Send, whatever it answered
}

func (f *channelFake) setFail(mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = mode
}

func (f *channelFake) Send(_ context.Context, n anxin.Notification) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch f.fail {
	case "permanent":
		return "", false, errors.New(f.name + ": invalid template")
	case "retry":
		return "", true, errors.New(f.name + ": 503")
	case "maybe":
		return "", true, fmt.Errorf("%s: timeout: %w", f.name, anxin.ErrMaybeSent)
	}
	f.sends = append(f.sends, n)
	return fmt.Sprintf("%s-%d", f.name, len(f.sends)), false, nil
}

func (f *channelFake) Lookup(context.Context, anxin.Notification, time.Time) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.cannotTell {
		return nil, errors.New(f.name + ": sends cannot be looked up")
	}
	return nil, nil
}

func (f *channelFake) Cancel(context.Context, string, bool) error { return nil }

// sent lists the attempt ids sent through f, in order.
func (f *channelFake) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, n := range f.sends {
		ids = append(ids, n.AttemptID)
	}
	return ids
}

type failoverEnv struct {
	svc    *escalate.Service
	db     *sqlite.DB
	alarms *alarms
	a, b   *channelFake
}

// newFailoverEnv has two routes for both channels: a, then b.
func newFailoverEnv(t *testing.T, cfg func(*escalate.Config)) *failoverEnv {
	t.Helper()
	return newFailoverEnvWith(t, cfg, nil)
}

// newFailoverEnvWith is newFailoverEnv with the service's options changed
// by opts (a clock, say) before it is built.
func newFailoverEnvWith(t *testing.T, cfg func(*escalate.Config), opts func(*escalate.Options)) *failoverEnv {
	t.Helper()
	db, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	a, b := &channelFake{name: "a"}, &channelFake{name: "b"}
	rs := []escalate.Route{{Provider: "a", Notifier: a}, {Provider: "b", Notifier: b}}
	c := escalate.Config{PublicURL: publicURL, AckTimeout: 3 * time.Minute, Rounds: 1, AckSecret: ackSecret, SMSReplies: true}
	if cfg != nil {
		cfg(&c)
	}
	al := &alarms{m: map[string]anxin.Alarm{}, chains: db}
	o := escalate.Options{
		Config: c, Store: db, Alarms: al, Households: households{household.ID: household}, Visits: db,
		Routes: map[anxin.Channel][]escalate.Route{anxin.ChannelSMS: rs, anxin.ChannelVoice: rs},
		Logger: slog.New(slog.DiscardHandler),
	}
	if opts != nil {
		opts(&o)
	}
	svc, err := escalate.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &failoverEnv{svc: svc, db: db, alarms: al, a: a, b: b}
}

func (e *failoverEnv) raise(t *testing.T, id string) {
	t.Helper()
	now := time.Now()
	x := anxin.Alarm{ID: id, Household: household.ID, Rule: "button", RuleKind: "event", Device: "btn1",
		Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, State: anxin.AlarmOpen, OpenedAt: now, UpdatedAt: now,
		Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton, At: now}}
	e.alarms.put(x)
	if err := e.svc.Escalate(context.Background(), x); err != nil {
		t.Fatal(err)
	}
}

func (e *failoverEnv) attempt(t *testing.T, id string) anxin.Attempt {
	t.Helper()
	a, err := e.db.Attempt(context.Background(), id)
	if err != nil {
		t.Fatalf("attempt %s: %v", id, err)
	}
	return a
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// A permanent failure on the first route sends the same step on the next at
// once; each route's attempt is on record, and nothing is sent twice.
func TestFailoverOnPermanentError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFailoverEnv(t, nil)
		e.a.setFail("permanent")
		e.raise(t, "01FAIL1")
		settle(time.Second)
		want := []string{"01FAIL1/s0/sms@b", "01FAIL1/s0/voice@b"}
		if got := e.b.sent(); !equal(got, want) {
			t.Fatalf("b sent %v, want %v", got, want)
		}
		if a := e.attempt(t, "01FAIL1/s0/sms@a"); a.Status != anxin.AttemptFailed || a.Provider != "a" {
			t.Fatalf("first route %+v", a)
		}
		if a := e.attempt(t, "01FAIL1/s0/sms@b"); a.Status != "queued" || a.ProviderID != "b-1" {
			t.Fatalf("second route %+v", a)
		}
		settle(2 * time.Minute) // passes of the chain in the meantime send nothing again
		if got := e.b.sent(); !equal(got, want) {
			t.Fatalf("b sent %v later, want %v", got, want)
		}
	})
}

// Retryable errors are retried on the route RouteTries times, then the step
// moves on.
func TestFailoverAfterRetriesExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFailoverEnv(t, func(c *escalate.Config) { c.RetryMin, c.RetryMax, c.RouteTries = time.Second, time.Second, 3 })
		e.a.setFail("retry")
		e.raise(t, "01FAIL2")
		settle(time.Second / 2)
		if got := e.b.sent(); len(got) != 0 {
			t.Fatalf("b sent %v before a's retries were over", got)
		}
		settle(3 * time.Second)
		if got := e.b.sent(); !equal(got, []string{"01FAIL2/s0/sms@b", "01FAIL2/s0/voice@b"}) {
			t.Fatalf("b sent %v", got)
		}
		if a := e.attempt(t, "01FAIL2/s0/sms@a"); a.Status != anxin.AttemptFailed || a.Tries != 3 {
			t.Fatalf("first route %+v", a)
		}
	})
}

// A send the provider accepted with no delivery report within
// DeliveryTimeout goes out on the next route too (the one case of two
// channels); a late report then changes nothing.
func TestFailoverOnNoDeliveryReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFailoverEnv(t, func(c *escalate.Config) { c.DeliveryTimeout = 30 * time.Second })
		e.raise(t, "01FAIL3")
		settle(29 * time.Second)
		if got := e.b.sent(); len(got) != 0 {
			t.Fatalf("b sent %v before the delivery timeout", got)
		}
		// the call rang: it needs no other route
		if err := e.svc.Report(context.Background(), anxin.StatusReport{AttemptID: "01FAIL3/s0/voice@a", ProviderID: "a-2", Channel: anxin.ChannelVoice, Status: "ringing"}); err != nil {
			t.Fatal(err)
		}
		settle(2 * time.Second)
		if got := e.b.sent(); !equal(got, []string{"01FAIL3/s0/sms@b"}) {
			t.Fatalf("b sent %v, want the SMS only", got)
		}
		if err := e.svc.Report(context.Background(), anxin.StatusReport{AttemptID: "01FAIL3/s0/sms@a", ProviderID: "a-1", Channel: anxin.ChannelSMS, Status: "delivered"}); err != nil {
			t.Fatal(err)
		}
		settle(time.Minute)
		if got, want := len(e.a.sent())+len(e.b.sent()), 3; got != want {
			t.Fatalf("%d sends, want %d: a %v b %v", got, want, e.a.sent(), e.b.sent())
		}
	})
}

// An SMS the provider reports undelivered moves to the next route at once,
// not at DeliveryTimeout: the report wakes the chain, whatever its channel.
func TestUndeliveredSMSFailsOverAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFailoverEnv(t, func(c *escalate.Config) { c.DeliveryTimeout = 2 * time.Minute })
		e.raise(t, "01UNDEL")
		settle(time.Second)
		if err := e.svc.Report(context.Background(), anxin.StatusReport{AttemptID: "01UNDEL/s0/sms@a", ProviderID: "a-1",
			Channel: anxin.ChannelSMS, Status: "undelivered"}); err != nil {
			t.Fatal(err)
		}
		settle(time.Second)
		if got := e.b.sent(); !equal(got, []string{"01UNDEL/s0/sms@b"}) {
			t.Fatalf("b sent %v a second after the SMS was reported undelivered, want the SMS", got)
		}
	})
}

// A provider failing DownAfter times in a row is down: the next steps skip
// it with a failed attempt on record, and ProvidersDown names it.
func TestProviderMarkedDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFailoverEnv(t, func(c *escalate.Config) { c.DownAfter, c.DownFor = 4, 10*time.Minute })
		e.a.setFail("permanent")
		e.raise(t, "01DOWN1") // sms and call fail on a: 2
		e.raise(t, "01DOWN2") // 4: a is down
		settle(time.Second)
		down := e.svc.ProvidersDown()
		if len(down) != 1 || down[0].Provider != "a" {
			t.Fatalf("down %+v", down)
		}
		e.a.setFail("")
		e.raise(t, "01DOWN3")
		settle(time.Second)
		if got := e.a.sent(); len(got) != 0 {
			t.Fatalf("a (down) sent %v", got)
		}
		if a := e.attempt(t, "01DOWN3/s0/sms@a"); a.Status != anxin.AttemptFailed || a.Error != "not sent: provider down" {
			t.Fatalf("skipped route %+v", a)
		}
		if got := len(e.b.sent()); got != 6 {
			t.Fatalf("b sent %d, want 6", got)
		}
		settle(10 * time.Minute)
		if len(e.svc.ProvidersDown()) != 0 {
			t.Fatalf("still down: %+v", e.svc.ProvidersDown())
		}
	})
}

// A call that failed on a route with another after it does not end the
// step: the call goes out on the next route.
func TestFailedCallFailsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFailoverEnv(t, nil)
		e.raise(t, "01CALL1")
		settle(time.Second)
		if err := e.svc.Report(context.Background(), anxin.StatusReport{AttemptID: "01CALL1/s0/voice@a", ProviderID: "a-2", Channel: anxin.ChannelVoice, Status: "failed"}); err != nil {
			t.Fatal(err)
		}
		settle(time.Second)
		if got := e.b.sent(); !equal(got, []string{"01CALL1/s0/voice@b"}) {
			t.Fatalf("b sent %v", got)
		}
		if c, _ := e.db.Chain(context.Background(), "01CALL1"); c.Step != 0 {
			t.Fatalf("step %d, want 0 (the call failed over)", c.Step)
		}
	})
}

// Notices fail over too: the "taken" SMS to the contact rung before the
// acceptor goes out on the next provider when the first refuses it.
func TestNoticeFailsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFailoverEnv(t, nil)
		e.raise(t, "01TAKEN")
		settle(3*time.Minute + time.Second) // step 1 unanswered: step 2 rings contact 2
		e.a.setFail("permanent")
		kp, err := e.svc.Press(context.Background(), "01TAKEN/s1/voice@a", "", "1")
		if err != nil || !kp.Accepted {
			t.Fatalf("press %+v %v", kp, err)
		}
		settle(time.Second)
		if got := e.b.sent(); !equal(got, []string{"01TAKEN/taken0/sms@b"}) {
			t.Fatalf("b sent %v", got)
		}
		if c, _ := e.db.Chain(context.Background(), "01TAKEN"); !c.Finished || c.AcceptedBy != "李华" {
			t.Fatalf("chain %+v", c)
		}
	})
}

func (e *failoverEnv) chainOf(t *testing.T, id string) anxin.Chain {
	t.Helper()
	c, err := e.db.Chain(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
