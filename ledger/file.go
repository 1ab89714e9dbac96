package ledger

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/anxin-care/anxin"
)

// SheetName is the worksheet the ledger is written to; on import the sheet
// of that name is read, else the one sheet with a ledger header (ledgerSheet).
const SheetName = "台账"

// MaxFileBytes bounds an uploaded ledger: one of MaxRows elders is a few
// tens of MiB. limits.go bounds what it may inflate to.
const (
	MaxFileBytes = 64 << 20
	// maxInMemoryXML: larger worksheets are unzipped to a temp file by excelize
	maxInMemoryXML = 16 << 20
)

var errTooBig = anxin.Errorf(ETOOLARGE, "文件太大：不能超过 %d MB，请分成几个文件导入", MaxFileBytes>>20)

func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	if len(b) > MaxFileBytes {
		return nil, errTooBig
	}
	return b, nil
}

// ReadXLSXRows reads the rows of the ledger sheet of an XLSX workbook, raw
// cell values (dates as serial numbers, no number formatting).
func ReadXLSXRows(r io.Reader) ([][]string, error) {
	b, err := readAll(r)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(b, []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")) { // OLE2: .xls, WPS .et
		return nil, anxin.Errorf(anxin.EINVALID, "这是旧版 Excel（.xls）或 WPS 表格（.et）文件：请在 Excel 或 WPS 中「另存为」Excel 工作簿（*.xlsx）后重新导入")
	}
	if err := checkXLSX(b); err != nil {
		return nil, err
	}
	f, err := excelize.OpenReader(bytes.NewReader(b), excelize.Options{RawCellValue: true,
		UnzipSizeLimit: maxUnzippedBytes, UnzipXMLSizeLimit: maxInMemoryXML})
	if err != nil {
		return nil, anxin.Errorf(anxin.EINVALID, "这不是 Excel 工作簿（.xlsx）文件，请在 Excel 中另存为 .xlsx 后重新导入")
	}
	defer f.Close()
	sheet, err := ledgerSheet(f)
	if err != nil {
		return nil, err
	}
	it, err := f.Rows(sheet)
	if err != nil {
		return nil, anxin.Errorf(anxin.EINVALID, "工作表「%s」无法读取，请在 Excel 中另存为 .xlsx 后重新导入", clipName(sheet))
	}
	defer it.Close()
	var rows [][]string
	var budget cellBudget
	for it.Next() {
		cols, err := it.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, anxin.Errorf(anxin.EINVALID, "第 %d 行无法读取，请在 Excel 中检查这一行", len(rows)+1)
		}
		if len(cols) > 4*len(columns)+64 {
			return nil, anxin.Errorf(anxin.EINVALID, "第 %d 行有 %d 列，太多了（最多 %d 列）", len(rows)+1, len(cols), 4*len(columns)+64)
		}
		if rows, err = budget.add(rows, cols); err != nil {
			return nil, err
		}
	}
	if err := it.Error(); err != nil {
		return nil, anxin.Errorf(anxin.EINVALID, "工作表「%s」无法读取，请在 Excel 中另存为 .xlsx 后重新导入", clipName(sheet))
	}
	if err := fillMerged(rows, mergedRanges(b, sheet)); err != nil {
		return nil, err
	}
	return rows, nil
}

