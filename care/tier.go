package care

import "github.com/anxin-care/anxin"

// GuardianshipPoints scores the guardianship item: 孤寡 5, 计划生育特殊家庭 4,
// 独居 3, 留守 2, otherwise 1.
func GuardianshipPoints(g anxin.Guardianship) (int, bool) {
	switch g {
	case anxin.GuardianNoKin:
		return 5, true
	case anxin.GuardianFamilyPlan:
		return 4, true
	case anxin.GuardianAlone:
		return 3, true
	case anxin.GuardianLeftBehind:
		return 2, true
	case anxin.GuardianOther:
		return 1, true
	}
	return 0, false
}

// SelfCarePoints scores the self-care item: 重度失能 5, 中度 3, 轻度 1, 完好 0.
func SelfCarePoints(s anxin.SelfCare) (int, bool) {
	switch s {
	case anxin.SelfCareSevere:
		return 5, true
	case anxin.SelfCareModerate:
		return 3, true
	case anxin.SelfCareMild:
		return 1, true
	case anxin.SelfCareIntact:
		return 0, true
	}
	return 0, false
}

// HealthPoints scores the health item: 重残或重病 5, 残疾或严重慢性病 3, 正常 0.
func HealthPoints(h anxin.HealthStatus) (int, bool) {
	switch h {
	case anxin.HealthSevere:
		return 5, true
	case anxin.HealthChronic:
		return 3, true
	case anxin.HealthNormal:
		return 0, true
	}
	return 0, false
}

// AgePoints scores the age item: 90+ 5, 80–89 3, 70–79 1, under 70 0.
func AgePoints(age int) int {
	switch {
	case age >= 90:
		return 5
	case age >= 80:
		return 3
	case age >= 70:
		return 1
	}
	return 0
}

// Score is the assessment's total (0–20) and the tier it puts the elder in.
func Score(a anxin.Assessment) (int, anxin.Tier, error) {
	g, ok := GuardianshipPoints(a.Guardianship)
	if !ok {
		return 0, "", anxin.Errorf(anxin.EINVALID, "guardianship must be 孤寡, 计划生育特殊家庭, 独居, 留守 or 其他")
	}
	s, ok := SelfCarePoints(a.SelfCare)
	if !ok {
		return 0, "", anxin.Errorf(anxin.EINVALID, "self-care must be 完好, 轻度失能, 中度失能 or 重度失能")
	}
	h, ok := HealthPoints(a.Health)
	if !ok {
		return 0, "", anxin.Errorf(anxin.EINVALID, "health must be 正常, 残疾或严重慢性病 or 重残或重病")
	}
	score := g + s + h + AgePoints(a.Age)
	return score, anxin.TierFromScore(score), nil
}

// NormalizeFormTier reads 附件1's 重点对象/一般对象 box: 重点, 一般 (also
// 重点对象, 一般对象, key, general); "" when not ticked.
func NormalizeFormTier(s string) (string, bool) {
	switch s {
	case "":
		return "", true
	case "重点", "重点对象", string(anxin.TierKey):
		return "重点", true
	case "一般", "一般对象", string(anxin.TierGeneral):
		return "一般", true
	}
	return s, false
}

// Assessed reports whether an assessment has its three items answered
// (age comes from the ID number).
func Assessed(a anxin.Assessment) bool {
	return a.Guardianship != "" || a.SelfCare != "" || a.Health != ""
}

// TierOf is an elder's score and tier: from the assessment's score where
// the elder was assessed, else from the form's 重点/一般 (key, general),
// else 未评估 (anxin.TierUnassessed, visited at the general cadence) with
// score 0. An assessment with an invalid item counts as none here
// (Normalize reports it).
func TierOf(e *anxin.ElderRecord) (int, anxin.Tier) {
	if Assessed(e.Assessment) {
		if score, tier, err := Score(e.Assessment); err == nil {
			return score, tier
		}
	}
	switch ft, _ := NormalizeFormTier(e.FormTier); ft {
	case "重点":
		return 0, anxin.TierKey
	case "一般":
		return 0, anxin.TierGeneral
	}
	return 0, anxin.TierUnassessed
}
