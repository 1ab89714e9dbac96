package words

import (
	"github.com/anxin-care/anxin"
)

// catalogue is one language's words: phrase tables and templates, filled
// in by one implementation (what, texts.go).
type catalogue struct {
	locale string
	clock  string // time layout
	units  units
	elder  string                // the elder, when the name cannot be used
	fits   func(s string) bool   // may a configured text (name, address, room, area) appear?
	kinds  map[anxin.Kind]string // "" names an unknown kind
	of     string                // room → device: "的"
	water  string                // what a meter measures
	power  string
	fields map[string]field // reading fields of thresholds
	causes map[anxin.CauseCode]string
	below  string // threshold directions
	above  string
	area   string // a geofence area without a usable name

	// SMS and notices; %[1]s the elder, %[2]s "（address）" or "", %[3]s what.
	sms, smsAsk, smsUrgent string // step SMS: head, ask, link lead
	duty, dutyAsk          string // %[4]d calls
	rest                   string // a cut-short SMS's link, in one part
	taken                  string // %[4]s who
	kit                    string // installers: the kit needs care
	closed                 string // the alarm cleared or staff closed it
	which, whichItem       string // a reply that fits several alarms: %[1]d alarms; each: %[1]s elder, %[2]s link
	whichSep, whichMore    string // between items; %[1]d alarms not listed
	unclear, unclearMany   string // a reply in other words: lead for one alarm; for %[1]d (items as which's)
	replyFailed            string // a reply that could not be recorded: send it again
	voice, voiceElder      string
	fire, injury           string // call 119 / 120
	addr                   string // wraps the address: "（%s）"

	call    CallWords
	ack     ackWords
	visit   visitWords
	relates map[string]string // relations and roles
	via     map[string]string // how an alarm was accepted
}

type units struct{ sec, min, minShort, hour, day, sep, metre, km string }

type field struct {
	name, unit string
	worn       bool // measured on the elder (body temperature): the elder, not the device, has it
}

// CallWords are what a call says around its prompt and after a key press.
type CallWords struct {
	Voice      string // the <Say> voice that reads this catalogue (Twilio's TTS table)
	Language   string // and its language
	NoKey      string // no key pressed: goodbye
	NoKeyAgain string // no key after the prompt was said again
	Replayed   string // a key press handled already
	Busy       string // the press could not be recorded
	ElderSafe  string // the elder pressed 1
	Accepted   string // a contact pressed 1
	TakenBy    string // %s who holds the alarm
	Over       string // the alarm is over
	NotTaken   string // a second wrong key
}

type ackWords struct {
	title, call, button                                           string
	open, unanswered, takenBy, ended, mine, held, over            string
	expiredTitle, expired, invalidTitle, invalid, errorTitle, err string
	mineTitle, heldTitle, overTitle                               string
}

type visitWords struct {
	health                    string // %s what
	elderSafe, noContact      string // %[1]s after
	accepted, afterUnanswered string // %[1]s masked name, %[2]s relation, %[3]s after, %[4]s via
	unanswered                string // %[1]d steps, %[2]d rounds, %[3]d calls
	dutyTold, noDuty          string // after unanswered: duty contacts told, or there were none
}

var catalogues = map[string]*catalogue{Mandarin: &zh, English: &en}

// KindName names a device kind in a locale's words ("water meter", "水表");
// an unknown kind or locale gives the word for any device.
func KindName(locale string, k anxin.Kind) string {
	c, ok := catalogues[locale]
	if !ok {
		c = catalogues[DefaultLocale]
	}
	return c.device(k, "")
}

// device names a device kind, with its room when known.
func (c *catalogue) device(k anxin.Kind, room string) string {
	w := c.kinds[k]
	if w == "" {
		w = c.kinds[""]
	}
	if room != "" && c.fits(room) {
		return room + c.of + w
	}
	return w
}

// usage is what a meter measures: water, electricity.
func (c *catalogue) usage(cause anxin.Cause) string {
	if cause.Device == anxin.KindPowerMeter || cause.Field == "energy_kwh" || cause.Field == "forward_energy_kwh" || cause.Field == "power_w" {
		return c.power
	}
	return c.water
}

// Template keys besides the cause codes.
const (
	runningPower  anxin.CauseCode = "running/power"  // electricity used without a pause
	thresholdFor  anxin.CauseCode = "threshold/for"  // beyond the limit for a while
	thresholdFlag anxin.CauseCode = "threshold/flag" // a flag such as battery_low
)
