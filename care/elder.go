package care

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
)

// FieldError is one problem with one field of an elder record. Field is the
// JSON path ("id_number", "contacts[1].phone"); Message (English, for the
// API) and Zh (the same in Chinese, for the workers' ledger import) never
// repeat a personal value.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Zh      string `json:"message_zh,omitempty"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Categories is the canonical order of person categories.
var categories = []anxin.Category{anxin.CategoryAlone, anxin.CategoryEmptyNest, anxin.CategoryLeftBehind,
	anxin.CategoryDisabled, anxin.CategorySevereDisab, anxin.CategoryFamilyPlanSp}

// Categories lists the known categories in canonical order.
func Categories() []anxin.Category { return slices.Clone(categories) }

// maxText bounds every free-text field.
const maxText = 1000

// NormalizePhone turns a mainland number as people write it (138 0000 0000,
// 13800000000, 86-138…, (+86)138…, 0086 138…, 0871-1234567) into E.164;
// other input is returned trimmed, for ValidPhone to judge.
func NormalizePhone(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && b.Len() == 0: // "+86 …", "(+86)…"
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '（' || r == '）':
		default:
			return s
		}
	}
	n := b.String()
	if strings.Trim(n, "+") == "" { // no digits: "+()", "（）"
		return s
	}
	if strings.HasPrefix(n, "00") && len(n) > 4 { // 0086…, 00852…: the international prefix dialled from China
		n = "+" + n[2:]
	}
	if len(n) == 13 && strings.HasPrefix(n, "86") {
		n = "+" + n
	}
	switch {
	case strings.HasPrefix(n, "+860") && len(n) > 5 && n[4] != '0':
		// the trunk 0 of an area code is not dialled after +86:
		// "0086 0871…", "+86 (0)871…"
		return "+86" + n[4:]
	case strings.HasPrefix(n, "+"):
		return n
	case len(n) == 11 && n[0] == '1':
		return "+86" + n
	case len(n) >= 10 && len(n) <= 12 && n[0] == '0' && n[1] != '0':
		return "+86" + n[1:]
	}
	return s
}

// phoneSeparators part two numbers written in one cell.
const phoneSeparators = "/／、，,；;|｜"

