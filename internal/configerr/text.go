package configerr

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"syscall"
	"unicode"
)

// Stage is what a bad configuration stopped: each daemon words the lead
// of its Mandarin line for each (Leads).
type Stage int

// Where a configuration error was met.
const (
	AtStart  Stage = iota // the daemon did not start
	AtCheck               // its check found it
	AtReload              // SIGHUP: the running config is kept
)

// Leads start the Mandarin line, by stage, each ending in "：".
type Leads map[Stage]string

// For is the lead of stage s; a stage without one reads as AtStart.
func (l Leads) For(s Stage) string {
	if v, ok := l[s]; ok {
		return v
	}
	return l[AtStart]
}

// Hints explain a key in words a reader knows (where to find the value,
// how it is written), by the key's last part; Driver holds the hints whose
// meaning depends on gatewayd's driver entry.
type Hints struct {
	Key    map[string]string
	Driver map[string]map[string]string
	// Reason words a problem by its Reason when no kind says it (a rule's
	// alarm times out of order): what follows the key and the quoted
	// value; {range} stands for the error's Range.
	Reason map[string]string
}

// Text explains a configuration error in Mandarin, in one line: lead (what
// the error stopped, ending in "："), then where (the key, the driver
// entry), what is wrong and what may be written. It is printed before the
// English error, which stays the detail developers read; an error it
// cannot type gets the lead and a pointer to that English line, never an
// empty text.
func Text(err error, lead string, h Hints) string {
	if err == nil {
		return strings.TrimSuffix(lead, "：")
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		return lead + "原因见下面的英文说明"
	}
	return lead + where(ce) + what(ce, h)
}

// where names the key: 第 1 路驱动（name: water，cjt188）的 port.baud 项：
func where(e *ConfigError) string {
	key := entryKey(e, e.Key)
	var b strings.Builder
	if e.Entry > 0 {
		fmt.Fprintf(&b, "第 %d 路驱动", e.Entry)
		switch {
		case e.Instance != "" && e.Instance != e.Driver:
			fmt.Fprintf(&b, "（name: %s，%s）", e.Instance, e.Driver)
		case e.Driver != "":
			fmt.Fprintf(&b, "（%s）", e.Driver)
		}
		if key == "" {
			return b.String() + "："
		}
		b.WriteString("的 ")
	}
	switch {
	case key != "":
		b.WriteString(key + " 项：")
	case e.Kind == FileSyntax && e.Line > 0:
		fmt.Fprintf(&b, "第 %d 行：", e.Line)
	}
	return b.String()
}

