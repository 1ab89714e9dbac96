package mqtt

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/spool"
	"github.com/anxin-care/anxin/spool/spooltest"
)

// lostLog records when the uplink logged each lost connection, that is
// when its publishing loop returned and the reconnect loop took over.
type lostLog struct {
	mu   sync.Mutex
	when []time.Time
}

func (h *lostLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *lostLog) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "uplink: connection lost") {
		h.mu.Lock()
		h.when = append(h.when, r.Time)
		h.mu.Unlock()
	}
	return nil
}
func (h *lostLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *lostLog) WithGroup(string) slog.Handler      { return h }

func (h *lostLog) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.when)
}

func (h *lostLog) at(i int) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.when[i]
}

// TestUplinkNoticesBrokerKilledMidStream kills mosquitto with SIGKILL while
// the uplink streams at full speed (publishes in flight, PUBACKs
// outstanding), several times, and measures how long the uplink takes to
// report itself disconnected and to hand over to its reconnect loop. paho's
// Publish can sit for its write timeout (10 s) on a connection that died
// under it (about one kill in five before the uplink stopped waiting for
// it). Afterwards the spool must drain completely: the abandoned publishes
// left nothing behind and the replay from the ack pointer works.
//
// It does not check end to end delivery: mosquitto killed with SIGKILL
// forgets what it acknowledged since its last autosave (1 s). The outage
// and crash tests stop the broker with SIGTERM and check every message.
func TestUplinkNoticesBrokerKilledMidStream(t *testing.T) {
	kills := 10 // without the fix, P(no stuck publish in 10 kills) ~ 0.1
	if os.Getenv("ANXIN_LONG") != "" {
		kills = 40
	}
	mq := testenv.StartMosquitto(t)
	sp := openSpool(t, spool.Options{MaxBytes: 1 << 30})
	lh := &lostLog{}
	up := startUplinkWith(t, sp, UplinkOptions{Broker: anxin.MustBrokerURL(mq.URL), Household: "hh-0001", Window: 256,
		MinRetry: 50 * time.Millisecond, MaxRetry: 200 * time.Millisecond, Logger: slog.New(lh)})

	poll := func(what string, within time.Duration, cond func() bool) time.Time {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s", within, what)
			}
			time.Sleep(200 * time.Microsecond) // polling the uplink and a real broker
		}
		return time.Now()
	}
	const bound = 5 * time.Second // a sanity bound only, half paho's write timeout
	const burst = 20000
	var notices, handovers []time.Duration
	next := 0
	for k := range kills {
		poll("connected", 15*time.Second, up.up.Connected)
		from := next
		next += burst
		produced := make(chan struct{})
		go func() { // at full speed, through the kill and the outage
			defer close(produced)
			for i := from; i < from+burst; i++ {
				if err := sp.Put(context.Background(), spooltest.Msg("wm1", i, i%100 == 0)); err != nil {
					t.Errorf("put %d: %v", i, err)
					return
				}
			}
		}()
		base := metrics.ToFloat64(up.up.mPublished)
		poll("PUBACKs flowing with messages in flight", 15*time.Second, func() bool {
			return metrics.ToFloat64(up.up.mPublished) > base+500 && sp.Stats().Depth > 0
		})
		depth := sp.Stats().Depth
		killed := time.Now()
		mq.Kill()
		noticed := poll("the uplink to report disconnected", bound, func() bool { return !up.up.Connected() })
		poll("the publishing loop to hand over to the reconnect loop", bound, func() bool { return lh.count() > k })
		notices = append(notices, noticed.Sub(killed))
		handovers = append(handovers, lh.at(k).Sub(killed))
		t.Logf("kill %d: %d unacknowledged at the kill; disconnected reported after %s, reconnect loop after %s",
			k+1, depth, notices[k].Round(time.Microsecond), handovers[k].Round(time.Microsecond))
		mq.Restart()
		<-produced
	}
	poll("the spool to drain after the last restart", 30*time.Second, func() bool {
		st := sp.Stats()
		return st.Depth == 0 && st.Acked == uint64(next)
	})
	slices.Sort(notices)
	slices.Sort(handovers)
	t.Logf("%d SIGKILLs mid-stream: disconnected reported after median %s (max %s), reconnect loop after median %s (max %s); %d messages drained",
		kills, notices[kills/2].Round(time.Microsecond), notices[kills-1].Round(time.Microsecond),
		handovers[kills/2].Round(time.Microsecond), handovers[kills-1].Round(time.Microsecond), next)
}

func startUplinkWith(t testing.TB, sp *spool.Spool, opts UplinkOptions) *runningUplink {
	t.Helper()
	up, err := NewUplink(opts, sp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningUplink{up: up, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- up.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}
