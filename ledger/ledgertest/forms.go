package ledgertest

import (
	"bytes"
	"fmt"

	"github.com/xuri/excelize/v2"
)

// Form3Headers are the twelve columns of the programme's 附件3 台账 exactly
// as printed in 善广府发〔2024〕6号 (shared/seeds/000_*.txt).
var Form3Headers = []string{"序号", "姓名", "性别", "身份证号码", "地址", "健康状况", "经济情况", "对象类别",
	"帮扶责任人", "帮扶措施", "已完成探访次数", "备注"}

// Form3Title and Form3Info are the printed form's two rows above the header.
const (
	Form3Title = "忠县善广乡特殊困难老年人信息台账"
	Form3Info  = "乡镇街道：善广乡                      填报人：李芳                      联系电话;023-54581234"
)

// Workbook lays out a ledger as a worker keeps it: the title rows merged
// across the table, then the header rows (each merge given as "A1:C1"
// ranges relative to the header rows), then the data rows; 序号 and
// numeric-looking counts are written as numbers like Excel would.
func Workbook(titles []string, headers [][]string, merges []string, data [][]any) []byte {
	f := excelize.NewFile()
	defer f.Close()
	sh := "Sheet1"
	width := 0
	for _, h := range headers {
		width = max(width, len(h))
	}
	last, _ := excelize.ColumnNumberToName(width)
	r := 1
	for _, t := range titles {
		must(f.SetCellValue(sh, fmt.Sprintf("A%d", r), t))
		must(f.MergeCell(sh, fmt.Sprintf("A%d", r), fmt.Sprintf("%s%d", last, r)))
		r++
	}
	first := r
	for _, h := range headers {
		for c, v := range h {
			cell, _ := excelize.CoordinatesToCellName(c+1, r)
			if v != "" {
				must(f.SetCellValue(sh, cell, v))
			}
		}
		r++
	}
	for _, m := range merges {
		var c1, c2 string
		var r1, r2 int
		if _, err := fmt.Sscanf(m, "%1s%d:%1s%d", &c1, &r1, &c2, &r2); err != nil {
			panic(err)
		}
		must(f.MergeCell(sh, fmt.Sprintf("%s%d", c1, r1+first-1), fmt.Sprintf("%s%d", c2, r2+first-1)))
	}
	for _, row := range data {
		for c, v := range row {
			cell, _ := excelize.CoordinatesToCellName(c+1, r)
			must(f.SetCellValue(sh, cell, v))
		}
		r++
	}
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
