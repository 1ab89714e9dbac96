package words_test

import (
	"strings"
	"testing"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
)

func TestSMSSegments(t *testing.T) {
	for _, c := range []struct {
		s    string
		segs int
	}{
		{"", 0},
		{strings.Repeat("a", 160), 1},
		{strings.Repeat("a", 161), 2},
		{strings.Repeat("安", 70), 1},
		{strings.Repeat("安", 71), 2},
		{strings.Repeat("安", 134), 2},
		{strings.Repeat("安", 135), 3},
		{strings.Repeat("a", 133) + "安", 2}, // one Mandarin character makes the whole SMS UCS-2
		{strings.Repeat("安", 69) + "😀", 2},  // outside the BMP: two units
	} {
		if got := words.SMSSegments(c.s); got != c.segs {
			n, _ := words.SMSLength(c.s)
			t.Errorf("%d units: %d segments, want %d", n, got, c.segs)
		}
	}
}

// A long address shortens, then the optional sentences go; the link stays
// whole and the SMS within two segments.
func TestSMSFitsWithLongAddress(t *testing.T) {
	b := words.Default()
	h := household
	h.Elder.Address = strings.Repeat("善广乡东村三组", 12)
	h.Elder.Name = "欧阳淑芬"
	a := anxin.Alarm{Device: "sd1", OpenedAt: at(0, "03:12"),
		Cause: anxin.Cause{Code: anxin.CauseSmoke, Device: anxin.KindSmokeDetector, At: at(0, "03:12")}}
	s := b.SMS(&a, &h, link)
	checkText(t, "sms", s, true)
	if !strings.HasSuffix(s, link) || !strings.Contains(s, "…") || !strings.Contains(s, "欧阳淑芬") {
		t.Errorf("sms %q", s)
	}
}

func TestEnglishAndZone(t *testing.T) {
	b, err := words.New("en", "Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	h := household
	a := anxin.Alarm{Device: "btn1", OpenedAt: at(0, "00:57"),
		Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton, At: at(0, "00:57")}}
	if got, want := b.What(&a, &h), "call button pressed at 6 Dec 16:57"; got != want {
		t.Errorf("what %q, want %q", got, want)
	}
	if _, err := words.New("fr", "Asia/Shanghai"); err == nil {
		t.Error("locale fr accepted")
	}
	if _, err := words.New("zh-CN", "Mars/Olympus"); err == nil {
		t.Error("zone accepted")
	}
	// an alarm stored before causes were: the time of opening, no English
	old := anxin.Alarm{Rule: "button", Reason: "The call button was pressed", OpenedAt: at(0, "00:57")}
	checkText(t, "old alarm", words.Default().SMS(&old, &h, link), true)
}

// What calls say after a key press is Mandarin too.
func TestCallWordsMandarin(t *testing.T) {
	b := words.Default()
	c := b.Call()
	for _, s := range []string{c.NoKey, c.NoKeyAgain, c.Replayed, c.Busy, c.ElderSafe, c.Accepted, c.Over, c.NotTaken,
		b.CallTakenBy("李明"), b.CallTakenBy("Li Ming")} {
		checkText(t, "call", s, false)
		if s == "" {
			t.Error("empty call words")
		}
	}
}

// The step SMS is written on the way from the button to the first SMS.
func BenchmarkSMS(b *testing.B) {
	bk := words.Default()
	h := household
	a := anxin.Alarm{Device: "btn1", OpenedAt: at(0, "00:57"),
		Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton, At: at(0, "00:57")}}
	b.ReportAllocs()
	for b.Loop() {
		_ = bk.SMS(&a, &h, link)
	}
}

// Template variables for registered templates (Aliyun): the same words as
// the SMS, each within 35 characters, Mandarin, the link whole.
func TestParams(t *testing.T) {
	b := words.Default()
	h := household
	h.Elder.Address = strings.Repeat("善广乡东村三组", 12)
	a := anxin.Alarm{Device: "sd1", OpenedAt: at(0, "03:12"),
		Cause: anxin.Cause{Code: anxin.CauseSmoke, Device: anxin.KindSmokeDetector, At: at(0, "03:12")}}
	p := b.Params(&a, &h, link)
	if p["name"] != h.Elder.Name || p["link"] != link || !strings.HasPrefix(p["where"], "善广乡东村三组") {
		t.Fatalf("params %q", p)
	}
	for k, v := range p {
		if k == "link" {
			continue
		}
		checkText(t, k, v, false)
		if n := len([]rune(v)); n > 35 {
			t.Errorf("%s has %d characters: %q", k, n, v)
		}
	}
	if _, ok := b.Params(&a, &h, "")["link"]; ok {
		t.Errorf("a call's params have a link")
	}
}

// A cut-short SMS's completion fits one segment with a district's link.
func TestRestFitsOneSegment(t *testing.T) {
	link := "https://anxin.shanguang.gov.cn/ack/Ab3dE6gH9k" // a district's public_url and a token
	for _, lang := range []string{"zh-CN", "en"} {
		b, err := words.New(lang, "Asia/Shanghai")
		if err != nil {
			t.Fatal(err)
		}
		if s := b.Rest(link); !strings.HasSuffix(s, link) || words.SMSSegments(s) != 1 {
			t.Errorf("%s: %q is %d segments", lang, s, words.SMSSegments(s))
		}
	}
}
