package ledger

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
)

// RowError is one problem in one cell of an imported ledger. Row is the
// spreadsheet's row number (the header row counts; the first data row under
// a header in row 1 is row 2); Column is the header text.
type RowError struct {
	Row     int    `json:"row"`
	Column  string `json:"column"`
	Message string `json:"message"`
}

func (e RowError) Error() string {
	return fmt.Sprintf("row %d, column %s: %s", e.Row, e.Column, e.Message)
}

// Limits of one import.
const (
	MaxRows      = 200000
	maxCellBytes = 4000
	headerSearch = 5 // a title row or two may stand above the header row
)

// maxUnmapped bounds the columns kept as extra attributes (care.Normalize
// allows 64 per record).
const maxUnmapped = 64

// Required columns: without them no row can be read. The address is
// either the eight columns (村(社区) required) or one 地址 cell.
var required = []string{hName, hIDNumber}

// Change says what an import does to one record.
type Change struct {
	Row    int      `json:"row"`
	ID     string   `json:"id"`
	Name   string   `json:"name"`             // masked
	Action string   `json:"action"`           // created, changed, unchanged
	Fields []string `json:"fields,omitempty"` // the JSON fields a change alters
}

// The actions of a Change.
const (
	Created   = "created"
	Changed   = "changed"
	Unchanged = "unchanged"
)

// Imported is the result of reading a ledger: the records in file order,
// the spreadsheet row each came from, what it does to the register, and
// the headers of the columns no field maps (their cells are kept on the
// records as extra attributes).
type Imported struct {
	Elders   []anxin.ElderRecord
	Rows     []int
	Changes  []Change
	Unmapped []string
}

// headerRows finds the header row (and a second header row under merged
// cells, as 附件1 heads 户籍地址 over 区(县)/乡镇(街道)/村(社区)) and
// returns the column headers as canonical names, the headers as written,
// and the index of the first data row. -1 when there is no header row.
func headerRows(rows [][]string) (canon, written []string, first int) {
	hdr := -1
	for i := 0; i < len(rows) && i < headerSearch; i++ {
		if hasCanon(rows[i], hName) && hasCanon(rows[i], hIDNumber) {
			hdr = i
			break
		}
	}
	if hdr < 0 {
		return nil, nil, -1
	}
	top := rows[hdr]
	canon, written = make([]string, len(top)), make([]string, len(top))
	for i, h := range top {
		canon[i], written[i] = canonicalHeader(h), writtenHeader(h)
	}
	first = hdr + 1
	if first >= len(rows) || looksLikeData(rows[first]) {
		return canon, written, first
	}
	// a second header row: sub-headers under a parent cell merged across
	// them. Only a row with a sub-header under an empty (merged) top cell
	// is one: a data row under a full header row is data.
	sub := rows[first]
	var parent string
	used, merged := false, false
	for i := range max(len(top), len(sub)) {
		under := i >= len(top) || strings.TrimSpace(top[i]) == ""
		if !under {
			parent = normHeader(top[i])
		}
		s := ""
		if i < len(sub) {
			s = normHeader(sub[i])
		}
		if s == "" {
			continue
		}
		c := combineHeader(parent, s)
		if c == "" {
			continue
		}
		for len(canon) <= i {
			canon, written = append(canon, ""), append(written, "")
		}
		canon[i], written[i] = c, parent+s
		used = true
		merged = merged || under
	}
	if !used || !merged {
		// not a header row: the top row's headers stand
		canon, written = canon[:len(top)], written[:len(top)]
		for i, h := range top {
			canon[i], written[i] = canonicalHeader(h), writtenHeader(h)
		}
		return canon, written, first
	}
	first++
	return canon, written, first
}

// combineHeader names the column of sub-header sub under parent ("" when
// neither the pair nor sub alone is a known column).
func combineHeader(parent, sub string) string {
	for _, h := range []string{parent + sub, strings.TrimSuffix(parent, "地址") + sub, sub} {
		if c := canonicalHeader(h); knownHeader(c) {
			if h == sub && strings.HasPrefix(parent, "户籍") {
				if r := canonicalHeader("户籍" + sub); knownHeader(r) {
					return r
				}
			}
			return c
		}
	}
	return ""
}

func knownHeader(h string) bool { return findColumn(h) != nil }

// findColumn is the column a canonical header names (nil: none).
func findColumn(h string) *column {
	for j := range columns {
		if columns[j].header == h {
			return &columns[j]
		}
	}
	for j := range importColumns {
		if importColumns[j].header == h {
			return &importColumns[j]
		}
	}
	return nil
}

