package escalate_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

func openAlarm(id string) anxin.Alarm {
	return anxin.Alarm{
		ID: id, Household: household.ID, Rule: "button", RuleKind: "event", Device: "btn1",
		Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, State: anxin.AlarmOpen,
		Reason: "一键呼叫按钮被按下", OpenedAt: time.Now(), UpdatedAt: time.Now(),
	}
}

// An alarm closed (or cleared) after it was committed but before its chain
// started rings nobody, whatever the order of the close's two halves and
// the hand-over that was already queued.
func TestCloseBeforeChainStartRingsNobody(t *testing.T) {
	for _, tc := range []struct {
		name              string
		resolve, resolved bool // the chain stop, the alarm's state in the store
	}{
		{"staff close", true, true},
		{"close half done: chain stopped, alarm still open", true, false},
		{"cleared by its device in the same batch", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				synctest.Wait() // the outbox's first read is over
				ctx := context.Background()
				a := openAlarm("01CLOSED")
				e.alarms.put(a)
				if tc.resolve {
					if err := e.svc.Resolve(ctx, a.ID, "closed by hand"); err != nil {
						t.Fatal(err)
					}
				}
				if tc.resolved {
					if err := e.alarms.SetAlarmState(ctx, a.ID, anxin.AlarmResolved, "", time.Now()); err != nil {
						t.Fatal(err)
					}
				}
				_ = e.svc.Escalate(ctx, a) // the hand-over queued before the close
				settle(30 * time.Minute)
				if got := e.timeline("sms", "call"); len(got) != 0 {
					t.Fatalf("a closed alarm rang people:\n%s", e.dump())
				}
				vs, err := e.db.Visits(ctx, sqlite.VisitFilter{AlarmID: a.ID})
				if err != nil || len(vs) != 0 {
					t.Fatalf("visits %+v %v: a closed alarm wrote an outcome", vs, err)
				}
			})
		})
	}
}

// Two alarms ring the same contact. Alarm A's call request is lost before
// it reaches the provider; alarm B's call goes through. A's lookup must not
// take B's call for its own: A places its own call, and ending A touches
// only A's call.
func TestRecoveredCallIsNotAnotherAlarms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		ctx := context.Background()
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.fake.Fault("call", twiliotest.Fault{Unsent: true})
		e.raise("01ALARMA", anxin.SeverityCritical)
		synctest.Wait()
		e.raise("01ALARMB", anxin.SeverityCritical)
		settle(5 * time.Second)
		callOf := func(alarmID string) anxin.Attempt {
			t.Helper()
			as, err := e.db.Attempts(ctx, alarmID)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range as {
				if a.Channel == anxin.ChannelVoice && a.Step == 0 {
					return a
				}
			}
			t.Fatalf("no call attempt for %s", alarmID)
			return anxin.Attempt{}
		}
		a, b := callOf("01ALARMA"), callOf("01ALARMB")
		if a.ProviderID == "" || a.ProviderID == b.ProviderID {
			t.Fatalf("alarm A holds call %q, alarm B %q:\n%s", a.ProviderID, b.ProviderID, e.dump())
		}
		placed := 0
		for _, l := range e.timeline("call") {
			if l.to == phone1 && l.ev.Status == 201 {
				placed++
			}
		}
		if placed != 2 {
			t.Fatalf("%d calls placed to contact 1, want one per alarm:\n%s", placed, e.dump())
		}
		if err := e.svc.Resolve(ctx, "01ALARMA", "closed by hand"); err != nil {
			t.Fatal(err)
		}
		settle(5 * time.Second)
		for _, l := range e.timeline("cancel") {
			if l.ev.Sid != a.ProviderID {
				t.Fatalf("ending alarm A canceled call %s (alarm B holds %s):\n%s", l.ev.Sid, b.ProviderID, e.dump())
			}
		}
		if len(e.timeline("cancel")) != 1 {
			t.Fatalf("A's own call was not ended:\n%s", e.dump())
		}
	})
}

// lateHouseholds is a register that learns a household while the service runs.
type lateHouseholds struct {
	mu sync.Mutex
	m  map[string]anxin.Household
}

