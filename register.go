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
	Score      int        `json:"score"`       // computed from Assessment, 0–20
	Tier       Tier       `json:"tier"`        // computed: from Score when assessed, else from FormTier, else unassessed
	Contacts   []Contact  `json:"contacts"`    // emergency contacts in order, at most 4
	Responders []Contact  `json:"responders"`  // community responders (grid worker, head, …)
	GridWorker string     `json:"grid_worker"` // the visitor responsible for this elder
	Consent    bool       `json:"consent"`     // consents to visits
	// FormTier is the form's own 重点对象/一般对象 box ("重点", "一般" or ""),
	// as the 附件1 登记表 and 附件3 台账 carry it; the tier rule reads it for
	// an elder without an assessment score.
	FormTier string `json:"form_tier,omitempty"`
	Note     string `json:"note,omitempty"` // 备注
	// Form is the rest of the 附件1 登记表 (family, living conditions,
	// benefits, help received); nil when never filled in.
	Form *RegisterForm `json:"form,omitempty"`
	// Extra holds the columns of an imported ledger that no field maps, in
	// the file's column order: kept, exported back, never dropped.
	Extra     []Attribute `json:"extra,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// Attribute is one named value of a record that no field holds (a ledger
// column nobody maps: 微信号, 身高 …).
type Attribute struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// FamilyMember is one row of 附件1's 家庭基本情况 table.
type FamilyMember struct {
	Name       string `json:"name"`
	Gender     Gender `json:"gender,omitempty"`
	IDNumber   string `json:"id_number,omitempty"`
	Relation   string `json:"relation,omitempty"`     // 与户主关系
	Health     string `json:"health,omitempty"`       // 健康状况
	Assistance string `json:"assistance,omitempty"`   // 是否为低保对象/特困人员: "低保", "特困", "否" …
	Visits     string `json:"visits_often,omitempty"` // 是否经常探访: "是" / "否"
	Phone      string `json:"phone,omitempty"`
	LivesWith  *bool  `json:"lives_with,omitempty"` // lives with the elder
}

// RegisterForm is the part of 附件1 (特殊困难老年人信息登记表) that is not
// already a field of ElderRecord.
type RegisterForm struct {
	FiledOn time.Time `json:"filed_on,omitzero"` // 建档日期
	// 经济情况
	Poverty          string         `json:"poverty,omitempty"`         // 特困人员 / 低保、低保边缘
	MonthlyIncome    string         `json:"monthly_income,omitempty"`  // 月可支配收入
	IncomeSource     string         `json:"income_source,omitempty"`   // 经济来源
	DisabilityCardNo string         `json:"disability_card,omitempty"` // 残疾证号 (重残老年人)
	Family           []FamilyMember `json:"family,omitempty"`          // 二、家庭基本情况, 户主 first
	// 三、家庭生活条件: "是" / "否" or the worker's words
	WaterSafe       string `json:"water_safe,omitempty"`
	PowerSafe       string `json:"power_safe,omitempty"`
	HousingSafe     string `json:"housing_safe,omitempty"`
	HouseholdIncome string `json:"household_income,omitempty"` // 家庭每月收入（元）
	Pension         string `json:"pension,omitempty"`          // 养老保险: monthly yuan, "无" when none
	Subsidies       string `json:"subsidies,omitempty"`        // 社会救助和社会福利补贴, monthly yuan
	// 四、已享受帮扶情况 (帮扶责任人 is ElderRecord.GridWorker)
	HelpUnits    []string `json:"help_units,omitempty"`    // 帮扶单位（组织）: 党政机关、群团组织 …
	HelpMeasures string   `json:"help_measures,omitempty"` // 帮扶措施
	Clerk        string   `json:"clerk,omitempty"`         // 工作人员签字
}

// Register keeps elder records.
type Register interface {
	Elder(ctx context.Context, id string) (ElderRecord, error) // ENOTFOUND when unknown
	PutElder(ctx context.Context, e *ElderRecord) error        // create or replace by ID
}