// looksLikeData: a row holding an ID number or a 序号 is an elder, not a header.
func looksLikeData(row []string) bool {
	for _, c := range row {
		c = strings.TrimSpace(c)
		digits := 0
		for _, r := range c {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits >= 15 {
			return true
		}
	}
	return len(row) > 0 && strings.TrimSpace(row[0]) != "" && strings.Trim(strings.TrimSpace(row[0]), "0123456789") == ""
}

// Parse reads the ledger's rows (title rows, the header row among the first
// few, maybe a second header row under merged cells, then one elder per
// row; blank rows are skipped), normalizes each record with care.Normalize
// and returns every problem of every row, in Chinese. When errs is not
// empty the caller must import nothing.
func Parse(rows [][]string, today time.Time, opt Options) (Imported, []RowError) {
	var out Imported
	var errs []RowError
	canon, written, first := headerRows(rows)
	if first < 0 {
		return out, []RowError{{Row: 1, Column: hName, Message: "前 5 行中找不到含“姓名”和“身份证号码”的表头行"}}
	}
	hdrRow := first // the (last) header row's number, 1-based
	if opt.Township == "" {
		for i := 0; i < first; i++ {
			if t := titleTownship(rows[i]); t != "" {
				opt.Township = t
				break
			}
		}
	}
	// column index → layout column; unmapped columns kept as attributes
	index := map[int]*column{}
	extra := map[int]string{}
	seen := map[string]bool{}
	writtenOf := map[string]string{} // canonical → as written
	for i, h := range canon {
		c := findColumn(h)
		if c == nil {
			if h != "" {
				extra[i] = written[i]
				out.Unmapped = append(out.Unmapped, written[i])
			}
			continue
		}
		if seen[h] {
			errs = append(errs, RowError{Row: hdrRow, Column: written[i], Message: "该列出现了两次（或与另一列同义）"})
		}
		seen[h] = true
		writtenOf[h] = written[i]
		index[i] = c
	}
	// data under a column without a header is kept too, named by its letter
	for r := first; r < len(rows); r++ {
		for i := len(canon); i < len(rows[r]); i++ {
			if _, ok := extra[i]; !ok && strings.TrimSpace(rows[r][i]) != "" {
				name, _ := excelize.ColumnNumberToName(i + 1)
				extra[i] = "第" + name + "列"
				out.Unmapped = append(out.Unmapped, extra[i])
			}
		}
	}
	if len(out.Unmapped) > maxUnmapped {
		errs = append(errs, RowError{Row: hdrRow, Column: out.Unmapped[maxUnmapped], Message: fmt.Sprintf("有 %d 列没有对应的登记项，最多保留 %d 列：请删去不需要的列", len(out.Unmapped), maxUnmapped)})
	}
	for _, h := range required {
		if !seen[h] {
			errs = append(errs, RowError{Row: hdrRow, Column: h, Message: "缺少必需的列"})
		}
	}
	switch {
	case seen[hAddress] && seen["村(社区)"]:
		errs = append(errs, RowError{Row: hdrRow, Column: writtenOf[hAddress], Message: "“地址”与分列的“村(社区)”重复：请只保留一种写法"})
	case !seen[hAddress] && !seen["村(社区)"]:
		errs = append(errs, RowError{Row: hdrRow, Column: "村(社区)", Message: "缺少必需的列（或一列“地址”）"})
	}
	if len(errs) > 0 {
		return out, errs
	}
	if len(rows)-first > MaxRows {
		return out, []RowError{{Row: first + MaxRows + 1, Column: hName, Message: fmt.Sprintf("超过 %d 行", MaxRows)}}
	}
	opt.formHealth = !seen["监护情况"] && !seen["自理能力"]
	hasContacts := seen["紧急联系人1姓名"]
	idCol, idNumberCol := -1, -1
	byField := map[string]string{}
	for i, c := range index {
		byField[c.field] = written[i]
		switch c.header {
		case hID:
			idCol = i
		case hIDNumber:
			idNumberCol = i
		}
	}
	colName := func(h string) string {
		if w, ok := writtenOf[h]; ok {
			return w
		}
		return h
	}
	if opt.Prefetch != nil {
		var ids, numbers []string
		for r := first; r < len(rows); r++ {
			if idCol >= 0 && idCol < len(rows[r]) && strings.TrimSpace(rows[r][idCol]) != "" {
				ids = append(ids, strings.TrimSpace(rows[r][idCol]))
			}
			if idNumberCol < len(rows[r]) {
				if n := idNumberCell(rows[r][idNumberCol]); n != "" {
					numbers = append(numbers, strings.ToUpper(n))
				}
			}
		}
		if err := opt.Prefetch(ids, numbers); err != nil {
			return out, []RowError{{Row: hdrRow, Column: colName(hIDNumber), Message: "无法查询登记册：" + err.Error()}}
		}
	}
	ids, idNumbers := map[string]int{}, map[string]int{}
	for r := first; r < len(rows); r++ {
		rowNum := r + 1
		if blank(rows[r]) || onlyNumbered(rows[r], canon) {
			continue
		}
		cell := func(i int) string {
			if i < 0 || i >= len(rows[r]) {
				return ""
			}
			if i == idNumberCol {
				return idNumberCell(rows[r][i])
			}
			if c := index[i]; c != nil && numeric[c.field] {
				return strings.TrimSpace(halfWidth(rows[r][i]))
			}
			return strings.TrimSpace(rows[r][i])
		}
		// the record the row updates: by 档案编号, else by the ID number
		id := cell(idCol)
		if id == "" && cell(idNumberCol) != "" && !strings.Contains(cell(idNumberCol), "*") {
			if opt.NewID != nil {
				id = opt.NewID(strings.ToUpper(cell(idNumberCol)))
			} else {
				id = "e-" + strings.ToLower(anxin.NewID(today))
			}
		}
		var e, base anxin.ElderRecord
		var exists bool
		if opt.Existing != nil && id != "" {
			base, exists = opt.Existing(id)
		}
		if exists {
			e = cloneRecord(base)
			if hasContacts {
				e.Contacts = nil
			}
		} else {
			e.Consent = true
		}
		e.ID = id
		e.Score, e.Tier = -1, "" // 评估分值 not given; a given 0 is checked like any other score
		rowErrs := len(errs)
		var unread []string // fields of the cells that could not be read
		for i, v := range rows[r] {
			c := index[i]
			if c == nil {
				if name, ok := extra[i]; ok {
					setExtra(&e, name, strings.TrimSpace(v))
				}
				continue
			}
			if numeric[c.field] || strings.HasSuffix(c.field, ".phone") {
				v = halfWidth(v)
			}
			if c.field == "id_number" {
				v = idNumberCell(v)
			}
			v = strings.TrimSpace(strings.ReplaceAll(v, "\u00a0", " "))
			if !utf8.ValidString(v) || len(v) > maxCellBytes {
				errs = append(errs, RowError{rowNum, written[i], fmt.Sprintf("不是 %d 字节以内的 UTF-8 文本", maxCellBytes)})
				unread = append(unread, c.field)
				continue
			}
			if err := c.set(&e, v, &opt); err != nil {
				errs = append(errs, RowError{rowNum, written[i], err.Error()})
				unread = append(unread, c.field)
			}
		}
		// the title's 乡镇街道：… is the township of a row that leaves it out
		// (ParseAddress does the same for one 地址 cell)
		if opt.Township != "" && strings.TrimSpace(e.Current.Township) == "" && strings.TrimSpace(e.Current.Village) != "" {
			e.Current.Township = opt.Township
		}
		// an empty ID number is said once, in words: the record's own check
		// would say "18 位，这里是 0 位", and the 档案编号 and 户编号 that
		// are made from it would be reported under 姓名
		if cell(idNumberCol) == "" && !slices.Contains(unread, "id_number") {
			errs = append(errs, RowError{rowNum, written[idNumberCol], "必填，不能为空"})
			unread = append(unread, "id_number")
		}
		// A cell that could not be read leaves its field empty. The record's
		// own checks still run, so that one import reports every problem of
		// the row, but not those that would only echo the unread cell or
		// follow from its emptiness (an unread ID number leaves no gender,
		// age or score to check).
		var quiet []string // the fields whose problems would only echo an unread cell
		for _, u := range unread {
			quiet = append(append(quiet, u), dependents[u]...)
			if u == "id_number" && cell(idCol) == "" {
				quiet = append(quiet, "id", "household") // the id would have been made from the ID number
			}
		}
		noisy := func(field string) bool {
			for _, f := range quiet {
				if field == f || strings.HasPrefix(field, f+".") || strings.HasPrefix(field, f+"[") {
					return true
				}
			}
			return false
		}
		// contacts are filled in order; trailing empty slots are dropped
		for len(e.Contacts) > 0 && e.Contacts[len(e.Contacts)-1] == (anxin.Contact{}) {
			e.Contacts = e.Contacts[:len(e.Contacts)-1]
		}
		orderErrs := len(errs)
		for i, c := range e.Contacts {
			if c == (anxin.Contact{}) && !noisy(fmt.Sprintf("contacts[%d]", i)) {
				errs = append(errs, RowError{rowNum, fmt.Sprintf("紧急联系人%d姓名", i+1), "为空，但后面的联系人已填写：请按顺序填写联系人"})
			}
		}
		if len(errs) > orderErrs {
			continue // the slots are misaligned: Normalize would only report the empty one again
		}
		givenScore, givenTier := e.Score, e.Tier
		e.Score = 0
		for _, fe := range care.Normalize(&e, today) {
			if !noisy(fe.Field) {
				msg := fe.Zh
				if msg == "" {
					msg = fe.Message
				}
				col := columnFor(fe.Field, byField)
				var k int
				if _, err := fmt.Sscanf(fe.Field, "extra[%d]", &k); err == nil && k >= 0 && k < len(e.Extra) {
					col = e.Extra[k].Name // an unmapped column's cell
				}
				errs = append(errs, RowError{rowNum, col, msg})
			}
		}
		if len(errs) > rowErrs {
			// a bad row: it is not stored, and what Normalize derived from
			// it is not sure enough to check the score or duplicates against
			continue
		}
		if givenScore >= 0 && givenScore != e.Score {
			errs = append(errs, RowError{rowNum, colName("评估分值"), fmt.Sprintf("填的是 %d，但四项相加是 %d", givenScore, e.Score)})
		}
		if givenTier != "" && givenTier != e.Tier {
			errs = append(errs, RowError{rowNum, colName("风险等级"), fmt.Sprintf("填的是%s，但 %d 分是%s", tierLabels[givenTier], e.Score, tierLabel(e.Tier))})
		}
		if prev, ok := ids[e.ID]; ok {
			errs = append(errs, RowError{rowNum, colName(hID), fmt.Sprintf("与第 %d 行重复", prev)})
		}
		if prev, ok := idNumbers[e.IDNumber]; ok {
			errs = append(errs, RowError{rowNum, colName(hIDNumber), fmt.Sprintf("与第 %d 行重复", prev)})
		}
		ids[e.ID], idNumbers[e.IDNumber] = rowNum, rowNum
		if len(errs) == rowErrs {
			ch := Change{Row: rowNum, ID: e.ID, Name: anxin.MaskName(e.Name), Action: Created}
			if exists {
				ch.Fields = changedFields(base, e)
				ch.Action = Changed
				if len(ch.Fields) == 0 {
					ch.Action = Unchanged
				}
			}
			out.Elders = append(out.Elders, e)
			out.Rows = append(out.Rows, rowNum)
			out.Changes = append(out.Changes, ch)
		}
	}
	return out, errs
}

func tierLabel(t anxin.Tier) string {
	if l, ok := tierLabels[t]; ok {
		return l
	}
	return "未评估"
}

// setExtra sets (or, for an empty value, removes) one extra attribute.
func setExtra(e *anxin.ElderRecord, name, value string) {
	for i := range e.Extra {
		if e.Extra[i].Name == name {
			if value == "" {
				e.Extra = append(e.Extra[:i], e.Extra[i+1:]...)
			} else {
				e.Extra[i].Value = value
			}
			return
		}
	}
	if value != "" {
		e.Extra = append(e.Extra, anxin.Attribute{Name: name, Value: value})
	}
}

// cloneRecord copies a record deeply enough that setting cells on the copy
// leaves the original as stored.
func cloneRecord(e anxin.ElderRecord) anxin.ElderRecord {
	e.Contacts, e.Responders = slices.Clone(e.Contacts), slices.Clone(e.Responders)
	e.Categories, e.Extra = slices.Clone(e.Categories), slices.Clone(e.Extra)
	if e.Form != nil {
		f := *e.Form
		f.Family, f.HelpUnits = slices.Clone(f.Family), slices.Clone(f.HelpUnits)
		e.Form = &f
	}
	return e
}

// changedFields lists the top-level JSON fields in which two records
// differ, the update stamp aside.
func changedFields(a, b anxin.ElderRecord) []string {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	ma, mb := asMap(a), asMap(b)
	var out []string
	for k, v := range mb {
		if !reflect.DeepEqual(v, ma[k]) {
			out = append(out, k)
		}
	}
	for k := range ma {
		if _, ok := mb[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func asMap(e anxin.ElderRecord) map[string]any {
	b, _ := json.Marshal(e)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return m
}

// dependents are the record fields whose checks read another cell's field:
// when that cell cannot be read, their problems are not reported (the
// cell's own error says what to fix). The ID number gives gender, age and
// with the age the score (and, when 档案编号 is empty, the id: see Parse);
// the assessment day gives the age.
var dependents = map[string][]string{
	"id_number":              {"gender", "assessment.age", "assessment.assessed_on", "score", "tier"},
	"assessment.assessed_on": {"assessment.age", "score", "tier"},
}

// columnFor names the header that answers for a care.FieldError field.
func columnFor(field string, byField map[string]string) string {
	for f := field; f != ""; {
		if h, ok := byField[f]; ok {
			return h
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	switch {
	case strings.HasPrefix(field, "current_address"):
		if h, ok := byField["current_address"]; ok { // one 地址 cell
			return h
		}
		return "村(社区)"
	case strings.HasPrefix(field, "contacts"):
		return "紧急联系人1姓名"
	case strings.HasPrefix(field, "assessment"):
		return "年龄"
	}
	return hName
}

// numeric are the fields whose cells are numbers, codes or dates (the
// contacts' phones too: their field ends in .phone). They are read with
// full-width characters as their ASCII forms: a Chinese input method in
// full-width mode types １３８ for 138, and WPS keeps it as text.
var numeric = map[string]bool{"id": true, "household": true, "id_number": true, "phone": true,
	"assessment.age": true, "assessment.assessed_on": true, "score": true, "created_at": true, "responders": true}

// idNumberCell is an ID number cell as the number: half width, without the
// spaces of a number copied in groups (530128 19420305 0125).
func idNumberCell(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(halfWidth(s), "\u00a0", " ")), "")
}

// halfWidth writes the full-width forms of ASCII (U+FF01–U+FF5E) and the
// ideographic space as ASCII.
func halfWidth(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r == '\u3000' || r >= 0xFF01 && r <= 0xFF5E }) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\u3000':
			return ' '
		case r >= 0xFF01 && r <= 0xFF5E:
			return r - 0xFF01 + '!'
		}
		return r
	}, s)
}

