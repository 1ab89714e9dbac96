package escalate_test

import (
	"log/slog"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/twilio"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// One household's contact has a landline: Twilio refuses SMS and calls to
// it (21614 not a mobile number). Before, those refusals counted toward
// Twilio's health: two of them marked Twilio down and the next household's
// alarm went out by the fallback route. A refusal of the number fails that
// send only (it still fails over, and the step goes on); Twilio stays up.
func TestRefusedNumberDoesNotMarkTheProviderDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := twiliotest.New()
		fake.Script(phone1, twiliotest.Script{APIError: 21614})
		e, b := twilioThenB(t, fake)

		e.raise(t, "01LANDLINE") // step 0: contact 1's landline, refused twice
		settle(time.Second)
		if got := b.sent(); !equal(got, []string{"01LANDLINE/s0/sms@b", "01LANDLINE/s0/voice@b"}) {
			t.Fatalf("b sent %v; want the refused step on the next route", got)
		}
		if down := e.svc.ProvidersDown(); len(down) != 0 {
			t.Fatalf("providers down after one number's refusals: %+v", down)
		}
		now := time.Now()
		other := anxin.Alarm{ID: "01ELSEWHERE", Household: abroad.ID, Rule: "button", RuleKind: "event", Device: "btn1",
			Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, State: anxin.AlarmOpen, OpenedAt: now, UpdatedAt: now,
			Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton, At: now}}
		e.alarms.put(other)
		if err := e.svc.Escalate(t.Context(), other); err != nil {
			t.Fatal(err)
		}
		settle(time.Second)
		for _, id := range []string{"01ELSEWHERE/s0/sms@twilio", "01ELSEWHERE/s0/voice@twilio"} {
			if a := e.attempt(t, id); a.ProviderID == "" || a.Status == anxin.AttemptFailed {
				t.Fatalf("another household's alarm, after one landline's refusals: %s %+v; want sent by twilio", id, a)
			}
		}
		if got := b.sent(); len(got) != 2 {
			t.Fatalf("b sent %v; want only the landline's step", got)
		}
		// the refused requests' client timers (10 s: twilio-go leaves an
		// error answer's body open) run out before the bubble ends
		settle(time.Minute)
	})
}

// Twilio refuses every number as "not reachable" (21612), as it does when
// the configured From number cannot send to the destination country: the
// sender is wrong, not the numbers. Before, number refusals never counted
// toward Twilio's health, so a misconfigured sender failed over on every
// send and never showed in /healthz. Refusals of one number still count
// for nothing (TestRefusedNumberDoesNotMarkTheProviderDown); each further
// distinct number refused without a success between counts as a failure,
// so three numbers mark it down at down_after 2.
func TestEveryNumberRefusedMarksTheProviderDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := twiliotest.New()
		for _, p := range []string{phone1, phone2, phone3} {
			fake.Script(p, twiliotest.Script{APIError: 21612})
		}
		e, b := twilioThenB(t, fake)
		e.raise(t, "01SENDER")
		settle(10 * time.Minute)
		if got := b.sent(); len(got) < 6 {
			t.Fatalf("b sent %v; want every refused step on the next route", got)
		}
		down := e.svc.ProvidersDown()
		if len(down) != 1 || down[0].Provider != "twilio" {
			t.Fatalf("providers down after three numbers refused in a row: %+v; want twilio", down)
		}
		settle(time.Minute)
	})
}

// twilioThenB is the failover env with Twilio (on fake) as the first route
// of both channels and the fake b after it, down_after 2.
func twilioThenB(t *testing.T, fake *twiliotest.Server) (*failoverEnv, *channelFake) {
	t.Helper()
	tw, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken,
		From: twiliotest.From, PublicURL: publicURL, CallEvents: true, Transport: fake.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	var b *channelFake
	e := newFailoverEnvWith(t, func(c *escalate.Config) { c.DownAfter = 2 }, func(o *escalate.Options) {
		b = o.Routes[anxin.ChannelSMS][1].Notifier.(*channelFake)
		rs := []escalate.Route{{Provider: "twilio", Notifier: tw}, {Provider: "b", Notifier: b}}
		o.Routes = map[anxin.Channel][]escalate.Route{anxin.ChannelSMS: rs, anxin.ChannelVoice: rs}
		o.Households = households{household.ID: household, abroad.ID: abroad}
	})
	mux := http.NewServeMux()
	twilio.NewWebhooks(twiliotest.AuthToken, publicURL, e.svc, slog.New(slog.DiscardHandler)).Mount(mux)
	fake.Deliver = twiliotest.Handler(mux)
	return e, b
}
