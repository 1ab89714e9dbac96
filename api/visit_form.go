package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

// visitBody is a visit as POST visits takes it: the elder by 档案编号
// ("elder"), or by name and village ("name", "village"); "household" alone
// is still accepted when an elder is registered in it.
type visitBody struct {
	anxin.Visit
	Name    string `json:"name"`
	Village string `json:"village"`
}

const auditVisitForm = "visit.form" // the printable 附件2 (names in full)

// findElder resolves a name (and village) to one elder of the caller's
// area; the errors are in Mandarin (workers read them).
func (s *Server) findElder(ctx context.Context, name, village string) (sqlite.ElderMatch, error) {
	name, village = strings.TrimSpace(name), strings.TrimSpace(village)
	ms, err := s.Store.EldersByName(ctx, scope(ctx), name, village)
	if err != nil {
		return sqlite.ElderMatch{}, err
	}
	where := "您的辖区"
	if village != "" {
		where = "「" + clipRunes(village, 20) + "」"
	}
	switch len(ms) {
	case 0:
		return sqlite.ElderMatch{}, anxin.Errorf(anxin.ENOTFOUND, "%s没有名为「%s」的登记老年人，请核对姓名和村（社区），或填写档案编号",
			where, clipRunes(name, 20))
	case 1:
		return ms[0], nil
	}
	ids := make([]string, 0, len(ms))
	villages := map[string]bool{}
	for _, m := range ms {
		ids = append(ids, m.ID)
		villages[m.Village] = true
	}
	hint := "请填写档案编号：" + strings.Join(ids, "、")
	if village == "" && len(villages) > 1 {
		hint = "请同时填写村（社区），或填写档案编号：" + strings.Join(ids, "、")
	}
	return sqlite.ElderMatch{}, anxin.Errorf(anxin.ECONFLICT, "%s有 %d 位名为「%s」的老年人，无法确定是哪一位。%s",
		where, len(ms), clipRunes(name, 20), hint)
}

// resolveVisitElder sets the visit's elder and household from the
// register: an unknown elder, or a household without a registered elder,
// is refused.
func (s *Server) resolveVisitElder(ctx context.Context, v *anxin.Visit) error {
	switch {
	case v.Elder != "":
		e, err := s.elder(ctx, v.Elder)
		if anxin.ErrorCode(err) == anxin.ENOTFOUND {
			return anxin.Errorf(anxin.ENOTFOUND, "没有档案编号为「%s」的老年人（或不在您的辖区），探访记录未保存", clip(v.Elder))
		} else if err != nil {
			return err
		}
		if v.Household != "" && v.Household != e.Household {
			return anxin.Errorf(anxin.EINVALID, "档案编号「%s」的户编号是「%s」，不是「%s」", clip(e.ID), clip(e.Household), clip(v.Household))
		}
		v.Household = e.Household
	case v.Household != "":
		ids, err := s.Store.HouseholdElders(ctx, v.Household)
		if err != nil {
			return err
		}
		ok := len(ids) > 0
		if ok {
			if ok, err = s.Store.HouseholdInArea(ctx, v.Household, scope(ctx)); err != nil {
				return err
			}
		}
		if !ok {
			return anxin.Errorf(anxin.ENOTFOUND, "户编号「%s」下没有登记的老年人（或不在您的辖区），探访记录未保存：请按档案编号记录", clip(v.Household))
		}
		if len(ids) == 1 {
			v.Elder = ids[0]
		}
	default:
		return anxin.Errorf(anxin.EINVALID, "请填写被探访老年人的档案编号（elder），或姓名（name）和村（社区）（village）")
	}
	return nil
}

