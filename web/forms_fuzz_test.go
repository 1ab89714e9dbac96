package web

import (
	"net/url"
	"slices"
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
	f.Add("method=上门探访&family=增加&family_count=2&power=不安全&service=送餐&satisfaction=满意&number=3")
	f.Add("method=phone&family=无变化&family_count=-1&satisfaction=差&service_provider=x")
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
		for _, it := range formItems {
			got, ok := v.Items[it.Key]
			if !ok || !slices.Contains(it.Options, got) {
				t.Fatalf("item %s = %q is none of the form's boxes (%q)", it.Label, got, raw)
			}
		}
		if len(v.Items) != len(formItems) || v.FamilyCount < 0 || v.FamilyCount > 50 || v.Number < 0 {
			t.Fatalf("accepted %+v from %q", v, raw)
		}
		for _, sv := range v.Services {
			if sv.Content == "" || (sv.Satisfaction != "" && !slices.Contains(satisfactions, sv.Satisfaction)) {
				t.Fatalf("service %+v from %q", sv, raw)
			}
		}
		for _, s := range []string{v.Needs, v.SuggestedCare, v.IllnessName} {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxText || strings.ContainsAny(s, "\x00\r\x7f") {
				t.Fatalf("free text %q from %q", s, raw)
			}
		}
	})
}
