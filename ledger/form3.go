package ledger

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
)

// The programme's 附件3 特殊困难老年人信息台账 as printed: a title row, a row
// 乡镇街道：… 填报人：… 联系电话：…, then twelve columns. Parse reads it (the
// synonyms map its headers) and WriteForm3XLSX writes it.

// Form3Headers are 附件3's columns, in order.
var Form3Headers = []string{hSeq, hName, "性别", "身份证号码", hAddress, "健康状况", "经济情况", "对象类别",
	"帮扶责任人", hHelpMeasures, hVisitCount, hNote}

// importColumns are read on import only: the forms' single address cell
// and the visit count the register computes.
var importColumns = []column{
	{header: hAddress, field: "current_address",
		get: func(e *anxin.ElderRecord, _ *Options) string { return JoinAddress(e.Current) },
		set: func(e *anxin.ElderRecord, s string, o *Options) error {
			a, err := ParseAddress(s, o.Township)
			if err != nil {
				return err
			}
			e.Current = a
			return nil
		}},
	{header: hVisitCount, get: func(*anxin.ElderRecord, *Options) string { return "" },
		set: func(*anxin.ElderRecord, string, *Options) error { return nil }},
}

// addressLevels are the suffixes that end each level of an address written
// in one cell, longest first.
var addressLevels = [3][]string{
	{"自治县", "自治州", "县", "区", "市", "旗"},
	{"街道办事处", "街道", "乡", "镇", "苏木"},
	{"居民委员会", "村民委员会", "居委会", "村委会", "社区", "村"},
}

// ParseAddress splits an address written in one cell (忠县善广乡大河村3组12号,
// or with spaces between the levels) into county, township, village and the
// rest. The county and the township may be missing (township then fills the
// township); the village may not.
func ParseAddress(s, township string) (anxin.Address, error) {
	var a anxin.Address
	s = strings.TrimSpace(s)
	if s == "" {
		return a, fmt.Errorf("地址不能为空，至少要写到村(社区)")
	}
	rest := s
	parts := [3]*string{&a.County, &a.Township, &a.Village}
	if strings.ContainsAny(s, " \u3000") {
		// levels separated by spaces: each field one level, the rest
		// detail. The field after a township is the village even without
		// a village's suffix (幸福小区): JoinAddress writes such a village so.
		f := strings.Fields(strings.ReplaceAll(s, "\u3000", " "))
		lvl, i := 0, 0
		township := false // the field before was the township
		for ; i < len(f) && lvl < 3; i++ {
			for lvl < 2 && !hasLevelSuffix(f[i], lvl) {
				lvl++
			}
			if lvl == 2 && !hasLevelSuffix(f[i], 2) {
				if cut := levelCut(f[i], 2); cut > 0 { // 大河村3组
					a.Village, f[i] = f[i][:cut], f[i][cut:]
				} else if township && !isDetail(f[i]) {
					a.Village = f[i]
					i++
				}
				break
			}
			*parts[lvl] = f[i]
			township = lvl == 1
			lvl++
		}
		rest = strings.Join(f[i:], " ")
	} else {
		for lvl := range 3 {
			if cut := levelCut(rest, lvl); cut > 0 {
				*parts[lvl], rest = rest[:cut], rest[cut:]
			}
		}
	}
	a.Detail = rest
	if a.Township == "" {
		a.Township = township
	}
	if a.Village == "" {
		return anxin.Address{}, fmt.Errorf("地址中找不到村(社区)：请写成 县 乡镇 村(社区) 门牌，如 忠县善广乡大河村3组；" +
			"小区名里没有“村”“社区”字样时，用空格把各级隔开，如 忠县 善广乡 幸福小区 5栋")
	}
	return a, nil
}

// detailSuffixes end the words of an address below the village: a house
// number, a group, a building, a road.
var detailSuffixes = []string{"号", "栋", "幢", "组", "单元", "室", "楼", "层", "路", "街", "巷", "弄"}

// isDetail reports whether the field w, written where a village without
// suffix may stand, is rather an address's detail (12号, 3组, 新华路): it
// starts with a digit or ends like one. Such a row lacks its village.
func isDetail(w string) bool {
	r, _ := utf8.DecodeRuneInString(w)
	if unicode.IsDigit(r) {
		return true
	}
	for _, suf := range detailSuffixes {
		if strings.HasSuffix(w, suf) {
			return true
		}
	}
	return false
}

func hasLevelSuffix(w string, lvl int) bool {
	for _, suf := range addressLevels[lvl] {
		if strings.HasSuffix(w, suf) && len(w) > len(suf) {
			return true
		}
	}
	return false
}

// levelCut is where the word of level lvl that starts s's remainder ends
// (0: s has none). A word of a lower level found first means s skips this
// level (善广乡大河村市场路 has no county). 新村社区 is one community.
func levelCut(s string, lvl int) int {
	best := firstEnd(s, lvl)
	if best == 0 {
		return 0
	}
	if lvl == 2 && strings.HasPrefix(s[best:], "社区") {
		best += len("社区")
	}
	for l := lvl + 1; l < 3; l++ {
		if c := firstEnd(s, l); c > 0 && c < best {
			return 0
		}
	}
	return best
}

