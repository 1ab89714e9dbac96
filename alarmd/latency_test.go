package alarmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// latencyHouseholds is n households, each with a button, a child and a grid
// worker whose numbers end in the household's number, so that a request at
// the fake Twilio tells which alarm it belongs to.
func latencyHouseholds(n int) string {
	var b strings.Builder
	b.WriteString("households:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: %s\n    elder: {name: 张桂兰, address: 善广乡一村, tier: high}\n", latencyHH(i))
		fmt.Fprintf(&b, "    contacts: [{name: 李明, relation: child, phone: \"+86139%08d\"}]\n", i)
		fmt.Fprintf(&b, "    community: [{name: 王芳, role: grid_worker, phone: \"+86137%08d\"}]\n", i)
		b.WriteString("    devices: [{id: btn1, kind: call_button}]\n")
	}
	return b.String()
}

func latencyHH(i int) string { return fmt.Sprintf("hh-l%05d", i) }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// quantiles is "p50 …, p99 …, max …" of ds, in ms.
func quantiles(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
	}
	return fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", q(0.5), q(0.99), float64(s[len(s)-1].Microseconds())/1000)
}

// receiptProxy sits between alarmd and the broker and notes when each
// PUBLISH to alarmd has fully arrived (the moment its last byte is read, just
// before it is passed on): alarmd's receipt, by household, without touching
// alarmd. It adds one loopback hop to the path.
type receiptProxy struct {
	l      net.Listener
	broker string
	mu     sync.Mutex
	at     map[string]time.Time // household → first PUBLISH of its event topic
}

func startReceiptProxy(t *testing.T, brokerAddr string) *receiptProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &receiptProxy{l: l, broker: brokerAddr, at: map[string]time.Time{}}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *receiptProxy) URL() string { return "tcp://" + p.l.Addr().String() }

func (p *receiptProxy) receivedAt(hh string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.at[hh]
}

func (p *receiptProxy) serve(client net.Conn) {
	defer client.Close()
	broker, err := net.Dial("tcp", p.broker)
	if err != nil {
		return
	}
	defer broker.Close()
	go func() { _, _ = io.Copy(broker, client); broker.Close() }()
	var pending []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := broker.Read(buf)
		if n > 0 {
			now := time.Now()
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
			pending = p.note(append(pending, buf[:n]...), now)
		}
		if err != nil {
			return
		}
	}
}

// note takes the complete MQTT packets off b, noting PUBLISH topics.
func (p *receiptProxy) note(b []byte, now time.Time) []byte {
	for len(b) >= 2 {
		size, mult, i := 0, 1, 1
		for ; i < len(b) && i <= 4; i++ {
			size += int(b[i]&0x7f) * mult
			mult *= 128
			if b[i]&0x80 == 0 {
				break
			}
		}
		if i >= len(b) || len(b) < i+1+size {
			return b // incomplete
		}
		body := b[i+1 : i+1+size]
		if b[0]>>4 == 3 && len(body) >= 2 { // PUBLISH: topic first
			if tl := int(body[0])<<8 | int(body[1]); len(body) >= 2+tl {
				if parts := strings.Split(string(body[2:2+tl]), "/"); len(parts) == 5 && parts[4] == "event" {
					p.mu.Lock()
					if _, ok := p.at[parts[2]]; !ok {
						p.at[parts[2]] = now
					}
					p.mu.Unlock()
				}
			}
		}
		b = b[i+1+size:]
	}
	return b
}

