package e2e

import (
	"fmt"
	"html"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
)

// e2eAckSecret is notify.ack_secret in alarmdYAML: the tests read the ack
// links of the SMS with it.
const e2eAckSecret = "e2e-ack-secret-0123456789abcdef"

// oneAlarmEach waits (at most settle) until every household has an alarm
// and none is still walking its chain, reading the records API at base,
// then checks the fault tests' first promise: each press gave exactly one
// alarm, a button alarm with no repeats (a redelivered press has no effect).
func oneAlarmEach(t *testing.T, base string, hs []household, settle time.Duration) (map[string][]anxin.Alarm, map[anxin.AlarmState]int) {
	t.Helper()
	var alarms struct {
		Alarms []anxin.Alarm `json:"alarms"`
	}
	byHousehold := map[string][]anxin.Alarm{}
	deadline := time.Now().Add(settle)
	for {
		apiGet(t, base, "/api/v1/alarms?limit=10000", &alarms)
		clear(byHousehold)
		walking := 0
		for _, a := range alarms.Alarms {
			byHousehold[a.Household] = append(byHousehold[a.Household], a)
			if a.State == anxin.AlarmOpen {
				walking++
			}
		}
		if len(byHousehold) == len(hs) && walking == 0 {
			break
		}
		if time.Now().After(deadline) {
			var missing []string
			for _, h := range hs {
				if len(byHousehold[h.ID]) == 0 {
					missing = append(missing, h.ID)
				}
			}
			t.Fatalf("after %s: alarms for %d of %d households (missing %v), %d still open", settle,
				len(byHousehold), len(hs), missing, walking)
		}
		time.Sleep(500 * time.Millisecond)
	}
	known := map[string]bool{}
	for _, h := range hs {
		known[h.ID] = true
	}
	states := map[anxin.AlarmState]int{}
	for hh, as := range byHousehold {
		if len(as) != 1 {
			t.Errorf("household %s has %d alarms, want 1", hh, len(as))
		}
		a := as[0]
		states[a.State]++
		if a.Rule != "button" || a.Repeats != 0 {
			t.Errorf("household %s: alarm rule %s with %d repeats, want button with none (a redelivered press must have no effect)", hh, a.Rule, a.Repeats)
		}
		if !known[hh] {
			t.Errorf("alarm for unknown household %s", hh)
		}
	}
	return byHousehold, states
}

// reachedTwilioOnce checks the second promise against what the fake
// Twilio was asked: no step — an (alarm, chain step, channel) — and no
// notice was sent twice, and every household's alarm reached someone.
// It returns the counts for the test's log.
func reachedTwilioOnce(t *testing.T, tw *fakeTwilio, byHousehold map[string][]anxin.Alarm) string {
	t.Helper()
	seen := map[string]int{}
	perAlarm := map[string]int{}
	var sms, calls, notices, lookups, failed int
	for _, e := range tw.Events() {
		switch e.Kind {
		case "list-sms", "list-call":
			lookups++
			continue
		case "sms", "call":
		default:
			continue
		}
		if e.Status != 201 {
			failed++
			continue
		}
		var key, alarm string
		if e.Kind == "sms" {
			sms++
			if m := ackInSMS.FindStringSubmatch(e.Body); m != nil {
				c, err := escalate.ParseAckToken([]byte(e2eAckSecret), m[1], time.Now())
				if err != nil {
					t.Fatalf("ack link in an SMS does not verify: %v", err)
				}
				alarm, key = c.AlarmID, fmt.Sprintf("%s/s%d/sms", c.AlarmID, c.Step)
				if strings.HasPrefix(e.Body, dutyPrefix) {
					// the "nobody accepted" notice carries a link too: one per duty contact
					notices++
					key = "duty " + e.To + " " + key
				}
			} else if m := shortAck.FindStringSubmatch(e.Body); m != nil && !strings.HasPrefix(e.Body, dutyPrefix) {
				key = "step sms " + m[1] // the token names the alarm, step and person
			} else {
				notices++
				key = "notice " + e.To + " " + e.Body
			}
		} else {
			calls++
			m := attemptURL.FindStringSubmatch(e.Body)
			if m == nil {
				t.Fatalf("a call without a Gather attempt: %q", e.Body)
			}
			key, _ = url.QueryUnescape(html.UnescapeString(m[1]))
			alarm, _, _ = strings.Cut(key, "/")
		}
		seen[key]++
		if alarm != "" {
			perAlarm[alarm]++
		}
	}
	dups := 0
	for k, n := range seen {
		if n > 1 {
			dups++
			t.Errorf("sent %d times: %s", n, k)
		}
	}
	for hh, as := range byHousehold {
		if len(as) > 0 && perAlarm[as[0].ID] == 0 {
			t.Errorf("household %s: alarm %s reached nobody", hh, as[0].ID)
		}
	}
	return fmt.Sprintf("SMS %d (notices %d), calls %d, provider look-ups %d, failed requests %d, duplicates %d",
		sms, notices, calls, lookups, failed, dups)
}
