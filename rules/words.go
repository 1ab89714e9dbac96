package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin/words"
)

// Reasons are read by family members at 3 am: plain words, local clock
// times, rounded durations.

// span formats a duration of seconds as "2 h 10 min", "24 h", "15 min",
// "3 d 4 h".
func span(sec int64) string {
	if sec < 0 {
		sec = 0
	}
	m := sec / 60
	switch {
	case m < 60:
		return strconv.FormatInt(m, 10) + " min"
	case m < 48*60:
		h, mm := m/60, m%60
		if mm == 0 {
			return strconv.FormatInt(h, 10) + " h"
		}
		return fmt.Sprintf("%d h %d min", h, mm)
	default:
		d, h := m/(24*60), (m/60)%24
		if h == 0 {
			return strconv.FormatInt(d, 10) + " d"
		}
		return fmt.Sprintf("%d d %d h", d, h)
	}
}

// clock formats t as a local clock time: "06:40" today, "06:40 yesterday",
// else with the date.
func (x *evalCtx) clock(t int64) string {
	lt, ln := x.local(t), x.local(x.now)
	y, m, d := ln.Date()
	switch ly, lm, ld := lt.Date(); {
	case ly == y && lm == m && ld == d:
		return lt.Format("15:04")
	case time.Date(ly, lm, ld+1, 0, 0, 0, 0, time.UTC).Equal(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)):
		return lt.Format("15:04") + " yesterday"
	}
	return lt.Format("Mon 2 Jan 15:04")
}

// distance formats metres: "850 m", "2.4 km".
func distance(m float64) string {
	if m < 1000 {
		return strconv.FormatFloat(math.Round(m), 'f', -1, 64) + " m"
	}
	return strconv.FormatFloat(math.Round(m/100)/10, 'f', -1, 64) + " km"
}

// number formats a reading: at most 3 decimals, no trailing zeros.
func number(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// deviceWords names a device for a reason: "the water meter (wm1)".
func (x *evalCtx) deviceWords(dev uint16) string {
	w := words.KindName(words.English, x.h.deviceKind(dev))
	if id := x.h.deviceID(dev); id != "" {
		return "the " + w + " (" + id + ")"
	}
	return "the " + w
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// atLeast reports d >= min for a difference d of two meter readings near
// val: meters print 0.001 m³, and 100.123-100.113 is 0.00999999… in
// floating point, which must still count as the 10 litres it is.
func atLeast(d, min, val float64) bool {
	return d >= min-1e-9*math.Max(1, math.Abs(val))
}
