package web

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzBrowserMark: a browser mark is a cookie, outside bytes: no input
// panics, and only what issue made (for that login, unexpired) is valid.
func FuzzBrowserMark(f *testing.F) {
	var d deviceMarks
	d.init([]byte("fuzz key of the browser marks"))
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	const pw = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
	good := d.issue("wangfang", pw, now)
	f.Add(good, "wangfang")
	f.Add(good, "lifang")
	f.Add("d2FuZ2Zhbmc.1796612400.", "wangfang")
	f.Add("..", "")
	f.Add("d2FuZ2Zhbmc.-9223372036854775808.x", "wangfang")
	f.Fuzz(func(t *testing.T, mark, login string) {
		ok := d.valid(mark, login, pw, now)
		if ok && mark != d.issue(login, pw, timeOfMark(t, mark)) {
			t.Fatalf("mark %q valid for %q but not one issue made", mark, login)
		}
		if mark == good && login != "wangfang" && ok {
			t.Fatalf("wangfang's mark valid for %q", login)
		}
		if mark == good && login == "wangfang" && !ok {
			t.Fatal("an issued mark is not valid")
		}
		if ok && d.valid(mark, login, pw+"x", now) {
			t.Fatalf("mark %q valid under another password hash", mark)
		}
		if ok && d.valid(mark, login, pw, now.Add(deviceFor+2*time.Minute)) {
			t.Fatalf("mark %q still valid after deviceFor", mark)
		}
	})
}

// timeOfMark is the issue time written in a mark that valid accepted.
func timeOfMark(t *testing.T, mark string) time.Time {
	t.Helper()
	parts := strings.Split(mark, ".")
	at, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		t.Fatalf("a valid mark %q without a time: %v", mark, err)
	}
	return time.Unix(at, 0)
}
