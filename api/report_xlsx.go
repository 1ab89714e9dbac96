package api

import (
	"fmt"
	"io"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/words"
)

// The monthly report's workbook: each sheet under the report's title and
// header block (乡镇(街道), 月份, 填报人, 联系电话, 制表日期), then a bold
// header row and the rows. Counts are number cells and rates are number
// cells in a percent format, so that Excel's SUM and AVERAGE work on them;
// a rate where nobody is in scope is the text "—". Names, addresses and
// other words are inline strings in the text format, never formulas.

// rateHeaders are the number columns of every rate sheet, in order.
var rateHeaders = []string{"应探访人数", "已探访人数", "探访率", "未探访人数", "上门探访(人次)", "电话问候(人次)",
	"互联网音视频(人次)", "其他(人次)", "远程监测(人次)", "远程监测人数", "仅远程监测人数", "不同意探访人数"}

// rateCells are a row's number columns: ints, the rate as a float in
// [0, 1] (percent style) or "—".
func rateCells(r care.RateRow, num, pct int) []any {
	rate := excelize.Cell{StyleID: num, Value: "—"}
	if r.Rate != nil {
		rate = excelize.Cell{StyleID: pct, Value: *r.Rate}
	}
	n := func(v int) any { return excelize.Cell{StyleID: num, Value: v} }
	return []any{n(r.InScope), n(r.Visited), rate, n(r.InScope - r.Visited), n(r.Methods.Home), n(r.Methods.Phone),
		n(r.Methods.AudioVideo), n(r.Methods.Other), n(r.Methods.Remote), n(r.Remote), n(r.RemoteOnly), n(r.Declined)}
}

type reportBook struct {
	f                      *excelize.File
	bold, title, text, num int
	pct                    int
	rep                    VisitRateReport
	sheets                 int
}