// withLabels fills each visit's method in the form's words.
func withLabels(vs []anxin.Visit) {
	for i := range vs {
		vs[i].MethodName = vs[i].Method.Label()
	}
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// visitItemCounts: for each 附件2 item, how many households of the caller's
// area had each option at their latest visit of ?month=YYYY-MM (or
// ?since=&until=): how many homes are 用电不安全.
func (s *Server) visitItemCounts(w http.ResponseWriter, r *http.Request) error {
	var since, until time.Time
	var err error
	if m := r.URL.Query().Get("month"); m != "" {
		t, err := time.ParseInLocation("2006-01", m, s.Plan.Location)
		if err != nil {
			return anxin.Errorf(anxin.EINVALID, monthFormat)
		}
		since, until = t, t.AddDate(0, 1, 0)
	} else {
		if since, err = s.dayParam(r, "since"); err != nil {
			return err
		}
		if until, err = s.dayParam(r, "until"); err != nil {
			return err
		}
	}
	counts, err := s.Store.VisitItemCounts(r.Context(), scope(r.Context()), since, until)
	if err != nil {
		return err
	}
	out := map[string]any{"items": counts}
	if !since.IsZero() {
		out["since"] = since.Format(time.RFC3339)
	}
	if !until.IsZero() {
		out["until"] = until.Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// noVisit is the answer for a visit the caller may not see or that does not exist.
func noVisit(id string) error {
	return anxin.Errorf(anxin.ENOTFOUND, "没有编号为「%s」的探访记录（或不在您的辖区）", clip(id))
}

// visibleVisit reads one visit of the caller's area (else not found).
func (s *Server) visibleVisit(ctx context.Context, id string) (anxin.Visit, error) {
	v, err := s.Store.Visit(ctx, id)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		return v, noVisit(id)
	} else if err != nil {
		return v, err
	}
	if ok, err := s.Store.HouseholdInArea(ctx, v.Household, scope(ctx)); err != nil {
		return v, err
	} else if !ok {
		return anxin.Visit{}, noVisit(id)
	}
	v.MethodName = v.Method.Label()
	return v, nil
}

func (s *Server) getVisit(w http.ResponseWriter, r *http.Request) error {
	v, err := s.visibleVisit(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// visitForm answers one visit as 附件2 laid out for printing (XLSX).
func (s *Server) visitForm(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	v, err := s.visibleVisit(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	var e anxin.ElderRecord
	if v.Elder != "" {
		if e, err = s.Store.Elder(ctx, v.Elder); err != nil && anxin.ErrorCode(err) != anxin.ENOTFOUND {
			return err
		}
	}
	if err := s.audit(ctx, auditVisitForm, v.ID, v.Household); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := WriteVisitForm(&buf, &v, &e, s.Plan.Location); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="visit-`+v.ID+`.xlsx"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
	return nil
}

// boxes renders options as the form's check boxes: ☑ 较好  □ 较差.
func boxes(options []string, got string, extra map[string]string) string {
	parts := make([]string, len(options))
	for i, o := range options {
		mark := "□"
		if o == got {
			mark = "☑"
		}
		parts[i] = mark + " " + o + extra[o]
	}
	return strings.Join(parts, "    ")
}

// WriteVisitForm writes one visit as 附件2 (探访关爱服务记录表): part 一
// with every box ticked as recorded, part 二 with the care services.
// Every value is a text cell (never a formula).
func WriteVisitForm(out *bytes.Buffer, v *anxin.Visit, e *anxin.ElderRecord, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "附件2"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	title, _ := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 16},
		Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center"}})
	bold, _ := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Border: border(), Alignment: &excelize.Alignment{Vertical: "center", WrapText: true}})
	cell, _ := f.NewStyle(&excelize.Style{Border: border(), NumFmt: 49,
		Alignment: &excelize.Alignment{Vertical: "center", WrapText: true}})
	for col, width := range map[string]float64{"A": 14, "B": 14, "C": 16, "D": 16, "E": 16, "F": 22} {
		_ = f.SetColWidth(sheet, col, col, width)
	}
	row := 0
	var ferr error
	put := func(from, to string, text string, style int) {
		a, b := from+strconv.Itoa(row), to+strconv.Itoa(row)
		if a != b {
			if err := f.MergeCell(sheet, a, b); err != nil && ferr == nil {
				ferr = err
			}
		}
		if err := f.SetCellStr(sheet, a, text); err != nil && ferr == nil {
			ferr = err
		}
		if err := f.SetCellStyle(sheet, a, b, style); err != nil && ferr == nil {
			ferr = err
		}
	}
	day := func(t time.Time) string {
		if t.IsZero() {
			return "  年  月  日"
		}
		return t.In(loc).Format("2006年1月2日")
	}
	nth := func(n int) string {
		if n <= 0 {
			return "第  次"
		}
		return "第 " + strconv.Itoa(n) + " 次"
	}
	row++
	put("A", "F", "附件2", cell)
	row++
	put("A", "F", "特殊困难老年人探访关爱服务记录表", title)
	_ = f.SetRowHeight(sheet, row, 30)
	row++
	put("A", "A", "被探访人", bold)
	put("B", "B", e.Name, cell)
	put("C", "C", "档案编号", bold)
	put("D", "D", v.Elder, cell)
	put("E", "E", "村（社区）", bold)
	put("F", "F", e.Current.Village, cell)
	row++
	put("A", "F", "一、探访情况", bold)
	row++
	put("A", "A", nth(v.Number)+"开展探访\n"+day(v.Date), bold)
	put("B", "B", "探访方式", bold)
	methods := []string{"电话问候", "上门探访", "互联网音（视）频探访", "其他"}
	got := v.Method.Label()
	switch v.Method {
	case anxin.VisitAudioVideo:
		got = "互联网音（视）频探访"
	case anxin.VisitRemoteMonitoring:
		got, methods = "远程监测", append(methods, "远程监测")
	}
	put("C", "F", boxes(methods, got, nil), cell)
	_ = f.SetRowHeight(sheet, row, 32)
	group := ""
	for _, it := range anxin.VisitItems {
		row++
		g := ""
		if it.Group != group {
			g, group = it.Group, it.Group
		}
		put("A", "A", "", cell)
		put("B", "B", g, bold)
		put("C", "C", it.Label, bold)
		extra := map[string]string{}
		val := v.Items[it.Key]
		switch it.Key {
		case "family":
			n := "  "
			if v.FamilyCount > 0 {
				n = " " + strconv.Itoa(v.FamilyCount) + " "
			}
			extra["增加"], extra["减少"] = n+"人", n+"人"
			if val == "增加" {
				extra["减少"] = "  人"
			} else if val == "减少" {
				extra["增加"] = "  人"
			}
		case "illness":
			extra["严重"] = " 疾病名称：" + v.IllnessName
		}
		put("D", "F", boxes(it.Options, val, extra), cell)
	}
	row++
	put("A", "A", "", cell)
	put("B", "F", "老年人服务需求："+v.Needs, cell)
	_ = f.SetRowHeight(sheet, row, 40)
	row++
	put("A", "A", "", cell)
	put("B", "F", "实施关爱服务建议："+v.SuggestedCare, cell)
	_ = f.SetRowHeight(sheet, row, 40)
	row++
	put("A", "A", "", cell)
	put("B", "B", "探访人员（签字）", bold)
	put("C", "C", v.Visitor, cell)
	put("D", "D", "被探访人（签字）", bold)
	put("E", "E", "信息录入人（签字）", bold)
	put("F", "F", v.EnteredBy, cell)
	row++
	put("A", "A", "", cell)
	put("B", "F", day(v.Date), cell)
	row++
	put("A", "F", "二、关爱服务情况", bold)
	satisfaction := []string{}
	for _, sv := range v.Services {
		row++
		put("A", "A", nth(sv.Number)+"开展关爱\n"+day(sv.Date), bold)
		put("B", "D", "关爱服务情况："+sv.Content, cell)
		put("E", "F", "服务人员签字（盖章）："+sv.Provider, cell)
		_ = f.SetRowHeight(sheet, row, 40)
		if sv.Satisfaction != "" {
			satisfaction = append(satisfaction, nth(sv.Number)+"："+sv.Satisfaction)
		}
	}
	if len(v.Services) == 0 {
		row++
		put("A", "A", nth(0)+"开展关爱\n"+day(time.Time{}), bold)
		put("B", "D", "关爱服务情况：", cell)
		put("E", "F", "服务人员签字（盖章）：", cell)
		_ = f.SetRowHeight(sheet, row, 40)
	}
	row++
	put("A", "A", "", cell)
	put("B", "F", "老年人服务满意度评价："+strings.Join(satisfaction, "；"), cell)
	row++
	put("A", "F", "备注：此表一式四份，区县民政部门、乡镇（街道）、村（社区）、服务人员所在单位各存档一份。", cell)
	if ferr != nil {
		return fmt.Errorf("visit form: %w", ferr)
	}
	_ = f.SetPageLayout(sheet, &excelize.PageLayoutOptions{Size: intPtr(9)}) // A4
	return f.Write(out)
}

func intPtr(n int) *int { return &n }

func border() []excelize.Border {
	return []excelize.Border{{Type: "left", Color: "000000", Style: 1}, {Type: "right", Color: "000000", Style: 1},
		{Type: "top", Color: "000000", Style: 1}, {Type: "bottom", Color: "000000", Style: 1}}
}

const auditHouseholdPut = "household.put"

// kitProblem is anxin.Household.Validate's refusal in the district
// office's words (Validate's own are English: alarmd's config loader and
// its operators read them).
func kitProblem(h *anxin.Household) error {
	if h.Validate() == nil {
		return nil
	}
	switch {
	case !anxin.ValidID(h.ID):
		return anxin.Errorf(anxin.EINVALID, "户编号只能是 1 到 64 个字母、数字、_ 或 -")
	case h.Elder.Tier != "" && !h.Elder.Tier.Valid():
		return anxin.Errorf(anxin.EINVALID, tierFormat)
	case len(h.Contacts) > anxin.MaxPersonalContacts:
		return anxin.Errorf(anxin.EINVALID, "联系人有 %d 位，最多 %d 位", len(h.Contacts), anxin.MaxPersonalContacts)
	case len(h.Devices) > anxin.MaxDevices:
		return anxin.Errorf(anxin.EINVALID, "设备有 %d 个，最多 %d 个", len(h.Devices), anxin.MaxDevices)
	}
	for i, c := range h.Chain() {
		if !anxin.ValidPhone(c.Phone) {
			return anxin.Errorf(anxin.EINVALID, "第 %d 位联系人的电话号码无效：须为以 + 开头的完整号码，如 +8613800001234", i+1)
		}
	}
	for i, d := range h.Devices {
		if !anxin.ValidID(d.ID) || !d.Kind.Valid() {
			return anxin.Errorf(anxin.EINVALID, "第 %d 个设备的编号或类型无效", i+1)
		}
	}
	return anxin.Errorf(anxin.EINVALID, "住户设置有误，请核对后重新提交")
}

// putHousehold sets a household's kit in the register (devices, and the
// elder and chain used while no elder record names the household): the
// running alarmd follows it without a restart. District tokens only.
func (s *Server) putHousehold(w http.ResponseWriter, r *http.Request) error {
	if !scope(r.Context()).All() {
		return anxin.Errorf(anxin.EFORBID, "住户的设备和联系人由区民政办设置，社区账号不能修改")
	}
	var h anxin.Household
	if err := decodeJSON(w, r, &h); err != nil {
		return err
	}
	id := r.PathValue("id")
	if h.ID != "" && h.ID != id {
		return idMismatch(h.ID)
	}
	h.ID = id
	if err := kitProblem(&h); err != nil {
		return err
	}
	if err := s.Store.PutKit(r.Context(), &h, s.Now()); err != nil {
		return err
	}
	s.auditChange(r.Context(), auditHouseholdPut, "", h.ID)
	s.Logger.Info("household saved", "household", anxin.MaskRecordID(h.ID), "devices", len(h.Devices), "token", caller(r.Context()).Name)
	writeJSON(w, http.StatusOK, maskHousehold(h))
	return nil
}