func (l *lateHouseholds) Household(_ context.Context, id string) (anxin.Household, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.m[id]; ok {
		return h, nil
	}
	return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "no household %s", id)
}

func (l *lateHouseholds) add(h anxin.Household) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[h.ID] = h
}

// A chain that cannot start (its household is missing from the register)
// is not dropped: the start is retried with backoff, counted, and the chain
// starts once the household is there.
func TestFailedStartIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hh := &lateHouseholds{m: map[string]anxin.Household{}}
		e := newEnvWith(t, hh)
		a := openAlarm("01LATE")
		e.alarms.put(a)
		_ = e.svc.Escalate(context.Background(), a) // the start fails: no such household
		settle(time.Minute)
		if got := e.timeline("sms", "call"); len(got) != 0 {
			t.Fatalf("sent without a household:\n%s", e.dump())
		}
		if n := e.svc.Waiting(); n != 1 {
			t.Fatalf("Waiting() = %d, want 1 while the chain cannot start", n)
		}
		hh.add(household)
		settle(2 * time.Minute)
		got := e.timeline("sms")
		if len(got) == 0 || got[0].to != phone1 {
			t.Fatalf("the chain did not start once the household was known:\n%s", e.dump())
		}
		if n := e.svc.Waiting(); n != 0 {
			t.Fatalf("Waiting() = %d after the chain started", n)
		}
	})
}

// A contact accepts by the ack link while the next step's call request
// hangs at the provider: the acceptance is answered at once (the hanging
// request holds nothing the acceptance needs), and the chain ends accepted
// by that contact.
func TestAcceptWhileASendHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.raise("01HANG", anxin.SeverityCritical)
		synctest.Wait()
		link := e.firstLink()
		e.fake.Fault("call", twiliotest.Fault{Hang: true}) // step 2's call: answered only when the client gives up
		settle(3 * time.Minute)                            // step 2 under way, its call hanging
		if got := e.timeline("call"); len(got) != 2 || got[1].to != phone2 {
			t.Fatalf("step 2's call is not under way:\n%s", e.dump())
		}
		start := time.Now()
		done := make(chan int, 1)
		go func() {
			code, _ := e.do("POST", link)
			done <- code
		}()
		synctest.Wait()
		select {
		case code := <-done:
			if code != 200 || time.Since(start) != 0 {
				t.Fatalf("POST %d after %v", code, time.Since(start))
			}
		default:
			t.Fatal("the acceptance waits for the hanging call request")
		}
		settle(time.Minute)
		c := e.chain("01HANG")
		if c.State != anxin.ChainAccepted || c.AcceptedTarget != 0 || !c.Finished {
			t.Fatalf("chain %+v", c)
		}
	})
}

