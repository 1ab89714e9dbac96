package anxin

import (
	"context"
	"time"
)

// Gender as on the registration form.
type Gender string

// Genders.
const (
	Male   Gender = "男"
	Female Gender = "女"
)

// Category is one of the programme's person categories; an elder may have several.
type Category string

// Categories from the registration form.
const (
	CategoryAlone        Category = "独居"       // living alone
	CategoryEmptyNest    Category = "空巢"       // empty nest
	CategoryLeftBehind   Category = "留守"       // children work elsewhere
	CategoryDisabled     Category = "失能"       // lost the ability to care for oneself
	CategorySevereDisab  Category = "重残"       // severe disability
	CategoryFamilyPlanSp Category = "计划生育特殊家庭" // only child died or disabled
)

// Guardianship is the assessment form's first item.
type Guardianship string

// Guardianship answers, scored 5, 4, 3, 2, 1.
const (
	GuardianNoKin      Guardianship = "孤寡"
	GuardianFamilyPlan Guardianship = "计划生育特殊家庭"
	GuardianAlone      Guardianship = "独居"
	GuardianLeftBehind Guardianship = "留守"
	GuardianOther      Guardianship = "其他"
)

// SelfCare is the assessment form's second item.
type SelfCare string

// Self-care answers, scored 0, 1, 3, 5.
const (
	SelfCareIntact   SelfCare = "完好"
	SelfCareMild     SelfCare = "轻度失能"
	SelfCareModerate SelfCare = "中度失能"
	SelfCareSevere   SelfCare = "重度失能"
)

// HealthStatus is the assessment form's third item.
type HealthStatus string

// Health answers, scored 0, 3, 5.
const (
	HealthNormal  HealthStatus = "正常"
	HealthChronic HealthStatus = "残疾或严重慢性病"
	HealthSevere  HealthStatus = "重残或重病"
)

// Address is a registered or current address down to the village or community.
type Address struct {
	County   string `json:"county"`   // 县(市、区)
	Township string `json:"township"` // 乡镇(街道)
	Village  string `json:"village"`  // 村(社区)
	Detail   string `json:"detail"`   // street, building, house number
}

// Assessment is the risk assessment form: four items and when they were assessed.
// The fourth item, age, is in completed years on AssessedOn.
type Assessment struct {
	Guardianship Guardianship `json:"guardianship"`
	SelfCare     SelfCare     `json:"self_care"`
	Health       HealthStatus `json:"health"`
	Age          int          `json:"age"`
	AssessedOn   time.Time    `json:"assessed_on"`
}

// ElderRecord is one elder's entry in the care register, with the fields of
// the registration form. Household links it to alarmd's households and to
// visits; it defaults to ID for elders without a sensor kit.
type ElderRecord struct {
	ID         string     `json:"id"` // 档案编号, [A-Za-z0-9_-]{1,64}
	Household  string     `json:"household"`
	Name       string     `json:"name"`
	Gender     Gender     `json:"gender"`
	IDNumber   string     `json:"id_number"` // resident ID number (GB 11643); masked in lists
	Phone      string     `json:"phone,omitempty"`
	Registered Address    `json:"registered_address"`
	Current    Address    `json:"current_address"`
	Ability    string     `json:"ability,omitempty"`  // 能力等级
	Illness    string     `json:"illness,omitempty"`  // 疾病史
	Economic   string     `json:"economic,omitempty"` // 经济状况
	Categories []Category `json:"categories"`
	Assessment Assessment `json:"assessment"`
	Score      int        `json:"score"`               // computed from Assessment, 0–20
	Tier       Tier       `json:"tier"`                // computed: from Score when assessed, else from FormTier, else unassessed
	FormTier   string     `json:"form_tier,omitempty"` // 附件1's box: 重点 or 一般 (重点对象/一般对象), "" when not ticked
	Contacts   []Contact  `json:"contacts"`            // emergency contacts in order, at most 4
	Responders []Contact  `json:"responders"`          // community responders (grid worker, head, …)
	GridWorker string     `json:"grid_worker"`         // the visitor responsible for this elder
	Consent    bool       `json:"consent"`             // consents to visits
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Register keeps elder records.
type Register interface {
	Elder(ctx context.Context, id string) (ElderRecord, error) // ENOTFOUND when unknown
	PutElder(ctx context.Context, e *ElderRecord) error        // create or replace by ID
}