// splitPhones reads a cell holding several numbers (13800138000/13900139000,
// 138 0013 8000 139 0013 9000) as their E.164 forms; nil unless it holds
// two or more and nothing else. Spaces inside one number (138 0013 8000)
// are kept with it: the words are joined until they make a number.
func splitPhones(s string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(phoneSeparators, r) }) {
		if n := NormalizePhone(part); validPhone(n) {
			out = append(out, n)
			continue
		}
		acc := ""
		for _, w := range strings.Fields(part) {
			acc += w
			if n := NormalizePhone(acc); validPhone(n) {
				out, acc = append(out, n), ""
			}
		}
		if acc != "" {
			return nil
		}
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

// twoPhonesZh says which number of a cell holding several to keep: the
// register keeps one number a person is called and texted on (附件1 has
// one 联系电话 per person), the first mobile, else the first; "" when the
// cell is not several numbers. Numbers are named by their last four
// digits only.
func twoPhonesZh(s string) string {
	ps := splitPhones(s)
	if ps == nil {
		return ""
	}
	keep, what := ps[0], "号码"
	for _, p := range ps {
		if mainlandMobile(p) {
			keep, what = p, "手机号"
			break
		}
	}
	return fmt.Sprintf("写了 %d 个号码，一格只能写一个：请只留尾号 %s 的%s（告警的短信和电话打这个号码）；"+
		"另一个号码若是家人的，登记为一位紧急联系人（写上姓名和关系），若是家里的座机，写在备注里", len(ps), keep[len(keep)-4:], what)
}

// mainlandMobile reports whether p (E.164) is a mainland mobile, 1[3-9]
// and nine more digits: a Beijing landline (+8610…) starts like one.
func mainlandMobile(p string) bool {
	return len(p) == 14 && strings.HasPrefix(p, "+861") && p[4] >= '3' && p[4] <= '9'
}

// checkPhone normalizes *p (NormalizePhone) and says what is wrong with
// it, in Mandarin and English; "" when it is a phone number. Every phone
// an elder's record holds is checked here, so a cell with two numbers
// gets the same advice wherever it is written.
func checkPhone(p *string) (zh, en string) {
	raw := *p
	*p = NormalizePhone(raw)
	if validPhone(*p) {
		return "", ""
	}
	if zh := twoPhonesZh(raw); zh != "" {
		return zh, "holds more than one phone number; keep one"
	}
	return "不是电话号码（11位手机号、区号加号码或 +国家码…）", "is not a phone number (11-digit mobile, area code and number, or +country…)"
}

// validPhone is anxin.ValidPhone and, for a mainland number (+86), not
// one that no call reaches: a 0 after +86, a mobile (1 and two more
// digits other than Beijing's area code 10) not 11 digits long, or a
// landline of more than 11 digits (its extension run into it). Such a
// number is a mistyped one, and an alarm would call another person or
// nobody.
func validPhone(p string) bool {
	if !anxin.ValidPhone(p) {
		return false
	}
	nsn, mainland := strings.CutPrefix(p, "+86")
	switch {
	case !mainland:
		return true
	case strings.HasPrefix(nsn, "0"):
		return false
	case nsn[0] == '1' && nsn[1] != '0' && len(nsn) != 11:
		return false
	case nsn[0] != '1' && len(nsn) > 11: // area code and number are 11 digits at most: an extension run in
		return false
	}
	return true
}

// Normalize cleans an elder record, fills what can be derived (household from
// ID, age from the ID number, assessment day, score, tier, category order) and
// checks every field. It returns every problem found, not only the first.
//
// An elder whose assessment items (监护情况, 自理能力, 健康状况) are all
// empty or not all given is not assessed: Score 0 and Tier "" (the tier rule
// then reads FormTier). An item that is given must be one of its answers;
// when 监护情况 is given the other two items are required.
func Normalize(e *anxin.ElderRecord, today time.Time) []FieldError {
	var errs []FieldError
	bad := func(field, zh, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...), Zh: zh})
	}
	text := func(field string, s *string, required bool) {
		*s = strings.TrimSpace(*s)
		switch {
		case !utf8.ValidString(*s):
			bad(field, "不是有效的 UTF-8 文本", "is not valid UTF-8")
		case len(*s) > maxText:
			bad(field, fmt.Sprintf("超过 %d 字节", maxText), "is longer than %d bytes", maxText)
		case required && *s == "":
			bad(field, "必填，不能为空", "is required")
		}
	}
	badID := "只能是 1 到 64 个字母、数字、_ 或 -"
	e.ID = strings.TrimSpace(e.ID)
	if !anxin.ValidID(e.ID) {
		bad("id", badID, "must be 1 to 64 letters, digits, _ or -")
	}
	e.Household = strings.TrimSpace(e.Household)
	if e.Household == "" {
		e.Household = e.ID
	}
	if !anxin.ValidID(e.Household) {
		bad("household", badID, "must be 1 to 64 letters, digits, _ or -")
	}
	text("name", &e.Name, true)
	e.IDNumber = strings.ToUpper(strings.TrimSpace(e.IDNumber))
	id, idErr := ParseIDNumber(e.IDNumber, today)
	if idErr != nil {
		bad("id_number", IDNumberErrorZh(idErr), "%s", anxin.ErrorMessage(idErr))
	}
	switch e.Gender {
	case anxin.Male, anxin.Female:
		if idErr == nil && id.Gender != e.Gender {
			bad("gender", "与身份证号码（第17位）不符", "does not match the resident ID number (17th digit)")
		}
	case "":
		if idErr == nil {
			e.Gender = id.Gender
		} // else the ID number's error says enough
	default:
		bad("gender", "只能填“男”或“女”", "must be 男 or 女")
	}
	phone := func(field string, p *string) {
		if zh, en := checkPhone(p); zh != "" {
			bad(field, zh, "%s", en)
		}
	}
	if e.Phone != "" {
		phone("phone", &e.Phone)
	}
	for _, a := range []struct {
		name string
		addr *anxin.Address
	}{{"registered_address", &e.Registered}, {"current_address", &e.Current}} {
		text(a.name+".county", &a.addr.County, false)
		text(a.name+".township", &a.addr.Township, false)
		text(a.name+".village", &a.addr.Village, a.name == "current_address")
		text(a.name+".detail", &a.addr.Detail, false)
	}
	text("ability", &e.Ability, false)
	text("illness", &e.Illness, false)
	text("economic", &e.Economic, false)
	text("grid_worker", &e.GridWorker, false)
	text("note", &e.Note, false)
	seen := map[anxin.Category]bool{}
	for _, c := range e.Categories {
		if !slices.Contains(categories, c) {
			bad("categories", fmt.Sprintf("“%s”不是独居、空巢、留守、失能、重残、计划生育特殊家庭之一", clip(string(c))),
				"%q is not one of 独居, 空巢, 留守, 失能, 重残, 计划生育特殊家庭", clip(string(c)))
		}
		seen[c] = true
	}
	e.Categories = e.Categories[:0]
	for _, c := range categories {
		if seen[c] {
			e.Categories = append(e.Categories, c)
		}
	}
	a := &e.Assessment
	if a.AssessedOn.IsZero() {
		a.AssessedOn = today
	}
	y, m, d := a.AssessedOn.Date()
	a.AssessedOn = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if idErr == nil {
		age := AgeOn(id.Birth, a.AssessedOn)
		switch {
		case a.AssessedOn.Before(id.Birth):
			bad("assessment.assessed_on", "早于出生日期", "is before the date of birth")
		case a.Age == 0:
			a.Age = age
		case a.Age != age:
			bad("assessment.age", fmt.Sprintf("填的是 %d 岁，但按身份证号码在 %s 是 %d 岁", a.Age, a.AssessedOn.Format(time.DateOnly), age),
				"is %d but the resident ID number gives %d on %s", a.Age, age, a.AssessedOn.Format(time.DateOnly))
		}
	}
	if a.Age < 0 || a.Age > 150 {
		bad("assessment.age", "必须是 0 到 150", "must be 0 to 150")
	}
	// an assessment is its 监护情况 and the rest; a ledger without it (善广乡's
	// 附件3 has 健康状况 only) gives no score: the form's 重点/一般, else 未评估
	assessed := a.Guardianship != ""
	if _, ok := GuardianshipPoints(a.Guardianship); !ok && a.Guardianship != "" {
		bad("assessment.guardianship", "只能是孤寡、计划生育特殊家庭、独居、留守或其他", "must be 孤寡, 计划生育特殊家庭, 独居, 留守 or 其他")
	}
	if _, ok := SelfCarePoints(a.SelfCare); !ok && (a.SelfCare != "" || assessed) {
		bad("assessment.self_care", "只能是完好、轻度失能、中度失能或重度失能", "must be 完好, 轻度失能, 中度失能 or 重度失能")
	}
	if _, ok := HealthPoints(a.Health); !ok && (a.Health != "" || assessed) {
		bad("assessment.health", "只能是正常、残疾或严重慢性病、重残或重病", "must be 正常, 残疾或严重慢性病 or 重残或重病")
	}
	if ft, ok := NormalizeFormTier(strings.TrimSpace(e.FormTier)); ok {
		e.FormTier = ft
	} else {
		bad("form_tier", "只能是重点或一般（重点对象/一般对象），或不填", "must be 重点 or 一般 (重点对象/一般对象) or empty")
	}
	e.Score, e.Tier = TierOf(e) // assessment score, else the form's 重点/一般, else unassessed
	if len(e.Contacts) > anxin.MaxPersonalContacts {
		bad("contacts", fmt.Sprintf("有 %d 人，最多 %d 人", len(e.Contacts), anxin.MaxPersonalContacts),
			"has %d people, at most %d", len(e.Contacts), anxin.MaxPersonalContacts)
	}
	contacts := func(field string, cs []anxin.Contact) {
		for i := range cs {
			c := &cs[i]
			f := fmt.Sprintf("%s[%d]", field, i)
			text(f+".name", &c.Name, true)
			text(f+".relation", &c.Relation, false)
			text(f+".role", &c.Role, false)
			phone(f+".phone", &c.Phone)
		}
	}
	contacts("contacts", e.Contacts)
	if len(e.Responders) > 8 {
		bad("responders", fmt.Sprintf("有 %d 人，最多 8 人", len(e.Responders)), "has %d people, at most 8", len(e.Responders))
	}
	contacts("responders", e.Responders)
	if e.Form != nil {
		normalizeForm(e.Form, today, text, bad)
	}
	if len(e.Extra) > maxExtra {
		bad("extra", fmt.Sprintf("有 %d 项，最多 %d 项", len(e.Extra), maxExtra), "has %d attributes, at most %d", len(e.Extra), maxExtra)
	}
	names := map[string]bool{}
	for i := range e.Extra {
		f := fmt.Sprintf("extra[%d]", i)
		text(f+".name", &e.Extra[i].Name, true)
		text(f+".value", &e.Extra[i].Value, false)
		if names[e.Extra[i].Name] {
			bad(f+".name", "重复", "appears twice")
		}
		names[e.Extra[i].Name] = true
	}
	if e.Contacts == nil {
		e.Contacts = []anxin.Contact{}
	}
	if e.Responders == nil {
		e.Responders = []anxin.Contact{}
	}
	if e.Categories == nil {
		e.Categories = []anxin.Category{}
	}
	return errs
}