// Installer alarms (device silent, gateway offline, low battery, tamper)
// reach the installer route by SMS, nobody is walked, and one device is
// one SMS a day however often it raises: a second alarm of the same device
// that day is not sent again, another device's is, and the next day's is.
func TestInstallersToldOncePerDevicePerDay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		installer := "+8613600000009"
		e := newEnv(t, func(c *escalate.Config) {
			c.Installers = []anxin.Contact{{Name: "周师傅", Phone: installer}}
		})
		ctx := context.Background()
		kit := func(id, rule, device string, cause anxin.Cause) {
			a := anxin.Alarm{ID: id, Household: household.ID, Rule: rule, RuleKind: "event", Device: device,
				Severity: anxin.SeverityInfo, Route: anxin.RouteInstaller, State: anxin.AlarmOpen, Cause: cause,
				OpenedAt: time.Now(), UpdatedAt: time.Now()}
			e.alarms.put(a)
			if err := e.svc.Escalate(ctx, a); err != nil {
				t.Fatal(err)
			}
			settle(time.Minute)
		}
		silent := anxin.Cause{Code: anxin.CauseDeviceSilent, Device: anxin.KindWaterMeter, Since: time.Now().Add(-25 * time.Hour), For: 25 * time.Hour}
		low := anxin.Cause{Code: anxin.CauseLowBattery, Device: anxin.KindWaterMeter, At: time.Now()}
		tamper := anxin.Cause{Code: anxin.CauseTamper, Device: anxin.KindCallButton, At: time.Now()}
		kit("01KIT1", "device_silent", "wm1", silent)
		kit("01KIT2", "battery_low", "wm1", low) // same device, same day
		kit("01KIT3", "device_trouble", "btn1", tamper)
		settle(24 * time.Hour)
		kit("01KIT4", "battery_low", "wm1", low) // the next day
		sms := e.timeline("sms")
		if len(sms) != 3 {
			t.Fatalf("%d installer SMS, want 3 (wm1 once a day, btn1 once):\n%s", len(sms), e.dump())
		}
		for _, l := range sms {
			if l.to != installer {
				t.Fatalf("an installer alarm went to %s:\n%s", l.to, e.dump())
			}
			if strings.Contains(l.ev.Body, "wm1") || strings.Contains(l.ev.Body, "btn1") || asciiWord.MatchString(l.ev.Body) {
				t.Fatalf("installer SMS with ASCII words or a device id: %s", l.ev.Body)
			}
		}
		if len(e.timeline("call")) != 0 {
			t.Fatalf("an installer alarm rang someone:\n%s", e.dump())
		}
		if c := e.chain("01KIT2"); c.State != anxin.ChainNotice || !c.Finished {
			t.Fatalf("chain %+v", c)
		}
		if vs, _ := e.db.Visits(ctx, sqlite.VisitFilter{AlarmID: "01KIT1"}); len(vs) != 0 {
			t.Fatalf("an installer alarm wrote a visit: %+v", vs)
		}
		for _, want := range []string{"设备维护：张桂兰家", "水表自", "已25小时没有数据", "呼叫按钮被拆动", "水表电量低"} {
			found := false
			for _, l := range sms {
				found = found || strings.Contains(l.ev.Body, want)
			}
			if !found {
				var bodies []string
				for _, l := range sms {
					bodies = append(bodies, l.ev.Body)
				}
				t.Fatalf("no installer SMS says %q:\n%s", want, strings.Join(bodies, "\n"))
			}
		}
	})
}

var asciiWord = regexp.MustCompile(`[A-Za-z]{3,}`)

// Close, clear and accept race-free in every order once the chain walks:
// whichever comes first decides; the second changes nothing it should not.
func TestCloseAndAcceptInEitherOrder(t *testing.T) {
	for _, tc := range []struct {
		name      string
		acceptBy  bool // the ack link's POST comes first
		clearedBy bool // the device clears instead of staff closing (no Resolve; the pass sees it)
	}{
		{name: "accept, then close", acceptBy: true},
		{name: "close, then accept"},
		{name: "clear (hand-over lost), then accept", clearedBy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				ctx := context.Background()
				link := e.ringingLink("01ORDER")
				accept := func() int { code, _ := e.do("POST", link); return code }
				closeIt := func() {
					if !tc.clearedBy {
						if err := e.svc.Resolve(ctx, "01ORDER", "closed by hand"); err != nil {
							t.Fatal(err)
						}
					}
					if err := e.alarms.SetAlarmState(ctx, "01ORDER", anxin.AlarmResolved, "", time.Now()); err != nil {
						t.Fatal(err)
					}
				}
				if tc.acceptBy {
					if code := accept(); code != 200 {
						t.Fatalf("accept: %d", code)
					}
					settle(time.Second)
					closeIt()
				} else {
					closeIt()
					if tc.clearedBy {
						settle(3 * time.Minute) // the next step's pass reads the alarm resolved
					}
					settle(time.Second)
					if code := accept(); code != 409 {
						t.Fatalf("accept after the close: %d, want 409", code)
					}
				}
				settle(10 * time.Minute)
				c := e.chain("01ORDER")
				want := anxin.ChainResolved
				if tc.acceptBy {
					want = anxin.ChainAccepted
				}
				if c.State != want || !c.Finished {
					t.Fatalf("chain %+v, want %s and finished:\n%s", c, want, e.dump())
				}
				// step 1's SMS, then one notice to contact 1: taken by them
				// (none: they are the acceptor) or the alarm is over
				wantSMS := 2
				if tc.acceptBy {
					wantSMS = 1
				}
				if n := len(e.timeline("sms")); n != wantSMS {
					t.Fatalf("%d SMS, want %d:\n%s", n, wantSMS, e.dump())
				}
				if n := len(e.timeline("call")); n != 1 {
					t.Fatalf("%d calls, want only step 1's:\n%s", n, e.dump())
				}
				vs, _ := e.db.Visits(ctx, sqlite.VisitFilter{AlarmID: "01ORDER"})
				if tc.acceptBy != (len(vs) == 1) {
					t.Fatalf("visits %+v: an outcome record is written for an acceptance only", vs)
				}
			})
		})
	}
}