func normHeader(h string) string {
	h = writtenHeader(strings.TrimPrefix(h, "\ufeff"))
	// full-width parentheses and commas are how most ledgers write them; a
	// label's colon is no part of it
	h = strings.NewReplacer("（", "(", "）", ")", "，", "、").Replace(h)
	return strings.TrimRight(h, "：:")
}

// writtenHeader is a header as the sheet shows it: a header wrapped in its
// cell (身份证\n号码) or spaced out (姓  名) reads as one word.
func writtenHeader(h string) string {
	return strings.Join(strings.Fields(h), "")
}

func hasCanon(row []string, h string) bool {
	for _, c := range row {
		if canonicalHeader(c) == h {
			return true
		}
	}
	return false
}

// onlyNumbered: the row holds nothing but its 序号 (a template numbered
// down the page before anyone was entered). It is a blank row. canon is
// headerRows' canonical headers.
func onlyNumbered(row []string, canon []string) bool {
	numbered := false
	for i, c := range row {
		if strings.TrimSpace(c) == "" {
			continue
		}
		if i >= len(canon) || canon[i] != hSeq {
			return false
		}
		numbered = true
	}
	return numbered
}

func blank(row []string) bool {
	for _, c := range row {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// withExtra appends to headers one column per extra attribute name the
// records have, in order of first appearance, and says where each is.
func withExtra(headers []string, es []anxin.ElderRecord) ([]string, map[string]int) {
	col := map[string]int{}
	for i := range es {
		for _, a := range es[i].Extra {
			if _, ok := col[a.Name]; !ok {
				col[a.Name] = len(headers)
				headers = append(headers, a.Name)
			}
		}
	}
	return headers, col
}

// Rows is the ledger of the records: the header row, then one row per elder
// with 序号 counting from 1. The extra attributes follow the layout's
// columns, one column per name in order of first appearance.
func Rows(es []anxin.ElderRecord, opt Options) [][]string {
	out := make([][]string, 0, len(es)+1)
	headers, extraCol := withExtra(Headers(), es)
	out = append(out, headers)
	for i := range es {
		e := &es[i]
		if opt.Mask {
			m := care.Masked(*e)
			e = &m
		}
		row := make([]string, len(headers))
		for j := range columns {
			row[j] = columns[j].get(e, &opt)
		}
		for _, a := range e.Extra {
			row[extraCol[a.Name]] = a.Value
		}
		row[0] = fmt.Sprint(i + 1)
		out = append(out, row)
	}
	return out
}
