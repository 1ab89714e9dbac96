// Package words writes every text a person reads about an alarm: the SMS of
// a chain step, the call's prompt (to a contact or to the elder), the
// "taken" and duty notices, the acknowledgement page and the text of the
// visit record an alarm writes. It works from the alarm's structured cause
// (anxin.Cause), never from the rules' English reason, in the configured
// language (zh-CN by default; en for operators) and time zone.
//
// Mandarin texts hold no ASCII word and no device id; an SMS fits two
// segments (134 UCS-2 characters) with its acknowledgement link.
package words

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Asia/Shanghai must load on a machine without zoneinfo
	"unicode"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
)

// Locales.
const (
	Mandarin = "zh-CN"
	English  = "en"
)

// DefaultLocale and DefaultZone are the defaults of notify.locale and
// notify.time_zone.
const (
	DefaultLocale = Mandarin
	DefaultZone   = "Asia/Shanghai"
)

// Book writes the texts in one language and time zone. It is immutable and
// safe for concurrent use.
type Book struct {
	c   *catalogue
	loc *time.Location
}

// New returns the book of a locale (zh-CN or en) and an IANA time zone.
func New(locale, zone string) (*Book, error) {
	c, ok := catalogues[locale]
	if !ok {
		return nil, fmt.Errorf("locale %q is not zh-CN or en", clip(locale))
	}
	if zone == "" {
		return nil, fmt.Errorf("time zone is empty (Asia/Shanghai)")
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", clip(zone), err)
	}
	return &Book{c: c, loc: loc}, nil
}

// Default is Mandarin in Asia/Shanghai. Books are immutable, so it is
// built once (pages and notifiers ask for it on every request).
func Default() *Book { return defaultBook() }

var defaultBook = sync.OnceValue(func() *Book {
	b, err := New(DefaultLocale, DefaultZone)
	if err != nil {
		panic(err) // cannot happen: the catalogue and time/tzdata are linked in
	}
	return b
})

// In returns the book for another time zone (tests, escalate's Location).
func (b *Book) In(loc *time.Location) *Book { return &Book{c: b.c, loc: loc} }

// Locale is the book's locale.
func (b *Book) Locale() string { return b.c.locale }

// Location is the book's time zone.
func (b *Book) Location() *time.Location { return b.loc }

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// --- what happened ---

// What says what happened, when and where, without the elder's name:
// "12月7日 00:57 按下了呼叫按钮".
func (b *Book) What(a *anxin.Alarm, h *anxin.Household) string {
	c := a.Cause
	key := c.Code
	dev := b.c.device(c.Device, place(a, h))
	f := b.field(c)
	switch {
	case key == anxin.CauseRunning && b.c.usage(c) == b.c.power:
		key = runningPower
	case key == anxin.CauseThreshold && c.Flag:
		key = thresholdFlag
	case key == anxin.CauseThreshold && c.For > 0:
		key = thresholdFor
	}
	if key == anxin.CauseThreshold || key == thresholdFor {
		if f.worn {
			dev = b.c.elder
		}
	}
	tpl, ok := b.c.causes[key]
	if !ok {
		tpl = b.c.causes[""]
	}
	at := c.At
	if at.IsZero() {
		at = a.OpenedAt
	}
	dir := b.c.below
	if c.Above {
		dir = b.c.above
	}
	area := strings.TrimSpace(c.Area)
	if area == "" || !b.c.fits(area) {
		area = b.c.area
	}
	return strings.NewReplacer(
		"{t}", b.clock(at), "{dev}", dev, "{since}", b.clock(c.Since), "{for}", b.span(c.For),
		"{use}", b.c.usage(c), "{field}", f.name, "{value}", number(c.Value), "{unit}", f.unit, "{dir}", dir,
		"{limit}", number(c.Limit), "{area}", area, "{dist}", b.distance(c.Metres), "{share}", percent(c.Share),
		"{usual}", c.Usual.In(b.loc).Format("15:04"), "{rule}", a.Rule,
	).Replace(tpl)
}

// clock is a time in the book's zone: "12月7日 00:57", "7 Dec 00:57".
func (b *Book) clock(t time.Time) string { return t.In(b.loc).Format(b.c.clock) }

// span is a rounded duration: "24小时", "2小时10分钟", "3天4小时".
func (b *Book) span(d time.Duration) string {
	m := int64(d / time.Minute)
	if m < 0 {
		m = 0
	}
	u := b.c.units
	switch {
	case m < 60:
		return strconv.FormatInt(m, 10) + u.min
	case m < 48*60:
		h, mm := m/60, m%60
		if mm == 0 {
			return strconv.FormatInt(h, 10) + u.hour
		}
		return strconv.FormatInt(h, 10) + u.hour + u.sep + strconv.FormatInt(mm, 10) + u.min
	default:
		dd, h := m/(24*60), (m/60)%24
		if h == 0 {
			return strconv.FormatInt(dd, 10) + u.day
		}
		return strconv.FormatInt(dd, 10) + u.day + u.sep + strconv.FormatInt(h, 10) + u.hour
	}
}

// after is an exact short duration: "2分30秒", "45 s".
func (b *Book) after(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	u := b.c.units
	switch {
	case s < 60:
		return strconv.FormatInt(s, 10) + u.sec
	case s < 3600:
		return strconv.FormatInt(s/60, 10) + u.minShort + u.sep + strconv.FormatInt(s%60, 10) + u.sec
	}
	return strconv.FormatInt(s/3600, 10) + u.hour + u.sep + strconv.FormatInt(s%3600/60, 10) + u.minShort
}

// distance is "850米", "2.4公里".
func (b *Book) distance(m float64) string {
	if m < 1000 {
		return strconv.FormatFloat(math.Round(m), 'f', -1, 64) + b.c.units.metre
	}
	return strconv.FormatFloat(math.Round(m/100)/10, 'f', -1, 64) + b.c.units.km
}

// number is a reading: at most one decimal, no trailing zeros.
func number(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// place is the room of the alarm's device from the households file, if any.
func place(a *anxin.Alarm, h *anxin.Household) string {
	if h == nil || a.Device == "" {
		return ""
	}
	for _, d := range h.Devices {
		if d.ID == a.Device {
			return d.Place
		}
	}
	return ""
}

// hasASCIIWord reports whether s holds a run of three ASCII letters: a word
// that does not belong in a Mandarin text (configured names in English).
func hasASCIIWord(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			if n++; n >= 3 {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}

// elder is the elder's name, or a word for the elder.
func (b *Book) elder(h *anxin.Household) string {
	if h != nil && strings.TrimSpace(h.Elder.Name) != "" && b.c.fits(h.Elder.Name) {
		return h.Elder.Name
	}
	return b.c.elder
}

// address is the elder's address, if it may appear in this language.
func (b *Book) address(h *anxin.Household) string {
	if h == nil || !b.c.fits(h.Elder.Address) {
		return ""
	}
	return strings.TrimSpace(h.Elder.Address)
}

// shorten cuts s to at most n runes, marking the cut with "…".
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return ""
	}
	r := []rune(s)
	return strings.TrimRightFunc(string(r[:n-1]), unicode.IsSpace) + "…"
}

// Relation is a contact's relation to the elder in the book's words
// ("child": 子女); an unknown one is "contact".
func (b *Book) Relation(rel string) string {
	if w, ok := b.c.relates[rel]; ok {
		return w
	}
	return b.c.relates[""]
}