// Found by review: a second installer alarm of the same device and day
// while the first one's SMS is unsettled (its answer lost) does not send
// the notice again; the first alarm's chain owns it.
func TestInstallerNoticeOwnedByItsFirstAlarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		installer := "+8613600000009"
		e := newEnv(t, func(c *escalate.Config) { c.Installers = []anxin.Contact{{Name: "周师傅", Phone: installer}} })
		ctx := context.Background()
		e.fake.Fault("sms", twiliotest.Fault{Drop: true}) // sent, the answer lost
		for i, code := range []anxin.CauseCode{anxin.CauseDeviceSilent, anxin.CauseLowBattery} {
			a := anxin.Alarm{ID: "01OWN" + string(rune('A'+i)), Household: household.ID, Rule: string(code), RuleKind: "event",
				Device: "wm1", Severity: anxin.SeverityInfo, Route: anxin.RouteInstaller, State: anxin.AlarmOpen,
				Cause: anxin.Cause{Code: code, Device: anxin.KindWaterMeter, At: time.Now()}, OpenedAt: time.Now(), UpdatedAt: time.Now()}
			e.alarms.put(a)
			if err := e.svc.Escalate(ctx, a); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		settle(time.Minute)
		if n := len(e.timeline("sms")); n != 1 {
			t.Fatalf("%d installer SMS for one device-day, want 1:\n%s", n, e.dump())
		}
		for _, id := range []string{"01OWNA", "01OWNB"} {
			if c := e.chain(id); !c.Finished {
				t.Fatalf("chain %s not finished: %+v", id, c)
			}
		}
	})
}

// Found by review: an alarm whose start failed and that is closed before a
// retry leaves Waiting (and /healthz) at 0 again.
func TestWaitingClearsWhenTheAlarmCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnvWith(t, &lateHouseholds{m: map[string]anxin.Household{}})
		ctx := context.Background()
		a := openAlarm("01GONE")
		e.alarms.put(a)
		_ = e.svc.Escalate(ctx, a)
		if n := e.svc.Waiting(); n != 1 {
			t.Fatalf("Waiting() = %d, want 1", n)
		}
		if err := e.alarms.SetAlarmState(ctx, a.ID, anxin.AlarmResolved, "", time.Now()); err != nil {
			t.Fatal(err)
		}
		settle(time.Minute)
		if n := e.svc.Waiting(); n != 0 {
			t.Fatalf("Waiting() = %d after the alarm closed, want 0", n)
		}
	})
}

// Found by review: staff close the alarm while the step's SMS request
// hangs; the step's call to the same contact is not placed after the close.
func TestCloseWhileTheStepsSMSHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		ctx := context.Background()
		e.fake.Fault("sms", twiliotest.Fault{Hang: true})
		a := openAlarm("01SLOW")
		e.alarms.put(a)
		if err := e.svc.Escalate(ctx, a); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the SMS request hangs
		if err := e.svc.Resolve(ctx, a.ID, "closed by hand"); err != nil {
			t.Fatal(err)
		}
		settle(time.Minute) // the hanging request times out
		if n := len(e.timeline("call")); n != 0 {
			t.Fatalf("the step's call was placed after the close:\n%s", e.dump())
		}
		if c := e.chain(a.ID); c.State != anxin.ChainResolved || !c.Finished {
			t.Fatalf("chain %+v", c)
		}
	})
}
