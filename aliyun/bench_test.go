package aliyun_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/aliyun"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
)

type manyAlarms struct{ at time.Time }

func (m manyAlarms) Alarm(_ context.Context, id string) (anxin.Alarm, error) {
	var n int
	if _, err := fmt.Sscanf(id, "01BENCH%d", &n); err != nil {
		return anxin.Alarm{}, anxin.Errorf(anxin.ENOTFOUND, "no alarm")
	}
	return anxin.Alarm{ID: id, Household: fmt.Sprintf("hh-%d", n), Rule: "button", Device: "btn1", Severity: anxin.SeverityCritical,
		Route: anxin.RouteFamily, State: anxin.AlarmOpen, OpenedAt: m.at,
		Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton, At: m.at}}, nil
}

func (manyAlarms) SetAlarmState(context.Context, string, anxin.AlarmState, string, time.Time) error {
	return nil
}

func (manyAlarms) AlarmsAwaitingChain(context.Context, int, bool) ([]anxin.Alarm, error) {
	return nil, nil
}

// firstSMS raises n alarms, one every interval, with routes [aliyun, backup]
// and returns Escalate → first SMS request on the channel that carried it:
// the fake Aliyun over loopback, or (aliyunDown: nothing listens on its
// endpoint) the backup route.
func firstSMS(tb testing.TB, n int, interval time.Duration, aliyunDown bool) []time.Duration {
	f := newFakeAliyunN(tb, 2*n+10)
	endpoint := f.endpoint()
	if aliyunDown {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		endpoint = l.Addr().String()
		_ = l.Close()
	}
	ali, err := aliyun.New(aliyun.Config{AccessKeyID: keyID, AccessKeySecret: keySecret, SignName: "安心守护", SMSTemplate: "SMS_1",
		TTSTemplate: "TTS_1", CalledShowNumber: "057100000000", SMSEndpoint: endpoint, VoiceEndpoint: endpoint, Protocol: "http"})
	if err != nil {
		tb.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "alarmd.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	b := &backup{LogNotifier: escalate.LogNotifier{Logger: discard()}, sent: make(chan anxin.Notification, 2*n+10)}
	rs := []escalate.Route{{Provider: "aliyun", Notifier: ali}, {Provider: "backup", Notifier: b}}
	svc, err := escalate.New(escalate.Options{
		Config: escalate.Config{PublicURL: "https://alarm.example.org", AckSecret: []byte("0123456789abcdef0123456789abcdef"), RouteTries: 1,
			DownAfter: 1 << 30},
		Store: db, Alarms: manyAlarms{at: time.Now()}, Households: testenv.ManyHouseholds{}, Visits: db,
		Routes: map[anxin.Channel][]escalate.Route{anxin.ChannelSMS: rs, anxin.ChannelVoice: rs},
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer svc.Close()
	raised := make([]time.Time, n)
	lat := make([]time.Duration, n)
	got := 0
	record := func(attemptID string) {
		var i int
		if !strings.Contains(attemptID, "/s0/sms@") {
			return
		}
		if _, err := fmt.Sscanf(attemptID, "01BENCH%d", &i); err == nil && i < n && lat[i] == 0 {
			lat[i] = time.Since(raised[i])
			got++
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := range n {
		raised[i] = time.Now()
		if err := svc.Escalate(context.Background(), anxin.Alarm{ID: fmt.Sprintf("01BENCH%08d", i)}); err != nil {
			tb.Fatal(err)
		}
		for waiting := true; waiting; {
			select {
			case p := <-f.sent:
				record(p.Get("OutId"))
			case x := <-b.sent:
				record(x.AttemptID)
			case <-tick.C:
				waiting = false
			}
		}
	}
	timeout := time.After(30 * time.Second)
	for got < n {
		var p url.Values
		select {
		case p = <-f.sent:
			record(p.Get("OutId"))
		case x := <-b.sent:
			record(x.AttemptID)
		case <-timeout:
			tb.Fatalf("only %d of %d first SMS arrived", got, n)
		}
	}
	return lat
}

// Escalate → first SendSms at the fake Aliyun, at 1,000 alarms a minute.
func BenchmarkFirstSMSAliyunAt1000PerMinute(b *testing.B) {
	lat := firstSMS(b, b.N, 60*time.Millisecond, false)
	b.ReportMetric(float64(care.Percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(care.Percentile(lat, 99).Microseconds())/1000, "p99-ms")
}

// The same with Aliyun unreachable: Escalate → first SMS on the next route.
func BenchmarkFirstSMSFailoverAt1000PerMinute(b *testing.B) {
	lat := firstSMS(b, b.N, 60*time.Millisecond, true)
	b.ReportMetric(float64(care.Percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(care.Percentile(lat, 99).Microseconds())/1000, "p99-ms")
}
