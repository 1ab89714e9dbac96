package watch3g

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestWatchSessionOverTCP: answers carry a ZJ watch's index; health
// frames are answered and give readings; an unknown watch is disconnected
// and logged once, masked.
func TestWatchSessionOverTCP(t *testing.T) {
	c := NewConfig()
	c.Listen = "127.0.0.1:0"
	c.Terminals = []tcpserver.Terminal{{ID: "014111001332708", Device: "watch1"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs testenv.SyncBuffer
	var ticks atomic.Int64 // every reading of the clock is a second later
	start := time.Now()
	now := func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * time.Second) }
	d, err := newDriver(c, drivers.Env{Household: "hh-0001", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Now: now, Metrics: metrics.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan anxin.Message, 10)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, drivers.SinkFunc(func(_ context.Context, m anxin.Message) error { out <- m; return nil }))
	}()
	defer func() { cancel(); <-done }()
	addr := d.server.WaitAddr(ctx)

	w, err := DialWatch(addr, "014111001332708")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Maker = "ZJ"
	if err := w.c.Write(Encode("ZJ", w.ID, "0075", "bphrt,120,79,73,,,,")); err != nil {
		t.Fatal(err)
	}
	f, err := w.Read(5 * time.Second)
	if err != nil || f.Index != "0075" || f.Content != "bphrt" {
		t.Fatalf("answer %+v %v", f, err)
	}
	if m := <-out; m.Fields["heart_rate_bpm"].Float() != 73 || m.Device != "watch1" {
		t.Fatalf("reading %+v", m)
	}

	// an SOS whose clock is off (an hour ahead) is stamped on receipt; the
	// watch resends it unanswered-alike: the same press, the same id
	var ids []string
	for range 2 {
		if err := w.SOS(Fix{Lat: 30.27, Lon: 120.15, Time: start.Add(time.Hour)}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		for m := range out {
			if m.Event == anxin.EventButtonPressed {
				ids = append(ids, m.ID)
				break
			}
		}
	}
	if ids[0] != ids[1] {
		t.Fatalf("a resent SOS got a new id (%s, %s): it would be raised twice", ids[0], ids[1])
	}

	for range 2 {
		u, err := DialWatch(addr, "9876543210")
		if err != nil {
			t.Fatal(err)
		}
		u.Send("LK")
		if _, err := u.Read(5 * time.Second); err != io.EOF {
			t.Fatalf("unknown watch not disconnected: %v", err)
		}
		u.Close()
	}
	if s := logs.String(); strings.Count(s, "unknown terminal refused") != 1 || strings.Contains(s, "9876543210") {
		t.Errorf("logs:\n%s", s)
	}
}
