package anxin

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// VisitMethod is how a visit was made. It is stored and sent as its code
// (phone, home, …); JSON input also takes the form's words (电话问候,
// 上门探访, 互联网音视频, 其他, 远程监测) and Label gives them back.
type VisitMethod string

// Visit methods from the programme's record form.
const (
	VisitPhone            VisitMethod = "phone"
	VisitHome             VisitMethod = "home"
	VisitAudioVideo       VisitMethod = "audio_video"
	VisitRemoteMonitoring VisitMethod = "remote_monitoring"
	VisitOther            VisitMethod = "other"
)

// Valid reports whether m is a known method.
func (m VisitMethod) Valid() bool {
	switch m {
	case VisitPhone, VisitHome, VisitAudioVideo, VisitRemoteMonitoring, VisitOther:
		return true
	}
	return false
}

// visitMethodWords are the words accepted for each method, the label first
// (附件2's boxes: □ 电话问候 □ 上门探访 □ 互联网音（视）频探访 □ 其他).
var visitMethodWords = []struct {
	m     VisitMethod
	words []string
}{
	{VisitPhone, []string{"电话问候", "电话", "电话探访", "电访"}},
	{VisitHome, []string{"上门探访", "上门", "入户", "入户探访"}},
	{VisitAudioVideo, []string{"互联网音视频", "互联网音（视）频探访", "互联网音(视)频探访", "互联网音视频探访", "音视频", "视频", "视频探访"}},
	{VisitRemoteMonitoring, []string{"远程监测"}},
	{VisitOther, []string{"其他"}},
}

// Label is the method in the form's words: 电话问候, 上门探访, 互联网音视频,
// 远程监测, 其他 (an unknown method as it is).
func (m VisitMethod) Label() string {
	for _, w := range visitMethodWords {
		if w.m == m {
			return w.words[0]
		}
	}
	return string(m)
}

// ParseVisitMethod reads a method as its code or in the form's words
// (surrounding space and a leading □/☑ ignored).
func ParseVisitMethod(s string) (VisitMethod, bool) {
	s = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(s), "□☑■√✓ "))
	if m := VisitMethod(s); m.Valid() {
		return m, true
	}
	for _, w := range visitMethodWords {
		for _, word := range w.words {
			if s == word {
				return w.m, true
			}
		}
	}
	return VisitMethod(s), false
}

// UnmarshalJSON takes a code or the form's words; anything else is kept
// as sent, for validation to refuse with a message.
func (m *VisitMethod) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*m, _ = ParseVisitMethod(s)
	return nil
}

// VisitItem is one checkbox row of 附件2 (探访关爱服务记录表, 一、探访情况).
type VisitItem struct {
	Key     string   `json:"key"`     // the field name in Visit.Items
	Label   string   `json:"label"`   // as printed: 用电安全
	Group   string   `json:"group"`   // the form's section: 安全情况
	Options []string `json:"options"` // the boxes, in the form's order
}

// Groups of 附件2's rows.
const (
	VisitGroupFamily  = "家庭状况"
	VisitGroupHealth  = "健康状况"
	VisitGroupMind    = "精神状态"
	VisitGroupSafety  = "安全情况"
	VisitGroupHygiene = "卫生状况"
	VisitGroupHome    = "居住环境"
)

var (
	sameBetterWorse = []string{"无变化", "较好", "较差"}
	safeOptions     = []string{"安全", "较安全", "不安全"}
)

// VisitItems are 附件2's checkbox rows in the form's order, with the form's
// options. 家庭人口 增加/减少 takes a count (Visit.FamilyCount), 疾病状况
// 严重 a name (Visit.IllnessName).
var VisitItems = []VisitItem{
	{"family", "家庭人口", VisitGroupFamily, []string{"无变化", "增加", "减少"}},
	{"speech", "表达能力", VisitGroupHealth, sameBetterWorse},
	{"mobility", "行动能力", VisitGroupHealth, sameBetterWorse},
	{"illness", "疾病状况", VisitGroupHealth, []string{"无变化", "严重", "转好"}},
	{"mood", "情绪状态", VisitGroupMind, sameBetterWorse},
	{"gas", "燃气安全", VisitGroupSafety, safeOptions},
	{"water", "水暖安全", VisitGroupSafety, safeOptions},
	{"power", "用电安全", VisitGroupSafety, safeOptions},
	{"personal_hygiene", "个人卫生", VisitGroupHygiene, sameBetterWorse},
	{"home_hygiene", "家庭卫生", VisitGroupHygiene, sameBetterWorse},
	{"indoor", "室内环境", VisitGroupHome, sameBetterWorse},
}

// VisitItemByName finds an item by its key or its printed label.
func VisitItemByName(name string) (VisitItem, bool) {
	name = strings.TrimSpace(name)
	for _, it := range VisitItems {
		if it.Key == name || it.Label == name {
			return it, true
		}
	}
	return VisitItem{}, false
}

// Satisfaction answers of 老年人服务满意度评价.
var Satisfactions = []string{"满意", "基本满意", "不满意"}

// CareService is one row of 附件2 part 二 (关爱服务情况): the Nth care
// service, when, what, by whom, and the elder's satisfaction.
type CareService struct {
	Number       int       `json:"number,omitempty"` // 第N次开展关爱
	Date         time.Time `json:"date,omitzero"`
	Content      string    `json:"content"`                // 关爱服务情况
	Provider     string    `json:"provider,omitempty"`     // 服务人员
	Satisfaction string    `json:"satisfaction,omitempty"` // 满意, 基本满意, 不满意
}

