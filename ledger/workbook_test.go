package ledger

import (
	"bytes"
	"testing"

	"github.com/xuri/excelize/v2"

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
	// the data rows are 4–7; the merges are made after the values are
	// written, as a worker selects filled cells and merges them
	f, err := excelize.OpenReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]string{{"D4", "D8"}, {"E4", "E6"}, {"G4", "G7"}} {
		if err := f.MergeCell("Sheet1", m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadXLSXRows(bytes.NewReader(b.Bytes()))
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
