package care

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// The scoring table, written out again from the assessment form so the test
// does not reuse the code under test.
var (
	guardianPts = map[anxin.Guardianship]int{"孤寡": 5, "计划生育特殊家庭": 4, "独居": 3, "留守": 2, "其他": 1}
	selfCarePts = map[anxin.SelfCare]int{"重度失能": 5, "中度失能": 3, "轻度失能": 1, "完好": 0}
	healthPts   = map[anxin.HealthStatus]int{"重残或重病": 5, "残疾或严重慢性病": 3, "正常": 0}
	// every age band at both of its edges
	agePts = map[int]int{60: 0, 69: 0, 70: 1, 79: 1, 80: 3, 89: 3, 90: 5, 104: 5}
)

func wantTier(score int) anxin.Tier {
	switch {
	case score >= 15:
		return "high"
	case score >= 8:
		return "key"
	case score >= 3:
		return "general"
	}
	return "irregular"
}

func TestScoreEveryCombination(t *testing.T) {
	combos, seen := 0, map[int]bool{}
	for g, gp := range guardianPts {
		for s, sp := range selfCarePts {
			for h, hp := range healthPts {
				for age, ap := range agePts {
					a := anxin.Assessment{Guardianship: g, SelfCare: s, Health: h, Age: age}
					score, tier, err := Score(a)
					if err != nil {
						t.Fatal(err)
					}
					want := gp + sp + hp + ap
					if score != want || tier != wantTier(want) {
						t.Errorf("%s/%s/%s/%d: got %d %s, want %d %s", g, s, h, age, score, tier, want, wantTier(want))
					}
					combos++
					seen[score] = true
				}
			}
		}
	}
	if combos != 5*4*3*8 {
		t.Fatalf("%d combinations", combos)
	}
	// the tier boundaries are reachable and fall where the programme puts them
	for _, b := range []struct {
		score int
		tier  anxin.Tier
	}{{2, "irregular"}, {3, "general"}, {7, "general"}, {8, "key"}, {14, "key"}, {15, "high"}, {20, "high"}} {
		if !seen[b.score] {
			t.Errorf("score %d is never reached", b.score)
		}
		if got := anxin.TierFromScore(b.score); got != b.tier {
			t.Errorf("score %d: tier %s, want %s", b.score, got, b.tier)
		}
	}
	// minimum is 1 (guardianship "otherwise" scores 1), maximum 20
	if seen[0] || !seen[1] || !seen[20] {
		t.Errorf("score range wrong: %v", seen)
	}
	for _, bad := range []anxin.Assessment{
		{Guardianship: "", SelfCare: "完好", Health: "正常"},
		{Guardianship: "独居", SelfCare: "?", Health: "正常"},
		{Guardianship: "独居", SelfCare: "完好", Health: "sick"},
	} {
		if _, _, err := Score(bad); anxin.ErrorCode(err) != anxin.EINVALID {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

var today = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func TestParseIDNumber(t *testing.T) {
	for _, c := range []struct {
		id     string
		ok     bool
		gender anxin.Gender
		birth  string
	}{
		{"11010519491231002X", true, anxin.Female, "1949-12-31"}, // check character X
		{"110101199003071233", true, anxin.Male, "1990-03-07"},
		{"440304196508123214", true, anxin.Male, "1965-08-12"},
		{"530112194010150022", true, anxin.Female, "1940-10-15"},
		{"11010519491231002x", false, "", ""},  // lower-case x: Normalize upper-cases, the parser does not
		{"110105194912310021", false, "", ""},  // wrong check digit
		{"110101199003071234", false, "", ""},  // the masking example: wrong check digit
		{"11010519491231002", false, "", ""},   // 17 characters
		{"11010519491231002X1", false, "", ""}, // 19
		{"", false, "", ""},                    // empty
		{"1101051949123100AX", false, "", ""},  // letter in the digits
		{"01010519491231002X", false, "", ""},  // region 0…
		{"110105194902300000", false, "", ""},  // 30 February
		{"110105190002290000", false, "", ""},  // 1900 was not a leap year
		{"110105202611240000", false, "", ""},  // born tomorrow
		{"110105186512310000", false, "", ""},  // before 1870
		{"１１０１０５１９４９１２３１００２X", false, "", ""},  // full-width digits
	} {
		id := c.id
		if !c.ok && len(id) == 18 && CheckDigit(id[:17]) != 0 && id[17] == '0' && c.id[6:14] != "19491231" {
			// give date cases a correct check digit, so only the date is wrong
			id = id[:17] + string(CheckDigit(id[:17]))
		}
		got, err := ParseIDNumber(id, today)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", id, err, c.ok)
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), id) && id != "" {
				t.Errorf("error repeats the ID number: %v", err)
			}
			if len(id) == 18 && strings.Contains(err.Error(), id[6:14]) {
				t.Errorf("error repeats the ID number's date of birth: %v", err)
			}
			if zh := IDNumberErrorZh(err); !strings.HasPrefix(zh, "居民身份证号码") || anxin.ErrorCode(err) != anxin.EINVALID {
				t.Errorf("%s: %q (%v)", id, zh, err)
			}
			continue
		}
		if got.Gender != c.gender || got.Birth.Format(time.DateOnly) != c.birth {
			t.Errorf("%s: %+v", id, got)
		}
	}
	// a leap day is a birth date
	leap := "11010519400229001"
	if _, err := ParseIDNumber(leap+string(CheckDigit(leap)), today); err != nil {
		t.Errorf("29 Feb 1940: %v", err)
	}
	// every wrong check character of a valid number is caught
	base := "11010519491231002"
	for _, ch := range "0123456789X" {
		_, err := ParseIDNumber(base+string(ch), today)
		if (ch == 'X') != (err == nil) {
			t.Errorf("check %c: %v", ch, err)
		}
	}
}