// MaxCareServices bounds part 二's rows on one record.
const MaxCareServices = 20

// Visit is one visit record, as on the programme's record form (附件2).
// Records stored before the form's items were kept hold only the free-text
// fields; Health, Safety, Hygiene and Environment are filled from Items as a
// summary when they are given.
type Visit struct {
	ID            string            `json:"id"`
	Elder         string            `json:"elder,omitempty"` // 档案编号 of the elder visited
	Household     string            `json:"household"`
	Number        int               `json:"number,omitempty"` // 第N次开展探访: counted when not given
	Date          time.Time         `json:"date"`
	Method        VisitMethod       `json:"method"`
	MethodName    string            `json:"method_name,omitempty"`  // the method in the form's words (output)
	Items         map[string]string `json:"items,omitempty"`        // VisitItems key (or label) → option
	FamilyCount   int               `json:"family_count,omitempty"` // people more or fewer (家庭人口 增加/减少)
	IllnessName   string            `json:"illness_name,omitempty"` // 疾病名称 (疾病状况 严重)
	Health        string            `json:"health,omitempty"`       // expression, mobility, illness, mood
	Safety        string            `json:"safety,omitempty"`       // gas, water/heating, electricity
	Hygiene       string            `json:"hygiene,omitempty"`
	Environment   string            `json:"environment,omitempty"`
	Needs         string            `json:"needs,omitempty"`          // 老年人服务需求
	SuggestedCare string            `json:"suggested_care,omitempty"` // 实施关爱服务建议
	Visitor       string            `json:"visitor,omitempty"`        // 探访人员
	EnteredBy     string            `json:"entered_by,omitempty"`     // 信息录入人
	Services      []CareService     `json:"services,omitempty"`       // part 二
	AlarmID       string            `json:"alarm_id,omitempty"`       // set when the visit records an alarm's outcome
	FollowUpDue   time.Time         `json:"follow_up_due,omitzero"`
}

// HasForm reports whether the visit carries any of 附件2's structured parts.
func (v *Visit) HasForm() bool {
	return v.Elder != "" || v.Number != 0 || len(v.Items) > 0 || v.FamilyCount != 0 || v.IllnessName != "" ||
		v.EnteredBy != "" || len(v.Services) > 0
}

// NormalizeItems rewrites Items' keys given as printed labels to keys and
// checks every item and option against the form; the message is in
// Mandarin (it is shown to workers).
func (v *Visit) NormalizeItems() error {
	if len(v.Items) == 0 {
		v.Items = nil
		return nil
	}
	out := make(map[string]string, len(v.Items))
	for k, val := range v.Items {
		it, ok := VisitItemByName(k)
		if !ok {
			return Errorf(EINVALID, "探访记录没有「%s」这一项", clipRunes(k, 20))
		}
		val = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(val), "□☑■√✓ "))
		if val == "" {
			continue
		}
		found := false
		for _, o := range it.Options {
			found = found || o == val
		}
		if !found {
			return Errorf(EINVALID, "「%s」应为%s之一，不是「%s」", it.Label, strings.Join(it.Options, "、"), clipRunes(val, 20))
		}
		if _, dup := out[it.Key]; dup {
			return Errorf(EINVALID, "「%s」填了两次", it.Label)
		}
		out[it.Key] = val
	}
	if v.FamilyCount < 0 || v.FamilyCount > 50 {
		return Errorf(EINVALID, "家庭人口增减的人数应为 0 到 50")
	}
	if f := out["family"]; v.FamilyCount != 0 && f != "增加" && f != "减少" {
		return Errorf(EINVALID, "家庭人口「%s」时不填人数", f)
	}
	v.Items = out
	if len(out) == 0 {
		v.Items = nil
	}
	return nil
}

// Summarize fills the free-text Health, Safety, Hygiene and Environment
// from Items where they are empty ("表达能力：较好；…"), so that readers of
// the old fields see the form's answers.
func (v *Visit) Summarize() {
	if len(v.Items) == 0 {
		return
	}
	parts := map[string][]string{}
	for _, it := range VisitItems {
		val, ok := v.Items[it.Key]
		if !ok {
			continue
		}
		s := it.Label + "：" + val
		if it.Key == "family" && v.FamilyCount > 0 {
			s += " " + strconv.Itoa(v.FamilyCount) + " 人"
		}
		parts[it.Group] = append(parts[it.Group], s)
	}
	if v.IllnessName != "" {
		parts[VisitGroupHealth] = append(parts[VisitGroupHealth], "疾病名称："+v.IllnessName)
	}
	join := func(groups ...string) string {
		var all []string
		for _, g := range groups {
			all = append(all, parts[g]...)
		}
		return strings.Join(all, "；")
	}
	fill := func(dst *string, s string) {
		if *dst == "" {
			*dst = s
		}
	}
	fill(&v.Health, join(VisitGroupHealth, VisitGroupMind))
	fill(&v.Safety, join(VisitGroupSafety))
	fill(&v.Hygiene, join(VisitGroupHygiene))
	fill(&v.Environment, join(VisitGroupFamily, VisitGroupHome))
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// Visits records visits. An alarm's outcome is recorded through it.
type Visits interface {
	CreateVisit(ctx context.Context, v *Visit) error // sets v.ID
}
