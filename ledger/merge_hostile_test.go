package ledger

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/anxin-care/anxin/ledger/ledgertest"
)

// inlineRow is a <row> of inline-string cells (an empty string: no cell).
func inlineRow(r int, cells ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<row r="%d">`, r)
	for i, v := range cells {
		if v == "" {
			continue
		}
		fmt.Fprintf(&b, `<c r="%c%d" t="inlineStr"><is><t>%s</t></is></c>`, 'A'+i, r, v)
	}
	return b.String() + "</row>"
}

// A merge that Excel does not see (inside a comment, a CDATA section or a
// processing instruction of the worksheet XML; excelize reads past them)
// must not fill a cell the worker left empty: the second elder has no
// 网格员 in the spreadsheet and must not get the first one's.
func TestMergeHiddenFromExcelIsNotFilled(t *testing.T) {
	fake := `<mergeCells count="1"><mergeCell ref="D2:D3"/></mergeCells>`
	for name, hide := range map[string]string{
		"comment": `<!-- ` + fake + ` -->`,
		"pi":      `<?anxin ` + fake + `?>`,
		"cdata":   `<row r="4"><c r="E4" t="inlineStr"><is><t><![CDATA[` + fake + `]]></t></is></c></row>`,
	} {
		sheet := inlineRow(1, "序号", "姓名", "身份证号码", "网格员", "备注") +
			inlineRow(2, "1", "张桂兰", idNumber("1942-03-05", 12), "王芳") +
			inlineRow(3, "2", "李四", idNumber("1950-07-01", 21)) + hide
		rows, err := ReadXLSXRows(strings.NewReader(string(ledgertest.XLSX(sheet, nil))))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rows) < 3 || len(rows[2]) > 3 && rows[2][3] != "" {
			t.Errorf("%s: a merge Excel does not show filled the second elder's row: %q", name, rows)
		}
	}
}

// Overlapping merges are not what Excel writes (it refuses to open such a
// file until it repairs it); in each column the merge starting highest
// stands and those overlapping it are dropped, so that 65536 merges over the same rows cost one pass, not 65536: a
// 200000-row sheet with them took minutes of CPU per upload.
func TestOverlappingMergesFillOnce(t *testing.T) {
	rows := [][]string{{"序号", "姓名", "身份证号码", "网格员"}}
	for i := range 8 {
		g := ""
		if i == 0 || i == 4 {
			g = fmt.Sprint("网格员", i)
		}
		rows = append(rows, []string{fmt.Sprint(i + 1), "张", idNumber("1942-03-05", i), g})
	}
	// rows 2–9 hold the elders; D2:D4 stands, D3:D9 and D4:D6 overlap it
	// (D6 holds a value of its own, D6:D9 overlaps D3:D9 only)
	merges := [][3]int{{4, 2, 4}, {4, 3, 9}, {4, 4, 6}, {4, 6, 9}}
	for range maxMerges {
		merges = append(merges, [3]int{4, 2, 1 << 20})
	}
	if err := fillMerged(rows, merges); err != nil {
		t.Fatal(err)
	}
	want := []string{"网格员0", "网格员0", "网格员0", "", "网格员4", "网格员4", "网格员4", "网格员4"}
	for i, w := range want {
		if got := rows[i+1][3]; got != w {
			t.Errorf("row %d: 网格员 %q, want %q", i+2, got, w)
		}
	}
}

// rezip rewrites an XLSX: first the parts of pre (name, body; a name may
// repeat one of src's), then src's parts through edit.
func rezip(t *testing.T, src []byte, pre [][2]string, edit func(name, body string) string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	put := func(name, body string) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	for _, p := range pre {
		put(p[0], p[1])
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		put(f.Name, edit(f.Name, string(b)))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// The merges are read from the very part excelize reads the cells from.
// A workbook can name two parts for one sheet: two zip entries of the
// same name (excelize keeps the last), or two relationships with the same
// Id (excelize takes the last). Merges from a part nobody sees must not
// fill the second elder's empty 网格员 with the first one's.
func TestMergesFromTheSheetExcelizeReads(t *testing.T) {
	sheet := inlineRow(1, "序号", "姓名", "身份证号码", "网格员") +
		inlineRow(2, "1", "张桂兰", idNumber("1942-03-05", 12), "王芳") +
		inlineRow(3, "2", "李四", idNumber("1950-07-01", 21))
	decoy := `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/>` +
		`<mergeCells count="1"><mergeCell ref="D2:D3"/></mergeCells></worksheet>`
	same := func(_, body string) string { return body }
	for name, file := range map[string][]byte{
		"two entries of one name": rezip(t, ledgertest.XLSX(sheet, nil), [][2]string{{"xl/worksheets/sheet1.xml", decoy}}, same),
		"two relationships of one Id": rezip(t, ledgertest.XLSX(sheet, nil), [][2]string{{"xl/worksheets/decoy.xml", decoy}},
			func(name, body string) string {
				if name != "xl/_rels/workbook.xml.rels" {
					return body
				}
				return strings.Replace(body, `<Relationship Id="rId1"`, `<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/decoy.xml"/><Relationship Id="rId1"`, 1)
			}),
	} {
		rows, err := ReadXLSXRows(bytes.NewReader(file))
		if err == nil && (len(rows) < 3 || len(rows[2]) > 3 && rows[2][3] != "") {
			t.Errorf("%s: merges from a part excelize does not read: %q", name, rows)
		}
	}
}

// A template numbered down the page (序号 1…50) with the village merged
// over all its rows, filled for the first elders only: the numbered rows
// below hold nothing but their number and are blank, merge or no merge.
func TestMergeOverNumberedBlankRows(t *testing.T) {
	file := ledgertest.Workbook(nil, [][]string{{"序号", "姓名", "身份证号码", "村(社区)"}}, nil,
		[][]any{{1, "张桂兰", idNumber("1942-03-05", 12), "大河村"}, {2, "李四", idNumber("1950-07-01", 21), ""}, {3}, {4}, {5}})
	rows, err := ReadXLSXRows(bytes.NewReader(mergeCells(t, file, "D2:D6")))
	if err != nil {
		t.Fatal(err)
	}
	imp, errs := Parse(rows, today, Options{})
	if len(errs) > 0 || len(imp.Elders) != 2 || imp.Elders[1].Current.Village != "大河村" {
		t.Fatalf("numbered blank rows under a merged village: %d elders %+v\n%q", len(imp.Elders), errs, rows)
	}
}