func TestAgeOn(t *testing.T) {
	birth := time.Date(1936, 2, 29, 0, 0, 0, 0, time.UTC)
	for day, want := range map[string]int{"2026-02-28": 89, "2026-03-01": 90, "2028-02-29": 92, "2028-02-28": 91} {
		d, _ := time.Parse(time.DateOnly, day)
		if got := AgeOn(birth, d); got != want {
			t.Errorf("%s: %d, want %d", day, got, want)
		}
	}
}

func day(s string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, s, DefaultLocation())
	if err != nil {
		panic(err)
	}
	return t
}

func TestCadenceAcrossMonthEnds(t *testing.T) {
	p := DefaultPlan()
	for _, c := range []struct {
		tier              anxin.Tier
		contact, home     string
		wantPhone, wantHm string
	}{
		{"general", "2027-01-31", "2027-01-31", "2027-02-10", "2027-03-02"}, // Jan 31 + 30 days, common year
		{"general", "2028-01-31", "2028-01-31", "2028-02-10", "2028-03-01"}, // leap year
		{"key", "2028-02-25", "2028-02-20", "2028-03-01", "2028-03-06"},     // across 29 Feb
		{"key", "2027-02-25", "2027-02-20", "2027-03-02", "2027-03-07"},
		{"high", "2026-12-30", "2026-12-28", "2027-01-02", "2027-01-04"}, // Dec → Jan
		{"irregular", "2026-12-15", "2026-11-01", "2027-01-14", "2027-01-30"},
	} {
		d := p.Due(c.tier, day(c.contact).Add(15*time.Hour), day(c.home).Add(9*time.Hour), time.Time{})
		if got := d.Phone.Format(time.DateOnly); got != c.wantPhone {
			t.Errorf("%s phone after %s: %s, want %s", c.tier, c.contact, got, c.wantPhone)
		}
		if got := d.Home.Format(time.DateOnly); got != c.wantHm {
			t.Errorf("%s home after %s: %s, want %s", c.tier, c.home, got, c.wantHm)
		}
	}
	// a visit at 23:30 Beijing time (15:30 UTC) belongs to that Beijing day
	late := time.Date(2026, 11, 30, 15, 30, 0, 0, time.UTC)
	if got := p.Due("high", late, late, time.Time{}).Phone.Format(time.DateOnly); got != "2026-12-03" {
		t.Errorf("late visit: phone due %s, want 2026-12-03", got)
	}
	// never visited: due the day of registration
	reg := day("2026-11-20")
	if d := p.Due("general", time.Time{}, time.Time{}, reg); !d.Phone.Equal(reg) || !d.Home.Equal(reg) {
		t.Errorf("never visited: %+v", d)
	}
}

