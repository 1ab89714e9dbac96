package words

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// field names a threshold's reading and unit in the book's language.
func (b *Book) field(c anxin.Cause) field {
	if f, ok := b.c.fields[c.Field]; ok {
		return f
	}
	f := b.c.fields[""]
	if b.c.fits(c.Unit) {
		f.unit = c.Unit
	}
	return f
}

// percent is a share for people: "95%", "99.7%".
func percent(f float64) string {
	v := f * 100
	if v >= 99 {
		v = math.Min(math.Floor(v*10)/10, 99.9)
		return strconv.FormatFloat(v, 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(math.Floor(v), 'f', -1, 64) + "%"
}

// EmergencyNumber is the number to call for an alarm of this cause: 119
// for fire and gas, 120 for a fall; "" for others.
func EmergencyNumber(c anxin.CauseCode) string {
	switch c {
	case anxin.CauseSmoke, anxin.CauseGas:
		return "119"
	case anxin.CauseFall:
		return "120"
	}
	return ""
}

// urgent is the emergency number to call for the alarm, in words, or "".
func (b *Book) urgent(a *anxin.Alarm) string {
	switch EmergencyNumber(a.Cause.Code) {
	case "119":
		return b.c.fire
	case "120":
		return b.c.injury
	}
	return ""
}

func (b *Book) where(h *anxin.Household, n int) string {
	ad := shorten(b.address(h), n)
	if ad == "" {
		return ""
	}
	return fmt.Sprintf(b.c.addr, ad)
}

// fit writes head(address) + parts + link within two SMS segments. The
// address shortens first, then the parts drop from the first on, except the
// last (the link's lead-in); the link always stays whole.
func (b *Book) fit(h *anxin.Household, link string, head func(where string) string, parts ...string) string {
	for drop := 0; drop < len(parts); drop++ {
		tail := strings.Join(parts[drop:], "") + link
		for n := 40; n >= 4; n -= 4 {
			if s := head(b.where(h, n)) + tail; SMSFits(s) {
				return s
			}
		}
		if s := head("") + tail; SMSFits(s) {
			return s
		}
	}
	return head("") + link // a very long name or reason: three segments rather than no link
}

// SMS is a chain step's message: who, where, what happened, what to do and
// the acknowledgement link.
func (b *Book) SMS(a *anxin.Alarm, h *anxin.Household, link string) string {
	name, what := b.elder(h), b.What(a, h)
	return b.fit(h, link, func(where string) string { return fmt.Sprintf(b.c.sms, name, where, what) },
		b.c.smsAsk, b.urgent(a), b.c.smsUrgent)
}

// Template variables are at most this many characters (Aliyun's limit for
// a variable of a notification template).
const maxParam = 35

// Params are a step's words as the variables of a registered SMS or voice
// template: name (the elder), where (the address, short), what (what
// happened, when) and link (the ack link, SMS only). A template registered
// as "${name}家${where}${what}，请尽快联系或上门查看。确认：${link}"
// reads like SMS.
func (b *Book) Params(a *anxin.Alarm, h *anxin.Household, link string) map[string]string {
	p := map[string]string{
		"name": shorten(b.elder(h), maxParam), "where": shorten(b.address(h), maxParam),
		"what": shorten(b.What(a, h), maxParam),
	}
	if link != "" {
		p["link"] = link
	}
	return p
}

// Duty tells the community duty contacts that nobody accepted the alarm
// after calls; link lets them take it over.
func (b *Book) Duty(a *anxin.Alarm, h *anxin.Household, calls int, link string) string {
	name, what := b.elder(h), b.What(a, h)
	if link == "" {
		return fmt.Sprintf(b.c.duty, name, b.where(h, 40), what, calls) + strings.TrimRight(b.c.dutyAsk, "：: ")
	}
	return b.fit(h, link, func(where string) string { return fmt.Sprintf(b.c.duty, name, where, what, calls) }, b.c.dutyAsk)
}

// Rest completes a step SMS that went out only in part (its link comes
// last): one segment with the link.
func (b *Book) Rest(link string) string { return b.c.rest + link }

// Taken tells those already notified that who accepted the alarm.
func (b *Book) Taken(a *anxin.Alarm, h *anxin.Household, who string) string {
	if !b.c.fits(who) || strings.TrimSpace(who) == "" {
		who = b.c.relates[""]
	}
	return fmt.Sprintf(b.c.taken, b.elder(h), "", b.What(a, h), who)
}

// Closed tells those already notified that the alarm is over (it cleared,
// or staff closed it) and nothing more is asked of them.
func (b *Book) Closed(a *anxin.Alarm, h *anxin.Household) string {
	return fmt.Sprintf(b.c.closed, b.elder(h), "", b.What(a, h))
}

// WhichListed is how many alarms Which lists at most: the answer stays a
// few SMS segments (Twilio refuses a body over 1,600 characters).
const WhichListed = 3

// Which answers an SMS reply that fits several (n) alarms waiting for the
// sender: none is taken; the first WhichListed of hs (the latest first)
// are listed by their elder with their link, the rest counted.
func (b *Book) Which(n int, hs []*anxin.Household, links []string) string {
	return b.listed(fmt.Sprintf(b.c.which, n), n, hs, links)
}

// Unclear answers an SMS reply in other words than an acceptance from
// someone n alarms wait for: nothing is taken; with one alarm, reply 1 or
// its link takes it; with several, each one's link (as Which lists them).
func (b *Book) Unclear(n int, hs []*anxin.Household, links []string) string {
	if n == 1 {
		return b.listed(b.c.unclear, n, hs, links)
	}
	return b.listed(fmt.Sprintf(b.c.unclearMany, n), n, hs, links)
}

// listed is lead and the first WhichListed alarms of hs with their links,
// the rest of n counted.
func (b *Book) listed(lead string, n int, hs []*anxin.Household, links []string) string {
	hs = hs[:min(len(hs), WhichListed)]
	items := make([]string, len(hs))
	for i, h := range hs {
		items[i] = fmt.Sprintf(b.c.whichItem, b.elder(h), links[i])
	}
	s := lead + strings.Join(items, b.c.whichSep)
	if n > len(hs) {
		s += fmt.Sprintf(b.c.whichMore, n-len(hs))
	}
	return s
}

// Installer tells the installer/duty route that a home's kit needs care
// (device silent, gateway offline, low battery, tamper): whose home, where,
// which device by its kind, since when; within two SMS segments.
func (b *Book) Installer(a *anxin.Alarm, h *anxin.Household) string {
	name, what := b.elder(h), b.What(a, h)
	return b.fit(h, "", func(where string) string { return fmt.Sprintf(b.c.kit, name, where, what) }, "")
}

// Voice is what a step's call says inside its one-key prompt; toElder asks
// the elder whether all is well instead.
func (b *Book) Voice(a *anxin.Alarm, h *anxin.Household, toElder bool) string {
	if toElder {
		return fmt.Sprintf(b.c.voiceElder, b.elder(h), "", b.What(a, h))
	}
	return fmt.Sprintf(b.c.voice, b.elder(h), "", b.What(a, h), b.urgent(a))
}

// Summary is the alarm in one line for the ack page: who, where, what.
func (b *Book) Summary(a *anxin.Alarm, h *anxin.Household) string {
	return b.elder(h) + b.where(h, 60) + "：" + b.What(a, h)
}

// AckState is what the ack page says about the alarm.
type AckState int

// Ack page states.
const (
	AckOpen       AckState = iota // chain walking: offer to accept
	AckUnanswered                 // chain unanswered: offer to accept
	AckTakenBy                    // someone accepted (Page.By)
	AckEnded                      // the alarm is over
	AckMine                       // POST: accepted by this contact
	AckHeld                       // POST: someone else was first (By)
	AckOver                       // POST: the alarm is over
	AckExpired                    // the link expired
	AckInvalid                    // the link is unknown
	AckError                      // the store failed
)

// AckPage is the acknowledgement page's words.
type AckPage struct {
	Lang      string
	Title     string
	Alarm     string // the alarm's summary; empty without an alarm
	Text      string
	Button    string // the accept button's label; empty: no form
	Call      string // tap-to-call label; empty: no link
	Tel       string // "tel:+86…" of the elder
	Emergency string // "call 119/120" for smoke, gas and falls
}

// Ack writes the ack page for an alarm (a and h nil for a link that names
// none); by is who accepted it, for AckTakenBy and AckHeld.
func (b *Book) Ack(st AckState, a *anxin.Alarm, h *anxin.Household, by string) AckPage {
	w := b.c.ack
	p := AckPage{Lang: b.c.locale, Title: w.title}
	if !b.c.fits(by) || strings.TrimSpace(by) == "" {
		by = b.c.relates[""]
	}
	switch st {
	case AckOpen:
		p.Text, p.Button = w.open, w.button
	case AckUnanswered:
		p.Text, p.Button = w.unanswered, w.button
	case AckTakenBy:
		p.Text = fmt.Sprintf(w.takenBy, by)
	case AckEnded:
		p.Text = w.ended
	case AckMine:
		p.Title, p.Text = w.mineTitle, w.mine
	case AckHeld:
		p.Title, p.Text = w.heldTitle, fmt.Sprintf(w.held, by)
	case AckOver:
		p.Title, p.Text = w.overTitle, w.over
	case AckExpired:
		return AckPage{Lang: b.c.locale, Title: w.expiredTitle, Text: w.expired}
	case AckInvalid:
		return AckPage{Lang: b.c.locale, Title: w.invalidTitle, Text: w.invalid}
	default:
		return AckPage{Lang: b.c.locale, Title: w.errorTitle, Text: w.err}
	}
	if a == nil {
		return p
	}
	p.Alarm = b.Summary(a, h)
	if h != nil && h.Elder.Phone != "" && (st == AckOpen || st == AckUnanswered || st == AckMine) {
		p.Call, p.Tel = w.call, "tel:"+h.Elder.Phone
	}
	if st != AckEnded && st != AckOver {
		p.Emergency = b.urgent(a)
	}
	return p
}

// Lines are the page's words as a person reads them, one per line (tests,
// preview).
func (p AckPage) Lines() []string {
	var out []string
	for _, s := range []string{p.Title, p.Alarm, p.Text, p.Emergency, p.Button, p.Call} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Call is what calls say around the alarm's prompt.
func (b *Book) Call() CallWords { return b.c.call }

// ReplyFailed answers an SMS reply that could not be recorded (the store
// refused it): nothing is taken, so the sender is asked to reply again.
func (b *Book) ReplyFailed() string { return b.c.replyFailed }

// CallTakenBy is the call's answer when who already holds the alarm.
func (b *Book) CallTakenBy(who string) string {
	if !b.c.fits(who) || strings.TrimSpace(who) == "" {
		who = b.c.relates[""]
	}
	return fmt.Sprintf(b.c.call.TakenBy, who)
}

// Outcome is how an alarm's chain ended, for the visit record.
type Outcome struct {
	Accepted        bool
	By              string // who accepted (masked in the record)
	Relation        string // relation or role of who accepted; "elder" for the elder
	Via             string // key_press, ack_link, sms_reply
	After           time.Duration
	NoContactRung   bool // the elder accepted before any contact was rung
	AfterUnanswered bool // accepted after the chain had gone unanswered
	Steps, Rounds   int
	Calls           int
	Duty            int // unanswered: community duty contacts told
}

// Visit writes the health and needs fields of the visit record an alarm's
// outcome becomes.
func (b *Book) Visit(a *anxin.Alarm, h *anxin.Household, o Outcome) (health, needs string) {
	v := b.c.visit
	health = fmt.Sprintf(v.health, b.What(a, h))
	switch {
	case !o.Accepted:
		needs = fmt.Sprintf(v.unanswered, o.Steps, o.Rounds, o.Calls)
		if o.Duty > 0 {
			needs += v.dutyTold
		} else {
			needs += v.noDuty
		}
	case o.Relation == "elder":
		needs = fmt.Sprintf(v.elderSafe, b.after(o.After))
		if o.NoContactRung {
			needs += v.noContact
		}
	default:
		rel, ok := b.c.relates[o.Relation]
		if !ok {
			rel = b.c.relates[""]
		}
		who := anxin.MaskName(o.By)
		if !b.c.fits(who) || who == "" {
			who = b.c.relates[""]
		}
		needs = fmt.Sprintf(v.accepted, who, rel, b.after(o.After), b.c.via[o.Via])
	}
	if o.Accepted && o.AfterUnanswered {
		needs += v.afterUnanswered
	}
	return health, needs
}
