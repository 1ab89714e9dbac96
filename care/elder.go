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
// JSON path ("id_number", "contacts[1].phone"); Message never repeats a
// personal value.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
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
// 13800000000, 86-138…, 0871-1234567) into E.164; other input is returned
// trimmed, for ValidPhone to judge.
func NormalizePhone(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')':
		default:
			return s
		}
	}
	n := b.String()
	switch {
	case strings.HasPrefix(n, "+"):
		return n
	case len(n) == 11 && n[0] == '1':
		return "+86" + n
	case len(n) == 13 && strings.HasPrefix(n, "86"):
		return "+" + n
	case len(n) >= 10 && len(n) <= 12 && n[0] == '0' && n[1] != '0':
		return "+86" + n[1:]
	}
	return s
}

// Normalize cleans an elder record, fills what can be derived (household from
// ID, age from the ID number, assessment day, score, tier, category order) and
// checks every field. It returns every problem found, not only the first.
func Normalize(e *anxin.ElderRecord, today time.Time) []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	text := func(field string, s *string, required bool) {
		*s = strings.TrimSpace(*s)
		switch {
		case !utf8.ValidString(*s):
			bad(field, "is not valid UTF-8")
		case len(*s) > maxText:
			bad(field, "is longer than %d bytes", maxText)
		case required && *s == "":
			bad(field, "is required")
		}
	}
	e.ID = strings.TrimSpace(e.ID)
	if !anxin.ValidID(e.ID) {
		bad("id", "must be 1 to 64 letters, digits, _ or -")
	}
	e.Household = strings.TrimSpace(e.Household)
	if e.Household == "" {
		e.Household = e.ID
	}
	if !anxin.ValidID(e.Household) {
		bad("household", "must be 1 to 64 letters, digits, _ or -")
	}
	text("name", &e.Name, true)
	e.IDNumber = strings.ToUpper(strings.TrimSpace(e.IDNumber))
	id, idErr := ParseIDNumber(e.IDNumber, today)
	if idErr != nil {
		bad("id_number", "%s", anxin.ErrorMessage(idErr))
	}
	switch e.Gender {
	case anxin.Male, anxin.Female:
		if idErr == nil && id.Gender != e.Gender {
			bad("gender", "does not match the resident ID number (17th digit)")
		}
	case "":
		if idErr == nil {
			e.Gender = id.Gender
		} // else the ID number's error says enough
	default:
		bad("gender", "must be 男 or 女")
	}
	if e.Phone != "" {
		e.Phone = NormalizePhone(e.Phone)
		if !anxin.ValidPhone(e.Phone) {
			bad("phone", "is not a phone number (11-digit mobile, area code and number, or +country…)")
		}
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
	seen := map[anxin.Category]bool{}
	for _, c := range e.Categories {
		if !slices.Contains(categories, c) {
			bad("categories", "%q is not one of 独居, 空巢, 留守, 失能, 重残, 计划生育特殊家庭", clip(string(c)))
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
			bad("assessment.assessed_on", "is before the date of birth")
		case a.Age == 0:
			a.Age = age
		case a.Age != age:
			bad("assessment.age", "is %d but the resident ID number gives %d on %s", a.Age, age, a.AssessedOn.Format(time.DateOnly))
		}
	}
	if a.Age < 0 || a.Age > 150 {
		bad("assessment.age", "must be 0 to 150")
	}
	if Assessed(*a) { // without one: the form's 重点/一般, else 未评估
		if _, ok := GuardianshipPoints(a.Guardianship); !ok {
			bad("assessment.guardianship", "must be 孤寡, 计划生育特殊家庭, 独居, 留守 or 其他")
		}
		if _, ok := SelfCarePoints(a.SelfCare); !ok {
			bad("assessment.self_care", "must be 完好, 轻度失能, 中度失能 or 重度失能")
		}
		if _, ok := HealthPoints(a.Health); !ok {
			bad("assessment.health", "must be 正常, 残疾或严重慢性病 or 重残或重病")
		}
	}
	if ft, ok := NormalizeFormTier(strings.TrimSpace(e.FormTier)); ok {
		e.FormTier = ft
	} else {
		bad("form_tier", "must be 重点 or 一般 (重点对象/一般对象) or empty")
	}
	e.Score, e.Tier = TierOf(e) // assessment score, else the form's 重点/一般, else unassessed
	if len(e.Contacts) > anxin.MaxPersonalContacts {
		bad("contacts", "has %d people, at most %d", len(e.Contacts), anxin.MaxPersonalContacts)
	}
	contacts := func(field string, cs []anxin.Contact) {
		for i := range cs {
			c := &cs[i]
			f := fmt.Sprintf("%s[%d]", field, i)
			text(f+".name", &c.Name, true)
			text(f+".relation", &c.Relation, false)
			text(f+".role", &c.Role, false)
			c.Phone = NormalizePhone(c.Phone)
			if !anxin.ValidPhone(c.Phone) {
				bad(f+".phone", "is not a phone number (11-digit mobile, area code and number, or +country…)")
			}
		}
	}
	contacts("contacts", e.Contacts)
	if len(e.Responders) > 8 {
		bad("responders", "has %d people, at most 8", len(e.Responders))
	}
	contacts("responders", e.Responders)
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
// +86*******1234, 1101**********1234). The grid worker (staff) is kept.
func Masked(e anxin.ElderRecord) anxin.ElderRecord {
	e.Name, e.Phone, e.IDNumber = anxin.MaskName(e.Name), anxin.MaskPhone(e.Phone), anxin.MaskIDNumber(e.IDNumber)
	e.Contacts, e.Responders = maskedContacts(e.Contacts), maskedContacts(e.Responders)
	return e
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
