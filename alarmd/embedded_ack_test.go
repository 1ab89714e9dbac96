package alarmd

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin/sqlite"
)

// TestEmbeddedBrokerAcknowledgesAfterCommit: with the embedded broker a
// PUBACK means the message is in alarmd's store. The check runs right after
// each publish returns, with no waiting: when the broker acknowledged first
// and stored later, the alarm could still be missing here (and a crash in
// between lost it, the gateway having dropped it from its spool).
func TestEmbeddedBrokerAcknowledgesAfterCommit(t *testing.T) {
	cfg := testConfig(t)
	var hhs strings.Builder
	hhs.WriteString("households:\n")
	for i := range 20 {
		fmt.Fprintf(&hhs, "  - {id: hh-ack-%02d, devices: [{id: btn1, kind: call_button}]}\n", i)
	}
	if err := os.WriteFile(cfg.HouseholdsFile, []byte(hhs.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	esc := &recordingEscalator{}
	m := &Main{Config: cfg, Escalator: esc, Metrics: metrics.NewRegistry()}
	startMain(t, m)
	pub := publisher(t, m.BrokerURL().Dial())
	for i := range 20 {
		hh := fmt.Sprintf("hh-ack-%02d", i)
		msg := button(hh, time.Now().UTC().Truncate(time.Millisecond))
		publishMsg(t, pub, msg) // returns at the PUBACK
		as := alarms(t, m, sqlite.AlarmFilter{Household: hh})
		if len(as) != 1 || as[0].MessageID != msg.ID {
			t.Fatalf("press %d acknowledged but its alarm is not stored: %+v", i, as)
		}
	}
}

// TestEmbeddedBrokerRefusesWhenStopping: a message the pipeline can no
// longer commit is not acknowledged (the publisher keeps it and sends it
// again), and Close does not hang on it.
func TestEmbeddedBrokerRefusesWhenStopping(t *testing.T) {
	cfg := testConfig(t)
	m := &Main{Config: cfg, Escalator: &recordingEscalator{}, Metrics: metrics.NewRegistry()}
	ctx := context.Background()
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	// opened but not running: nothing commits, so nothing may be acknowledged
	pub := publisher(t, m.BrokerURL().Dial())
	msg := button("hh-0001", time.Now().UTC().Truncate(time.Millisecond))
	tok := pub.Publish(msg.Topic(), 1, false, mustJSON(t, msg))
	if tok.WaitTimeout(500 * time.Millisecond) {
		t.Fatalf("acknowledged before any commit (err %v)", tok.Error())
	}
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close hung on a message waiting for its commit")
	}
	if tok.WaitTimeout(time.Second) && tok.Error() == nil {
		t.Fatal("the refused message was acknowledged")
	}
}
