package alarmd

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/web"
)

// TestBoardLatency measures the alarm board's update latency over a whole
// alarmd (embedded broker, real ingest, SQLite): from a button press
// published over MQTT to the server-sent event carrying the new alarm at
// an HTTP client reading /app/board/events. It asserts each press arrives
// and each close clears the list; the times are reported (t.Log), not
// asserted: docs/web.md has the figures.
func TestBoardLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	m := &Main{Config: testConfig(t)}
	startMain(t, m)
	if err := web.PutAccount(context.Background(), m.Store, "ops", "值班员", "", web.RoleOperator, "correct-horse-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	base := "http://" + m.HTTPAddr()
	csrfRE := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	page := func(res *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	tok := csrfRE.FindStringSubmatch(page(c.Get(base + "/app/login")))
	if tok == nil {
		t.Fatal("no sign-in form")
	}
	board := page(c.PostForm(base+"/app/login", url.Values{"csrf": {tok[1]}, "login": {"ops"}, "password": {"correct-horse-1"}}))
	csrf := csrfRE.FindStringSubmatch(board)
	if csrf == nil {
		t.Fatalf("not signed in: %.300s", board)
	}
	res, err := c.Get(base + "/app/board/events")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("event stream: %v", err)
	}
	defer res.Body.Close()
	events := make(chan string, 16)
	go func() {
		defer close(events)
		r := bufio.NewReader(res.Body)
		var ev strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\n" {
				events <- ev.String()
				ev.Reset()
				continue
			}
			ev.WriteString(strings.TrimPrefix(line, "data: "))
		}
	}()
	// wait for an event that satisfies ok (the board also re-renders every 10 s)
	next := func(what string, ok func(string) bool) string {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case ev, open := <-events:
				if !open {
					t.Fatalf("stream ended waiting for %s", what)
				}
				if ok(ev) {
					return ev
				}
			case <-timeout:
				t.Fatalf("no event within 30 s: %s", what)
			}
		}
	}
	quiet := func(ev string) bool { return strings.Contains(ev, `id="quiet"`) }
	next("the first list", quiet)
	pub := publisher(t, m.BrokerURL().Dial())
	closeRE := regexp.MustCompile(`action="/app/alarms/([^/"]+)/close"`)
	const presses = 30
	var took []time.Duration
	for i := range presses {
		at := time.Now()
		publishMsg(t, pub, button("hh-0001", at.UTC().Truncate(time.Millisecond)))
		ev := next("the pressed alarm", func(ev string) bool { return strings.Contains(ev, "hh-0001") })
		took = append(took, time.Since(at))
		id := closeRE.FindStringSubmatch(ev)
		if id == nil {
			t.Fatalf("press %d: no close form in %.300s", i, ev)
		}
		res, err := c.PostForm(base+"/app/alarms/"+id[1]+"/close", url.Values{"csrf": {csrf[1]}, "reason": {"测量"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		next("the list cleared", quiet)
	}
	t.Logf("board update latency, MQTT publish to SSE event at the client, %d presses: p50 %v, p99 %v, max %v",
		presses, care.Percentile(took, 50), care.Percentile(took, 99), care.Percentile(took, 100))
}
