package alarmd

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
)

// Two alarmd on one PostgreSQL (store.url set: chains are claimed in the
// database): a press on the first rings contact 1, whose ack link is opened
// on the second alarmd; the alarm is accepted and its outcome recorded once.
func TestClusterChainsThroughAlarmd(t *testing.T) {
	pg := testenv.StartPostgres(t)
	var ms [2]*Main
	logs := &logBuffer{lines: make(chan string, 10000)}
	for i := range ms {
		cfg := testConfig(t)
		cfg.Store.URL = Secret(pg.URL("postgres"))
		cfg.Cluster.Instance = []string{"alarmd-a", "alarmd-b"}[i]
		cfg.Cluster.Lease, cfg.Cluster.Poll = 2*time.Second, 100*time.Millisecond
		cfg.Notify.AckSecret = "0123456789abcdef0123456789abcdef" // the same on every alarmd
		if err := cfg.validate(); err != nil {
			t.Fatal(err)
		}
		var log *slog.Logger
		if i == 0 {
			log = slog.New(slog.NewJSONHandler(logs, nil))
		}
		ms[i] = &Main{Config: cfg, Logger: log}
		startMain(t, ms[i])
	}
	pub := publisher(t, ms[0].BrokerURL().Dial())
	publishMsg(t, pub, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	claimed := false
	path, _ := ackLinkLogged(t, logs, 10*time.Second, func(l string) {
		claimed = claimed || strings.Contains(l, "chains are claimed in the shared store")
	})
	if !claimed {
		t.Fatal("alarmd on PostgreSQL did not say it runs chains in cluster mode")
	}
	if code, body := postForm(t, "http://"+ms[1].HTTPAddr()+path, ""); code != 200 || !strings.Contains(body, "已确认") {
		t.Fatalf("POST ack on the second alarmd: %d %s", code, body)
	}
	var a anxin.Alarm
	waitFor(t, "the alarm accepted and its outcome recorded", 10*time.Second, func() bool {
		as, err := ms[1].Store.Alarms(context.Background(), sqlite.AlarmFilter{Household: "hh-0001"})
		if err != nil || len(as) != 1 || as[0].State != anxin.AlarmAccepted {
			return false
		}
		a = as[0]
		vs, err := ms[1].Store.Visits(context.Background(), sqlite.VisitFilter{AlarmID: a.ID})
		return err == nil && len(vs) == 1
	})
	waitFor(t, "the chain finished", 10*time.Second, func() bool {
		c, err := ms[0].Store.Chain(context.Background(), a.ID)
		return err == nil && c.State == anxin.ChainAccepted && c.Finished
	})
	if vs, err := ms[0].Store.Visits(context.Background(), sqlite.VisitFilter{AlarmID: a.ID}); err != nil || len(vs) != 1 {
		t.Fatalf("%d outcome visits, want 1 (%v)", len(vs), err)
	}
}

// cluster.lease and cluster.poll must be positive, and the poll shorter
// than the lease; cluster.instance defaults to the host name and pid.
func TestConfigCluster(t *testing.T) {
	for _, c := range []struct {
		lease, poll time.Duration
		want        string
	}{
		{0, time.Second, "cluster.lease"},
		{15 * time.Second, 0, "cluster.poll"},
		{time.Second, time.Second, "cluster.poll: 1s is out of range (allowed: < cluster.lease 1s)"},
	} {
		cfg := testConfig(t)
		cfg.Cluster.Lease, cfg.Cluster.Poll = c.lease, c.poll
		if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("lease %s poll %s: %v, want %q", c.lease, c.poll, err, c.want)
		}
	}
	cfg := testConfig(t)
	if cfg.Cluster.Lease != 15*time.Second || cfg.Cluster.Poll != time.Second {
		t.Fatalf("defaults: lease %s poll %s", cfg.Cluster.Lease, cfg.Cluster.Poll)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if n := cfg.Cluster.InstanceName(); n == "" || !strings.Contains(n, "-") {
		t.Fatalf("default instance name %q", n)
	}
}