// sheet writes one sheet: title, header block, a header row and rows
// (cells: string → text, excelize.Cell as given).
func (b *reportBook) sheet(name string, width []float64, header []string, rows [][]any) error {
	if b.sheets == 0 {
		if err := b.f.SetSheetName("Sheet1", name); err != nil {
			return err
		}
	} else if _, err := b.f.NewSheet(name); err != nil {
		return err
	}
	b.sheets++
	sw, err := b.f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	for c, wd := range width {
		if err := sw.SetColWidth(c+1, c+1, wd); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 4, TopLeftCell: "A5", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	last, err := excelize.CoordinatesToCellName(len(header), 1)
	if err != nil {
		return err
	}
	if err := sw.SetRow("A1", []any{excelize.Cell{StyleID: b.title, Value: b.rep.Title}}, excelize.RowOpts{Height: 24}); err != nil {
		return err
	}
	if err := sw.MergeCell("A1", last); err != nil {
		return err
	}
	township := b.rep.Township
	if township == "" {
		township = "全部"
	}
	meta := []any{"乡镇(街道)：" + township, "月份：" + b.rep.Month, "填报人：" + b.rep.Filler,
		"联系电话：" + b.rep.Phone, "制表日期：" + b.rep.Made}
	if err := sw.SetRow("A2", textCells(b.text, meta)); err != nil {
		return err
	}
	hdr := make([]any, len(header))
	for i, h := range header {
		hdr[i] = excelize.Cell{StyleID: b.bold, Value: h}
	}
	if err := sw.SetRow("A4", hdr); err != nil {
		return err
	}
	for i, row := range rows {
		cell, err := excelize.CoordinatesToCellName(1, i+5)
		if err != nil {
			return err
		}
		if err := sw.SetRow(cell, textCells(b.text, row)); err != nil {
			return err
		}
	}
	return sw.Flush()
}

// textCells gives every plain string the text style.
func textCells(text int, row []any) []any {
	out := make([]any, len(row))
	for i, v := range row {
		if s, ok := v.(string); ok {
			v = excelize.Cell{StyleID: text, Value: s}
		}
		out[i] = v
	}
	return out
}

func writeReportXLSX(w io.Writer, rep VisitRateReport, loc *time.Location) error {
	f := excelize.NewFile()
	defer f.Close()
	b := &reportBook{f: f, rep: rep}
	var err error
	styles := []struct {
		id *int
		s  excelize.Style
	}{
		{&b.bold, excelize.Style{Font: &excelize.Font{Bold: true}, Alignment: &excelize.Alignment{WrapText: true, Vertical: "center"}}},
		{&b.title, excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}, Alignment: &excelize.Alignment{Horizontal: "center"}}},
		{&b.text, excelize.Style{NumFmt: 49}},                                                    // "@"
		{&b.num, excelize.Style{NumFmt: 1, Alignment: &excelize.Alignment{Horizontal: "right"}}}, // "0"
		{&b.pct, excelize.Style{CustomNumFmt: ptr("0.0%")}},
	}
	for _, st := range styles {
		if *st.id, err = f.NewStyle(&st.s); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	numWidth := make([]float64, len(rateHeaders))
	for i, h := range rateHeaders {
		numWidth[i] = max(10, float64(len([]rune(h)))*1.9)
	}
	// 月报: by tier and total
	var rows [][]any
	for _, r := range rep.ByTier {
		rows = append(rows, append([]any{words.Tier(r.Tier)}, rateCells(r, b.num, b.pct)...))
	}
	rows = append(rows, append([]any{"合计"}, rateCells(rep.Total, b.num, b.pct)...))
	if err := b.sheet("月报", append([]float64{12}, numWidth...), append([]string{"风险等级"}, rateHeaders...), rows); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	// 按村(社区): each village, then every tier of it, then the total
	rows = rows[:0]
	for _, v := range rep.ByVillage {
		rows = append(rows, append([]any{v.Township, v.Village, "全部"}, rateCells(v, b.num, b.pct)...))
	}
	for _, r := range rep.Rows {
		rows = append(rows, append([]any{r.Township, r.Village, words.Tier(r.Tier)}, rateCells(r, b.num, b.pct)...))
	}
	rows = append(rows, append([]any{"合计", "", "全部"}, rateCells(rep.Total, b.num, b.pct)...))
	if err := b.sheet("按村(社区)", append([]float64{14, 14, 10}, numWidth...),
		append([]string{"乡镇(街道)", "村(社区)", "风险等级"}, rateHeaders...), rows); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	// 按网格员
	rows = rows[:0]
	for _, g := range rep.ByGridWorker {
		name := g.GridWorker
		if name == "" {
			name = "（未指定）"
		}
		rows = append(rows, append([]any{name}, rateCells(g, b.num, b.pct)...))
	}
	rows = append(rows, append([]any{"合计"}, rateCells(rep.Total, b.num, b.pct)...))
	if err := b.sheet("按网格员", append([]float64{14}, numWidth...), append([]string{"网格员"}, rateHeaders...), rows); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	// 本月未探访名单, as of the month's end
	rows = rows[:0]
	for i, e := range rep.NotVisited {
		rows = append(rows, []any{excelize.Cell{StyleID: b.num, Value: i + 1}, e.ID, e.Name, e.Phone, e.Township, e.Village,
			e.Address, words.Tier(string(e.Tier)), e.GridWorker, day(e.LastContact, loc),
			excelize.Cell{StyleID: b.num, Value: e.Remote}})
	}
	if err := b.sheet("本月未探访名单", []float64{6, 16, 10, 16, 14, 14, 20, 10, 10, 16, 14},
		[]string{"序号", "档案编号", "姓名", "联系电话", "乡镇(街道)", "村(社区)", "住址", "风险等级", "网格员", "最近探访(月末前)", "本月远程监测(次)"},
		rows); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	// 告警统计
	rows = rows[:0]
	if rep.Alarms != nil {
		for _, r := range append(append([]AlarmRuleStats{}, rep.Alarms.ByRule...), rep.Alarms.Total) {
			n := func(v int) any { return excelize.Cell{StyleID: b.num, Value: v} }
			rows = append(rows, []any{r.Rule, n(r.Count), n(r.Accepted), n(r.Unanswered), n(int(r.P50Seconds + 0.5)), n(int(r.P90Seconds + 0.5))})
		}
		if rep.Alarms.Truncated {
			rows = append(rows, []any{fmt.Sprintf("注意：只统计了前 %d 条告警，实际更多，以上数字偏低", maxReportAlarms)})
		}
	}
	if err := b.sheet("告警统计", []float64{20, 10, 10, 10, 18, 18},
		[]string{"规则", "告警数", "已接受", "无人应答", "接受用时P50(秒)", "接受用时P90(秒)"}, rows); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
