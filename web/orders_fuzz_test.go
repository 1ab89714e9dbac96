package web

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// The order visit form on hostile posts: no panic; an accepted form has an
// outcome that is valid UTF-8, non-empty, within 500 characters and free of
// control characters but newlines.
func FuzzDecodeOrderVisit(f *testing.F) {
	f.Add("method=home&outcome=上门查看，老人安好")
	f.Add("method=phone&outcome=%FF%FE")
	f.Add("method=home&outcome=" + strings.Repeat("长", 501))
	f.Add("method=home&outcome=a%00b%0Ac&outcome=second")
	f.Add("method=home&outcome=%20%09%20")
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		_, bad, outcome := decodeOrderVisit(form)
		if len(bad) > 0 {
			return
		}
		if outcome == "" || !utf8.ValidString(outcome) || utf8.RuneCountInString(outcome) > maxText {
			t.Fatalf("accepted outcome %q from %q", outcome, raw)
		}
		for _, r := range outcome {
			if r < 0x20 && r != '\n' || r == 0x7f {
				t.Fatalf("control character in %q", outcome)
			}
		}
	})
}