// what says what is wrong and what to write instead.
func what(e *ConfigError, h Hints) string {
	v := e.Value
	if t, ok := h.Reason[e.Reason]; ok && e.Reason != "" {
		t = strings.ReplaceAll(t, "{range}", e.Range)
		if v != "" {
			return quote(v) + " 不对：" + t
		}
		return t
	}
	switch e.Kind {
	case KeyUnknown:
		s := "没有这一项"
		switch sug := entryKey(e, e.Suggest); {
		case sug == "":
		case leaf(sug) == leaf(e.Key) && parent(sug) != parent(entryKey(e, e.Key)):
			s += "：它应写在 " + parent(sug) + " 下面（换行后缩进），即 " + sug
		default:
			s += "，是不是想写 " + leaf(sug) + "？"
		}
		return s + choices("可用的项", e.Choices)
	case KeyMissing:
		if e.Entry > 0 && entryKey(e, e.Key) == "" {
			return "这一路是空的，要写 driver" + choices("可选", e.Choices)
		}
		s := "没有填写" + h.hint(e)
		return s + choices("可选", e.Choices)
	case KeyNeedsOther:
		return "写了这一项，还必须写 " + strings.Join(e.Choices, "、")
	case ValueNotChoice:
		return fmt.Sprintf("%s 不是可用的值", quote(v)) + choices("只能写", e.Choices)
	case ValueWrongType:
		s := "写法不对"
		if v != "" {
			s = quote(v) + " 写法不对"
		}
		if w := wantZH[e.Want]; w != "" {
			s += "，这里应写" + w
		}
		if e.Reason == ReasonUnquoted {
			s += "：照原样加上英文引号，如 \"0403\"（不加引号会被当作数：开头的 0 丢掉，0 或 0x 开头的被换算，所以显示的可能和所写的不同）"
		}
		return s
	case ValueNotDuration:
		return quote(v) + " 不是时长：要写成 30s、5m、1h30m 这样，数字后面紧跟单位 s（秒）、m（分）、h（时），中间不留空格"
	case ValueNotSize:
		return quote(v) + " 不是大小：要写成 64MiB、512KiB 这样"
	case ValueNotID:
		return quote(v) + " 不能用作名字或编号：只能用英文字母、数字、下划线 _ 和减号 -，不能有空格或汉字，最长 64 个字符"
	case ValueOutOfRange:
		if e.Reason == ReasonPort {
			s := "地址里的端口不是数字"
			if v != "" {
				s = "地址里的端口 " + quote(v) + " 不对"
			}
			return s + "：端口是 1 到 65535 之间的数字，写在主机名后面的冒号之后，要与那台服务器实际监听的端口一致"
		}
		s := quote(v) + " 超出允许的范围"
		if e.Range != "" {
			s += "（允许：" + e.Range + "）"
		}
		return s + h.hint(e)
	case ValueDuplicate:
		if e.Entry > 0 && entryKey(e, e.Key) == "name" { // the entry's own name, not a device's or a register's
			return fmt.Sprintf("名字 %s 和前面一路驱动重复了：每一路驱动要有不同的 name（同一种驱动写两路时，至少一路要写 name）", v)
		}
		return quote(v) + " 写了两次，每个只能出现一次"
	case KeysConflict:
		other := "另一路驱动"
		if len(e.Choices) > 0 {
			if n, ok := entryNumber(e.Choices[0]); ok {
				other = fmt.Sprintf("第 %d 路驱动", n)
			}
		}
		switch e.Reason {
		case "port-settings":
			return "与" + other + "用了同一个串口，但波特率、数据位、校验、停止位不一样：同一根总线上的表要设成一样"
		case "port-alone":
			return "与" + other + "用了同一个串口，但其中一路（北斗/GPS、433 MHz 接收器、Modbus）要单独占用串口：给它单独接一根串口线"
		case "usb-ambiguous":
			return "与" + other + "写了同一型号的 USB 转换线（vid、pid 相同），分不清是哪一根：两路都写上各自的 usb.serial"
		}
		if len(e.Choices) > 0 {
			return "与 " + strings.Join(e.Choices, "、") + " 不能这样同时写"
		}
		return "与其他项不能同时这样写"
	case DriverUnknown:
		return fmt.Sprintf("没有叫 %s 的驱动", quote(v)) + choices("可用的驱动", e.Choices)
	case FileUnreadable:
		if e.Key == "" {
			return "读不到配置文件 " + e.File + "（" + whyUnreadable(e.Err) + "）"
		}
		return "读不到文件 " + oneLine(v) + "（" + whyUnreadable(e.Err) + "）"
	case FileSyntax:
		return syntaxZH(e)
	}
	if e.Key == "" {
		return "原因见下面的英文说明"
	}
	s := "值不对"
	if v != "" {
		s = quote(v) + " 不对"
	}
	return s + h.hint(e) + "，原因见下面的英文说明"
}

// entryNumber reads drivers[2] as the 3rd entry.
func entryNumber(key string) (int, bool) {
	var n int
	if _, err := fmt.Sscanf(key, "drivers[%d]", &n); err != nil || n < 0 {
		return 0, false
	}
	return n + 1, true
}

// wantZH says how a YAML value of a kind is written (Want).
var wantZH = map[string]string{
	"number":   "数字，如 2400",
	"bool":     " true 或 false",
	"text":     "文字",
	"list":     "列表（下面每行以 - 开头）",
	"section":  "下一级的若干项（换行后缩进写）",
	"address":  "监听地址，写成 127.0.0.1:8080 或 :8080 这样，冒号后面是端口号",
	"url":      "网址，以 http:// 或 https:// 开头，如 https://alarm.example.org",
	"zone":     "时区名称，如 Asia/Shanghai",
	"postgres": " PostgreSQL 的地址，写成 postgres://用户名:密码@主机:5432/库名 这样（只用一台 alarmd 时不写 store.url，写 store.path）",
	"phone":    "带国家码的手机号码，以 + 开头，如 +86 后面接 11 位手机号",
}

