package web

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
)

// The visit form is 附件2 (探访关爱服务记录表) item by item: each item is
// one choice among the form's boxes; needs and suggested care are free text.

// formItem is one checkbox row of the paper form.
type formItem struct {
	Key     string   // form field name
	Label   string   // as printed
	Group   string   // the form's section, and the visit field it lands in
	Choices []string // the boxes, first is the default
}

const (
	groupFamily  = "家庭状况"
	groupHealth  = "健康状况"
	groupMind    = "精神状态"
	groupSafety  = "安全情况"
	groupHygiene = "卫生状况"
	groupHome    = "居住环境"
)

var (
	sameBetterWorse = []string{"无变化", "较好", "较差"}
	safeChoices     = []string{"安全", "较安全", "不安全"}
)

// formItems are the rows in the paper form's order.
var formItems = []formItem{
	{"family", "家庭人口", groupFamily, []string{"无变化", "增加", "减少"}},
	{"speech", "表达能力", groupHealth, sameBetterWorse},
	{"mobility", "行动能力", groupHealth, sameBetterWorse},
	{"illness", "疾病状况", groupHealth, []string{"无变化", "严重", "转好"}},
	{"mood", "情绪状态", groupMind, sameBetterWorse},
	{"gas", "燃气安全", groupSafety, safeChoices},
	{"water", "水暖安全", groupSafety, safeChoices},
	{"power", "用电安全", groupSafety, safeChoices},
	{"personal", "个人卫生", groupHygiene, sameBetterWorse},
	{"household", "家庭卫生", groupHygiene, sameBetterWorse},
	{"indoor", "室内环境", groupHome, sameBetterWorse},
}

// methods are the form's 探访方式 boxes.
var methods = []struct {
	Value anxin.VisitMethod
	Label string
}{
	{anxin.VisitPhone, "电话问候"},
	{anxin.VisitHome, "上门探访"},
	{anxin.VisitAudioVideo, "互联网音（视）频探访"},
	{anxin.VisitOther, "其他"},
}

// maxFormBytes bounds a posted form; maxText a free-text field, in characters.
const (
	maxFormBytes = 16 << 10
	maxText      = 500
)

// decodeVisit reads a posted visit form into a visit (household, date and
// visitor are the caller's). Every value must be one of the form's boxes;
// problems are in Mandarin, one per field.
func decodeVisit(f url.Values) (anxin.Visit, map[string]string) {
	var v anxin.Visit
	bad := map[string]string{}
	m := anxin.VisitMethod(f.Get("method"))
	for _, c := range methods {
		if c.Value == m {
			v.Method = m
		}
	}
	if v.Method == "" {
		bad["method"] = "请选择探访方式"
	}
	parts := map[string][]string{}
	for _, it := range formItems {
		got := f.Get(it.Key)
		if got == "" {
			got = it.Choices[0]
		}
		ok := false
		for _, c := range it.Choices {
			ok = ok || c == got
		}
		if !ok {
			bad[it.Key] = "「" + it.Label + "」的选项无效"
			continue
		}
		parts[it.Group] = append(parts[it.Group], it.Label+"："+got)
	}
	if d := text(f.Get("illness_name")); d != "" && parts[groupHealth] != nil {
		parts[groupHealth] = append(parts[groupHealth], "疾病名称："+d)
	}
	join := func(groups ...string) string {
		var all []string
		for _, g := range groups {
			all = append(all, parts[g]...)
		}
		return strings.Join(all, "；")
	}
	v.Health = join(groupHealth, groupMind)
	v.Safety = join(groupSafety)
	v.Hygiene = join(groupHygiene)
	v.Environment = join(groupFamily, groupHome)
	for _, t := range []struct {
		key, label string
		to         *string
	}{{"needs", "老年人服务需求", &v.Needs}, {"suggested_care", "实施关爱服务建议", &v.SuggestedCare}, {"illness_name", "疾病名称", nil}} {
		raw := f.Get(t.key)
		switch {
		case !utf8.ValidString(raw):
			bad[t.key] = "「" + t.label + "」含有无效字符"
		case utf8.RuneCountInString(raw) > maxText:
			bad[t.key] = "「" + t.label + "」不能超过500字"
		case t.to != nil:
			*t.to = text(raw)
		}
	}
	return v, bad
}

// text is a free-text value trimmed, control characters but newlines dropped.
func text(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r >= 0x20 && r != 0x7f && r != utf8.RuneError {
			return r
		}
		return -1
	}, s)
	return strings.TrimSpace(s)
}
