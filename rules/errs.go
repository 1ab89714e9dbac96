package rules

import (
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin/internal/configerr"
)

// A rule's problems are typed (*configerr.ConfigError: key, kind, value,
// range) so that alarmd explains each in Mandarin; the English detail
// stays what developers read. A problem no kind describes carries one of
// ErrorReasons, which alarmd words (its configtext.go).

// The reasons a rule's key is refused that no ConfigKind says.
const (
	reasonClearsAlarm    = "rule-clears-alarm"    // events: an event that clears an alarm
	reasonLatLon         = "rule-latlon"          // center, polygon[i]: not a latitude/longitude
	reasonPolygonPoints  = "rule-polygon-points"  // polygon: fewer than 3 points
	reasonTimesCount     = "rule-times-count"     // alarm_times: 1..Range of them
	reasonTimesOrder     = "rule-times-order"     // alarm_times: whole minutes, ascending, 30m..36h
	reasonLateShare      = "rule-late-share"      // late_share: [0, 1), with two alarm times
	reasonLifeDelta      = "rule-life-delta"      // life_delta: above 0, below min_delta
	reasonClearAbove     = "rule-clear-above"     // clear_above with below
	reasonClearBelow     = "rule-clear-below"     // clear_below with above
	reasonSameName       = "rule-same-name"       // silent_rule: the rule's own name
	reasonTriggerGateway = "rule-trigger-gateway" // trigger: only for target device
	reasonSilentAfter    = "rule-silent-after"    // silent_after: only for target gateway, positive
	reasonWindow         = "rule-window"          // window: not like 22:00-06:00
	reasonSilence        = "rule-silence"         // not like 25h or 2x
	reasonPlainKeys      = "rule-plain-keys"      // a key that is not plain text
	reasonNoOverride     = "rule-no-override"     // name, kind, overrides in an override
	reasonListLong       = "rule-list-long"       // a list of more than Range items
	reasonUnsupported    = "rule-unsupported"     // a parameter type the decoder does not read
)

// ErrorReasons lists every Reason a rules file's error may carry, for the
// test that each has its Mandarin words.
var ErrorReasons = []string{reasonClearsAlarm, reasonLatLon, reasonPolygonPoints, reasonTimesCount, reasonTimesOrder,
	reasonLateShare, reasonLifeDelta, reasonClearAbove, reasonClearBelow, reasonSameName, reasonTriggerGateway,
	reasonSilentAfter, reasonWindow, reasonSilence, reasonPlainKeys, reasonNoOverride, reasonListLong, reasonUnsupported}

// outside: v is not within allowed (1d..14d, > 0); detail is the English.
// A duration is shown in the unit of the range: whole days as 90d against
// days (1d..60d), else 48h against hours (1h..36h).
func outside(key string, v any, allowed, detail string) error {
	if d, ok := v.(Duration); ok {
		if strings.HasSuffix(allowed, "d") {
			v = writtenDur(d)
		} else {
			v = shortDur(d)
		}
	}
	ce := configerr.OutOfRange(key, v, allowed)
	ce.Detail = detail
	return ce
}

// notName: v is not a field or rule name (anxin.ValidID).
func notName(key, v, detail string) error {
	ce := configerr.NotID(key, v)
	ce.Detail = detail
	return ce
}

// oneOf: v is none of choices.
func oneOf(key, v, detail string, choices ...string) error {
	ce := configerr.NotChoice(key, v, choices...)
	ce.Detail = detail
	return ce
}

// absent: key is needed and not written; choices are what may be written.
func absent(key, detail string, choices ...string) error {
	return configerr.Missing(key, "%s", detail).WithChoices(choices...)
}

// needsKey: key is written without the others it needs.
func needsKey(key, detail string, others ...string) error {
	return configerr.NewConfigError(configerr.KeyNeedsOther, key, "%s", detail).WithChoices(others...)
}

// clash: key does not go with the others.
func clash(key, detail string, others ...string) error {
	return configerr.NewConfigError(configerr.KeysConflict, key, "%s", detail).WithChoices(others...)
}

// because: key is refused for reason (one of ErrorReasons); v, when not
// "", is the value as written; allowed fills the reason's range.
func because(key, reason, v, allowed, detail string) error {
	ce := configerr.Because(key, reason, "%s", detail)
	ce.Value, ce.Range = v, allowed
	return ce
}

// writtenDur is d as a rules file would write it: whole days as 90d
// (warm_up, memory), else 1h30m.
func writtenDur(d Duration) string {
	const day = Duration(24 * time.Hour)
	if d >= day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return shortDur(d)
}

// shortDur is d as a rules file writes it: 1h30m, 24h, 30m.
func shortDur(d Duration) string { return configerr.ShortDuration(time.Duration(d)) }

// hzEdgesWithin are the alarm times a hazard rule may name between lo and hi.
func hzEdgesWithin(lo, hi Duration) []string {
	var out []string
	for _, m := range hzEdges {
		if d := Duration(m) * Duration(time.Minute); d >= lo && d <= hi {
			out = append(out, shortDur(d))
		}
	}
	return out
}
