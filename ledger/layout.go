// Package ledger reads and writes the care register as the ledger community
// workers keep in Excel: one elder per row, Chinese column headers, in XLSX
// (github.com/xuri/excelize/v2) or CSV. See docs/care.md for the layout.
package ledger

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// column is one column of the ledger: its header, the field path that
// care.Normalize names in its errors, and how a record is read and written.
type column struct {
	header string
	field  string                                                 // care.FieldError.Field prefix it answers for
	get    func(e *anxin.ElderRecord, o *Options) string          // record → cell
	set    func(e *anxin.ElderRecord, s string, o *Options) error // cell → record; s is trimmed
}

// Header texts that the code refers to.
const (
	hSeq      = "序号"
	hID       = "档案编号"
	hName     = "姓名"
	hIDNumber = "身份证号"
	// columns of the programme's forms
	hAddress      = "地址"      // one cell: 县 乡镇 村 and the rest (附件3); import only
	hFormTier     = "对象等级"    // 附件1 重点对象/一般对象
	hHelpMeasures = "帮扶措施"    // 附件1 四, 附件3
	hVisitCount   = "已完成探访次数" // 附件3: counted from the visits; ignored on import
	hNote         = "备注"
)

var tierLabels = map[anxin.Tier]string{
	anxin.TierIrregular: "不定期", anxin.TierGeneral: "一般", anxin.TierKey: "重点", anxin.TierHigh: "高风险",
}

// Words a ledger uses for the relation and role codes of contacts; other
// words pass through unchanged.
var (
	relationLabels = map[string]string{"child": "子女", "spouse": "配偶", "relative": "亲属", "neighbour": "邻居"}
	roleLabels     = map[string]string{"grid_worker": "网格员", "community_head": "村(社区)负责人",
		"social_work_station": "社工站", "street_office": "街道办", "neighbour": "邻居"}
)

func label(m map[string]string, code string) string {
	if l, ok := m[code]; ok {
		return l
	}
	return code
}

func unlabel(m map[string]string, l string) string {
	for code, s := range m {
		if s == l {
			return code
		}
	}
	return l
}

// Options shape an export and an import.
type Options struct {
	// Mask writes names, phone numbers and ID numbers masked (care.Masked:
	// an export that does not need the persons; it cannot be imported).
	Mask bool
	// Location is where dates are days (default Asia/Shanghai).
	Location *time.Location
	// NewID names an elder whose row has no 档案编号 (import only; default: "e-" + a ULID).
	NewID func(idNumber string) string
	// Existing returns the stored record with that id (import only; nil:
	// every row is a new record). A row updates it: only the columns the
	// file has are overwritten, so a 附件3 ledger (twelve columns) does not
	// wipe contacts or the assessment.
	Existing func(id string) (anxin.ElderRecord, bool)
	// Prefetch, when set, is called once before the rows are read with
	// every 档案编号 and resident ID number (upper case) of the file, so
	// that NewID and Existing can answer from memory.
	Prefetch func(ids, idNumbers []string) error
	// Township fills the 乡镇(街道) of a current address the file leaves
	// without one, in one 地址 cell or the split columns (Parse reads it
	// from a title row 乡镇街道：… when not set).
	Township string

	// formHealth: the file has no assessment columns (监护情况, 自理能力):
	// its 健康状况 is 附件1's (能力完好 … 重度失能, or an illness), not the
	// assessment item. Set by Parse.
	formHealth bool
}

func (o *Options) loc() *time.Location {
	if o.Location == nil {
		return time.UTC
	}
	return o.Location
}

func str(f func(e *anxin.ElderRecord) *string) (func(*anxin.ElderRecord, *Options) string, func(*anxin.ElderRecord, string, *Options) error) {
	return func(e *anxin.ElderRecord, _ *Options) string { return *f(e) },
		func(e *anxin.ElderRecord, s string, _ *Options) error { *f(e) = s; return nil }
}

func textColumn(header, field string, f func(e *anxin.ElderRecord) *string) column {
	g, s := str(f)
	return column{header: header, field: field, get: g, set: s}
}

// ledgerPhone writes a mainland mobile as people dial it, others in E.164.
func ledgerPhone(p string) string {
	if strings.HasPrefix(p, "+861") && len(p) == 14 {
		return p[3:]
	}
	return p
}

