package ledger

import (
	"archive/zip"
	"bytes"
	"io"
	"path"
	"strings"

	"github.com/anxin-care/anxin"
)

// ETOOLARGE is the error code of a file over one of the import limits (the
// API answers 413): the file is refused before it can take the memory.
const ETOOLARGE = "too_large"

// Limits of an XLSX workbook, checked on the zip's declared sizes (Go's zip
// reader refuses to inflate an entry past its declared size) and by one
// streaming pass over the parts excelize would hold in memory, before it
// opens the file. A ledger of MaxRows elders fits them.
const (
	maxUnzippedBytes  = 512 << 20 // all parts together, inflated
	maxSheetBytes     = 256 << 20 // one worksheet (excelize streams it from a temp file)
	maxSharedBytes    = 64 << 20  // xl/sharedStrings.xml (excelize decodes it whole)
	maxSharedStrings  = 1 << 20   // <si> entries
	maxPartBytes      = 8 << 20   // any other part (styles, workbook, rels…)
	maxXMLElement     = 64 << 10  // bytes from one '<' to the next: a tag or one text run
	maxSheetRowBytes  = 1 << 20   // one <row>…</row> of a worksheet
	maxStringBytes    = 64 << 10  // one <si>…</si>: a cell's text with its markup
	maxCells          = MaxRows * 64
	maxCSVRecordBytes = 1 << 20 // one CSV record's cells together
)

func tooLarge(format string, args ...any) error {
	return anxin.Errorf(ETOOLARGE, format, args...)
}

// checkXLSX refuses a workbook whose parts would inflate beyond the limits.
func checkXLSX(b []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return anxin.Errorf(anxin.EINVALID, "这不是 Excel 工作簿（.xlsx）文件，请在 Excel 中另存为 .xlsx 后重新导入")
	}
	var total uint64
	names := make(map[string]bool, len(zr.File))
	for _, f := range zr.File {
		total += f.UncompressedSize64
		name := strings.ToLower(path.Clean(strings.TrimPrefix(strings.ReplaceAll(f.Name, "\\", "/"), "/")))
		if names[name] {
			// a package names each part once (case-insensitively); with two,
			// excelize reads the last and a reader of the first sees another sheet
			return anxin.Errorf(anxin.EINVALID, "这不是 Excel 工作簿（.xlsx）文件，请在 Excel 中另存为 .xlsx 后重新导入")
		}
		names[name] = true
		sheet := strings.HasPrefix(name, "xl/worksheets/") && strings.HasSuffix(name, ".xml")
		shared := name == "xl/sharedstrings.xml"
		switch {
		case total > maxUnzippedBytes:
			return tooLarge("工作簿解压后超过 %d MB", maxUnzippedBytes>>20)
		case sheet && f.UncompressedSize64 > maxSheetBytes:
			return tooLarge("有一个工作表解压后超过 %d MB", maxSheetBytes>>20)
		case shared && f.UncompressedSize64 > maxSharedBytes:
			return tooLarge("工作簿的共享字符串解压后超过 %d MB", maxSharedBytes>>20)
		case !sheet && !shared && f.UncompressedSize64 > maxPartBytes:
			return tooLarge("工作簿中的部件 %s 解压后超过 %d MB", clipName(f.Name), maxPartBytes>>20)
		}
		if !sheet && !shared {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return anxin.Errorf(anxin.EINVALID, "这不是 Excel 工作簿（.xlsx）文件，请在 Excel 中另存为 .xlsx 后重新导入")
		}
		err = scanXML(rc, shared)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func clipName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// scanXML streams one inflated part and bounds what excelize would build
// of it: the longest tag or text, a worksheet's longest row, the number of
// shared strings and the longest one. Constant memory; no XML is decoded:
// the last bytes read sit in a shift register matched against the markers.
func scanXML(r io.Reader, shared bool) error {
	open1, open2, end, limit, what := marker("<row>"), marker("<row "), marker("</row>"), maxSheetRowBytes, "有一行"
	if shared {
		open1, open2, end, limit, what = marker("<si>"), marker("<si "), marker("</si>"), maxStringBytes, "有一个共享字符串"
	}
	buf := make([]byte, 64<<10)
	var (
		last    uint64 // the last 8 bytes read
		sinceLT int    // bytes since the last '<'
		span    = -1   // bytes since the open marker; -1: outside
		count   int
	)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			last = last<<8 | uint64(c)
			if c == '<' {
				sinceLT = 0
			} else if sinceLT++; sinceLT > maxXMLElement {
				return tooLarge("工作簿中有超过 %d KB 的标签或文字", maxXMLElement>>10)
			}
			switch {
			case open1.at(last) || open2.at(last):
				span = 0
				if count++; shared && count > maxSharedStrings {
					return tooLarge("工作簿中的共享字符串超过 %d 个", maxSharedStrings)
				}
			case span < 0:
			case end.at(last):
				span = -1
			default:
				if span++; span > limit {
					return tooLarge("工作簿中%s超过 %d KB", what, limit>>10)
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return anxin.Errorf(anxin.EINVALID, "这不是 Excel 工作簿（.xlsx）文件，请在 Excel 中另存为 .xlsx 后重新导入")
		}
	}
}

// xmlMarker is up to 8 bytes to find at the end of a shift register.
type xmlMarker struct{ v, mask uint64 }

func marker(s string) xmlMarker {
	var m xmlMarker
	for i := 0; i < len(s); i++ {
		m.v, m.mask = m.v<<8|uint64(s[i]), m.mask<<8|0xff
	}
	return m
}

func (m xmlMarker) at(last uint64) bool { return last&m.mask == m.v }

// cellBudget bounds the cells an import keeps: rows past MaxRows, or more
// cells than maxCells, make the file too large. Trailing empty cells are
// dropped first.
type cellBudget struct{ rows, cells int }

func (c *cellBudget) add(rows [][]string, rec []string) ([][]string, error) {
	for len(rec) > 0 && strings.TrimSpace(rec[len(rec)-1]) == "" {
		rec = rec[:len(rec)-1]
	}
	c.rows++
	c.cells += len(rec)
	switch {
	case c.rows > MaxRows+headerSearch:
		return rows, tooLarge("超过 %d 行", MaxRows)
	case c.cells > maxCells:
		return rows, tooLarge("超过 %d 个单元格", maxCells)
	}
	return append(rows, rec), nil
}
