package ledger

import (
	"bytes"
	"testing"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
)

// 疾病史 is free text and may hold a word that is also an answer of the
// assessment (残疾, 重病, 自理, 轻度 …). The export writes the two items
// first, then the illness; read back, the illness's words must stay the
// illness and not overwrite the items: the health or self-care item, the
// score and the tier (the visit cadence) changed on re-importing one's own
// export.
func TestForm3ReimportIllnessWithAnswerWords(t *testing.T) {
	for _, c := range []struct {
		health anxin.HealthStatus
		ill    string
	}{{anxin.HealthNormal, "残疾"}, {anxin.HealthNormal, "高血压 重病"}, {anxin.HealthNormal, "轻度"},
		{anxin.HealthNormal, "高血压/自理"}, {anxin.HealthChronic, "残疾"}, {anxin.HealthNormal, "高血压，糖尿病"}} {
		e := anxin.ElderRecord{ID: "e-1", Name: "张桂兰", IDNumber: idNumber("1942-03-05", 11), Consent: true, Illness: c.ill,
			Current:    anxin.Address{County: "忠县", Township: "善广乡", Village: "大河村"},
			Assessment: anxin.Assessment{Guardianship: anxin.GuardianAlone, SelfCare: anxin.SelfCareModerate, Health: c.health}}
		if errs := care.Normalize(&e, today); len(errs) > 0 {
			t.Fatal(errs)
		}
		imp, errs := reimportForm3(t, e)
		if len(errs) > 0 || imp.Changes[0].Action != Unchanged {
			got := imp.Elders[0]
			t.Errorf("%s, 疾病史 %q re-imported: %s %v (health %s, self-care %s, 疾病史 %q) %+v", c.health, c.ill,
				imp.Changes[0].Action, imp.Changes[0].Fields, got.Assessment.Health, got.Assessment.SelfCare, got.Illness, errs)
		}
	}
}

// reimportForm3 exports e (id e-1, stored) on 附件3 and imports the file
// back against it, as an operator re-importing her own export.
func reimportForm3(t *testing.T, e anxin.ElderRecord) (Imported, []RowError) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteForm3XLSX(&buf, []anxin.ElderRecord{e}, nil, Form3Meta{Township: "善广乡"}, Options{}); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadXLSXRows(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(rows, today, Options{NewID: func(string) string { return "e-1" },
		Existing: func(id string) (anxin.ElderRecord, bool) { return e, id == "e-1" }})
}

// 附件3 has one 地址 cell, read back by cutting at the level suffixes
// (县, 乡, 村, 社区 …). A village named without one (幸福小区, 滨江花园) or a
// detail that holds one (新村路) came back as another village, or not at
// all ("地址中找不到村(社区)"): the operator's own export did not re-import.
func TestForm3ReimportVillageWithoutSuffix(t *testing.T) {
	for _, a := range []anxin.Address{
		{County: "忠县", Township: "善广乡", Village: "幸福小区", Detail: "5栋3单元201"},
		{County: "忠县", Township: "善广乡", Village: "滨江花园"},
		{Township: "善广乡", Village: "幸福小区", Detail: "5栋"},
		{County: "忠县", Township: "善广乡", Village: "大河村", Detail: "新村路5号"},
		{County: "忠县", Township: "善广乡", Village: "幸福小区", Detail: "新村路5号"},
		{County: "忠县", Township: "忠州街道", Village: "白公社区", Detail: "3组 12号"},
		{County: "忠县", Township: "善广乡", Village: "大河村", Detail: "3组12号"},
	} {
		e := anxin.ElderRecord{ID: "e-1", Name: "张桂兰", IDNumber: idNumber("1942-03-05", 11), Consent: true, Current: a,
			Assessment: anxin.Assessment{Guardianship: anxin.GuardianAlone, SelfCare: anxin.SelfCareModerate, Health: anxin.HealthNormal}}
		if errs := care.Normalize(&e, today); len(errs) > 0 {
			t.Fatal(errs)
		}
		imp, errs := reimportForm3(t, e)
		if len(errs) > 0 || len(imp.Elders) != 1 || imp.Elders[0].Current != e.Current || imp.Changes[0].Action != Unchanged {
			var got anxin.Address
			if len(imp.Elders) == 1 {
				got = imp.Elders[0].Current
			}
			t.Errorf("%+v (地址 %q) re-imported as %+v %v", a, JoinAddress(a), got, errs)
		}
	}
}
