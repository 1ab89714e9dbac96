package web_test

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/influx"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
)

// writeLines writes readings to VictoriaMetrics' v2 write API as the
// archive encodes them, and makes them queryable.
func writeLines(t *testing.T, vm *testenv.VictoriaMetrics, ms []*anxin.Message) {
	t.Helper()
	var body []byte
	for _, m := range ms {
		body = append(influx.AppendLine(body, m), '\n')
	}
	res, err := http.Post(vm.URL+"/api/v2/write?org=anxin&bucket=readings&precision=ms", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 {
		t.Fatalf("write: %d", res.StatusCode)
	}
	if err := vm.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestIntegrationElderPage: the elder page over a real VictoriaMetrics
// shows the last 30 days of water use as an inline SVG, each device with its
// last reading, battery and status, visits and alarms on one timeline
// newest first, and the ID number masked but its last 4. With the store
// down the page still answers.
func TestIntegrationElderPage(t *testing.T) {
	e := newEnv(t, false)
	vm := testenv.StartVictoriaMetrics(t)
	series, err := influx.NewVictoriaMetrics(influx.QueryConfig{URL: vm.URL})
	if err != nil {
		t.Fatal(err)
	}
	loc := care.DefaultLocation()
	y := time.Now().In(loc).AddDate(0, 0, -1)
	now := time.Date(y.Year(), y.Month(), y.Day(), 12, 0, 0, 0, loc) // yesterday noon: every point is in the past
	e.web.Series, e.web.Now = series, func() time.Time { return now }
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	(*e.hh)[0].Devices = append((*e.hh)[0].Devices, anxin.Device{ID: "wm1", Kind: anxin.KindWaterMeter, Place: "厨房"},
		anxin.Device{ID: "w1", Kind: anxin.KindTracker})

	var ms []*anxin.Message
	total := 1000.0
	read := func(ts time.Time) {
		total += 0.1
		ms = append(ms, &anxin.Message{TS: ts, Household: "hh-a1", Device: "wm1", Kind: anxin.KindWaterMeter,
			Fields: anxin.Fields{"total_m3": anxin.Num(total), "battery_low": anxin.Bool(false)}})
	}
	read(today.AddDate(0, 0, -4).Add(19 * time.Hour)) // a baseline
	for d := -3; d <= -1; d++ {
		for h := 1; h < 24; h += 6 {
			read(today.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour))
		}
	}
	read(now.Add(-time.Hour))
	ms = append(ms, &anxin.Message{TS: now.Add(-30 * time.Hour), Household: "hh-a1", Device: "w1", Kind: anxin.KindTracker,
		Fields: anxin.Fields{"battery_pct": anxin.Num(35)}})
	// another household's meter on the same days is not this elder's
	ms = append(ms, &anxin.Message{TS: today.AddDate(0, 0, -1).Add(time.Hour), Household: "hh-b1", Device: "wm1", Kind: anxin.KindWaterMeter,
		Fields: anxin.Fields{"total_m3": anxin.Num(5)}}, &anxin.Message{TS: today.AddDate(0, 0, -1).Add(20 * time.Hour), Household: "hh-b1",
		Device: "wm1", Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(9)}})
	writeLines(t, vm, ms)

	ctx := context.Background()
	res, err := e.db.ApplyIngest(ctx, &sqlite.IngestBatch{At: now, Changes: []sqlite.AlarmChange{{Op: sqlite.AlarmOpOpen,
		Household: "hh-a1", Rule: "device_silent", RuleKind: "offline", Device: "btn1", Severity: anxin.SeverityInfo,
		Route: anxin.RouteInstaller, At: now.Add(-time.Hour), Reason: "device silent"}}})
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("open: %+v %v", res, err)
	}
	for _, v := range []anxin.Visit{{Household: "hh-a1", Date: now.Add(-2 * time.Hour), Method: anxin.VisitPhone, Visitor: "王芳", Needs: "近况良好"},
		{Household: "hh-a1", Date: now.AddDate(0, 0, -3), Method: anxin.VisitHome, Visitor: "王芳", Needs: "代购降压药"}} {
		if err := e.db.CreateVisit(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}

	b := e.browser()
	b.mustSignIn("wang")
	code, page, h := b.do("GET", "/app/elders/a1", nil)
	if code != 200 {
		t.Fatalf("elder page: %d %s", code, page)
	}
	id := idNumber("19400506", 1)
	if !strings.Contains(page, `id="idnumber">`+strings.Repeat("*", 14)+id[14:]+"<") || strings.Contains(page, id[:4]) {
		t.Errorf("ID number not masked to its last 4: %s", between(page, `id="idnumber">`, "<"))
	}
	if !strings.Contains(page, "李明（子女）") {
		t.Errorf("contact's relation not in words: %s", between(page, "<h2>紧急联系人", "</ul>"))
	}
	// the chart: 30 bars, 4 days with readings; yesterday 0.40 m³, today so far 0.10
	if n := strings.Count(page, "<rect "); n != 30 {
		t.Errorf("%d bars, want 30", n)
	}
	day := func(d int) string { return today.AddDate(0, 0, d).Format("01-02") }
	for _, want := range []string{"<title>" + day(-1) + " 用水 0.40 吨</title>", "<title>" + day(-3) + " 用水 0.40 吨</title>",
		"<title>" + day(0) + " 用水 0.10 吨</title>", "<title>" + day(-5) + " 无读数</title>", "5 天有读数", "最高 0.40 吨/天"} {
		if !strings.Contains(page, want) {
			t.Errorf("chart lacks %q: %s", want, between(page, `<figure`, `</figure>`))
		}
	}
	// devices: the meter online with its last reading, the watch silent
	// with its battery, the button with its open maintenance alarm
	devs := between(page, `<ul class="devices">`, `</ul>`)
	for _, want := range []string{
		`<li class="d-ok"><b>水表</b> 厨房 <small>wm1</small><br>` + "\n" + `<span class="st">在线</span> · <small>最近读数 ` + now.Add(-time.Hour).In(loc).Format("01-02 15:04:05"),
		`<small>w1</small><br>` + "\n" + `<span class="st">静默（30 小时无读数）</span> · <small>最近读数 ` + now.Add(-30*time.Hour).In(loc).Format("01-02 15:04:05") + `</small> · <small>电量 35%</small>`,
		`<li class="d-bad"><b>呼叫按钮</b>  <small>btn1</small>`, `<b>网关</b>`,
	} {
		if !strings.Contains(devs, want) {
			t.Errorf("devices lack %q:\n%s", want, devs)
		}
	}
	// the gateway is named in words with the household's id, not with the
	// English pseudo-device "gateway"
	if strings.Contains(devs, "gateway") || !strings.Contains(devs, "<b>网关</b>  <small>hh-a1</small>") {
		t.Errorf("the gateway's row: %s", devs)
	}
	// one timeline, newest first: the alarm (1 h ago), the phone call (2 h), the home visit (3 days)
	tl := between(page, `<ol class="timeline">`, `</ol>`)
	iA, iP, iH := strings.Index(tl, "告警："), strings.Index(tl, "近况良好"), strings.Index(tl, "代购降压药")
	if iA < 0 || iP < 0 || iH < 0 || !(iA < iP && iP < iH) {
		t.Errorf("timeline not alarm, call, visit newest first (%d %d %d):\n%s", iA, iP, iH, tl)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP: %q", csp)
	}
	if regexp.MustCompile(`<script>|\sstyle=|<style|https?://`).MatchString(page) {
		t.Error("inline script, inline style or an outside address on the elder page")
	}

	// the store down: the page answers, saying so
	vm.Kill()
	code, page, _ = b.do("GET", "/app/elders/a1", nil)
	if code != 200 || !strings.Contains(page, "用水数据暂时无法读取") || !strings.Contains(page, "状态未知") || !strings.Contains(page, "近况良好") {
		t.Errorf("store down: %d %s", code, page)
	}
	if !strings.Contains(e.logs.String(), "time-series store not read") {
		t.Error("the store's failure was not logged")
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j+len(to)]
}