// maxExtra bounds the extra attributes of one record; maxFamily the rows
// of its family table.
const (
	maxExtra  = 64
	maxFamily = 20
)

// normalizeForm checks 附件1's structured part.
func normalizeForm(f *anxin.RegisterForm, today time.Time, text func(string, *string, bool), bad func(field, zh, format string, args ...any)) {
	for _, t := range []struct {
		name string
		s    *string
	}{{"poverty", &f.Poverty}, {"monthly_income", &f.MonthlyIncome}, {"income_source", &f.IncomeSource},
		{"disability_card", &f.DisabilityCardNo}, {"water_safe", &f.WaterSafe}, {"power_safe", &f.PowerSafe},
		{"housing_safe", &f.HousingSafe}, {"household_income", &f.HouseholdIncome}, {"pension", &f.Pension},
		{"subsidies", &f.Subsidies}, {"help_measures", &f.HelpMeasures}, {"clerk", &f.Clerk}} {
		text("form."+t.name, t.s, false)
	}
	if !f.FiledOn.IsZero() {
		y, m, d := f.FiledOn.Date()
		f.FiledOn = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	if len(f.HelpUnits) > 16 {
		bad("form.help_units", "最多 16 项", "has %d entries, at most 16", len(f.HelpUnits))
	}
	for i := range f.HelpUnits {
		text(fmt.Sprintf("form.help_units[%d]", i), &f.HelpUnits[i], true)
	}
	if len(f.Family) > maxFamily {
		bad("form.family", fmt.Sprintf("有 %d 人，最多 %d 人", len(f.Family), maxFamily), "has %d people, at most %d", len(f.Family), maxFamily)
	}
	for i := range f.Family {
		m := &f.Family[i]
		p := fmt.Sprintf("form.family[%d]", i)
		text(p+".name", &m.Name, true)
		text(p+".relation", &m.Relation, false)
		text(p+".health", &m.Health, false)
		text(p+".assistance", &m.Assistance, false)
		text(p+".visits_often", &m.Visits, false)
		switch m.Gender {
		case "", anxin.Male, anxin.Female:
		default:
			bad(p+".gender", "只能填“男”或“女”", "must be 男 or 女")
		}
		m.IDNumber = strings.ToUpper(strings.TrimSpace(m.IDNumber))
		if m.IDNumber != "" {
			if _, err := ParseIDNumber(m.IDNumber, today); err != nil {
				bad(p+".id_number", IDNumberErrorZh(err), "%s", anxin.ErrorMessage(err))
			}
		}
		if m.Phone != "" {
			if zh, en := checkPhone(&m.Phone); zh != "" {
				bad(p+".phone", zh, "%s", en)
			}
		}
	}
}

// Area reports whether an elder's current address is inside a token's
// area (anxin.Area: each level it names matched exactly).
func Area(area anxin.Area, e *anxin.ElderRecord) bool {
	return area.Contains(e.Current.Township, e.Current.Village)
}

func clip(s string) string {
	if utf8.RuneCountInString(s) > 20 {
		return string([]rune(s)[:20]) + "…"
	}
	return s
}

// Masked is an elder record fit for a list or an export that does not need
// the person: the names and phone numbers of the elder, the contacts and
// the responders, and the resident ID number, masked (张**,
// +86*******1234, 1101**********1234), and those of the family members on
// the 附件1 form, and its 残疾证号 (the ID number and two digits), and the
// numbers in extra attributes (maskDigits). The grid worker (staff) is kept.
func Masked(e anxin.ElderRecord) anxin.ElderRecord {
	e.Name, e.Phone, e.IDNumber = anxin.MaskName(e.Name), anxin.MaskPhone(e.Phone), anxin.MaskIDNumber(e.IDNumber)
	e.Contacts, e.Responders = maskedContacts(e.Contacts), maskedContacts(e.Responders)
	if e.Form != nil {
		f := *e.Form
		f.DisabilityCardNo = anxin.MaskIDNumber(f.DisabilityCardNo)
		f.Family = slices.Clone(f.Family)
		for i := range f.Family {
			m := &f.Family[i]
			m.Name, m.Phone, m.IDNumber = anxin.MaskName(m.Name), anxin.MaskPhone(m.Phone), anxin.MaskIDNumber(m.IDNumber)
		}
		e.Form = &f
	}
	if e.Extra != nil {
		e.Extra = slices.Clone(e.Extra)
		for i := range e.Extra {
			e.Extra[i].Value = maskDigits(e.Extra[i].Value)
		}
	}
	return e
}

// maskDigits masks the numbers an extra attribute may hold (an unmapped
// ledger column such as 子女电话 or 监护人身份证号): a value with 7 or more
// digits keeps only its last 4 digits; other values (身高 165) are kept.
func maskDigits(v string) string {
	b := []byte(v)
	n := 0
	for _, c := range b {
		if c >= '0' && c <= '9' {
			n++
		}
	}
	if n < 7 {
		return v
	}
	for i, c := range b {
		if c >= '0' && c <= '9' && n > 4 {
			b[i], n = '*', n-1
		}
	}
	return string(b)
}

func maskedContacts(cs []anxin.Contact) []anxin.Contact {
	if cs == nil {
		return nil
	}
	out := slices.Clone(cs)
	for i := range out {
		out[i].Name, out[i].Phone = anxin.MaskName(out[i].Name), anxin.MaskPhone(out[i].Phone)
	}
	return out
}