// ledgerSheet is the sheet to import: the one named 台账, else the one
// sheet with a ledger header row (a 填表说明 sheet may stand before it),
// else the first. Two sheets with a header are refused, naming them: only
// one is read, and the other's elders must not be dropped without a word.
func ledgerSheet(f *excelize.File) (string, error) {
	if idx, err := f.GetSheetIndex(SheetName); err == nil && idx >= 0 {
		return SheetName, nil
	}
	list := f.GetSheetList()
	if len(list) == 0 {
		return "", anxin.Errorf(anxin.EINVALID, "工作簿里没有工作表")
	}
	var found []string
	for _, name := range list {
		if hasLedgerHeader(f, name) {
			found = append(found, name)
		}
	}
	switch len(found) {
	case 0:
		return list[0], nil // Parse says what the header lacks
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, n := range found {
		names[i] = "「" + clipName(n) + "」"
	}
	return "", anxin.Errorf(anxin.EINVALID, "工作簿中有 %d 个工作表都有台账表头（%s），一次只能导入一个："+
		"请把各表的老年人合并到一个工作表，或把要导入的工作表改名为「%s」后重新导入", len(found), strings.Join(names, "、"), SheetName)
}

// hasLedgerHeader: the sheet's first rows hold a header row with 姓名 and 身份证号码.
func hasLedgerHeader(f *excelize.File, sheet string) bool {
	it, err := f.Rows(sheet)
	if err != nil {
		return false
	}
	defer it.Close()
	var rows [][]string
	for len(rows) < headerSearch && it.Next() {
		cols, err := it.Columns(excelize.Options{RawCellValue: true})
		if err != nil || len(cols) > 4*len(columns)+64 {
			return false
		}
		rows = append(rows, cols)
	}
	_, _, first := headerRows(rows)
	return first >= 0
}

// formulaStart holds the first characters that make a spreadsheet read a
// CSV cell as a formula or a signed number (=, +, -, @, tab, CR: OWASP's
// CSV injection list), and the quote that marks an escaped cell.
const formulaStart = "=+-@\t\r'"

// EscapeCSVCell is how WriteCSV writes a cell: one beginning with =, +, -,
// @, tab, CR or ' gets a leading ' so that Excel shows it as text (no
// formula runs, +85291234567 stays a phone number, not 8.5E+10).
func EscapeCSVCell(s string) string {
	if s != "" && strings.IndexByte(formulaStart, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// UnescapeCSVCell undoes exactly EscapeCSVCell: a ' followed by one of the
// characters it escapes is dropped; any other cell, one beginning with ' and
// a letter included, is returned as it is.
func UnescapeCSVCell(s string) string {
	if len(s) >= 2 && s[0] == '\'' && strings.IndexByte(formulaStart, s[1]) >= 0 {
		return s[1:]
	}
	return s
}

// ReadCSVRows reads a CSV ledger: UTF-8 (a byte-order mark is skipped) or
// GBK (what Excel saves as "CSV" in China; GB 18030 read, its superset),
// comma separated, quoted as RFC 4180; cells escaped by WriteCSV
// (UnescapeCSVCell) are read back as they were.
func ReadCSVRows(r io.Reader) ([][]string, error) {
	b, err := readAll(r)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	if b, err = utf8OrGBK(b); err != nil {
		return nil, err
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = false
	var rows [][]string
	var budget cellBudget
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 0
			if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
				line = pe.Line
			}
			return nil, anxin.Errorf(anxin.EINVALID, "这不是有效的 CSV 文件（第 %d 行附近有误），请在 Excel 中另存为“CSV UTF-8”或 .xlsx", line)
		}
		size := 0
		for i, c := range rec {
			rec[i] = UnescapeCSVCell(c)
			size += len(c)
		}
		if size > maxCSVRecordBytes || len(rec) > 4*len(columns)+64 {
			line, _ := cr.FieldPos(0)
			return nil, tooLarge("第 %d 行太大：%d 个单元格共 %d 字节（最多 %d 列、%d KB）",
				line, len(rec), size, 4*len(columns)+64, maxCSVRecordBytes>>10)
		}
		if rows, err = budget.add(rows, rec); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// utf8OrGBK is b as UTF-8: b itself when it is valid UTF-8, else b decoded
// as GB 18030 (GBK's superset) when every byte decodes, else an error.
func utf8OrGBK(b []byte) ([]byte, error) {
	if utf8.Valid(b) {
		return b, nil
	}
	u, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	if err != nil || bytes.ContainsRune(u, utf8.RuneError) {
		return nil, anxin.Errorf(anxin.EINVALID, "文件既不是 UTF-8 也不是 GBK 编码的文字：请在 Excel 中另存为“CSV UTF-8”或 .xlsx")
	}
	return u, nil
}

// WriteCSV writes rows as UTF-8 CSV with a byte-order mark, so that Excel
// opens the Chinese text correctly. Cells that a spreadsheet would take for
// a formula or a number are escaped (EscapeCSVCell); ReadCSVRows undoes it.
func WriteCSV(w io.Writer, rows [][]string) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	rec := []string{}
	for _, row := range rows {
		rec = rec[:0]
		for _, c := range row {
			rec = append(rec, EscapeCSVCell(c))
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// Sheet is one worksheet of a workbook to write.
type Sheet struct {
	Name  string
	Rows  [][]string
	Width []float64 // column widths, optional
}

// WriteXLSX writes sheets as an XLSX workbook; every cell is an inline
// string with the text number format "@", never a formula or a number, so
// that ID numbers and phone numbers keep their digits and a cell beginning
// with = stays text (no escaping is needed: cells are read back as
// written). The first row of each sheet is a bold, frozen header.
func WriteXLSX(w io.Writer, sheets ...Sheet) error {
	f := excelize.NewFile()
	defer f.Close()
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49}) // "@": text
	if err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	for i, s := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", s.Name); err != nil {
				return fmt.Errorf("write xlsx: %w", err)
			}
		} else if _, err := f.NewSheet(s.Name); err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
		sw, err := f.NewStreamWriter(s.Name)
		if err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
		for c, wd := range s.Width {
			if err := sw.SetColWidth(c+1, c+1, wd); err != nil {
				return fmt.Errorf("write xlsx: %w", err)
			}
		}
		if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
		for r, row := range s.Rows {
			style := text
			if r == 0 {
				style = bold
			}
			cells := make([]any, len(row))
			for c, v := range row {
				cells[c] = excelize.Cell{StyleID: style, Value: v}
			}
			cell, err := excelize.CoordinatesToCellName(1, r+1)
			if err != nil {
				return fmt.Errorf("write xlsx: %w", err)
			}
			if err := sw.SetRow(cell, cells); err != nil {
				return fmt.Errorf("write xlsx: %w", err)
			}
		}
		if err := sw.Flush(); err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	return nil
}

// LedgerSheet is the register as the ledger's sheet.
func LedgerSheet(es []anxin.ElderRecord, opt Options) Sheet {
	rows := Rows(es, opt)
	width := make([]float64, len(rows[0]))
	for i, h := range rows[0] {
		width[i] = max(8, float64(len([]rune(h)))*2.2)
	}
	width[5] = 21 // 身份证号
	return Sheet{Name: SheetName, Rows: rows, Width: width}
}
