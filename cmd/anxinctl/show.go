package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/words"
)

// What a worker reads: the API's answers as Chinese tables (JSON with -json).

func word(m map[string]string, k string) string {
	if w, ok := m[k]; ok {
		return w
	}
	return k
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (c *client) day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(c.loc).Format(time.DateOnly)
}

func (c *client) minute(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(c.loc).Format("2006-01-02 15:04")
}

// showDue prints a due, overdue or follow-up list: who, how to reach them, when.
func (c *client) showDue(w io.Writer, which string, b []byte) error {
	var out struct {
		Today  string
		Count  int
		Elders []api.DueItem
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	title := map[string]string{"due": "待访名单", "overdue": "逾期名单", "follow-ups": "告警回访名单"}[which]
	fmt.Fprintf(w, "%s（%s）：共 %d 位\n", title, out.Today, out.Count)
	if out.Count == 0 {
		return nil
	}
	var t table
	if which == "follow-ups" {
		t.row("档案编号", "姓名", "电话", "村(社区)", "地址", "等级", "网格员", "回访应于", "告警")
	} else {
		t.row("档案编号", "姓名", "电话", "村(社区)", "地址", "等级", "网格员", "电话探访应于", "上门探访应于", "逾期", "说明")
	}
	for _, e := range out.Elders {
		if which == "follow-ups" {
			t.row(e.ID, e.Name, orDash(e.Phone), e.Village, orDash(e.Address), words.Tier(string(e.Tier)), orDash(e.GridWorker),
				c.minute(e.FollowUpDue), orDash(e.FollowUpAlarm))
			continue
		}
		late := "—"
		if e.Overdue {
			late = fmt.Sprintf("%d 天", e.DaysOverdue)
		}
		t.row(e.ID, e.Name, orDash(e.Phone), e.Village, orDash(e.Address), words.Tier(string(e.Tier)), orDash(e.GridWorker),
			e.PhoneDue, e.HomeDue, late, orDash(e.Surge))
	}
	return t.write(w)
}

func (c *client) showElders(w io.Writer, b []byte) error {
	var out struct {
		Elders []anxin.ElderRecord
		Total  int
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	fmt.Fprintf(w, "老人名单：共 %d 位，本页 %d 位\n", out.Total, len(out.Elders))
	var t table
	t.row("档案编号", "姓名", "性别", "电话", "乡镇(街道)", "村(社区)", "地址", "等级", "评分", "网格员", "同意探访")
	for _, e := range out.Elders {
		consent := "是"
		if !e.Consent {
			consent = "否"
		}
		t.row(e.ID, e.Name, string(e.Gender), orDash(e.Phone), e.Current.Township, e.Current.Village, orDash(e.Current.Detail),
			words.Tier(string(e.Tier)), strconv.Itoa(e.Score), orDash(e.GridWorker), consent)
	}
	return t.write(w)
}

func (c *client) showVisits(w io.Writer, b []byte) error {
	var out struct{ Visits []anxin.Visit }
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	fmt.Fprintf(w, "探访记录：%d 条\n", len(out.Visits))
	var t table
	t.row("时间", "户编号", "方式", "探访人", "健康", "需求", "告警")
	for _, v := range out.Visits {
		t.row(c.minute(v.Date), v.Household, v.Method.Label(), orDash(v.Visitor), orDash(clipCell(v.Health)),
			orDash(clipCell(v.Needs)), orDash(v.AlarmID))
	}
	return t.write(w)
}

// clipCell keeps free text to one short cell (the full text: -json).
func clipCell(s string) string {
	if r := []rune(s); len(r) > 20 {
		return string(r[:20]) + "…"
	}
	return s
}

func (c *client) showAlarms(w io.Writer, b []byte) error {
	var out struct{ Alarms []anxin.Alarm }
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	fmt.Fprintf(w, "告警：%d 条\n", len(out.Alarms))
	var t table
	t.row("编号", "户编号", "规则", "状态", "发生时间", "接受人")
	for _, a := range out.Alarms {
		t.row(a.ID, a.Household, a.Rule, words.AlarmState(a.State), c.minute(a.OpenedAt), orDash(a.AcceptedBy))
	}
	return t.write(w)
}

func (c *client) showAudit(w io.Writer, b []byte) error {
	var out struct{ Entries []sqlite.AuditEntry }
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	fmt.Fprintf(w, "操作记录：%d 条\n", len(out.Entries))
	var t table
	t.row("时间", "操作人", "操作", "记录", "说明")
	for _, e := range out.Entries {
		t.row(c.minute(e.At), e.Who, e.Action, e.Record, orDash(e.Detail))
	}
	return t.write(w)
}

func rateRow(lead []string, r care.RateRow) []string {
	return append(lead, strconv.Itoa(r.InScope), strconv.Itoa(r.Visited), r.RateText(), strconv.Itoa(r.Methods.Home),
		strconv.Itoa(r.Methods.Phone), strconv.Itoa(r.Methods.AudioVideo), strconv.Itoa(r.Methods.Other),
		strconv.Itoa(r.Methods.Remote), strconv.Itoa(r.Declined))
}

var rateHead = []string{"应访", "已访", "探访率", "上门", "电话", "音视频", "其他", "远程监测", "不同意探访"}

// showReport prints the monthly report: header, by tier, by village, by
// grid worker, and 本月未探访名单.
func (c *client) showReport(w io.Writer, b []byte) error {
	var rep api.VisitRateReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return err
	}
	fmt.Fprintln(w, rep.Title)
	fmt.Fprintf(w, "乡镇(街道)：%s  月份：%s  填报人：%s  联系电话：%s  制表日期：%s\n\n", orDash(rep.Township), rep.Month,
		orDash(rep.Filler), orDash(rep.Phone), rep.Made)
	var t table
	t.row(append([]string{"风险等级"}, rateHead...)...)
	for _, r := range rep.ByTier {
		t.row(rateRow([]string{words.Tier(r.Tier)}, r)...)
	}
	t.row(rateRow([]string{"合计"}, rep.Total)...)
	if err := t.write(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "（上门、电话、音视频、其他为人次，计入探访率；远程监测单列，不计入）")
	fmt.Fprintln(w, "\n按村(社区)")
	t = table{}
	t.row(append([]string{"乡镇(街道)", "村(社区)"}, rateHead...)...)
	for _, r := range rep.ByVillage {
		t.row(rateRow([]string{r.Township, r.Village}, r)...)
	}
	if err := t.write(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n按网格员")
	t = table{}
	t.row(append([]string{"网格员"}, rateHead...)...)
	for _, r := range rep.ByGridWorker {
		name := r.GridWorker
		if name == "" {
			name = "（未指定）"
		}
		t.row(rateRow([]string{name}, r)...)
	}
	if err := t.write(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n本月未探访名单（截至月末）：共 %d 位\n", len(rep.NotVisited))
	if len(rep.NotVisited) == 0 {
		return nil
	}
	t = table{}
	t.row("档案编号", "姓名", "电话", "村(社区)", "地址", "等级", "网格员", "最近探访", "远程监测")
	for _, e := range rep.NotVisited {
		t.row(e.ID, e.Name, orDash(e.Phone), e.Village, orDash(e.Address), words.Tier(string(e.Tier)), orDash(e.GridWorker),
			c.day(e.LastContact), strconv.Itoa(e.Remote))
	}
	return t.write(w)
}

func (c *client) showAlarmStats(w io.Writer, b []byte) error {
	var out struct {
		Month  string
		Alarms api.AlarmStats
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	fmt.Fprintf(w, "告警统计（%s）\n", out.Month)
	var t table
	t.row("规则", "告警数", "已接受", "无人应答", "接受用时P50(秒)", "接受用时P90(秒)")
	for _, r := range append(out.Alarms.ByRule, out.Alarms.Total) {
		t.row(r.Rule, strconv.Itoa(r.Count), strconv.Itoa(r.Accepted), strconv.Itoa(r.Unanswered),
			strconv.FormatFloat(r.P50Seconds, 'f', 0, 64), strconv.FormatFloat(r.P90Seconds, 'f', 0, 64))
	}
	if err := t.write(w); err != nil {
		return err
	}
	if out.Alarms.Truncated {
		fmt.Fprintln(w, "注意：只统计了部分告警，实际更多，以上数字偏低")
	}
	return nil
}

// field prints one "label：value" line of a single record.
func field(w io.Writer, label, value string) {
	fmt.Fprintf(w, "%s：%s\n", label, orDash(value))
}

func addressText(a anxin.Address) string {
	return a.County + a.Township + a.Village + a.Detail
}

// showElder prints one elder's register entry (the ID number masked but
// for its last 4; -json gives the record as the API answers it).
func (c *client) showElder(w io.Writer, b []byte) error {
	var e anxin.ElderRecord
	if err := json.Unmarshal(b, &e); err != nil {
		return err
	}
	fmt.Fprintf(w, "老人档案 %s\n", e.ID)
	field(w, "姓名", e.Name)
	field(w, "性别", string(e.Gender))
	field(w, "身份证号", anxin.MaskIDNumber(e.IDNumber))
	field(w, "电话", e.Phone)
	field(w, "户编号", e.Household)
	field(w, "户籍地址", addressText(e.Registered))
	field(w, "现住址", addressText(e.Current))
	cats := make([]string, len(e.Categories))
	for i, x := range e.Categories {
		cats[i] = string(x)
	}
	field(w, "对象类别", strings.Join(cats, "、"))
	field(w, "能力等级", e.Ability)
	field(w, "疾病史", e.Illness)
	field(w, "经济状况", e.Economic)
	a := e.Assessment
	field(w, "风险评估", fmt.Sprintf("监护情况 %s，自理能力 %s，健康状况 %s，评估日期 %s", orDash(string(a.Guardianship)),
		orDash(string(a.SelfCare)), orDash(string(a.Health)), c.day(a.AssessedOn)))
	field(w, "评分 / 等级", fmt.Sprintf("%d / %s", e.Score, words.Tier(string(e.Tier))))
	field(w, "网格员", e.GridWorker)
	consent := "是"
	if !e.Consent {
		consent = "否"
	}
	field(w, "同意探访", consent)
	field(w, "备注", e.Note)
	for _, x := range e.Extra {
		field(w, x.Name, x.Value)
	}
	for _, list := range []struct {
		title string
		cs    []anxin.Contact
	}{{"紧急联系人（按顺序）", e.Contacts}, {"社区响应人", e.Responders}} {
		fmt.Fprintf(w, "\n%s：%d 位\n", list.title, len(list.cs))
		if len(list.cs) == 0 {
			continue
		}
		var t table
		t.row("顺序", "姓名", "关系/职务", "电话")
		for i, ct := range list.cs {
			t.row(strconv.Itoa(i+1), ct.Name, orDash(ct.Relation+ct.Role), ct.Phone)
		}
		if err := t.write(w); err != nil {
			return err
		}
	}
	return nil
}

var timelineWords = map[string]string{"opened": "告警", "attempt": "通知", "accepted": "接受", "closed": "关闭"}

var purposeWords = map[string]string{string(anxin.PurposeStep): "请确认", string(anxin.PurposeTaken): "告知已有人接受",
	string(anxin.PurposeDuty): "无人接收，告知值班", string(anxin.PurposeInstaller): "设备维护通知",
	string(anxin.PurposeClosed): "告知告警已结束"}

// showAlarm prints one alarm, what happened to it in order (who was
// messaged or called, when, with what result), and its visits.
func (c *client) showAlarm(w io.Writer, b []byte) error {
	var out struct {
		Alarm    anxin.Alarm
		Timeline []api.TimelineEntry
		Visits   []anxin.Visit
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	a := out.Alarm
	fmt.Fprintf(w, "告警 %s\n", a.ID)
	field(w, "户编号", a.Household)
	field(w, "情况", words.Default().What(&a, &anxin.Household{ID: a.Household}))
	field(w, "状态", words.AlarmState(a.State))
	field(w, "发生时间", c.minute(a.OpenedAt))
	if !a.ClosedAt.IsZero() {
		field(w, "结束时间", c.minute(a.ClosedAt))
	}
	field(w, "接受人", a.AcceptedBy)
	fmt.Fprintf(w, "\n经过：%d 条\n", len(out.Timeline))
	var t table
	t.row("时间", "事项", "对象", "方式", "结果", "说明")
	for _, e := range out.Timeline {
		what, result, detail := word(timelineWords, e.What), "", e.Detail
		switch e.What {
		case "opened":
			detail = "" // the rule's English reason: the line above says it in words
		case "attempt":
			result, detail = words.AttemptStatus(e.Status), word(purposeWords, e.Detail)
		case "accepted":
			detail = word(map[string]string{"key_press": "电话按键", "ack_link": "短信链接", "sms_reply": "短信回复"}, e.Detail)
		case "closed":
			result = words.AlarmState(anxin.AlarmState(e.Status))
		}
		t.row(c.minute(e.At), what, orDash(strings.TrimSpace(e.To+" "+e.Phone)), orDash(words.Channel(e.Channel)), orDash(result), orDash(detail))
	}
	if err := t.write(w); err != nil {
		return err
	}
	if len(out.Visits) > 0 {
		fmt.Fprintln(w)
		vb, err := json.Marshal(map[string]any{"visits": out.Visits})
		if err != nil {
			return err
		}
		return c.showVisits(w, vb)
	}
	return nil
}