// TestFirstSMSLatencyThroughAlarmd is issue 5's benchmark end to end: the
// whole alarmd (alarmd.Main, provider twilio, file store) subscribed to a
// real mosquitto, with notify.twilio.api_base_url pointed at the in-process
// fake Twilio over loopback, whose signed callbacks go back to alarmd's HTTP
// server. Button presses, each in its own household, are published at 1,000
// a minute (one every 60 ms) for 15 s (ANXIN_LONG=1: a minute, or
// ANXIN_LATENCY_DURATION); chains go on walking meanwhile (nobody answers:
// calls end no-answer after 20 s and the next step rings), as they would.
//
// Measured per press, to the moment the fake received the first
// Messages.json request for its alarm:
//   - from the publisher's send (just before Publish);
//   - from alarmd's receipt: the PUBLISH arriving on alarmd's broker
//     connection, timed by a pass-through proxy (receiptProxy);
//   - and that split at the hand-off to escalation (the chain's
//     started_at): ingest (batch, rules, commit) and escalation (chain and
//     attempt rows, the request).
//
// Only sanity is asserted (every press got its first SMS, none before its
// press); the figures are logged, never compared with a limit.
func TestFirstSMSLatencyThroughAlarmd(t *testing.T) {
	dur := 15 * time.Second
	if os.Getenv("ANXIN_LONG") != "" {
		dur = time.Minute
		if d, err := time.ParseDuration(os.Getenv("ANXIN_LATENCY_DURATION")); err == nil && d > 0 {
			dur = d
		}
	}
	const every = 60 * time.Millisecond // 1,000 a minute
	n := int(dur / every)

	mq := testenv.StartMosquitto(t)
	fake := twiliotest.New()
	api := httptest.NewServer(fake)
	defer api.Close()
	cfg := testConfig(t)
	if err := os.WriteFile(cfg.HouseholdsFile, []byte(latencyHouseholds(n)), 0o600); err != nil {
		t.Fatal(err)
	}
	proxy := startReceiptProxy(t, mq.Addr())
	cfg.MQTT.Broker = anxin.MustBrokerURL(proxy.URL())
	cfg.MQTT.ClientID = "alarmd-latency"
	cfg.HTTP.PublicURL = "https://alarm.example.org"
	cfg.Notify.Provider = "twilio"
	cfg.Notify.AckSecret = "0123456789abcdef0123456789abcdef"
	cfg.Notify.Twilio = TwilioConfig{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken,
		From: twiliotest.From, APIBaseURL: api.URL}
	reg := metrics.NewRegistry()
	m := &Main{Config: cfg, Metrics: reg}
	startMain(t, m)
	base := "http://" + m.HTTPAddr()
	client := &http.Client{Timeout: 10 * time.Second}
	fake.Deliver = func(r *http.Request) *http.Response {
		req, _ := http.NewRequest(r.Method, base+r.RequestURI, r.Body)
		req.Header = r.Header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			return nil // alarmd stopped at the end of the test
		}
		return resp
	}

	pub := publisher(t, mq.URL)
	load0 := loadavg()
	sent := make([]time.Time, n)
	toks := make([]paho.Token, n)
	tick := time.NewTicker(every) // paces the load; not synchronisation
	for i := range n {
		msg := button(latencyHH(i), time.Now().UTC())
		b, err := json.Marshal(&msg)
		if err != nil {
			t.Fatal(err)
		}
		sent[i] = time.Now()
		toks[i] = pub.Publish(msg.Topic(), 1, false, b)
		<-tick.C
	}
	tick.Stop()
	for i, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}

	// the first Messages.json request of each alarm: the first SMS to its child
	first := make([]time.Time, n)
	got := 0
	seen := 0 // events already read
	waitFor(t, "every press's first SMS", 2*time.Minute, func() bool {
		evs := fake.Events()
		for _, e := range evs[seen:] {
			var i int
			if e.Kind != "sms" || !strings.HasPrefix(e.To, "+86139") {
				continue
			}
			if _, err := fmt.Sscanf(e.To[len("+86139"):], "%d", &i); err == nil && i < n && first[i].IsZero() {
				first[i], got = e.At, got+1
			}
		}
		seen = len(evs)
		return got == n
	})
	load1 := loadavg()

	ctx := context.Background()
	fromSend := make([]time.Duration, n)
	fromReceipt := make([]time.Duration, n)
	ingest := make([]time.Duration, n)
	escalation := make([]time.Duration, n)
	for i := range n {
		as, err := m.Store.Alarms(ctx, sqlite.AlarmFilter{Household: latencyHH(i)})
		if err != nil || len(as) != 1 {
			t.Fatalf("household %s: %d alarms, %v", latencyHH(i), len(as), err)
		}
		c, err := m.Store.Chain(ctx, as[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		recv := proxy.receivedAt(latencyHH(i))
		if recv.IsZero() || first[i].Before(recv) || recv.Before(sent[i]) {
			t.Fatalf("press %d: sent %v, received %v, first SMS %v: out of order", i, sent[i], recv, first[i])
		}
		fromSend[i] = first[i].Sub(sent[i])
		fromReceipt[i] = first[i].Sub(recv)
		ingest[i] = c.StartedAt.Sub(recv)
		escalation[i] = first[i].Sub(c.StartedAt)
	}
	t.Logf("first SMS latency, %d button presses at 1,000/min over %v, alarmd (twilio provider, file store) on mosquitto, fake Twilio over loopback; loadavg before %q, after %q",
		n, dur, load0, load1)
	t.Logf("  publisher's send → first Messages.json at Twilio: %s", quantiles(fromSend))
	t.Logf("  alarmd's receipt → first Messages.json at Twilio: %s", quantiles(fromReceipt))
	t.Logf("    of which receipt → hand-off to escalation (ingest): %s", quantiles(ingest))
	t.Logf("    and hand-off → first Messages.json (escalation): %s", quantiles(escalation))
	t.Logf("  alarmd arrival → alarm committed (anxin_alarm_open_latency_seconds buckets): p50 ≤ %s, p99 ≤ %s",
		histQuantile(t, reg, "anxin_alarm_open_latency_seconds", 0.5), histQuantile(t, reg, "anxin_alarm_open_latency_seconds", 0.99))
	t.Logf("  requests at the fake meanwhile: %d SMS, %d calls, %d callbacks",
		count(fake.Events(), "sms"), count(fake.Events(), "call"), count(fake.Events(), "callback"))
}
