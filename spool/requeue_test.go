package spool

import (
	"testing"
)

// TestRequeueMovesTheNextRecordBehindTheOthers: the record next to
// acknowledge goes behind everything spooled, still there after a restart
// (events and readings alike); a record that is not next is refused.
func TestRequeueMovesTheNextRecordBehindTheOthers(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		put(t, s, testMsg("wm1", i, i == 0)) // the first an event
	}
	recs := drain(t, s)
	if err := s.Requeue(recs[1]); err == nil {
		t.Fatal("a record that is not next to acknowledge was requeued")
	}
	if err := s.Requeue(recs[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, Options{Dir: dir})
	got := drain(t, s2)
	var ids []string
	for _, r := range got {
		ids = append(ids, msgOf(t, r).ID)
	}
	want := []string{testMsg("wm1", 1, false).ID, testMsg("wm1", 2, false).ID, testMsg("wm1", 0, true).ID}
	if len(ids) != 3 || ids[0] != want[0] || ids[1] != want[1] || ids[2] != want[2] {
		t.Fatalf("after the requeue and a restart: %v, want %v", ids, want)
	}
	if !got[2].Event {
		t.Fatal("the requeued event is no longer an event (it could be thinned)")
	}
}
