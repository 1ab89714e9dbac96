package ledger

import (
	"strings"

	"github.com/anxin-care/anxin"
)

// This file is the one table of the words the programme's forms and the
// workers' own ledgers use, for column headers and for cell values. Each
// word maps to the canonical header of a column (layout.go, form3.go) or to
// the value the register stores. Headers are compared after normHeader
// (full-width brackets, spaces removed). The tests check it against the
// exact headers and options of the seed forms (附件1 登记表, 附件3 台账 of
// 善广乡; the 孝善邻里 assessment form).

// headerSynonyms maps a header as written to the canonical header.
var headerSynonyms = map[string]string{
	// 身份证号
	"身份证号码": hIDNumber, "居民身份证号码": hIDNumber, "居民身份证号": hIDNumber, "公民身份号码": hIDNumber,
	"身份证": hIDNumber, "证件号码": hIDNumber,
	// 姓名, 性别, 电话
	"老人姓名": hName, "服务对象姓名": hName, "联系方式": "联系电话", "电话": "联系电话", "手机号码": "联系电话", "手机号": "联系电话",
	// the eight address columns, as 附件1 heads them and as people shorten them
	"户籍区(县)": "户籍县(市、区)", "户籍县": "户籍县(市、区)", "户籍乡镇": "户籍乡镇(街道)", "户籍村": "户籍村(社区)",
	"区(县)": "县(市、区)", "县(区)": "县(市、区)", "县": "县(市、区)", "乡镇": "乡镇(街道)", "乡镇街道": "乡镇(街道)",
	"乡(镇)": "乡镇(街道)", "村(居)": "村(社区)", "村": "村(社区)", "社区": "村(社区)", "村社区": "村(社区)",
	"村(居)委会": "村(社区)", "居住地址详细": "现居住地址", "详细地址": "现居住地址", "门牌号": "现居住地址",
	// one address cell (附件3 地址, 附件1 居住地址)
	"居住地址": hAddress, "家庭住址": hAddress, "住址": hAddress, "现住址": hAddress, "家庭地址": hAddress,
	// 附件1 健康状况 / 003 items
	"能力程度": "能力等级", "曾患病史": "疾病史", "患病史": "疾病史", "疾病情况": "疾病史",
	"经济情况": "经济状况", "对象类别": "人员类别", "类别": "人员类别",
	"监护人情况": "监护情况", "特殊困难老年人监护人情况": "监护情况", "生活自理能力": "自理能力",
	"生活自理能力情况": "自理能力", "评估分合计": "评估分值", "评估分": "评估分值", "探访等级": "风险等级",
	"服务等级": "风险等级", "探访关爱服务等级": "风险等级", "评估等级": "风险等级",
	// 附件1 重点对象/一般对象
	"对象等级": hFormTier, "对象分类": hFormTier, "重点/一般": hFormTier, "重点对象/一般对象": hFormTier,
	// 紧急联系人 (附件1 has one: 紧急联系人, 性别, 联系电话)
	"紧急联系人": "紧急联系人1姓名", "紧急联系人姓名": "紧急联系人1姓名", "紧急联系人电话": "紧急联系人1电话",
	"紧急联系人联系电话": "紧急联系人1电话", "紧急联系人关系": "紧急联系人1关系",
	// who is responsible
	"帮扶责任人": "网格员", "网格员姓名": "网格员", "探访专员": "网格员", "责任人": "网格员",
	"帮扶措施": hHelpMeasures, "已完成探访次数": hVisitCount, "探访次数": hVisitCount,
	"备注": hNote, "建档日期": "登记日期", "编号": hID, "档案号": hID,
}

// The form's option words for a person category (附件1 对象类别).
var categorySynonyms = map[string]anxin.Category{
	"独居老年人": anxin.CategoryAlone, "独居老人": anxin.CategoryAlone,
	"空巢老年人": anxin.CategoryEmptyNest, "空巢老人": anxin.CategoryEmptyNest,
	"留守老年人": anxin.CategoryLeftBehind, "留守老人": anxin.CategoryLeftBehind,
	"失能老年人": anxin.CategoryDisabled, "失能老人": anxin.CategoryDisabled, "失能失智": anxin.CategoryDisabled,
	"重残老年人": anxin.CategorySevereDisab, "重残老人": anxin.CategorySevereDisab,
	"计划生育特殊家庭老年人": anxin.CategoryFamilyPlanSp, "计生特殊家庭": anxin.CategoryFamilyPlanSp,
	"失独": anxin.CategoryFamilyPlanSp,
}

// formCategoryWord is how the 附件3 export writes a category (the form's box label).
var formCategoryWord = map[anxin.Category]string{
	anxin.CategoryAlone: "独居老年人", anxin.CategoryEmptyNest: "空巢老年人", anxin.CategoryLeftBehind: "留守老年人",
	anxin.CategoryDisabled: "失能老年人", anxin.CategorySevereDisab: "重残老年人",
	anxin.CategoryFamilyPlanSp: "计划生育特殊家庭老年人",
}

// formTierSynonyms: 附件1's ☑重点对象 □一般对象.
var formTierSynonyms = map[string]string{
	"重点": "重点", "重点对象": "重点", "重点人员": "重点",
	"一般": "一般", "一般对象": "一般", "一般人员": "一般",
}