// TestMyElders: a worker's due list is the elders whose grid worker is the
// worker's name (the account's name against the register's grid_worker),
// with ?all=1 the whole area; an operator sees the area.
func TestMyElders(t *testing.T) {
	e := newEnv(t, false)
	e.elderOf("a2", "刘秀英", "善广村", 3, "陈刚")
	b := e.browser()
	b.mustSignIn("wang")
	_, page, _ := b.do("GET", "/app/due", nil)
	if !strings.Contains(page, "我的老人") || !strings.Contains(page, "张桂兰") || strings.Contains(page, "刘秀英") ||
		!strings.Contains(page, `href="tel:&#43;8613800001234"`) || !strings.Contains(page, "幸福路8号") || !strings.Contains(page, "上次联系 从未") {
		t.Errorf("my elders:\n%s", page)
	}
	_, page, _ = b.do("GET", "/app/due?all=1", nil)
	if strings.Contains(page, "我的老人") || !strings.Contains(page, "张桂兰") || !strings.Contains(page, "刘秀英") || strings.Contains(page, "赵国强") {
		t.Errorf("the worker's whole area:\n%s", page)
	}
	ops := e.browser()
	ops.mustSignIn("ops")
	_, page, _ = ops.do("GET", "/app/due", nil)
	if strings.Contains(page, "我的老人") || !strings.Contains(page, "刘秀英") || !strings.Contains(page, "赵国强") || !strings.Contains(page, "共 3 位") {
		t.Errorf("operator's area list:\n%s", page)
	}
	li := e.browser()
	li.mustSignIn("li") // 李强 of 龙井村: 赵国强's grid worker is 王芳
	if _, page, _ = li.do("GET", "/app/due", nil); strings.Contains(page, "赵国强") || !strings.Contains(page, `id="none"`) {
		t.Errorf("a worker with no elders of their own:\n%s", page)
	}
}