func TestCadenceSurge(t *testing.T) {
	p := DefaultPlan()
	p.Surges = []Surge{{From: day("2026-12-20"), To: day("2027-01-05"), Reason: "festival"}}
	for _, c := range []struct {
		contact, want, surge string
	}{
		{"2026-12-10", "2026-12-20", ""},         // due on the first surge day anyway: not brought forward
		{"2026-12-08", "2026-12-18", ""},         // due before the surge begins: unchanged
		{"2026-12-15", "2026-12-20", "festival"}, // brought forward from 12-25 to the first surge day
		{"2026-12-24", "2026-12-25", "festival"}, // daily inside the surge
		{"2026-12-31", "2027-01-01", "festival"}, // across the year end
		{"2027-01-05", "2027-01-15", ""},         // last surge day done: back to the cadence
	} {
		d := p.Due("general", day(c.contact).Add(10*time.Hour), day(c.contact), time.Time{})
		if got := d.Phone.Format(time.DateOnly); got != c.want || d.Surge != c.surge {
			t.Errorf("contact %s: due %s (%q), want %s (%q)", c.contact, got, d.Surge, c.want, c.surge)
		}
		if got, want := d.Home, AddDays(day(c.contact), 30); !got.Equal(want) {
			t.Errorf("contact %s: home due %s moved by the surge", c.contact, got)
		}
	}
	if _, ok := p.InSurge(day("2027-01-05").Add(23 * time.Hour)); !ok {
		t.Error("last surge day is not in the surge")
	}
	if _, ok := p.InSurge(day("2027-01-06")); ok {
		t.Error("day after the surge is in it")
	}
}

func TestNormalize(t *testing.T) {
	e := anxin.ElderRecord{ID: "e1", Name: " 张桂兰 ", IDNumber: "11010519491231002x", Phone: "138 0000 1234",
		Current:    anxin.Address{Village: "善广村"},
		Categories: []anxin.Category{"留守", "独居", "独居"},
		Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "中度失能", Health: "残疾或严重慢性病", AssessedOn: today},
		Contacts:   []anxin.Contact{{Name: "李明", Relation: "child", Phone: "13900000001"}}}
	if errs := Normalize(&e, today); len(errs) != 0 {
		t.Fatal(errs)
	}
	if e.Household != "e1" || e.Name != "张桂兰" || e.Gender != anxin.Female || e.Phone != "+8613800001234" ||
		e.Assessment.Age != 76 || e.Score != 3+3+3+1 || e.Tier != anxin.TierKey ||
		fmt.Sprint(e.Categories) != "[独居 留守]" || e.Contacts[0].Phone != "+8613900000001" {
		t.Fatalf("%+v", e)
	}
	bad := anxin.ElderRecord{ID: "e 2", Gender: "male", IDNumber: "110105194912310021", Phone: "12",
		Categories: []anxin.Category{"富裕"},
		Assessment: anxin.Assessment{Guardianship: "?", SelfCare: "完好", Health: "正常"},
		Contacts:   make([]anxin.Contact, 5)}
	errs := Normalize(&bad, today)
	fields := map[string]bool{}
	for _, e := range errs {
		fields[e.Field] = true
	}
	for _, f := range []string{"id", "name", "id_number", "gender", "phone", "current_address.village", "categories",
		"assessment.guardianship", "contacts", "contacts[4].name", "contacts[0].phone"} {
		if !fields[f] {
			t.Errorf("no error for %s in %v", f, errs)
		}
	}
	// age given but inconsistent with the ID number
	e.Assessment.Age = 80
	if errs := Normalize(&e, today); len(errs) != 1 || errs[0].Field != "assessment.age" {
		t.Errorf("age mismatch: %v", errs)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 10; i++ {
		ds = append(ds, time.Duration(11-i)*time.Second)
	}
	if p50, p90 := Percentile(ds, 50), Percentile(ds, 90); p50 != 5*time.Second || p90 != 9*time.Second {
		t.Errorf("p50 %v p90 %v", p50, p90)
	}
	if Percentile(nil, 50) != 0 || Percentile(ds[:1], 90) != 10*time.Second {
		t.Error("edge cases")
	}
}

