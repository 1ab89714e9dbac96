package twilio_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// The bounds escalate gives up a refused cancel by (anxin.CallLimiter) are
// the ones the create request sets: Timeout and TimeLimit as sent, plus
// Twilio's ring buffer; unset, 40 s and Twilio's own 4 h.
func TestCallLimitsAreTheCreateRequestsBounds(t *testing.T) {
	for _, tc := range []struct {
		ring, limit         time.Duration
		timeout, timeLimit  string
		wantRing, wantLimit time.Duration
	}{
		{0, 0, "40", "14400", 45 * time.Second, 4 * time.Hour},
		{30 * time.Second, time.Hour, "30", "3600", 35 * time.Second, time.Hour},
	} {
		var form url.Values
		n, err := twilio.New(twilio.Config{
			AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From,
			PublicURL: publicURL, RingTimeout: tc.ring, TimeLimit: tc.limit,
			Transport: roundTrip(func(r *http.Request) *http.Response {
				b, _ := io.ReadAll(r.Body)
				form, _ = url.ParseQuery(string(b))
				return &http.Response{StatusCode: http.StatusCreated, Header: http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(strings.NewReader(`{"sid": "CA` + strings.Repeat("0", 32) + `", "status": "queued"}`))}
			}),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := n.Send(t.Context(), notification(anxin.ChannelVoice)); err != nil {
			t.Fatal(err)
		}
		if form.Get("Timeout") != tc.timeout || form.Get("TimeLimit") != tc.timeLimit {
			t.Errorf("ring %v, limit %v: the create request sets Timeout %q, TimeLimit %q; want %s, %s",
				tc.ring, tc.limit, form.Get("Timeout"), form.Get("TimeLimit"), tc.timeout, tc.timeLimit)
		}
		if ring, limit := n.CallLimits(); ring != tc.wantRing || limit != tc.wantLimit {
			t.Errorf("ring %v, limit %v: CallLimits %v, %v; want %v, %v", tc.ring, tc.limit, ring, limit, tc.wantRing, tc.wantLimit)
		}
	}
}