// guardianshipSynonyms: the 003 form's 监护人情况 words.
var guardianshipSynonyms = map[string]anxin.Guardianship{
	"孤寡老人": anxin.GuardianNoKin, "孤寡老年人": anxin.GuardianNoKin, "无子女及配偶": anxin.GuardianNoKin,
	"计划生育特殊家庭老年人": anxin.GuardianFamilyPlan, "失独": anxin.GuardianFamilyPlan,
	"独居老人": anxin.GuardianAlone, "独居老年人": anxin.GuardianAlone,
	"留守老人": anxin.GuardianLeftBehind, "留守老年人": anxin.GuardianLeftBehind,
	"正常": anxin.GuardianOther, // the 003 form scores 正常 1, as 其他
}

// selfCareSynonyms: 附件1 能力程度 (能力完好/轻度失能/中度失能/重度失能) and
// the 003 form's 生活自理能力 (自理能力完好 …).
var selfCareSynonyms = map[string]anxin.SelfCare{
	"能力完好": anxin.SelfCareIntact, "自理能力完好": anxin.SelfCareIntact, "自理": anxin.SelfCareIntact,
	"完全自理": anxin.SelfCareIntact, "生活自理": anxin.SelfCareIntact,
	"轻度": anxin.SelfCareMild, "中度": anxin.SelfCareModerate, "重度": anxin.SelfCareSevere,
}

// formSelfCareWord is how the 附件3 export writes self-care (附件1's words).
var formSelfCareWord = map[anxin.SelfCare]string{
	anxin.SelfCareIntact: "能力完好", anxin.SelfCareMild: "轻度失能",
	anxin.SelfCareModerate: "中度失能", anxin.SelfCareSevere: "重度失能",
}

// healthSynonyms: the 003 form's 健康状况 words.
var healthSynonyms = map[string]anxin.HealthStatus{
	"健康": anxin.HealthNormal, "良好": anxin.HealthNormal,
	"残疾或患有严重慢性病": anxin.HealthChronic, "残疾": anxin.HealthChronic, "严重慢性病": anxin.HealthChronic,
	"患有严重慢性病": anxin.HealthChronic,
	"重残":      anxin.HealthSevere, "重病": anxin.HealthSevere, "健康极差": anxin.HealthSevere,
}

// yesWords and noWords answer a yes/no cell (是否同意探访 …).
var (
	yesWords = []string{"是", "同意", "有", "Y", "y", "yes", "1", "√", "☑"}
	noWords  = []string{"否", "不同意", "无", "N", "n", "no", "0", "×", "□"}
)

// canonicalHeader is the layout header a written header stands for, after
// normalizing; a header no table knows is returned normalized.
func canonicalHeader(h string) string {
	h = normHeader(h)
	if c, ok := headerSynonyms[h]; ok {
		return c
	}
	if findColumn(h) != nil {
		return h
	}
	// a note in brackets after the header on the form of the value:
	// 身份证号码(18位), 联系电话(手机). A note that names a person
	// (联系电话(家属), 姓名(监护人)) makes it another person's column.
	if i := strings.LastIndex(h, "("); i > 0 && strings.HasSuffix(h, ")") && formNote(h[i+1:len(h)-1]) {
		base := h[:i]
		if c, ok := headerSynonyms[base]; ok {
			return c
		}
		if findColumn(base) != nil {
			return base
		}
	}
	return h
}

func canonGuardianship(s string) anxin.Guardianship {
	if g, ok := guardianshipSynonyms[s]; ok {
		return g
	}
	return anxin.Guardianship(s)
}

func canonSelfCare(s string) anxin.SelfCare {
	s = strings.TrimPrefix(s, "□")
	if v, ok := selfCareSynonyms[s]; ok {
		return v
	}
	return anxin.SelfCare(s)
}

func canonHealth(s string) anxin.HealthStatus {
	if v, ok := healthSynonyms[s]; ok {
		return v
	}
	return anxin.HealthStatus(s)
}

func canonCategory(s string) anxin.Category {
	if c, ok := categorySynonyms[s]; ok {
		return c
	}
	return anxin.Category(s)
}

func isSelfCareWord(s string) bool {
	switch canonSelfCare(s) {
	case anxin.SelfCareIntact, anxin.SelfCareMild, anxin.SelfCareModerate, anxin.SelfCareSevere:
		return true
	}
	return false
}

func isHealthWord(s string) bool {
	switch canonHealth(s) {
	case anxin.HealthNormal, anxin.HealthChronic, anxin.HealthSevere:
		return true
	}
	return false
}

// splitWords splits a cell listing several answers (独居老年人、重点对象).
func splitWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(wordSeparators, r) })
}

// wordSeparators separate the answers listed in one cell.
const wordSeparators = "、,，;；/ \n☑■√"

// formNoteWords are the words of a header's note that say how the value is
// written or that it is the elder's own, not whose else it is.
var formNoteWords = map[string]bool{"手机": true, "手机号": true, "手机号码": true, "座机": true, "固话": true,
	"固定电话": true, "电话": true, "本人": true, "老人": true, "老人本人": true, "必填": true, "选填": true,
	"周岁": true, "岁": true, "位": true, "男": true, "女": true, "年月日": true, "年-月-日": true}

// formNote: every word of the note is a length (18, 18位) or a form word.
func formNote(note string) bool {
	words := strings.FieldsFunc(note, func(r rune) bool { return strings.ContainsRune("/、,;；", r) })
	for _, w := range words {
		if digits := strings.TrimSuffix(w, "位"); digits != "" && strings.Trim(digits, "0123456789") == "" || formNoteWords[w] {
			continue
		}
		return false
	}
	return len(words) > 0
}
