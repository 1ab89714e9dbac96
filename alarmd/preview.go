package alarmd

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
)

// previewSample is a typical alarm of one kind: its cause (times relative
// to now) and the device kind it comes from.
type previewSample struct {
	rule  string
	cause func(now time.Time) anxin.Cause
}

var previewSamples = []previewSample{
	{"button", event(anxin.CauseButton, anxin.KindCallButton)},
	{"smoke", event(anxin.CauseSmoke, anxin.KindSmokeDetector)},
	{"gas", event(anxin.CauseGas, anxin.KindGasDetector)},
	{"water_leak", event(anxin.CauseWaterLeak, anxin.KindWaterLeakDetector)},
	{"fall", event(anxin.CauseFall, anxin.KindTracker)},
	{"tamper", event(anxin.CauseTamper, anxin.KindSmokeDetector)},
	{"low_battery", event(anxin.CauseLowBattery, anxin.KindSmokeDetector)},
	{"no_use", lasting(anxin.CauseNoUse, anxin.KindWaterMeter, 24*time.Hour)},
	// the default no_water's learned 8 h step: rarely this quiet at this hour
	{"no_use_unusual", func(now time.Time) anxin.Cause {
		c := lasting(anxin.CauseNoUseUnusual, anxin.KindWaterMeter, 8*time.Hour)(now)
		c.Share, c.Usual = 0.97, now
		return c
	}},
	{"water_running", lasting(anxin.CauseRunning, anxin.KindWaterMeter, 2*time.Hour)},
	{"device_silent", lasting(anxin.CauseDeviceSilent, anxin.KindWaterMeter, 25*time.Hour)},
	{"device_offline", lasting(anxin.CauseDeviceOffline, anxin.KindCallButton, 30*time.Minute)},
	{"gateway_offline", lasting(anxin.CauseGatewayOffline, "", 30*time.Minute)},
	{"home_silent", lasting(anxin.CauseHomeSilent, "", 25*time.Hour)},
	{"battery_low", func(now time.Time) anxin.Cause {
		return anxin.Cause{Code: anxin.CauseThreshold, Device: anxin.KindSmokeDetector, Field: "battery_pct", At: now, Since: now, Value: 9, Limit: 15}
	}},
	{"geofence", func(now time.Time) anxin.Cause {
		c := lasting(anxin.CauseGeofence, anxin.KindTracker, 15*time.Minute)(now)
		c.Metres = 812
		return c
	}},
}

func event(code anxin.CauseCode, k anxin.Kind) func(time.Time) anxin.Cause {
	return func(now time.Time) anxin.Cause { return anxin.Cause{Code: code, Device: k, At: now} }
}

func lasting(code anxin.CauseCode, k anxin.Kind, d time.Duration) func(time.Time) anxin.Cause {
	return func(now time.Time) anxin.Cause { return anxin.Cause{Code: code, Device: k, Since: now.Add(-d), For: d} }
}

// PreviewRules are the names Preview knows.
func PreviewRules() []string {
	var n []string
	for _, s := range previewSamples {
		n = append(n, s.rule)
	}
	return n
}

// previewToken stands for the 10-character token a real SMS carries.
const previewToken = "Ab3dE6gH9k"

// Preview writes what the people of household hh would get for an alarm of
// rule at now: the first step's SMS, the call to a contact and to the elder,
// the ack page, the "taken" and duty notices, with the configured locale,
// time zone and public URL.
func Preview(cfg *Config, hh *anxin.Household, rule string, now time.Time, w io.Writer) error {
	i := slices.IndexFunc(previewSamples, func(s previewSample) bool { return s.rule == rule })
	if i < 0 {
		return fmt.Errorf("preview: rule %q is not one of %s", rule, strings.Join(PreviewRules(), ", "))
	}
	b, err := cfg.Notify.Words()
	if err != nil {
		return err
	}
	c := previewSamples[i].cause(now)
	a := anxin.Alarm{ID: "preview", Household: hh.ID, Rule: rule, State: anxin.AlarmOpen, Cause: c, OpenedAt: now}
	for _, d := range hh.Devices {
		if d.Kind == c.Device {
			a.Device = d.ID // for its room
			break
		}
	}
	link := strings.TrimRight(cfg.HTTP.PublicURL, "/") + "/ack/" + previewToken
	contact := "联系人"
	if ch := hh.Chain(); len(ch) > 0 {
		contact = ch[0].Name
	}
	sms := b.SMS(&a, hh, link)
	n, _ := words.SMSLength(sms)
	fmt.Fprintf(w, "== SMS (%d characters, %d segments)\n%s\n", n, words.SMSSegments(sms), sms)
	fmt.Fprintf(w, "== call to a contact\n%s\n", b.Voice(&a, hh, false))
	fmt.Fprintf(w, "== call to the elder\n%s\n", b.Voice(&a, hh, true))
	fmt.Fprintf(w, "== ack page (%s)\n%s\n", link, strings.Join(b.Ack(words.AckOpen, &a, hh, "").Lines(), "\n"))
	fmt.Fprintf(w, "== taken notice\n%s\n", b.Taken(&a, hh, contact))
	fmt.Fprintf(w, "== duty notice\n%s\n", b.Duty(&a, hh, 2*len(hh.Chain()), link))
	return nil
}

// PreviewHousehold finds household id in the configured households file.
func PreviewHousehold(cfg *Config, id string) (anxin.Household, error) {
	if cfg.HouseholdsFile == "" {
		return anxin.Household{}, errors.New("preview: households_file is not configured")
	}
	f, err := LoadHouseholds(cfg.HouseholdsFile)
	if err != nil {
		return anxin.Household{}, err
	}
	for _, h := range f.All() {
		if h.ID == id {
			return h, nil
		}
	}
	return anxin.Household{}, fmt.Errorf("preview: household %q is not in %s", id, cfg.HouseholdsFile)
}
