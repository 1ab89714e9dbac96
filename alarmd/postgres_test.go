package alarmd

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

// With store.url set alarmd keeps everything in PostgreSQL: it migrates the
// schema at start, a press becomes an alarm there, and a restarted alarmd
// finds the alarm and its rule state (a second press is a repeat, not a
// second alarm).
func TestIntegrationPostgresStore(t *testing.T) {
	pg := testenv.StartPostgres(t)
	cfg := testConfig(t)
	cfg.Store.URL = Secret(pg.URL("postgres"))
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	esc := &recordingEscalator{}
	m := &Main{Config: cfg, Escalator: esc}
	stop := startMain(t, m)
	if !strings.Contains(typeName(m.Store), "postgres") {
		t.Fatalf("store is %s, want the postgres store", typeName(m.Store))
	}
	pub := publisher(t, m.BrokerURL().Dial())
	publishMsg(t, pub, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	waitFor(t, "the button alarm", 10*time.Second, func() bool { return len(esc.Escalated()) == 1 })
	first := esc.Escalated()[0]
	pub.Disconnect(0)
	stop()

	// a second alarmd on the same database
	cfg2 := testConfig(t)
	cfg2.Store.URL = cfg.Store.URL
	m2 := &Main{Config: cfg2, Escalator: &recordingEscalator{}}
	startMain(t, m2)
	a, err := m2.Store.Alarm(context.Background(), first.ID)
	if err != nil || a.State != anxin.AlarmOpen || a.Household != "hh-0001" {
		t.Fatalf("alarm after restart: %+v %v", a, err)
	}
	pub = publisher(t, m2.BrokerURL().Dial())
	publishMsg(t, pub, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	waitFor(t, "the repeat", 10*time.Second, func() bool {
		a, err := m2.Store.Alarm(context.Background(), first.ID)
		return err == nil && a.Repeats == 1
	})
}

func TestConfigStoreURL(t *testing.T) {
	cfg := testConfig(t)
	cfg.Store.URL = "mysql://x"
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "store.url") {
		t.Fatalf("a non-postgres store.url: %v", err)
	}
	cfg.Store.URL = "postgres://alarmd:s3cret@127.0.0.1:1/anxin"
	if _, err := OpenStore(context.Background(), cfg.Store); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("an unreachable database: %v (the password must not show)", err)
	}
}

func typeName(v any) string { return strings.TrimPrefix(fmt.Sprintf("%T", v), "*") }

// Two alarmd on one PostgreSQL database: a household registered through
// one (records API, web app) is known at the other without SIGHUP (the
// store's register notifications run its register's hooks). Before, the
// peer rejected and acknowledged every message of it until its SIGHUP.
func TestRegisterFollowsAPeerOnPostgres(t *testing.T) {
	ctx := context.Background()
	pg := testenv.StartPostgres(t)
	cfg := StoreConfig{URL: Secret(pg.URL("postgres"))}
	var regs [2]*Register
	var stores [2]anxin.Store
	for i := range regs {
		db, err := OpenStore(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if regs[i], err = OpenRegister(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		stores[i] = db
	}
	h := anxin.Household{ID: "hh-new", Elder: anxin.Elder{Name: "张桂兰", Tier: anxin.TierHigh},
		Devices: []anxin.Device{{ID: "btn-1", Kind: anxin.KindCallButton}}}
	if known, _ := regs[1].Knows(h.ID, "btn-1"); known {
		t.Fatal("known before it was registered")
	}
	if err := stores[0].PutKit(ctx, &h, time.Now()); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the peer knows the household registered through the other", 0, func() bool {
		known, _ := regs[1].Knows(h.ID, "btn-1")
		return known
	})
}
