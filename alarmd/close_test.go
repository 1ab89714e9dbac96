package alarmd

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// A button alarm closed by staff while contact 1's phone rings, through
// alarmd's records API against the fake Twilio: the ringing call is ended,
// the chain walks no further after ack_timeout (the community worker is
// never called), the alarm is resolved with who closed it and why, and the
// next press is a new alarm with a new chain.
func TestCloseAlarmStopsTheChain(t *testing.T) {
	fake := twiliotest.New()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	const token = "district-0123456789abcdef"
	cfg := testConfig(t)
	cfg.API.Tokens = []APIToken{{Name: "district", Token: token}}
	cfg.HTTP.PublicURL = "https://alarm.example.org"
	cfg.Notify.Provider = "twilio"
	cfg.Notify.AckTimeout = 2 * time.Second
	cfg.Notify.AckSecret = "0123456789abcdef0123456789abcdef"
	cfg.Notify.Twilio = TwilioConfig{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken,
		From: twiliotest.From, APIBaseURL: srv.URL}
	fake.Script("+8613900000001", twiliotest.Script{Call: twiliotest.Press, After: time.Hour}) // rings on
	m := &Main{Config: cfg}
	startMain(t, m)
	fake.Deliver = deliverTo(m)
	defer func() {
		if t.Failed() {
			for _, e := range fake.Events() {
				t.Log(e.Kind, e.To, e.Sid, e.Status, e.Body[:min(60, len(e.Body))])
			}
		}
	}()
	events := func(kind, to string) []twiliotest.Event {
		var out []twiliotest.Event
		for _, e := range fake.Events() {
			if e.Kind == kind && (to == "" || e.To == to) {
				out = append(out, e)
			}
		}
		return out
	}
	pub := publisher(t, m.BrokerURL().Dial())
	publishMsg(t, pub, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	waitFor(t, "contact 1's phone to ring", 20*time.Second, func() bool { return len(events("call", "+8613900000001")) == 1 })
	first := alarms(t, m, sqlite.AlarmFilter{Household: "hh-0001"})
	if len(first) != 1 || first[0].State != anxin.AlarmOpen {
		t.Fatalf("alarms before the close: %+v", first)
	}

	if code, body := apiCall(t, m, "POST", "alarms/"+first[0].ID+"/close", token,
		`{"reason": "网格员上门确认老人安全，误按"}`); code != 200 {
		t.Fatalf("close: %d %s", code, body)
	}
	closedAt := time.Now()
	call := events("call", "+8613900000001")[0]
	waitFor(t, "the ringing call to be ended", 10*time.Second, func() bool {
		for _, e := range events("cancel", "+8613900000001") {
			if e.Sid == call.Sid {
				return true
			}
		}
		return false
	})
	waitFor(t, "the chain to finish resolved", 10*time.Second, func() bool {
		c, err := m.Store.Chain(context.Background(), first[0].ID)
		return err == nil && c.State == anxin.ChainResolved && c.Finished
	})
	// past the contact's ack_timeout: a walking chain would call the
	// community worker now
	time.Sleep(time.Until(closedAt.Add(cfg.Notify.AckTimeout + time.Second)))
	if n := len(events("call", "+8613700000002")) + len(events("sms", "+8613700000002")); n != 0 {
		t.Fatalf("the community worker was contacted %d times after the close", n)
	}
	a, err := m.Store.Alarm(context.Background(), first[0].ID)
	if err != nil || a.State != anxin.AlarmResolved || a.ClosedAt.IsZero() {
		t.Fatalf("the closed alarm: %+v %v", a, err)
	}
	var got struct {
		Timeline []struct{ What, To, Detail string }
	}
	code, text := apiCall(t, m, "GET", "alarms/"+a.ID, token, "")
	if err := json.Unmarshal([]byte(text), &got); code != 200 || err != nil || len(got.Timeline) == 0 {
		t.Fatalf("alarm read: %d %s %v", code, text, err)
	}
	// the close with who and why, and the notice that the alarm is over to
	// the contact already told (李明); the two may come in either order
	var closed, over bool
	for _, e := range got.Timeline {
		closed = closed || (e.What == "closed" && e.To == "district" && e.Detail == "网格员上门确认老人安全，误按")
		over = over || (e.What == "attempt" && e.To == "李明" && e.Detail == "closed")
	}
	if !closed || !over {
		t.Fatalf("timeline %+v", got.Timeline)
	}

	smsBefore := len(events("sms", "+8613900000001"))
	publishMsg(t, pub, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	waitFor(t, "the next press to be a new alarm with a new chain", 20*time.Second, func() bool {
		as := alarms(t, m, sqlite.AlarmFilter{Household: "hh-0001", State: anxin.AlarmOpen})
		return len(as) == 1 && as[0].ID != a.ID && len(events("sms", "+8613900000001")) > smsBefore
	})
}
