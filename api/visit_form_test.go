package api

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

// putElders registers elders (id, village, name) through the API.
func putElders(t *testing.T, e *env, rows ...[3]string) {
	t.Helper()
	for i, r := range rows {
		el := elderJSON(r[0], r[1], 100+i)
		el["name"] = r[2]
		if code := e.do("PUT", "/api/v1/elders/"+r[0], districtToken, el, nil); code != 200 {
			t.Fatalf("put elder %s: %d", r[0], code)
		}
	}
}

// TestVisitToUnknownElderRefused: a visit to a household nobody is
// registered in, or to an unknown 档案编号, is refused with a Mandarin
// message and stores nothing (a district token used to store it).
func TestVisitToUnknownElderRefused(t *testing.T) {
	e := newEnv(t)
	var eb errBody
	for _, body := range []map[string]any{
		{"household": "hh-nobody", "method": "home"},
		{"elder": "e-nobody", "method": "home"},
		{"name": "无此人", "village": "善广村", "method": "home"},
		{"method": "home"},
	} {
		code := e.do("POST", "/api/v1/visits", districtToken, body, &eb)
		if code != 404 && code != 400 {
			t.Errorf("%v: %d %+v, want refused", body, code, eb)
		}
		if !strings.ContainsAny(eb.Error.Message, "档案编号姓名") {
			t.Errorf("%v: message %q is not the worker's words", body, eb.Error.Message)
		}
	}
	vs, err := e.db.Visits(context.Background(), visitFilterAll())
	if err != nil || len(vs) != 0 {
		t.Fatalf("visits stored: %d %v", len(vs), err)
	}
}

// TestVisitByNameAmbiguous: name and village find one elder; two elders
// of that name in the village are refused, naming their 档案编号.
func TestVisitByNameAmbiguous(t *testing.T) {
	e := newEnv(t)
	putElders(t, e, [3]string{"e-1", "善广村", "张桂兰"}, [3]string{"e-2", "善广村", "张桂兰"}, [3]string{"e-3", "东村", "李秀英"},
		[3]string{"e-4", "善广村", "李秀英"})
	var eb errBody
	code := e.do("POST", "/api/v1/visits", districtToken, map[string]any{"name": "张桂兰", "village": "善广村", "method": "上门探访"}, &eb)
	if code != 409 || !strings.Contains(eb.Error.Message, "有 2 位名为「张桂兰」") || !strings.Contains(eb.Error.Message, "e-1、e-2") {
		t.Fatalf("ambiguous name: %d %+v", code, eb)
	}
	// 李秀英 without a village: two villages, asks for the village
	code = e.do("POST", "/api/v1/visits", districtToken, map[string]any{"name": "李秀英", "method": "电话问候"}, &eb)
	if code != 409 || !strings.Contains(eb.Error.Message, "请同时填写村（社区）") {
		t.Fatalf("name in two villages: %d %+v", code, eb)
	}
	// with the village: one elder
	var v anxin.Visit
	code = e.do("POST", "/api/v1/visits", districtToken, map[string]any{"name": "李秀英", "village": "东村", "method": "电话问候"}, &v)
	if code != 201 || v.Elder != "e-3" || v.Household != "hh-e-3" {
		t.Fatalf("name and village: %d %+v", code, v)
	}
	// an area token does not find the namesake of another area
	code = e.do("POST", "/api/v1/visits", dongcunTok, map[string]any{"name": "李秀英", "method": "电话问候"}, &v)
	if code != 201 || v.Elder != "e-3" {
		t.Fatalf("area token by name: %d %+v", code, v)
	}
}

