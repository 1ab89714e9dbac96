package spool

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
)

func putStatus(t testing.TB, s *Spool, dev, state string, n int) {
	t.Helper()
	st := anxin.DeviceStatus{Household: "hh-0001", Device: dev, State: state, TS: t0.Add(time.Duration(n) * time.Millisecond)}
	if err := s.PutStatus(context.Background(), st); err != nil {
		t.Fatalf("put status %s %s: %v", dev, state, err)
	}
}

// statusOf decodes a status record: its device and payload.
func statusOf(t testing.TB, r Record) (string, anxin.Status) {
	t.Helper()
	_, dev, class, err := anxin.ParseTopic(r.Topic)
	if err != nil || class != "status" || !r.Status || r.Event {
		t.Fatalf("record %d on %s is not a status (%v)", r.Seq, r.Topic, err)
	}
	st, err := anxin.ParseStatus(r.Payload)
	if err != nil {
		t.Fatalf("record %d: %v", r.Seq, err)
	}
	return dev, st
}

// A status is on disk when PutStatus returns (like an event, also in batch
// mode), survives a restart unacknowledged with its status flag, and
// carries exactly the contract payload.
func TestSpoolStatusIsDurableAndFlagged(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, Fsync: FsyncBatch, SyncInterval: time.Hour})
	put(t, s, testMsg("wm1", 1, false))
	putStatus(t, s, "btn1", "offline", 5)
	s.mu.Lock()
	appended := s.appended
	s.mu.Unlock()
	if d := s.durable.Load(); d < appended {
		t.Fatalf("PutStatus returned with %d of %d bytes fsynced", d, appended)
	}
	for name, st := range map[string]anxin.DeviceStatus{
		"reserved device": {Household: "hh-0001", Device: "gateway", State: "offline", TS: t0},
		"bad state":       {Household: "hh-0001", Device: "btn1", State: "gone", TS: t0},
		"no ts":           {Household: "hh-0001", Device: "btn1", State: "offline"},
	} {
		if err := s.PutStatus(context.Background(), st); anxin.ErrorCode(err) != anxin.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, Options{Dir: dir})
	recs := drain(t, s2)
	if len(recs) != 2 || recs[0].Status || !recs[1].Status {
		t.Fatalf("after restart: %+v", recs)
	}
	if recs[1].Topic != "anxin/v1/hh-0001/btn1/status" ||
		string(recs[1].Payload) != `{"state":"offline","ts":"2026-11-23T08:00:00.005Z"}` {
		t.Fatalf("status record %s %s", recs[1].Topic, recs[1].Payload)
	}
}

// TestSpoolThinsSupersededStatusesNeverTheNewest: a full spool drops the
// oldest readings and the statuses a newer status of the same device
// supersedes, oldest first; it keeps every event and each device's newest
// status, however old (btn2 said offline once, at the start), also after a
// restart.
func TestSpoolThinsSupersededStatusesNeverTheNewest(t *testing.T) {
	dir := t.TempDir()
	reg := metrics.NewRegistry()
	s := openTest(t, Options{Dir: dir, MaxBytes: 64 << 10, SegmentBytes: 8 << 10, Metrics: reg})
	putStatus(t, s, "btn2", "offline", 0)
	var events int
	for i := 1; i < 3000; i++ {
		switch {
		case i%50 == 0:
			events++
			put(t, s, testMsg("btn1", i, true))
		case i%7 == 0: // a flapping device: offline, online, …
			putStatus(t, s, "btn1", []string{"offline", "online"}[i/7%2], i)
		default:
			put(t, s, testMsg("wm1", i, false))
		}
		if i == 1500 { // a restart halfway: what is newest is found again on disk
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openTest(t, Options{Dir: dir, MaxBytes: 64 << 10, SegmentBytes: 8 << 10})
		}
	}
	putStatus(t, s, "btn1", "offline", 3000)
	if st := s.Stats(); st.Bytes > 64<<10+8<<10 {
		t.Fatalf("spool is %d bytes, budget 64 KiB", st.Bytes)
	}
	recs := drain(t, s)
	var gotEvents int
	var statuses []string
	var prev uint64
	for _, r := range recs {
		if r.Seq <= prev {
			t.Fatalf("order broken at seq %d", r.Seq)
		}
		prev = r.Seq
		switch {
		case r.Event:
			gotEvents++
		case r.Status:
			dev, st := statusOf(t, r)
			statuses = append(statuses, fmt.Sprintf("%s %s %d", dev, st.State, st.TS.Sub(t0)/time.Millisecond))
		}
	}
	if gotEvents != events {
		t.Errorf("events kept %d of %d", gotEvents, events)
	}
	if len(statuses) == 0 || statuses[0] != "btn2 offline 0" {
		t.Errorf("btn2's only status was thinned: %v", statuses)
	}
	if last := statuses[len(statuses)-1]; last != "btn1 offline 3000" {
		t.Errorf("newest btn1 status %q", last)
	}
	if n := len(statuses); n > 100 {
		t.Errorf("%d statuses kept: superseded ones were not thinned", n)
	}
	// the spool after the restart thinned both kinds itself
	if metrics.ToFloat64(s.mSuperseded) == 0 || metrics.ToFloat64(s.mDropped) == 0 {
		t.Errorf("thinned %v superseded statuses and %v readings after the restart, want both > 0",
			metrics.ToFloat64(s.mSuperseded), metrics.ToFloat64(s.mDropped))
	}
}