func contactColumns(n int) []column {
	var cols []column
	for i := range n {
		prefix := fmt.Sprintf("紧急联系人%d", i+1)
		field := fmt.Sprintf("contacts[%d]", i)
		slot := func(e *anxin.ElderRecord) *anxin.Contact {
			for len(e.Contacts) <= i {
				e.Contacts = append(e.Contacts, anxin.Contact{})
			}
			return &e.Contacts[i]
		}
		get := func(e *anxin.ElderRecord, f func(c *anxin.Contact) string) string {
			if i >= len(e.Contacts) {
				return ""
			}
			return f(&e.Contacts[i])
		}
		cols = append(cols,
			column{header: prefix + "姓名", field: field + ".name",
				get: func(e *anxin.ElderRecord, _ *Options) string {
					return get(e, func(c *anxin.Contact) string { return c.Name })
				},
				set: func(e *anxin.ElderRecord, s string, _ *Options) error { slot(e).Name = s; return nil }},
			column{header: prefix + "关系", field: field + ".relation",
				get: func(e *anxin.ElderRecord, _ *Options) string {
					return get(e, func(c *anxin.Contact) string { return label(relationLabels, c.Relation) })
				},
				set: func(e *anxin.ElderRecord, s string, _ *Options) error {
					slot(e).Relation = unlabel(relationLabels, s)
					return nil
				}},
			column{header: prefix + "电话", field: field + ".phone",
				get: func(e *anxin.ElderRecord, _ *Options) string {
					return get(e, func(c *anxin.Contact) string { return ledgerPhone(c.Phone) })
				},
				set: func(e *anxin.ElderRecord, s string, _ *Options) error { slot(e).Phone = s; return nil }},
		)
	}
	return cols
}

// parseDay reads a day as ledgers write it. A date-time is its day: WPS
// and Excel hand over a date-time cell as a serial with a fraction, or as
// text with the time after the day ("2026-03-05 00:00:00").
func parseDay(s string, loc *time.Location) (time.Time, error) {
	if day, clock, ok := strings.Cut(strings.Replace(s, "T", " ", 1), " "); ok && isClock(strings.TrimSpace(clock)) {
		s = day
	}
	for _, layout := range []string{"2006-01-02", "2006/1/2", "2006.1.2", "2006-1-2", "2006年1月2日", "20060102"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	// an Excel date serial number (days since 1899-12-30) from a date-formatted
	// cell; the fraction is the time of day
	if whole, frac, ok := strings.Cut(s, "."); ok && frac != "" && strings.Trim(frac, "0123456789") == "" {
		s = whole
	}
	if n, err := strconv.Atoi(s); err == nil && n > 20000 && n < 80000 {
		y, m, d := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, loc), nil
	}
	return time.Time{}, fmt.Errorf("不是日期（请写成 2026-03-01）")
}

