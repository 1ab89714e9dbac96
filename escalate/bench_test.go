package escalate_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// firstSMSLatency raises n alarms, one every interval, against the fake
// Twilio over loopback and a file store, and returns for each the time from
// Escalate to the fake receiving its first SMS request.
func firstSMSLatency(tb testing.TB, n int, interval time.Duration) []time.Duration {
	fake := twiliotest.New()
	fake.Deliver = func(*http.Request) *http.Response { return httptest.NewRecorder().Result() }
	srv := httptest.NewServer(fake)
	defer srv.Close()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "alarmd.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	tw, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From,
		PublicURL: publicURL, APIBaseURL: srv.URL, CallEvents: true})
	if err != nil {
		tb.Fatal(err)
	}
	al := &alarms{m: map[string]anxin.Alarm{}, chains: db}
	svc, err := escalate.New(escalate.Options{
		Config: escalate.Config{PublicURL: publicURL, AckSecret: ackSecret},
		Store:  db, Alarms: al, Households: testenv.ManyHouseholds{}, Visits: db, Notifier: tw, Provider: "twilio",
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer svc.Close()
	raised := make([]time.Time, n)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := range n {
		a := anxin.Alarm{ID: fmt.Sprintf("01BENCH%08d", i), Household: fmt.Sprintf("hh-%d", i), Rule: "button",
			Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, State: anxin.AlarmOpen, Reason: "一键呼叫按钮被按下",
			OpenedAt: time.Now()}
		al.put(a)
		raised[i] = time.Now()
		if err := svc.Escalate(context.Background(), a); err != nil {
			tb.Fatal(err)
		}
		<-tick.C
	}
	deadline := time.Now().Add(30 * time.Second)
	for count(fake.Events(), "sms") < n {
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d first SMS arrived", count(fake.Events(), "sms"), n)
		}
		time.Sleep(10 * time.Millisecond) // polling a real peer with a deadline
	}
	lat := make([]time.Duration, n)
	for _, e := range fake.Events() {
		var i int
		if e.Kind != "sms" || !strings.HasPrefix(e.To, "+86139") {
			continue
		}
		if _, err := fmt.Sscanf(e.To[6:], "%d", &i); err == nil && i < n && lat[i] == 0 {
			lat[i] = e.At.Sub(raised[i])
		}
	}
	return lat
}

// Event received → first SMS request at Twilio, at 1,000 alarms a minute
// (one every 60 ms).
func BenchmarkFirstSMSAt1000PerMinute(b *testing.B) {
	lat := firstSMSLatency(b, b.N, 60*time.Millisecond)
	b.ReportMetric(float64(care.Percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(care.Percentile(lat, 99).Microseconds())/1000, "p99-ms")
}

// A full minute at 1,000 alarms a minute (ANXIN_LONG=1).
func TestFirstSMSLatencyLong(t *testing.T) {
	if os.Getenv("ANXIN_LONG") == "" {
		t.Skip("ANXIN_LONG=1 runs a minute of 1,000 alarms")
	}
	lat := firstSMSLatency(t, 1000, 60*time.Millisecond)
	t.Logf("1,000 alarms at 1,000/min: first SMS p50 %v, p99 %v, max %v", care.Percentile(lat, 50), care.Percentile(lat, 99), slices.Max(lat))
}
