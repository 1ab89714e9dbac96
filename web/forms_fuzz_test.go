package web

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// The visit form decoder on hostile posts: no panic; a form it accepts has a
// known method, every item one of its boxes, free text valid UTF-8 within
// 500 characters and without control characters.
func FuzzDecodeVisit(f *testing.F) {
	f.Add("method=home&speech=较好&gas=不安全&needs=代购降压药")
	f.Add("method=phone&illness=严重&illness_name=高血压&suggested_care=每周电话")
	f.Add("method=x&speech=%FF&needs=" + strings.Repeat("长", 501))
	f.Add("method=home&method=phone&csrf=1&needs=a%00b%0Ac")
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		v, bad := decodeVisit(form)
		if len(bad) > 0 {
			return
		}
		if v.Method == "" {
			t.Fatalf("accepted without a method: %q", raw)
		}
		allowed := map[string]bool{}
		for _, it := range formItems {
			for _, c := range it.Choices {
				allowed[it.Label+"："+c] = true
			}
		}
		for _, field := range []string{v.Health, v.Safety, v.Hygiene, v.Environment} {
			for _, part := range strings.Split(field, "；") {
				if part != "" && !allowed[part] && !strings.HasPrefix(part, "疾病名称：") {
					t.Fatalf("item %q is none of the form's boxes (%q)", part, raw)
				}
			}
		}
		for _, s := range []string{v.Needs, v.SuggestedCare} {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxText || strings.ContainsAny(s, "\x00\r\x7f") {
				t.Fatalf("free text %q from %q", s, raw)
			}
		}
	})
}
