package ledger

import (
	"bytes"
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzMergeRefs: any worksheet XML gives at most maxMerges ranges, each
// at least two rows tall, and never panics; the <mergeCells> element is
// found whatever stands before it, and only as an element.
func FuzzMergeRefs(f *testing.F) {
	f.Add([]byte(`<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lt;mergeCells</t></is></c></row></sheetData>` +
		`<mergeCells count="2"><mergeCell ref="A1:G1"/><mergeCell ref="D4:D8"/></mergeCells></worksheet>`))
	f.Add([]byte(`<x:worksheet xmlns:x="s"><x:sheetData/><x:mergeCells><x:mergeCell ref="B2:B30"/></x:mergeCells></x:worksheet>`))
	f.Add([]byte(`mergeCells<mergeCells><mergeCell ref="A1"/><mergeCell ref="ZZZZ1:A0"/>`))
	f.Add([]byte(`<w><!-- <mergeCells><mergeCell ref="B2:B3"/></mergeCells> --><?pi <mergeCells>?><![CDATA[<mergeCells>]]></w>`))
	f.Add([]byte(`<!DOCTYPE w [<!-- > <mergeCells> --> <!ENTITY e "<mergeCells>">]><w><p:mergeCells><mergeCell ref="C2:C4"/></p:mergeCells></w>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := mergeRefs(bytes.NewReader(b))
		for _, m := range got {
			if m[0] < 1 || m[1] < 1 || m[2] <= m[1] {
				t.Fatalf("range %v", m)
			}
		}
		// XML that encoding/xml reads through: the merges are those from
		// its first <mergeCells> element on, whatever stands before it
		// (comments, CDATA, processing instructions, a DOCTYPE)
		d := xml.NewDecoder(bytes.NewReader(b))
		at := -1
		for {
			off := d.InputOffset()
			tok, err := d.RawToken()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "mergeCells" && at < 0 {
				at = int(off)
			}
		}
		var want [][3]int
		if at >= 0 {
			want = mergeRefs(bytes.NewReader(b[at:]))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("merges %v, want %v (the element at byte %d)", got, want, at)
		}
	})
}

// The merges are found after a long sheet, across the reader's chunks,
// with or without a namespace prefix, and not in a cell's text.
func TestMergeRefs(t *testing.T) {
	cells := strings.Repeat(`<row r="9"><c r="A9" t="inlineStr"><is><t>&lt;mergeCells mergeCells</t></is></c></row>`, 3000)
	for _, prefix := range []string{"", "x:"} {
		for pad := range 70 {
			xml := "<" + prefix + "worksheet><" + prefix + "sheetData>" + cells + strings.Repeat(" ", pad) + "</" + prefix + "sheetData><" +
				prefix + `mergeCells count="1"><` + prefix + `mergeCell ref="C4:C9"/></` + prefix + "mergeCells></" + prefix + "worksheet>"
			got := mergeRefs(strings.NewReader(xml))
			if len(got) != 1 || got[0] != [3]int{3, 4, 9} {
				t.Fatalf("prefix %q pad %d: %v", prefix, pad, got)
			}
			// one byte at a time: the element split at every place
			short := strings.Replace(xml, cells, cells[:len(cells)/1000], 1)
			got = mergeRefs(iotest.OneByteReader(strings.NewReader(short)))
			if len(got) != 1 || got[0] != [3]int{3, 4, 9} {
				t.Fatalf("one byte at a time, prefix %q pad %d: %v", prefix, pad, got)
			}
		}
	}
}
