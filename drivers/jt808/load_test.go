package jt808

import (
	"context"
	"fmt"
	"github.com/anxin-care/anxin/internal/testenv"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
	"github.com/anxin-care/anxin/gateway"
	"github.com/anxin-care/anxin/mqtt"
)

// TestLoadManyTerminals (ANXIN_LOAD=N) connects N terminals to one driver
// and reports: memory per connection, idle CPU, CPU per message at full
// speed, and SOS → sink latency while every terminal reports on a period
// compressed from 30 s (ANXIN_LOAD_PERIOD, default 30s). Terminals and
// driver share the process, so figures include the client side's sockets.
func TestLoadManyTerminals(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ANXIN_LOAD"))
	if n <= 0 {
		t.Skip("ANXIN_LOAD=N runs the load test with N terminals")
	}
	period := 30 * time.Second
	if p, err := time.ParseDuration(os.Getenv("ANXIN_LOAD_PERIOD")); err == nil {
		period = p
	}
	c := NewConfig()
	c.Listen = "127.0.0.1:0"
	for i := range n {
		c.Terminals = append(c.Terminals, tcpserver.Terminal{ID: fmt.Sprintf("1380%07d", i), Device: fmt.Sprintf("t%d", i)})
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := newDriver(c, drivers.Env{Household: "hh-load", Logger: slog.New(slog.DiscardHandler), Now: time.Now,
		Metrics: metrics.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	var latMu sync.Mutex
	var lat []time.Duration
	sent := make([]atomic.Int64, n) // unix ns of each terminal's last SOS write
	sink := drivers.SinkFunc(func(_ context.Context, m anxin.Message) error {
		got.Add(1)
		if m.Event == anxin.EventButtonPressed {
			i, _ := strconv.Atoi(m.Device[1:])
			latMu.Lock()
			lat = append(lat, time.Since(time.Unix(0, sent[i].Load())))
			latMu.Unlock()
		}
		return nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var addr string
	if os.Getenv("ANXIN_LOAD_MQTT") != "" {
		addr = throughGateway(t, ctx, c, sink, done)
	} else {
		go func() { done <- d.Run(ctx, sink) }()
		addr = d.server.WaitAddr(ctx)
	}
	defer func() { cancel(); <-done }()
	waitCount := func(want int64) {
		t.Helper()
		testenv.Eventually(t, fmt.Sprintf("%d messages", want), 2*time.Minute, func() bool { return got.Load() >= want })
	}
	runtime.GC()
	rss0 := testenv.VmRSS(os.Getpid())
	conns := make([]net.Conn, n)
	var serial uint16
	frame := func(i int, alarm uint32) []byte {
		serial++
		return Encode(Packet{MsgID: MsgLocation, Phone: fmt.Sprintf("1380%07d", i), Serial: serial,
			Body: LocationBody(Fix{Lat: 30, Lon: 120, Time: time.Now(), Alarm: alarm, BatteryPct: 80})})
	}
	for i := range n {
		var cn net.Conn
		var err error
		if i == 0 { // the gateway's driver coming up
			testenv.Eventually(t, "the driver to listen", 5*time.Second, func() bool { cn, err = net.Dial("tcp", addr); return err == nil })
		} else {
			cn, err = net.Dial("tcp", addr)
		}
		if err != nil {
			t.Fatalf("terminal %d: %v", i, err)
		}
		defer cn.Close()
		conns[i] = cn
		go func() { // drain replies so the platform never blocks writing
			buf := make([]byte, 256)
			for {
				if _, err := cn.Read(buf); err != nil {
					return
				}
			}
		}()
		cn.Write(frame(i, 0))
	}
	waitCount(int64(n))
	runtime.GC()
	rss1 := testenv.VmRSS(os.Getpid())
	cpu0 := testenv.SelfCPU()
	idle := time.NewTimer(2 * time.Second)
	<-idle.C // idle connections: what do they cost?
	idleCPU := testenv.SelfCPU() - cpu0

	// Full speed: every terminal sends 10 reports. Not through the broker:
	// the embedded broker drops QoS 1 messages for a subscriber more than
	// 8,192 behind, so a full-speed count there measures the subscriber.
	rounds := 10
	if os.Getenv("ANXIN_LOAD_MQTT") != "" {
		rounds = 0
	}
	frames := make([][]byte, n)
	for i := range n {
		frames[i] = frame(i, 0)
	}
	base := got.Load()
	cpu0, t0 := testenv.SelfCPU(), time.Now()
	for range rounds {
		for i, cn := range conns {
			cn.Write(frames[i])
		}
	}
	waitCount(base + int64(n*rounds))
	fullCPU, fullWall := testenv.SelfCPU()-cpu0, time.Since(t0)

	// Paced: each terminal once per period, with SOS presses among them.
	base = got.Load()
	tick := period / time.Duration(n)
	cpu0 = testenv.SelfCPU()
	start := time.Now()
	presses := 0
	for i, cn := range conns {
		if at := start.Add(time.Duration(i) * tick); time.Until(at) > 0 {
			time.Sleep(time.Until(at)) // pacing the load generator
		}
		if i%max(1, n/50) == 0 {
			sent[i].Store(time.Now().UnixNano())
			cn.Write(frame(i, AlarmSOS))
			presses++
		} else {
			cn.Write(frame(i, 0))
		}
	}
	waitCount(base + int64(n+presses))
	pacedCPU := testenv.SelfCPU() - cpu0
	latMu.Lock()
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	latMu.Unlock()
	t.Logf("terminals %d: RSS %d KiB → %d KiB (%.1f KiB per connection, both ends); idle CPU %v over 2s",
		n, rss0, rss1, float64(rss1-rss0)/float64(n), idleCPU)
	if rounds > 0 {
		t.Logf("full speed: %d reports in %v (%.0f/s), %.1f µs CPU per report (driver and senders)",
			n*rounds, fullWall.Round(time.Millisecond), float64(n*rounds)/fullWall.Seconds(), float64(fullCPU.Microseconds())/float64(n*rounds))
	}
	to := "spool Put"
	if os.Getenv("ANXIN_LOAD_MQTT") != "" {
		to = "gatewayd → embedded broker → subscriber"
	}
	t.Logf("paced (each terminal once per %v): CPU %v = %.2f%% of one core; %d SOS → %s p50 %v p99 %v",
		period, pacedCPU.Round(time.Millisecond), 100*pacedCPU.Seconds()/period.Seconds(), len(lat), to, p50, p99)
}

// throughGateway runs c inside gatewayd (spool, uplink) publishing to an
// embedded broker; a subscriber hands what arrives to sink. It returns the
// driver's listen address.
func throughGateway(t *testing.T, ctx context.Context, c *Config, sink drivers.Sink, done chan<- error) string {
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("load-sub").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if msg, err := anxin.ParseMessage(m.Topic(), m.Payload()); err == nil {
				sink.Put(ctx, msg)
			}
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(50) })
	if tok := sub.Subscribe("anxin/v1/+/+/+", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	var y strings.Builder
	fmt.Fprintf(&y, "household: hh-load\nmqtt: {broker: %q}\nspool: {dir: %q}\ndrivers:\n  - driver: jt808\n    listen: %q\n    terminals:\n",
		b.URL(), t.TempDir(), addr)
	for _, term := range c.Terminals {
		fmt.Fprintf(&y, "      - {id: %q, device: %s}\n", term.ID, term.Device)
	}
	cfg, err := gateway.Parse([]byte(y.String()))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- g.Run(ctx) }()
	return addr
}