func (h Hints) hint(e *ConfigError) string {
	if s, ok := h.Driver[e.Driver][leaf(e.Key)]; ok {
		return s
	}
	return h.Key[leaf(e.Key)]
}

// entryKey is a key within its driver entry: drivers[0].port.baud → port.baud.
func entryKey(e *ConfigError, key string) string {
	if e.Entry == 0 || !strings.HasPrefix(key, "drivers[") {
		return key
	}
	if i := strings.Index(key, "]"); i > 0 {
		return strings.TrimPrefix(key[i+1:], ".")
	}
	return key
}

// leaf is the last part of a key: drivers[0].port.baud → baud, meters[2] → meters.
func leaf(key string) string {
	if i := strings.LastIndex(key, "."); i >= 0 {
		key = key[i+1:]
	}
	if i := strings.Index(key, "["); i >= 0 {
		key = key[:i]
	}
	return key
}

func parent(key string) string {
	if i := strings.LastIndex(key, "."); i >= 0 {
		return key[:i]
	}
	return ""
}

func choices(label string, c []string) string {
	if len(c) == 0 {
		return ""
	}
	const most = 12
	s := strings.Join(c[:min(len(c), most)], "、")
	if len(c) > most {
		s += "、…"
	}
	return "（" + label + "：" + s + "）"
}

// quote shows a value as written; an empty one is said to be empty.
func quote(v string) string {
	if v == "" {
		return "空值"
	}
	const most = 80
	if r := []rune(v); len(r) > most {
		v = string(r[:most]) + "…"
	}
	return "“" + oneLine(v) + "”"
}

// oneLine escapes control characters (\n, \x1b …) as Go writes them, so
// a value holding a line break or a terminal's escape sequence keeps the
// text on the one line it is printed and logged as.
func oneLine(v string) string {
	if !strings.ContainsFunc(v, unicode.IsControl) {
		return v
	}
	var b strings.Builder
	for _, r := range v {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func whyUnreadable(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "文件不存在，请核对路径"
	case errors.Is(err, fs.ErrPermission):
		return "没有读取权限：文件要让 anxin 用户能读，如 chown root:anxin 再 chmod 0640"
	case errors.Is(err, syscall.EISDIR):
		return "这是一个目录，不是文件"
	}
	return "原因见下面的英文说明"
}

// syntaxZH explains the YAML parser's complaint; the line it gives is where
// it stopped, the mistake is on it or just above.
func syntaxZH(e *ConfigError) string {
	d := e.Detail
	switch {
	case e.Value == "alias":
		return "有一个值以 * 或 & 开头，YAML 会把它当作引用：给这个值加上引号，如 \"*123\""
	case e.Value == "tab" || strings.Contains(d, "tab character"):
		return "行首用了 Tab 键缩进，YAML 只能用空格缩进：把这一行开头的 Tab 换成空格，与上下行对齐"
	case strings.Contains(d, "is not text"):
		return "下面有一项的名称是数字或是空的：每一项要写成“名称: 值”，名称是数字时要加引号，如 \"1\": fall"
	case strings.Contains(d, "already defined"):
		return "同一项写了两遍，删掉其中一个"
	case strings.Contains(d, "cannot unmarshal"):
		return "这一项的写法不对（例如 drivers 应是以 - 开头的列表）"
	case strings.Contains(d, "mapping values are not allowed"):
		return "格式不对：可能是缩进没有对齐，或一行里写了两个冒号（值里有冒号时要加引号）"
	case strings.Contains(d, "did not find expected key"), strings.Contains(d, "did not find expected '-'"):
		return "缩进没有对齐（这一行或下一行），同一级的项要用同样多的空格开头"
	case strings.Contains(d, "could not find expected ':'"):
		return "少了冒号：每一项要写成“名称: 值”，冒号后面留一个空格"
	case strings.Contains(d, "a second document begins here"):
		return "这里的 --- 开始了第二份配置，它不会被读取：删掉 ---，把两部分的内容合成一份"
	}
	return "YAML 格式有误（括号、引号没有配对，或缩进没有对齐）"
}