// isClock: s is a time of day, 8:30 or 08:30:00.
func isClock(s string) bool {
	for _, layout := range []string{"15:04", "15:04:05"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

// columns is the ledger's layout, in order (docs/care.md).
var columns = func() []column {
	cols := []column{
		{header: hSeq, get: func(*anxin.ElderRecord, *Options) string { return "" }, set: func(*anxin.ElderRecord, string, *Options) error { return nil }},
		textColumn(hID, "id", func(e *anxin.ElderRecord) *string { return &e.ID }),
		textColumn("户编号", "household", func(e *anxin.ElderRecord) *string { return &e.Household }),
		textColumn(hName, "name", func(e *anxin.ElderRecord) *string { return &e.Name }),
		{header: "性别", field: "gender",
			get: func(e *anxin.ElderRecord, _ *Options) string { return string(e.Gender) },
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				e.Gender = anxin.Gender(strings.TrimSuffix(s, "性")) // 男性, 女性
				return nil
			}},
		{header: hIDNumber, field: "id_number",
			get: func(e *anxin.ElderRecord, _ *Options) string { return e.IDNumber },
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				if strings.Contains(s, "*") {
					return fmt.Errorf("是打码的号码：请导入含完整身份证号码的台账")
				}
				if strings.ContainsAny(s, "Ee") && strings.Contains(s, "+") {
					return fmt.Errorf("被 Excel 变成了数字（如 %s）：请把该列设为文本格式后重新输入", "1.1E+17")
				}
				e.IDNumber = s
				return nil
			}},
		{header: "联系电话", field: "phone",
			get: func(e *anxin.ElderRecord, _ *Options) string { return ledgerPhone(e.Phone) },
			set: func(e *anxin.ElderRecord, s string, _ *Options) error { e.Phone = s; return nil }},
		textColumn("户籍县(市、区)", "registered_address.county", func(e *anxin.ElderRecord) *string { return &e.Registered.County }),
		textColumn("户籍乡镇(街道)", "registered_address.township", func(e *anxin.ElderRecord) *string { return &e.Registered.Township }),
		textColumn("户籍村(社区)", "registered_address.village", func(e *anxin.ElderRecord) *string { return &e.Registered.Village }),
		textColumn("户籍地址", "registered_address.detail", func(e *anxin.ElderRecord) *string { return &e.Registered.Detail }),
		textColumn("县(市、区)", "current_address.county", func(e *anxin.ElderRecord) *string { return &e.Current.County }),
		textColumn("乡镇(街道)", "current_address.township", func(e *anxin.ElderRecord) *string { return &e.Current.Township }),
		textColumn("村(社区)", "current_address.village", func(e *anxin.ElderRecord) *string { return &e.Current.Village }),
		textColumn("现居住地址", "current_address.detail", func(e *anxin.ElderRecord) *string { return &e.Current.Detail }),
		textColumn("能力等级", "ability", func(e *anxin.ElderRecord) *string { return &e.Ability }),
		textColumn("疾病史", "illness", func(e *anxin.ElderRecord) *string { return &e.Illness }),
		textColumn("经济状况", "economic", func(e *anxin.ElderRecord) *string { return &e.Economic }),
		{header: "人员类别", field: "categories",
			get: func(e *anxin.ElderRecord, _ *Options) string {
				s := make([]string, len(e.Categories))
				for i, c := range e.Categories {
					s[i] = string(c)
				}
				return strings.Join(s, "、")
			},
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				e.Categories = nil
				for _, c := range splitWords(s) {
					if t, ok := formTierSynonyms[c]; ok { // 附件1 puts 重点对象/一般对象 under 对象类别
						e.FormTier = t
						continue
					}
					e.Categories = append(e.Categories, canonCategory(c))
				}
				return nil
			}},
		{header: "监护情况", field: "assessment.guardianship",
			get: func(e *anxin.ElderRecord, _ *Options) string { return string(e.Assessment.Guardianship) },
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				e.Assessment.Guardianship = canonGuardianship(s)
				return nil
			}},
		{header: "自理能力", field: "assessment.self_care",
			get: func(e *anxin.ElderRecord, _ *Options) string { return string(e.Assessment.SelfCare) },
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				e.Assessment.SelfCare = canonSelfCare(s)
				return nil
			}},
		{header: "健康状况", field: "assessment.health",
			get: func(e *anxin.ElderRecord, _ *Options) string { return string(e.Assessment.Health) },
			set: func(e *anxin.ElderRecord, s string, o *Options) error {
				if !o.formHealth {
					e.Assessment.Health = canonHealth(s)
					return nil
				}
				setFormHealth(e, s)
				return nil
			}},
		{header: "年龄", field: "assessment.age",
			get: func(e *anxin.ElderRecord, _ *Options) string { return strconv.Itoa(e.Assessment.Age) },
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				if s == "" {
					return nil
				}
				n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(s, "周岁"), "岁")))
				if err != nil || n < 0 || n > 150 {
					return fmt.Errorf("不是年龄（周岁）")
				}
				e.Assessment.Age = n
				return nil
			}},
		{header: "评估日期", field: "assessment.assessed_on",
			get: func(e *anxin.ElderRecord, _ *Options) string { return e.Assessment.AssessedOn.Format(time.DateOnly) },
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				if s == "" {
					return nil
				}
				t, err := parseDay(s, time.UTC)
				e.Assessment.AssessedOn = t
				return err
			}},
		// 评估分值 and 风险等级 are computed; on import they are checked against the items
		{header: "评估分值", field: "score",
			get: func(e *anxin.ElderRecord, _ *Options) string { return strconv.Itoa(e.Score) },
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				if s == "" {
					return nil
				}
				n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(s, "分")))
				if err != nil || n < 0 || n > 20 {
					return fmt.Errorf("不是 0 到 20 的分值")
				}
				e.Score = n
				return nil
			}},
		{header: "风险等级", field: "tier",
			get: func(e *anxin.ElderRecord, _ *Options) string { return tierLabels[e.Tier] },
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				if s == "" {
					return nil
				}
				for t, l := range tierLabels {
					if s == l || s == string(t) || s == l+"探访" || s == l+"对象" {
						e.Tier = t
						return nil
					}
				}
				return fmt.Errorf("只能是不定期、一般、重点或高风险")
			}},
	}
	cols = append(cols, contactColumns(anxin.MaxPersonalContacts)...)
	cols = append(cols,
		textColumn("网格员", "grid_worker", func(e *anxin.ElderRecord) *string { return &e.GridWorker }),
		column{header: "社区责任人", field: "responders",
			get: func(e *anxin.ElderRecord, _ *Options) string { return formatResponders(e.Responders) },
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				rs, err := parseResponders(s)
				e.Responders = rs
				return err
			}},
		column{header: "是否同意探访", field: "consent",
			get: func(e *anxin.ElderRecord, _ *Options) string {
				if e.Consent {
					return "是"
				}
				return "否"
			},
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				switch {
				case s == "" || slices.Contains(yesWords, s):
					e.Consent = true
				case slices.Contains(noWords, s):
					e.Consent = false
				default:
					return fmt.Errorf("只能填“是”或“否”")
				}
				return nil
			}},
		column{header: "登记日期", field: "created_at",
			get: func(e *anxin.ElderRecord, o *Options) string {
				if e.CreatedAt.IsZero() {
					return ""
				}
				return e.CreatedAt.In(o.loc()).Format(time.DateOnly)
			},
			set: func(e *anxin.ElderRecord, s string, o *Options) error {
				if s == "" {
					return nil
				}
				t, err := parseDay(s, o.loc())
				if err != nil {
					return err
				}
				if e.CreatedAt.IsZero() || e.CreatedAt.In(o.loc()).Format(time.DateOnly) != t.Format(time.DateOnly) {
					e.CreatedAt = t // a stored record keeps its instant when the day is the same
				}
				return nil
			}},
		column{header: hFormTier, field: "form_tier",
			get: func(e *anxin.ElderRecord, _ *Options) string { return e.FormTier },
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				if s == "" {
					e.FormTier = ""
					return nil
				}
				t, ok := formTierSynonyms[s]
				if !ok {
					return fmt.Errorf("只能填“重点”或“一般”")
				}
				e.FormTier = t
				return nil
			}},
		column{header: hHelpMeasures, field: "form.help_measures",
			get: func(e *anxin.ElderRecord, _ *Options) string {
				if e.Form == nil {
					return ""
				}
				return e.Form.HelpMeasures
			},
			set: func(e *anxin.ElderRecord, s string, _ *Options) error {
				if e.Form == nil && s == "" {
					return nil
				}
				f := anxin.RegisterForm{}
				if e.Form != nil {
					f = *e.Form
				}
				f.HelpMeasures = s
				e.Form = &f
				return nil
			}},
		textColumn(hNote, "note", func(e *anxin.ElderRecord) *string { return &e.Note }),
	)
	return cols
}()

// Headers is the ledger's header row.
func Headers() []string {
	h := make([]string, len(columns))
	for i, c := range columns {
		h[i] = c.header
	}
	return h
}

// formatResponders writes community responders as 姓名/职务/电话, separated by ；.
func formatResponders(rs []anxin.Contact) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Name + "/" + label(roleLabels, r.Role) + "/" + ledgerPhone(r.Phone)
	}
	return strings.Join(parts, "；")
}

func parseResponders(s string) ([]anxin.Contact, error) {
	var rs []anxin.Contact
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == '；' || r == ';' || r == '\n' }) {
		f := strings.Split(strings.TrimSpace(p), "/")
		if len(f) != 3 {
			return nil, fmt.Errorf("每位责任人写成 姓名/职务/电话，多位之间用“；”隔开")
		}
		rs = append(rs, anxin.Contact{Name: strings.TrimSpace(f[0]), Role: unlabel(roleLabels, strings.TrimSpace(f[1])),
			Phone: strings.TrimSpace(f[2])})
	}
	return rs, nil
}