// firstEnd is the end of the first word of level lvl in s (a name of at
// least one character, then the level's suffix); 0 when none.
func firstEnd(s string, lvl int) int {
	best := 0
	for _, suf := range addressLevels[lvl] {
		if i := strings.Index(s, suf); i > 0 && (best == 0 || i+len(suf) < best) {
			best = i + len(suf)
		}
	}
	return best
}

// JoinAddress writes an address in one cell, the levels run together
// (忠县善广乡大河村3组) when ParseAddress reads that back as a; else,
// separated by spaces (忠县 善广乡 幸福小区 5栋): a village named without
// a suffix ParseAddress cuts at, or a detail holding one (新村路), would
// otherwise come back as another village or none.
func JoinAddress(a anxin.Address) string {
	joined := a.County + a.Township + a.Village + a.Detail
	if b, err := ParseAddress(joined, a.Township); err == nil && b == a {
		return joined
	}
	var f []string
	for _, s := range []string{a.County, a.Township, a.Village, a.Detail} {
		if s = strings.TrimSpace(s); s != "" {
			f = append(f, s)
		}
	}
	return strings.Join(f, " ")
}

// setFormHealth reads 附件1's 健康状况 (what 附件3 carries): its ability
// word (能力完好 … 重度失能) goes to the self-care item and 能力等级, a
// health word (正常 …) to the health item, anything else to 疾病史.
func setFormHealth(e *anxin.ElderRecord, s string) {
	// the form's words are cut out with the separators after them; the
	// rest is the illness as written (its commas, spaces, slashes kept).
	// Only the first word of each item is the item: the export writes the
	// items before the illness, and an illness may hold an answer's word
	// (残疾, 重病, 自理…) that must not overwrite the item read back.
	var ill strings.Builder
	var selfCare, health bool
	for i := 0; i < len(s); {
		w, next := nextWord(s, i)
		switch {
		case w == "":
			ill.WriteString(s[i:next]) // separators between kept text
		case isSelfCareWord(w) && !selfCare:
			selfCare = true
			// 能力等级 follows a word that differs from the stored item; the
			// stored word (one's own export read back) leaves both alone
			if sc := canonSelfCare(w); sc != e.Assessment.SelfCare {
				e.Assessment.SelfCare, e.Ability = sc, formSelfCareWord[sc]
			}
			next = skipSeparators(s, next)
		case isHealthWord(w) && !health:
			health = true
			e.Assessment.Health = canonHealth(w)
			next = skipSeparators(s, next)
		default:
			ill.WriteString(w)
		}
		i = next
	}
	if rest := strings.Trim(ill.String(), wordSeparators); rest != "" {
		e.Illness = rest
	}
}

// nextWord is the word of s at byte i ("" when s[i] starts a run of
// separators) and where the word, or the run, ends.
func nextWord(s string, i int) (string, int) {
	if j := skipSeparators(s, i); j > i {
		return "", j
	}
	n := strings.IndexAny(s[i:], wordSeparators)
	if n < 0 {
		n = len(s) - i
	}
	return s[i : i+n], i + n
}

// skipSeparators is where the run of separators at byte i of s ends.
func skipSeparators(s string, i int) int {
	return len(s) - len(strings.TrimLeft(s[i:], wordSeparators))
}

// formHealthCell is 附件3's 健康状况 of a record: the inverse of setFormHealth.
func formHealthCell(e *anxin.ElderRecord) string {
	var w []string
	if s, ok := formSelfCareWord[e.Assessment.SelfCare]; ok {
		w = append(w, s)
	}
	if e.Assessment.Health != "" {
		w = append(w, string(e.Assessment.Health))
	}
	if e.Illness != "" {
		w = append(w, e.Illness)
	}
	return strings.Join(w, "、")
}

// formCategoryCell is 附件3's 对象类别: the categories as the form's boxes,
// then 重点对象/一般对象.
func formCategoryCell(e *anxin.ElderRecord) string {
	var w []string
	for _, c := range e.Categories {
		if s, ok := formCategoryWord[c]; ok {
			w = append(w, s)
		} else {
			w = append(w, string(c))
		}
	}
	if e.FormTier != "" {
		w = append(w, e.FormTier+"对象")
	}
	return strings.Join(w, "、")
}

// Form3Meta is what the 附件3 ledger's title rows carry.
type Form3Meta struct {
	Title    string    // default: 特殊困难老年人信息台账, after the county and township of the first elder
	Township string    // 乡镇街道
	Filler   string    // 填报人
	Phone    string    // 联系电话
	Date     time.Time // 填报日期 (zero: none)
}

