package mqtt

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/spool"
)

// TestRefusedMessageDoesNotBlockLaterPresses: the embedded broker (alarmd
// with mqtt.gateway_password_file) disconnects an MQTT 3.1.1 client that
// publishes outside anxin/v1/<its username>/ (mochi's ACL answer to v3
// clients). A district gatewayd serving trackers of several households, or
// a terminal entry naming the wrong household, spools such a message. The
// uplink replays from the ack pointer after every reconnect, so that one
// message is sent first, forever: every later message, SOS presses of
// every household included, waits behind it.
func TestRefusedMessageDoesNotBlockLaterPresses(t *testing.T) {
	pw, err := LoadPasswords(mosquittoPasswd(t, "sha512-pbkdf2", gatewayUsers))
	if err != nil {
		t.Fatal(err)
	}
	b, rec := startAuthBroker(t, BrokerConfig{Passwords: pw, Logger: slog.New(slog.DiscardHandler)})
	sp := openSpool(t, spool.Options{})
	now := time.Now().UTC()
	foreign := anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-0002", Device: "tracker1",
		Kind: anxin.KindTracker, Fields: anxin.Fields{"lat": anxin.Num(30.5), "lon": anxin.Num(114.3)}}
	press := anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-0001", Device: "btn1",
		Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed}
	put(t, sp, foreign)
	put(t, sp, press)
	up, err := NewUplink(UplinkOptions{Broker: anxin.MustBrokerURL(b.URL()), Household: "hh-0001",
		Username: "hh-0001", Password: gatewayUsers["hh-0001"], MinRetry: 10 * time.Millisecond,
		MaxRetry: 50 * time.Millisecond}, sp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- up.Run(ctx) }()
	defer func() { cancel(); <-done }()
	payload, err := json.Marshal(&press)
	if err != nil {
		t.Fatal(err)
	}
	want := "hh-0001|" + press.Topic() + "|" + string(payload)
	testenv.Eventually(t, "the press queued behind a refused message reaches alarmd", 30*time.Second,
		func() bool { return rec.has(want) })
}

// TestOnlyAnotherHouseholdsRecordIsMoved: a connection that ends with
// nothing acknowledged looks the same on a flaky link. The record next to
// send is moved behind the others only when it is another household's and
// the gateway logs in as its own (a login that can never publish it), and
// only on the second such connection in a row; its own records, and any
// record of a gateway with another kind of login, stay first.
func TestOnlyAnotherHouseholdsRecordIsMoved(t *testing.T) {
	now := time.Now().UTC()
	msg := func(hh string) anxin.Message {
		return anxin.Message{ID: anxin.NewID(now), TS: now, Household: hh, Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed}
	}
	for _, c := range []struct {
		name, login, head string
		moved             bool
	}{
		{"own record, own login", "hh-0001", "hh-0001", false},
		{"another's record, own login", "hh-0001", "hh-0002", true},
		{"another's record, a district login", "district-7", "hh-0002", false},
		{"no login", "", "hh-0002", false},
	} {
		sp := openSpool(t, spool.Options{})
		put(t, sp, msg(c.head))
		put(t, sp, msg("hh-0001"))
		up, err := NewUplink(UplinkOptions{Broker: anxin.MustBrokerURL("tcp://127.0.0.1:1"), Household: "hh-0001", Username: c.login}, sp)
		if err != nil {
			t.Fatal(err)
		}
		up.checkRefused(t.Context(), sp.Acked())
		if sp.Acked() != 0 {
			t.Fatalf("%s: moved after one refused connection", c.name)
		}
		up.checkRefused(t.Context(), sp.Acked())
		if moved := sp.Acked() == 1; moved != c.moved {
			t.Errorf("%s: moved %v, want %v", c.name, moved, c.moved)
		}
		if c.moved {
			cur := sp.Cursor()
			var topics []string
			for range 2 {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				r, err := cur.Next(ctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				topics = append(topics, r.Topic)
			}
			cur.Close()
			own, other := msg("hh-0001"), msg(c.head)
			if topics[0] != own.Topic() || topics[1] != other.Topic() {
				t.Errorf("%s: order after the move %v", c.name, topics)
			}
		}
	}
}
