package ledger

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/ledger/ledgertest"
)

// A ledger kept in Excel or WPS merges the cell of a village (or a
// responder) down over the elders who share it: every row under the merge
// has that value, not an empty cell. A merge over a blank row does not make
// it an elder, and the header rows' merges stay as they are.
func TestImportMergedDataCells(t *testing.T) {
	top := []string{"序号", "姓名", "身份证号码", "现居住地址", "", "户籍地址", "网格员"}
	sub := []string{"", "", "", "乡镇(街道)", "村(社区)", "", ""}
	file := ledgertest.Workbook([]string{"屏山街道特殊困难老年人信息台账"}, [][]string{top, sub},
		[]string{"D1:E1", "A1:A2", "B1:B2", "C1:C2", "F1:F2", "G1:G2"},
		[][]any{
			{1, "张桂兰", idNumber("1942-03-05", 12), "屏山街道", "大河村", "3组", "王芳"},
			{2, "李四", idNumber("1950-07-01", 21), "", "", "5组", ""},
			{},
			{3, "王五", idNumber("1940-01-02", 33), "", "小河村", "6组", ""},
		})
	// the data rows are 4–7
	rows, err := ReadXLSXRows(bytes.NewReader(mergeCells(t, file, "D4:D8", "E4:E6", "G4:G7")))
	if err != nil {
		t.Fatal(err)
	}
	imp, errs := Parse(rows, today, Options{})
	if len(errs) > 0 {
		t.Fatalf("merged cells refused: %+v\n%q", errs, rows)
	}
	if len(imp.Elders) != 3 {
		t.Fatalf("%d elders, want 3 (rows %v)", len(imp.Elders), imp.Rows)
	}
	for i, want := range []string{"大河村", "大河村", "小河村"} {
		e := imp.Elders[i]
		if e.Current.Township != "屏山街道" || e.Current.Village != want || e.GridWorker != "王芳" {
			t.Errorf("row %d: address %+v grid worker %q, want 屏山街道 %s 王芳", imp.Rows[i], e.Current, e.GridWorker, want)
		}
	}
}

// A merge over an elder's own identity (姓名, 身份证号码) cannot be what
// the worker meant: two elders do not share a name cell or an ID number.
// Copied down, it was refused row by row as "与第 N 行重复" or took one
// elder's ID for another's; the file is refused, naming the merge.
func TestImportMergedIdentityCellRefused(t *testing.T) {
	top := []string{"序号", "姓名", "身份证号码", "地址", "网格员"}
	file := ledgertest.Workbook([]string{"屏山街道特殊困难老年人信息台账"}, [][]string{top}, nil,
		[][]any{
			{1, "张桂兰", idNumber("1942-03-05", 12), "屏山街道大河村3组", "王芳"},
			{2, "李四", "", "屏山街道大河村5组", "王芳"},
		})
	rows, err := ReadXLSXRows(bytes.NewReader(mergeCells(t, file, "C3:C4")))
	if err == nil || !strings.Contains(err.Error(), "合并") || !strings.Contains(err.Error(), "身份证号码") || !strings.Contains(err.Error(), "第 3–4 行") {
		imp, errs := Parse(rows, today, Options{})
		t.Fatalf("a merged ID number: err %v; parsed %d elders, errors %+v", err, len(imp.Elders), errs)
	}
}

// mergeCells merges the ranges (D4:D8) of file's Sheet1 after its values
// are written, as a worker selects filled cells and merges them.
func mergeCells(t *testing.T, file []byte, ranges ...string) []byte {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		from, to, _ := strings.Cut(r, ":")
		if err := f.MergeCell("Sheet1", from, to); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// workbook writes sheets of rows (name, then rows) as an XLSX file.
func workbook(t *testing.T, sheets ...any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i := 0; i < len(sheets); i += 2 {
		name, rows := sheets[i].(string), sheets[i+1].([][]string)
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(name); err != nil {
			t.Fatal(err)
		}
		for r, row := range rows {
			cell, _ := excelize.CoordinatesToCellName(1, r+1)
			if err := f.SetSheetRow(name, cell, &row); err != nil {
				t.Fatal(err)
			}
		}
	}
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A workbook's other sheets: a 填表说明 sheet before the ledger is passed
// over for the sheet that has the header; two sheets that both hold elders
// are refused, naming them, instead of importing the first one and dropping
// the other's rows without a word.
func TestImportPicksTheLedgerSheet(t *testing.T) {
	hdr := []string{"姓名", "身份证号码", "村(社区)"}
	help := [][]string{{"填表说明"}, {"1. 身份证号码请填 18 位"}}
	a := [][]string{hdr, {"张桂兰", idNumber("1942-03-05", 12), "大河村"}}
	b := [][]string{hdr, {"李四", idNumber("1950-07-01", 21), "小河村"}}

	rows, err := ReadXLSXRows(bytes.NewReader(workbook(t, "填表说明", help, "大河村", a)))
	if err != nil {
		t.Fatalf("the ledger after a help sheet: %v", err)
	}
	if imp, errs := Parse(rows, today, Options{}); len(errs) > 0 || len(imp.Elders) != 1 || imp.Elders[0].Name != "张桂兰" {
		t.Fatalf("the ledger after a help sheet: %+v %+v", imp.Elders, errs)
	}

	_, err = ReadXLSXRows(bytes.NewReader(workbook(t, "大河村", a, "小河村", b)))
	if err == nil || anxin.ErrorCode(err) != anxin.EINVALID || !strings.Contains(anxin.ErrorMessage(err), "「大河村」") ||
		!strings.Contains(anxin.ErrorMessage(err), "「小河村」") {
		t.Fatalf("two ledger sheets: %v, want an error naming both", err)
	}

	// a sheet named 台账 is the ledger whatever else the workbook holds
	rows, err = ReadXLSXRows(bytes.NewReader(workbook(t, "大河村", a, SheetName, b)))
	if err != nil {
		t.Fatal(err)
	}
	if imp, errs := Parse(rows, today, Options{}); len(errs) > 0 || len(imp.Elders) != 1 || imp.Elders[0].Name != "李四" {
		t.Fatalf("the 台账 sheet: %+v %+v", imp.Elders, errs)
	}
}

// An old-format workbook (.xls, or WPS's .et: both OLE2 files) is named
// as such, with what to do in the program the operator has.
func TestImportOldWorkbookFormat(t *testing.T) {
	ole := append([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), make([]byte, 512)...)
	_, err := ReadXLSXRows(bytes.NewReader(ole))
	if msg := anxin.ErrorMessage(err); anxin.ErrorCode(err) != anxin.EINVALID || !strings.Contains(msg, ".xls") || !strings.Contains(msg, "WPS") {
		t.Fatalf("an .xls file: %v", err)
	}
}
