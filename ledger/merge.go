package ledger

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"path"
	"strings"

	"github.com/xuri/excelize/v2"
)

// maxMerges bounds the merged ranges read from one worksheet.
const maxMerges = 1 << 16

// sheetPart is the zip path of the worksheet named sheet ("" when the
// workbook does not say), from xl/workbook.xml and its relationships.
func sheetPart(zr *zip.Reader, sheet string) string {
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels struct {
		Rels []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if decodePart(zr, "xl/workbook.xml", &wb) != nil || decodePart(zr, "xl/_rels/workbook.xml.rels", &rels) != nil {
		return ""
	}
	for _, s := range wb.Sheets {
		if !strings.EqualFold(s.Name, sheet) {
			continue
		}
		for _, r := range rels.Rels {
			if r.ID != s.RID {
				continue
			}
			if strings.HasPrefix(r.Target, "/") {
				return path.Clean(strings.TrimPrefix(r.Target, "/"))
			}
			return path.Clean("xl/" + r.Target)
		}
	}
	return ""
}

// openPart opens the zip entry named name (case-insensitive, as Excel reads them).
func openPart(zr *zip.Reader, name string) (io.ReadCloser, error) {
	for _, f := range zr.File {
		if strings.EqualFold(path.Clean(strings.TrimPrefix(f.Name, "/")), name) {
			return f.Open()
		}
	}
	return nil, errors.New("no part " + name)
}

// decodePart decodes a small part (checkXLSX bounded its size).
func decodePart(zr *zip.Reader, name string, v any) error {
	rc, err := openPart(zr, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	return xml.NewDecoder(rc).Decode(v)
}

// mergedRanges streams the worksheet of sheet and returns its merged
// ranges as [column, top row, bottom row] (1-based; the range's first
// column: that is where a spreadsheet keeps the value). The cells are
// skipped, not kept: constant memory whatever the sheet's size.
func mergedRanges(b []byte, sheet string) [][3]int {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil
	}
	part := sheetPart(zr, sheet)
	if part == "" {
		return nil
	}
	rc, err := openPart(zr, part)
	if err != nil {
		return nil
	}
	defer rc.Close()
	return mergeRefs(rc)
}

// mergeRefs reads the merged ranges of a worksheet's XML.
func mergeRefs(sheetXML io.Reader) [][3]int {
	r, ok := seekMergeCells(sheetXML)
	if !ok {
		return nil
	}
	d := xml.NewDecoder(r)
	var out [][3]int
	for len(out) < maxMerges {
		tok, err := d.RawToken()
		if err != nil {
			return out
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "mergeCell" {
			continue
		}
		for _, a := range se.Attr {
			if a.Name.Local != "ref" {
				continue
			}
			from, to, ok := strings.Cut(a.Value, ":")
			if !ok {
				continue
			}
			c1, r1, err1 := excelize.CellNameToCoordinates(from)
			_, r2, err2 := excelize.CellNameToCoordinates(to)
			if err1 == nil && err2 == nil && r2 > r1 {
				out = append(out, [3]int{c1, r1, r2})
			}
		}
	}
	return out
}

// seekMergeCells reads r up to the <mergeCells> element (which follows
// the cells) and returns a reader from its '<' on. It looks for the bytes,
// not for XML tokens: a '<' cannot stand in text or an attribute, so
// "<mergeCells" (or "<x:mergeCells") is the element; a byte search is
// several times faster than tokenizing the cells.
func seekMergeCells(r io.Reader) (io.Reader, bool) {
	const overlap = 64
	buf := make([]byte, 0, 64<<10+overlap)
	chunk := make([]byte, 64<<10)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for from := 0; ; {
			i := bytes.Index(buf[from:], []byte("mergeCells"))
			if i < 0 {
				break
			}
			i += from
			j := i
			for j > 0 && j > i-overlap && (isNameByte(buf[j-1]) || buf[j-1] == ':') {
				j--
			}
			if j > 0 && buf[j-1] == '<' && (j == i || buf[i-1] == ':') {
				return io.MultiReader(bytes.NewReader(bytes.Clone(buf[j-1:])), r), true
			}
			from = i + 1
		}
		if err != nil {
			return nil, false
		}
		if len(buf) > overlap {
			buf = append(buf[:0], buf[len(buf)-overlap:]...)
		}
	}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// fillMerged gives every row under a cell merged down over the data rows
// the merged cell's value, as the spreadsheet shows it: a village or a
// responder written once for the elders who share it. Only rows that hold
// something else get it (a merge over a blank row does not make an elder),
// and merges in the title and header rows are left to headerRows.
func fillMerged(rows [][]string, merges [][3]int) {
	_, _, first := headerRows(rows)
	if first < 0 {
		return
	}
	for _, m := range merges {
		col, top, bottom := m[0]-1, m[1]-1, m[2]-1
		if top < first || top >= len(rows) || col >= len(rows[top]) || strings.TrimSpace(rows[top][col]) == "" {
			continue
		}
		v := rows[top][col]
		for y := top + 1; y <= bottom && y < len(rows); y++ {
			if blank(rows[y]) {
				continue
			}
			for len(rows[y]) <= col {
				rows[y] = append(rows[y], "")
			}
			if strings.TrimSpace(rows[y][col]) == "" {
				rows[y][col] = v
			}
		}
	}
}
