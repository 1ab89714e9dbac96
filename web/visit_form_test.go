package web_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

// TestVisitFormStructuredItems: the phone form (no JavaScript) records each
// 附件2 item as a value, the household's size change, part 二 with the
// elder's satisfaction, the elder by 档案编号 and who entered it; a bad box
// shows the form again with the reason.
func TestVisitFormStructuredItems(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser()
	csrf := b.mustSignIn("wang")
	_, page, _ := b.do("GET", "/app/elders/a1/visit", nil)
	for _, want := range []string{"用电安全", "家庭卫生", "增减人数", "关爱服务情况", "老年人服务满意度评价", `name="power" value="不安全"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("form lacks %q", want)
		}
	}
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)[1]
	bad := url.Values{"csrf": {csrf}, "key": {key}, "method": {"home"}, "power": {"有点危险"}}
	if code, page, _ := b.do("POST", "/app/elders/a1/visit", bad); code != 400 || !strings.Contains(page, "「用电安全」的选项无效") {
		t.Fatalf("bad box: %d %s", code, page)
	}
	form := url.Values{"csrf": {csrf}, "key": {key}, "method": {"phone"}, "family": {"减少"}, "family_count": {"1"},
		"illness": {"严重"}, "illness_name": {"糖尿病"}, "power": {"不安全"}, "home_hygiene": {"较差"},
		"service": {"代购药品"}, "service_provider": {"社工站小李"}, "satisfaction": {"基本满意"}}
	if code, _, h := b.do("POST", "/app/elders/a1/visit", form); code != 303 {
		t.Fatalf("record visit: %d %s", code, h.Get("Location"))
	}
	vs, err := e.db.Visits(context.Background(), sqlite.VisitFilter{Household: "hh-a1"})
	if err != nil || len(vs) != 1 {
		t.Fatalf("visits: %v %+v", err, vs)
	}
	v := vs[0]
	if v.Elder != "a1" || v.Number != 1 || v.Method != anxin.VisitPhone || v.Items["power"] != "不安全" || v.Items["home_hygiene"] != "较差" ||
		v.Items["speech"] != "无变化" || v.Items["family"] != "减少" || v.FamilyCount != 1 || v.IllnessName != "糖尿病" ||
		len(v.Services) != 1 || v.Services[0].Satisfaction != "基本满意" || v.Services[0].Provider != "社工站小李" ||
		v.EnteredBy == "" || !strings.Contains(v.Safety, "用电安全：不安全") {
		t.Fatalf("visit: %+v", v)
	}
}
