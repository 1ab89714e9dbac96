package ledger

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

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

// Required columns: without them no row can be read.
var required = []string{hName, hIDNumber, "村(社区)", "监护情况", "自理能力", "健康状况"}

// Imported is the result of reading a ledger: the records in file order and
// the spreadsheet row each came from.
type Imported struct {
	Elders []anxin.ElderRecord
	Rows   []int
}

// Parse reads the ledger's rows (the header row among the first few, then
// one elder per row; blank rows are skipped), normalizes each record with
// care.Normalize and returns every problem of every row. When errs is not
// empty the caller must import nothing.
func Parse(rows [][]string, today time.Time, opt Options) (Imported, []RowError) {
	var out Imported
	var errs []RowError
	hdr := -1
	for i := 0; i < len(rows) && i < headerSearch; i++ {
		if has(rows[i], hName) && has(rows[i], hIDNumber) {
			hdr = i
			break
		}
	}
	if hdr < 0 {
		return out, []RowError{{Row: 1, Column: hName, Message: "no header row with 姓名 and 身份证号 in the first 5 rows"}}
	}
	// column index → layout column
	index := map[int]*column{}
	seen := map[string]bool{}
	for i, h := range rows[hdr] {
		h = normHeader(h)
		for j := range columns {
			if columns[j].header == h {
				if seen[h] {
					errs = append(errs, RowError{Row: hdr + 1, Column: h, Message: "the column appears twice"})
				}
				seen[h] = true
				index[i] = &columns[j]
			}
		}
	}
	for _, h := range required {
		if !seen[h] {
			errs = append(errs, RowError{Row: hdr + 1, Column: h, Message: "required column is missing"})
		}
	}
	if len(errs) > 0 {
		return out, errs
	}
	if len(rows)-hdr-1 > MaxRows {
		return out, []RowError{{Row: hdr + 1 + MaxRows + 1, Column: hName, Message: fmt.Sprintf("more than %d rows", MaxRows)}}
	}
	byField := map[string]string{}
	for _, c := range index {
		byField[c.field] = c.header
	}
	ids, idNumbers := map[string]int{}, map[string]int{}
	for r := hdr + 1; r < len(rows); r++ {
		rowNum := r + 1
		if blank(rows[r]) {
			continue
		}
		var e anxin.ElderRecord
		e.Consent = true
		e.Score = -1 // 评估分值 not given; a given 0 is checked like any other score
		rowErrs := len(errs)
		var unread []string // fields of the cells that could not be read
		for i, cell := range rows[r] {
			c := index[i]
			if c == nil {
				continue
			}
			cell = strings.TrimSpace(strings.ReplaceAll(cell, "\u00a0", " "))
			if !utf8.ValidString(cell) || len(cell) > maxCellBytes {
				errs = append(errs, RowError{rowNum, c.header, fmt.Sprintf("is not UTF-8 text of at most %d bytes", maxCellBytes)})
				unread = append(unread, c.field)
				continue
			}
			if err := c.set(&e, cell, &opt); err != nil {
				errs = append(errs, RowError{rowNum, c.header, err.Error()})
				unread = append(unread, c.field)
			}
		}
		// A cell that could not be read leaves its field empty. The record's
		// own checks still run, so that one import reports every problem of
		// the row, but not those that would only echo the unread cell or
		// follow from its emptiness (an unread ID number leaves no gender,
		// age or score to check).
		var quiet []string // the fields whose problems would only echo an unread cell
		for _, u := range unread {
			quiet = append(append(quiet, u), dependents[u]...)
			if u == "id_number" && e.ID == "" {
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
				errs = append(errs, RowError{rowNum, fmt.Sprintf("紧急联系人%d姓名", i+1), "is empty but a later contact is filled: fill contacts in order"})
			}
		}
		if len(errs) > orderErrs {
			continue // the slots are misaligned: Normalize would only report the empty one again
		}
		if e.ID == "" && e.IDNumber != "" {
			if opt.NewID != nil {
				e.ID = opt.NewID(e.IDNumber)
			} else {
				e.ID = "e-" + strings.ToLower(anxin.NewID(today))
			}
		}
		givenScore, givenTier := e.Score, e.Tier
		for _, fe := range care.Normalize(&e, today) {
			if !noisy(fe.Field) {
				errs = append(errs, RowError{rowNum, columnFor(fe.Field, byField), fe.Message})
			}
		}
		if len(errs) > rowErrs {
			// a bad row: it is not stored, and what Normalize derived from
			// it is not sure enough to check the score or duplicates against
			continue
		}
		if givenScore >= 0 && givenScore != e.Score {
			errs = append(errs, RowError{rowNum, "评估分值", fmt.Sprintf("is %d but the four items add up to %d", givenScore, e.Score)})
		}
		if givenTier != "" && givenTier != e.Tier {
			errs = append(errs, RowError{rowNum, "风险等级", fmt.Sprintf("is %s but a score of %d is %s", tierLabels[givenTier], e.Score, tierLabels[e.Tier])})
		}
		if prev, ok := ids[e.ID]; ok {
			errs = append(errs, RowError{rowNum, hID, fmt.Sprintf("is also on row %d", prev)})
		}
		if prev, ok := idNumbers[e.IDNumber]; ok {
			errs = append(errs, RowError{rowNum, hIDNumber, fmt.Sprintf("is also on row %d", prev)})
		}
		ids[e.ID], idNumbers[e.IDNumber] = rowNum, rowNum
		if len(errs) == rowErrs {
			out.Elders = append(out.Elders, e)
			out.Rows = append(out.Rows, rowNum)
		}
	}
	return out, errs
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
	case strings.HasPrefix(field, "contacts"):
		return "紧急联系人1姓名"
	case strings.HasPrefix(field, "assessment"):
		return "年龄"
	}
	return hName
}

func normHeader(h string) string {
	h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	// full-width parentheses and commas are how most ledgers write them
	return strings.NewReplacer("（", "(", "）", ")", "，", "、", " ", "").Replace(h)
}

func has(row []string, h string) bool {
	for _, c := range row {
		if normHeader(c) == h {
			return true
		}
	}
	return false
}

func blank(row []string) bool {
	for _, c := range row {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// Rows is the ledger of the records: the header row, then one row per elder
// with 序号 counting from 1.
func Rows(es []anxin.ElderRecord, opt Options) [][]string {
	out := make([][]string, 0, len(es)+1)
	out = append(out, Headers())
	for i := range es {
		e := &es[i]
		if opt.Mask {
			m := care.Masked(*e)
			e = &m
		}
		row := make([]string, len(columns))
		for j := range columns {
			row[j] = columns[j].get(e, &opt)
		}
		row[0] = fmt.Sprint(i + 1)
		out = append(out, row)
	}
	return out
}
