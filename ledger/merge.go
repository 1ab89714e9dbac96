package ledger

import (
	"archive/zip"
	"bufio"
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/anxin-care/anxin"
)

// maxMerges bounds the merged ranges read from one worksheet.
const maxMerges = 1 << 16

// sheetPart is the zip path of the worksheet named sheet ("" when the
// workbook does not say), resolved as excelize resolves it (the workbook
// named by _rels/.rels, the last relationship of the sheet's Id), so that
// the merges come from the part the cells are read from.
func sheetPart(zr *zip.Reader, sheet string) string {
	type relationships struct {
		Rels []struct {
			ID     string `xml:"Id,attr"`
			Type   string `xml:"Type,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	var pkg relationships
	if decodePart(zr, "_rels/.rels", &pkg) != nil {
		return ""
	}
	book := ""
	for _, r := range pkg.Rels {
		if r.Type == "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" {
			book = strings.TrimPrefix(r.Target, "/")
			break
		}
	}
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels relationships
	dir := path.Dir(book)
	if book == "" || decodePart(zr, book, &wb) != nil ||
		decodePart(zr, strings.TrimPrefix(path.Join(dir, "_rels", path.Base(book)+".rels"), "./"), &rels) != nil {
		return ""
	}
	part := ""
	for _, s := range wb.Sheets {
		if !strings.EqualFold(s.Name, sheet) {
			continue
		}
		for _, r := range rels.Rels {
			switch {
			case r.ID != s.RID:
			case strings.HasPrefix(r.Target, "/"):
				part = path.Clean(strings.TrimPrefix(r.Target, "/"))
			default:
				part = path.Clean(path.Join(dir, r.Target))
			}
		}
	}
	return part
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
// the cells) and returns a reader from its '<' on. It does not tokenize
// the cells, only jumps from one '<' to the next (a '<' cannot stand in
// text or an attribute), stepping over comments, CDATA sections and
// processing instructions whole: a "<mergeCells" inside one of them is
// not an element, and Excel (like excelize) shows no such merge.
func seekMergeCells(r io.Reader) (io.Reader, bool) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		if skipPast(br, "<") != nil {
			return nil, false
		}
		head, _ := br.Peek(len("![CDATA["))
		var open, end string
		switch {
		case bytes.HasPrefix(head, []byte("!--")):
			open, end = "!--", "-->"
		case bytes.HasPrefix(head, []byte("![CDATA[")):
			open, end = "![CDATA[", "]]>"
		case bytes.HasPrefix(head, []byte("?")):
			open, end = "?", "?>"
		case bytes.HasPrefix(head, []byte("!")): // <!DOCTYPE …>
			if skipDirective(br) != nil {
				return nil, false
			}
			continue
		default:
			if isMergeCellsTag(br) {
				return io.MultiReader(strings.NewReader("<"), br), true
			}
			continue
		}
		if _, err := br.Discard(len(open)); err != nil || skipPast(br, end) != nil {
			return nil, false
		}
	}
}

// isMergeCellsTag: br stands after a '<' that opens <mergeCells> or
// <prefix:mergeCells> (read as encoding/xml reads a name: at most one
// colon, with something on either side).
func isMergeCellsTag(br *bufio.Reader) bool {
	b, _ := br.Peek(256) // shorter at the end
	n := 0
	for n < len(b) && (isNameByte(b[n]) || b[n] == ':' || b[n] >= 0x80) {
		n++
	}
	if n == len(b) && n == 256 { // a name longer than any prefix Excel writes
		return false
	}
	tag := string(b[:n])
	if prefix, local, ok := strings.Cut(tag, ":"); ok && prefix != "" && !strings.Contains(local, ":") {
		tag = local
	}
	return tag == "mergeCells" && (n == len(b) || strings.IndexByte("> \t\r\n/", b[n]) >= 0)
}

// skipDirective reads br past a <!DOCTYPE …> as encoding/xml does: to the
// '>' that closes it, stepping over quoted text, nested <…> and comments.
func skipDirective(br *bufio.Reader) error {
	var quote byte
	depth := 0
	for {
		b, err := br.ReadByte()
		if err != nil {
			return err
		}
		switch {
		case quote != 0:
			if b == quote {
				quote = 0
			}
		case b == '\'' || b == '"':
			quote = b
		case b == '>':
			if depth == 0 {
				return nil
			}
			depth--
		case b == '<':
			if next, _ := br.Peek(3); string(next) == "!--" {
				br.Discard(3)
				if err := skipPast(br, "-->"); err != nil {
					return err
				}
				continue
			}
			depth++
		}
	}
}

// skipPast reads br up to and including the first occurrence of end.
func skipPast(br *bufio.Reader, end string) error {
	last := end[len(end)-1]
	var tail []byte // the last len(end)-1 bytes read before the current slice
	for {
		s, err := br.ReadSlice(last)
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
		if err == nil {
			seen := append(tail, s[max(0, len(s)-len(end)):]...)
			if bytes.HasSuffix(seen, []byte(end)) {
				return nil
			}
		}
		tail = append(tail, s[max(0, len(s)-len(end)+1):]...)
		tail = append(tail[:0], tail[max(0, len(tail)-len(end)+1):]...)
	}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// fillMerged gives every row under a cell merged down over the data rows
// the merged cell's value, as the spreadsheet shows it: a village or a
// responder written once for the elders who share it. Only rows that hold
// something else get it (a merge over a blank or only numbered row does not
// make an elder), and merges in the title and header rows are left to
// headerRows. A merge over an elder's own identity (姓名, 身份证号码) that
// spans data rows is refused: two elders share no name cell or ID number,
// and copied down it would give one elder's ID to another.
func fillMerged(rows [][]string, merges [][3]int) error {
	canon, written, first := headerRows(rows)
	if first < 0 {
		return nil
	}
	// Overlapping merges are not what Excel writes (it repairs such a file
	// before it opens it). In each column the merge starting highest stands
	// and those overlapping it are dropped: a cell is filled at most once,
	// so the work is bounded by the sheet, not by rows × merges.
	merges = slices.Clone(merges)
	slices.SortStableFunc(merges, func(a, b [3]int) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	col, bottom := -1, -1
	for _, m := range merges {
		if m[0]-1 == col && m[1]-1 <= bottom {
			continue
		}
		col, bottom = m[0]-1, m[2]-1
		top := m[1] - 1
		if top < first || top >= len(rows) || col >= len(rows[top]) || strings.TrimSpace(rows[top][col]) == "" {
			continue
		}
		v := rows[top][col]
		identity := col < len(canon) && (canon[col] == hName || canon[col] == hIDNumber)
		for y := top + 1; y <= bottom && y < len(rows); y++ {
			// a row with nothing but its 序号 is blank too: a template
			// numbered down the page under a merged village
			if blank(rows[y]) || onlyNumbered(rows[y], canon) {
				continue
			}
			if identity {
				return anxin.Errorf(anxin.EINVALID, "第 %d–%d 行的「%s」是合并单元格：每位老人的姓名和身份证号码须各占一格，请在 Excel 中选中这几格、取消合并并逐行填写后重新导入",
					top+1, min(bottom, len(rows)-1)+1, cmp.Or(strings.TrimSpace(written[col]), canon[col]))
			}
			for len(rows[y]) <= col {
				rows[y] = append(rows[y], "")
			}
			if strings.TrimSpace(rows[y][col]) == "" {
				rows[y][col] = v
			}
		}
	}
	return nil
}
