// Package spooltest holds the messages the spool's and the uplink's tests
// put in a spool.
package spooltest

import (
	"fmt"
	"time"

	"github.com/anxin-care/anxin"
)

// T0 is the time of message 0.
var T0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// Msg is message n of device dev: an event when event is set, else a
// water-meter reading whose total_m3 is n.
func Msg(dev string, n int, event bool) anxin.Message {
	ts := T0.Add(time.Duration(n) * time.Millisecond)
	m := anxin.Message{ID: fmt.Sprintf("%s-%08d", dev, n), TS: ts, Household: "hh-0001", Device: dev}
	if event {
		m.Kind, m.Event = anxin.KindCallButton, anxin.EventButtonPressed
	} else {
		m.Kind, m.Fields = anxin.KindWaterMeter, anxin.Fields{"total_m3": anxin.Num(float64(n))}
	}
	return m
}