// Form3Rows is the 附件3 ledger as rows (header row first): twelve columns,
// then one column per extra attribute any elder has (never dropped), in
// order of first appearance. visits counts the visits done per elder id.
func Form3Rows(es []anxin.ElderRecord, visits map[string]int, opt Options) [][]string {
	headers, extraCol := withExtra(slices.Clone(Form3Headers), es)
	rows := [][]string{headers}
	for i := range es {
		e := &es[i]
		if opt.Mask {
			m := care.Masked(*e)
			e = &m
		}
		help := ""
		if e.Form != nil {
			help = e.Form.HelpMeasures
		}
		row := make([]string, len(headers))
		copy(row, []string{fmt.Sprint(i + 1), e.Name, string(e.Gender), e.IDNumber, JoinAddress(e.Current),
			formHealthCell(e), e.Economic, formCategoryCell(e), e.GridWorker, help, fmt.Sprint(visits[e.ID]), e.Note})
		for _, a := range e.Extra {
			row[extraCol[a.Name]] = a.Value
		}
		rows = append(rows, row)
	}
	return rows
}

// WriteForm3XLSX writes the 附件3 ledger: a merged title row, a merged row
// 乡镇街道/填报人/联系电话, the header row, the elders; 序号 and
// 已完成探访次数 are numbers, every other cell text.
func WriteForm3XLSX(w io.Writer, es []anxin.ElderRecord, visits map[string]int, meta Form3Meta, opt Options) error {
	rows := Form3Rows(es, visits, opt)
	ncol := len(rows[0])
	title := meta.Title
	if title == "" {
		place := meta.Township
		if len(es) > 0 {
			if place == "" {
				place = es[0].Current.Township
			}
			place = es[0].Current.County + place
		}
		title = place + "特殊困难老年人信息台账"
	}
	info := fmt.Sprintf("乡镇街道：%s    填报人：%s    联系电话：%s", meta.Township, meta.Filler, meta.Phone)
	if !meta.Date.IsZero() {
		info += "    填报日期：" + meta.Date.Format("2006年1月2日")
	}
	f := excelize.NewFile()
	defer f.Close()
	const sheet = SheetName
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	border := []excelize.Border{{Type: "left", Style: 1, Color: "000000"}, {Type: "right", Style: 1, Color: "000000"},
		{Type: "top", Style: 1, Color: "000000"}, {Type: "bottom", Style: 1, Color: "000000"}}
	titleStyle, err1 := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 16},
		Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center"}})
	infoStyle, err2 := f.NewStyle(&excelize.Style{Alignment: &excelize.Alignment{Horizontal: "left"}})
	headStyle, err3 := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Border: border,
		Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center", WrapText: true}})
	textStyle, err4 := f.NewStyle(&excelize.Style{NumFmt: 49, Border: border})
	numStyle, err5 := f.NewStyle(&excelize.Style{NumFmt: 1, Border: border})
	for _, err := range []error{err1, err2, err3, err4, err5} {
		if err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	widths := []float64{6, 10, 6, 21, 30, 14, 14, 22, 12, 20, 10, 24}
	for c := range ncol {
		wd := 14.0
		if c < len(widths) {
			wd = widths[c]
		}
		if err := sw.SetColWidth(c+1, c+1, wd); err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
	}
	last, _ := excelize.CoordinatesToCellName(ncol, 1)
	last2, _ := excelize.CoordinatesToCellName(ncol, 2)
	put := func(r int, cells []any, opts ...excelize.RowOpts) error {
		cell, _ := excelize.CoordinatesToCellName(1, r)
		return sw.SetRow(cell, cells, opts...)
	}
	if err := put(1, []any{excelize.Cell{StyleID: titleStyle, Value: title}}, excelize.RowOpts{Height: 30}); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	if err := put(2, []any{excelize.Cell{StyleID: infoStyle, Value: info}}); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	visitCol := indexOf(rows[0], hVisitCount)
	for r, row := range rows {
		cells := make([]any, len(row))
		for c, v := range row {
			switch {
			case r == 0:
				cells[c] = excelize.Cell{StyleID: headStyle, Value: v}
			case c == 0 || c == visitCol:
				var n int
				fmt.Sscan(v, &n)
				cells[c] = excelize.Cell{StyleID: numStyle, Value: n}
			default:
				cells[c] = excelize.Cell{StyleID: textStyle, Value: v}
			}
		}
		if err := put(r+3, cells); err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
	}
	if err := sw.MergeCell("A1", last); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	if err := sw.MergeCell("A2", last2); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	return nil
}

func indexOf(row []string, h string) int {
	for i, c := range row {
		if c == h {
			return i
		}
	}
	return -1
}

// titleTownship reads 乡镇街道：善广乡 from a title row above the header.
func titleTownship(row []string) string {
	for _, c := range row {
		for _, key := range []string{"乡镇街道：", "乡镇街道:", "乡镇(街道)：", "乡镇（街道）："} {
			if _, after, ok := strings.Cut(c, key); ok {
				f := strings.Fields(after)
				if len(f) > 0 && !strings.Contains(f[0], "：") && !strings.Contains(f[0], "填报人") {
					// the printed form's blank (＿＿＿) left unfilled is no township
					return strings.Trim(f[0], "_＿-—－.…·")
				}
			}
		}
	}
	return ""
}
