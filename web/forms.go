package web

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
)

// The visit form is 附件2 (探访关爱服务记录表) item by item: each item is
// one choice among the form's boxes (anxin.VisitItems), stored as a value
// of its own; needs and suggested care are free text; part 二 takes one
// care service with the elder's satisfaction.

// formItems are the rows in the paper form's order.
var formItems = anxin.VisitItems

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

// satisfactions are part 二's 老年人服务满意度评价 choices.
var satisfactions = anxin.Satisfactions

// maxFormBytes bounds a posted form; maxText a free-text field, in characters.
const (
	maxFormBytes = 16 << 10
	maxText      = 500
)

// decodeVisit reads a posted visit form into a visit (elder, household,
// date, visitor and who entered it are the caller's). Every value must be
// one of the form's boxes; problems are in Mandarin, one per field.
func decodeVisit(f url.Values) (anxin.Visit, map[string]string) {
	var v anxin.Visit
	bad := map[string]string{}
	if m, ok := anxin.ParseVisitMethod(f.Get("method")); ok {
		for _, c := range methods {
			if c.Value == m {
				v.Method = m
			}
		}
	}
	if v.Method == "" {
		bad["method"] = "请选择探访方式"
	}
	v.Items = map[string]string{}
	for _, it := range formItems {
		got := f.Get(it.Key)
		if got == "" {
			got = it.Options[0]
		}
		ok := false
		for _, c := range it.Options {
			ok = ok || c == got
		}
		if !ok {
			bad[it.Key] = "「" + it.Label + "」的选项无效"
			continue
		}
		v.Items[it.Key] = got
	}
	count := func(key, label string, lo, hi int) int {
		s := strings.TrimSpace(f.Get(key))
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			bad[key] = "「" + label + "」应为 " + strconv.Itoa(lo) + " 到 " + strconv.Itoa(hi) + " 的整数"
			return 0
		}
		return n
	}
	if fam := v.Items["family"]; fam == "增加" || fam == "减少" {
		v.FamilyCount = count("family_count", "增减人数", 0, 50)
	}
	v.Number = count("number", "第几次探访", 0, 10000)
	var svc anxin.CareService
	for _, t := range []struct {
		key, label string
		to         *string
	}{{"needs", "老年人服务需求", &v.Needs}, {"suggested_care", "实施关爱服务建议", &v.SuggestedCare},
		{"illness_name", "疾病名称", &v.IllnessName}, {"service", "关爱服务情况", &svc.Content},
		{"service_provider", "服务人员", &svc.Provider}} {
		raw := f.Get(t.key)
		switch {
		case !utf8.ValidString(raw):
			bad[t.key] = "「" + t.label + "」含有无效字符"
		case utf8.RuneCountInString(raw) > maxText:
			bad[t.key] = "「" + t.label + "」不能超过500字"
		default:
			*t.to = text(raw)
		}
	}
	if v.Items["illness"] != "严重" {
		v.IllnessName = "" // the name is asked only for 严重
	}
	if s := f.Get("satisfaction"); s != "" {
		ok := false
		for _, c := range satisfactions {
			ok = ok || c == s
		}
		if !ok {
			bad["satisfaction"] = "「老年人服务满意度评价」的选项无效"
		}
		svc.Satisfaction = s
	}
	if svc.Content != "" {
		svc.Number = count("service_number", "第几次关爱", 0, 10000)
		v.Services = []anxin.CareService{svc}
	} else if svc.Provider != "" || svc.Satisfaction != "" {
		bad["service"] = "请填写关爱服务情况"
	}
	if len(bad) == 0 {
		v.Summarize()
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