// TestVisitFormStructured: method in Chinese in and out, every 附件2 item as
// a value (labels accepted as keys), part 二, 第N次 counted, the count of
// 用电不安全 homes, the item filter, and the printable XLSX.
func TestVisitFormStructured(t *testing.T) {
	e := newEnv(t)
	putElders(t, e, [3]string{"e-1", "善广村", "张桂兰"}, [3]string{"e-2", "善广村", "王大妈"}, [3]string{"e-3", "东村", "李秀英"})
	post := func(body map[string]any) anxin.Visit {
		t.Helper()
		var v anxin.Visit
		if code := e.do("POST", "/api/v1/visits", shanguangTok, body, &v); code != 201 {
			var eb errBody
			e.do("POST", "/api/v1/visits", shanguangTok, body, &eb)
			t.Fatalf("POST %v: %d %+v", body, code, eb)
		}
		return v
	}
	day := func(d int) string { return time.Date(2026, 11, d, 2, 0, 0, 0, time.UTC).Format(time.RFC3339) }
	v1 := post(map[string]any{"elder": "e-1", "method": "上门探访", "date": day(3), "visitor": "王芳",
		"items":        map[string]string{"表达能力": "较好", "mobility": "较差", "illness": "严重", "用电安全": "不安全", "family": "增加"},
		"family_count": 2, "illness_name": "高血压", "needs": "需要助餐",
		"services": []map[string]any{{"number": 1, "date": day(4), "content": "送餐上门", "provider": "社工站", "satisfaction": "满意"}}})
	if v1.Method != anxin.VisitHome || v1.MethodName != "上门探访" || v1.Number != 1 || v1.Items["speech"] != "较好" ||
		v1.Items["power"] != "不安全" || v1.EnteredBy != "shanguang" || !strings.Contains(v1.Safety, "用电安全：不安全") {
		t.Fatalf("v1: %+v", v1)
	}
	v2 := post(map[string]any{"elder": "e-1", "method": "phone", "date": day(10), "items": map[string]string{"power": "安全"}})
	if v2.Number != 2 || v2.MethodName != "电话问候" {
		t.Fatalf("v2: %+v", v2)
	}
	post(map[string]any{"elder": "e-2", "method": "互联网音视频", "date": day(12), "items": map[string]string{"用电安全": "不安全", "燃气安全": "较安全"}})
	// English codes still accepted; a bad option refused in Mandarin
	var eb errBody
	if code := e.do("POST", "/api/v1/visits", shanguangTok, map[string]any{"elder": "e-2", "method": "audio_video",
		"items": map[string]string{"用电安全": "很危险"}}, &eb); code != 400 || !strings.Contains(eb.Error.Message, "「用电安全」应为安全、较安全、不安全之一") {
		t.Fatalf("bad option: %d %+v", code, eb)
	}
	if code := e.do("POST", "/api/v1/visits", shanguangTok, map[string]any{"elder": "e-2", "method": "飞鸽传书"}, &eb); code != 400 ||
		!strings.Contains(eb.Error.Message, "探访方式") {
		t.Fatalf("bad method: %d %+v", code, eb)
	}
	// listed with Chinese method and the items, old fields kept
	var list struct{ Visits []anxin.Visit }
	if code := e.do("GET", "/api/v1/visits?household=hh-e-1", shanguangTok, nil, &list); code != 200 || len(list.Visits) != 2 ||
		list.Visits[1].MethodName != "上门探访" || list.Visits[1].Items["mobility"] != "较差" || list.Visits[1].IllnessName != "高血压" ||
		len(list.Visits[1].Services) != 1 || list.Visits[1].Services[0].Satisfaction != "满意" {
		t.Fatalf("list: %+v", list)
	}
	// how many homes are 用电不安全 this month: e-1's latest says 安全, e-2's 不安全
	var counts struct {
		Items []struct {
			Key    string
			Label  string
			Counts map[string]int
		}
	}
	if code := e.do("GET", "/api/v1/reports/visit-items?month=2026-11", shanguangTok, nil, &counts); code != 200 || len(counts.Items) != len(anxin.VisitItems) {
		t.Fatalf("counts: %d %+v", code, counts)
	}
	for _, c := range counts.Items {
		if c.Label == "用电安全" && (c.Counts["不安全"] != 1 || c.Counts["安全"] != 1 || c.Counts["较安全"] != 0) {
			t.Fatalf("用电安全 counts %v", c.Counts)
		}
		if c.Label == "燃气安全" && c.Counts["较安全"] != 1 {
			t.Fatalf("燃气安全 counts %v", c.Counts)
		}
	}
	// another area's token counts none of them
	if code := e.do("GET", "/api/v1/reports/visit-items?month=2026-11", dongcunTok, nil, &counts); code != 200 {
		t.Fatal(code)
	}
	for _, c := range counts.Items {
		for o, n := range c.Counts {
			if n != 0 {
				t.Fatalf("东村 sees %s %s %d", c.Label, o, n)
			}
		}
	}
	// by elder
	if code := e.do("GET", "/api/v1/visits?elder=e-2", shanguangTok, nil, &list); code != 200 || len(list.Visits) != 1 ||
		list.Visits[0].Elder != "e-2" || list.Visits[0].MethodName != "互联网音视频" {
		t.Fatalf("by elder: %d %+v", code, list)
	}
	// the filter: visits that recorded 用电不安全
	if code := e.do("GET", "/api/v1/visits?item=用电安全&value=不安全", shanguangTok, nil, &list); code != 200 || len(list.Visits) != 2 {
		t.Fatalf("filter: %d %d", code, len(list.Visits))
	}

	// the printable 附件2
	var x []byte
	if code := e.do("GET", "/api/v1/visits/"+v1.ID+"/form.xlsx", shanguangTok, nil, &x); code != 200 {
		t.Fatalf("form.xlsx: %d %s", code, x)
	}
	f, err := excelize.OpenReader(bytes.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows("附件2")
	if err != nil {
		t.Fatal(err)
	}
	all := ""
	for _, r := range rows {
		all += strings.Join(r, "|") + "\n"
	}
	for _, want := range []string{"特殊困难老年人探访关爱服务记录表", "张桂兰", "第 1 次开展探访\n2026年11月3日", "☑ 上门探访", "□ 电话问候",
		"□ 无变化    ☑ 增加 2 人    □ 减少  人", "☑ 较好", "☑ 严重 疾病名称：高血压", "□ 安全    □ 较安全    ☑ 不安全",
		"老年人服务需求：需要助餐", "关爱服务情况：送餐上门", "老年人服务满意度评价：第 1 次：满意", "信息录入人"} {
		if !strings.Contains(all, want) {
			t.Errorf("form.xlsx lacks %q:\n%s", want, all)
		}
	}
	// another area: not found
	if code := e.do("GET", "/api/v1/visits/"+v1.ID+"/form.xlsx", dongcunTok, nil, nil); code != 404 {
		t.Fatalf("form.xlsx from another area: %d", code)
	}
	var one anxin.Visit
	if code := e.do("GET", "/api/v1/visits/"+v1.ID, shanguangTok, nil, &one); code != 200 || one.ID != v1.ID || one.MethodName != "上门探访" ||
		one.Items["power"] != "不安全" {
		t.Fatalf("GET visit: %d %+v", code, one)
	}
	if code := e.do("GET", "/api/v1/visits/"+v1.ID, dongcunTok, nil, nil); code != 404 {
		t.Fatalf("GET visit from another area: %d", code)
	}
}

func visitFilterAll() sqlite.VisitFilter { return sqlite.VisitFilter{Limit: 10000} }