// FuzzSpoolStatuses: any sequence of readings, events and statuses of a few
// devices through a tiny spool, with acks and restarts: every event and
// each device's newest unacknowledged status come out, in order.
func FuzzSpoolStatuses(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 200, 201, 202})
	f.Add(bytesOf(300, 7))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 2000 {
			return
		}
		dir := t.TempDir()
		opts := Options{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: 64 << 10}
		s, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { s.Close() }()
		// shrink the budget so a few hundred records thin
		s.opts.MaxBytes, s.segMax = 16<<10, 2<<10
		ctx := context.Background()
		wantEvents := map[string]bool{}
		newest := map[string]string{} // device → payload of its newest status
		var acked uint64
		for i, op := range ops {
			dev := fmt.Sprintf("d%d", op&3)
			switch op >> 2 % 8 {
			case 0, 1, 2:
				if err := s.Put(ctx, testMsg(dev, i, false)); err != nil {
					t.Fatal(err)
				}
			case 3:
				m := testMsg(dev, i, true)
				if err := s.Put(ctx, m); err != nil {
					t.Fatal(err)
				}
				wantEvents[m.ID] = true
			case 4, 5:
				st := anxin.DeviceStatus{Household: "hh-0001", Device: dev, State: []string{"online", "offline"}[op>>5&1],
					TS: t0.Add(time.Duration(i) * time.Second)}
				if err := s.PutStatus(ctx, st); err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(st.Payload())
				newest[dev] = string(b)
			case 6: // the broker acknowledges everything so far
				stats := s.Stats()
				acked = stats.NextSeq - 1
				// what was acknowledged was delivered: forget it
				c := s.Cursor()
				for range stats.Depth {
					cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					r, err := c.Next(cctx)
					cancel()
					if err != nil {
						t.Fatal(err)
					}
					if r.Event {
						m, _ := anxin.ParseMessage(r.Topic, r.Payload)
						delete(wantEvents, m.ID)
					}
				}
				c.Close()
				if err := s.Ack(acked); err != nil {
					t.Fatal(err)
				}
				clear(newest)
			case 7: // restart
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if s, err = Open(opts); err != nil {
					t.Fatal(err)
				}
				s.opts.MaxBytes, s.segMax = 16<<10, 2<<10
			}
		}
		c := s.Cursor()
		defer c.Close()
		lastStatus := map[string]string{}
		var prev uint64
		for range s.Stats().Depth {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			r, err := c.Next(cctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if r.Seq <= prev || r.Seq <= acked {
				t.Fatalf("seq %d after %d (acked %d)", r.Seq, prev, acked)
			}
			prev = r.Seq
			switch {
			case r.Event:
				m, err := anxin.ParseMessage(r.Topic, r.Payload)
				if err != nil {
					t.Fatal(err)
				}
				delete(wantEvents, m.ID)
			case r.Status:
				_, dev, _, _ := anxin.ParseTopic(r.Topic)
				lastStatus[dev] = string(r.Payload)
			}
		}
		if len(wantEvents) != 0 {
			t.Fatalf("%d events lost", len(wantEvents))
		}
		for dev, p := range newest {
			if lastStatus[dev] != p {
				t.Fatalf("%s: last status in the spool %s, want the newest %s", dev, lastStatus[dev], p)
			}
		}
	})
}

func bytesOf(n int, step byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) * step
	}
	return b
}