func FuzzParseIDNumber(f *testing.F) {
	for _, s := range []string{"11010519491231002X", "110105194912310021", "", "1101051949123100", "０"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIDNumber(s, today)
		if err != nil {
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("error repeats input: %v", err)
			}
			return
		}
		// invariant: an accepted number is 18 characters with its own check digit, and born by today
		if len(s) != 18 || CheckDigit(s[:17]) != s[17] || id.Birth.After(today) || id.Region != s[:6] {
			t.Fatalf("accepted %q as %+v", s, id)
		}
		if g := (s[16]-'0')%2 == 1; g != (id.Gender == anxin.Male) {
			t.Fatalf("gender of %q", s)
		}
	})
}

// Masked hides every personal number of the 附件1 form too: the family's,
// and the 残疾证号, which begins with the elder's resident ID number.
func TestMaskedForm(t *testing.T) {
	id := "11010519491231002X"
	e := anxin.ElderRecord{Name: "张三", IDNumber: id, Form: &anxin.RegisterForm{DisabilityCardNo: id + "42",
		Family: []anxin.FamilyMember{{Name: "张四", IDNumber: id, Phone: "+8613800138000"}}},
		Extra: []anxin.Attribute{{Name: "子女电话", Value: "儿子 138-0013-8000"}, {Name: "监护人身份证号", Value: id}, {Name: "身高", Value: "165"}}}
	m := Masked(e)
	// an unmapped ledger column's numbers: only the last 4 digits stay
	if x := m.Extra; x[0].Value != "儿子 ***-****-8000" || x[1].Value != "*************1002X" || x[2].Value != "165" {
		t.Errorf("extra attributes masked as %+v", x)
	}
	if e.Extra[0].Value != "儿子 138-0013-8000" {
		t.Errorf("Masked changed the extra attributes it was given: %+v", e.Extra)
	}
	if got := m.Form.DisabilityCardNo; got != anxin.MaskIDNumber(id+"42") || strings.Contains(got, id[4:14]) {
		t.Errorf("残疾证号 masked as %q", got)
	}
	if f := m.Form.Family[0]; f.Name == "张四" || f.IDNumber == id || f.Phone == "+8613800138000" {
		t.Errorf("family member not masked: %+v", f)
	}
	if e.Form.DisabilityCardNo != id+"42" || e.Form.Family[0].Name != "张四" {
		t.Errorf("Masked changed the record it was given: %+v", e.Form)
	}
}

// Each of ParseIDNumber's refusals has its own Chinese words.
func TestIDNumberErrorZh(t *testing.T) {
	date := "11010519490230000"
	for id, want := range map[string]string{
		"1101051949123100":              "居民身份证号码应为 18 位，这里是 16 位",
		"1101051949123100AX":            "居民身份证号码前 17 位必须是数字",
		"01010519491231002X":            "居民身份证号码的地区码不能以 0 开头",
		date + string(CheckDigit(date)): "居民身份证号码中的出生日期不存在",
		"110105202611240000":            "居民身份证号码中的出生日期晚于今天",
		"110105194912310021":            "居民身份证号码校验位不对（可能输错了一位）",
	} {
		if _, err := ParseIDNumber(id, today); IDNumberErrorZh(err) != want {
			t.Errorf("%s: %q, want %q", id, IDNumberErrorZh(err), want)
		}
	}
	if IDNumberErrorZh(nil) != "" {
		t.Error("no error has words")
	}
}
