// Command anxinctl is the community worker's command line for the care
// register: elders, ledger import/export, visits, due lists and reports.
//
// It talks to alarmd's records API (-server, token from ANXIN_API_TOKEN or
// -token-file) or, with -db, opens the store file itself and serves the same
// API in-process with district rights — the same validation either way.
// See docs/care.md.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/alarmd"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/internal/configerr"
	"github.com/anxin-care/anxin/sqlite"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv, time.Now))
}

const usage = `用法：anxinctl [全局参数] 命令 [参数]

全局参数：
  -server URL        alarmd 的地址（默认 $ANXIN_API_URL，否则 http://127.0.0.1:8080）
  -token-file FILE   存放访问令牌的文件（默认取 $ANXIN_API_TOKEN）
  -db FILE           不连服务器，直接读写这个数据文件（区级权限）
  -config FILE       与 -db 同用：alarmd.yaml，读其中的探访周期、时区等（care.*）
  -json              输出接口原始 JSON，不排成表格（可放在命令行任何位置）

命令：
  elders list [-village 村] [-tier 等级] [-grid-worker 网格员] [-limit N] [-offset N] [-unmasked]
                               老人名单
  elders get 档案编号          一位老人的档案
  elders import [-dry-run] [-json] 文件.xlsx|文件.csv
                               导入台账（附件3 或登记表格式）；-dry-run 只显示会新增、修改谁，不写入
  elders export [-format xlsx|csv] [-mask] [-village 村] -o 文件
                               导出台账
  visit add -household 户编号 -method phone|home|audio_video|remote_monitoring|other [-date 2026-11-23]
            [-health 文字] [-safety 文字] [-hygiene 文字] [-environment 文字] [-needs 文字]
            [-suggested-care 文字] [-visitor 探访人]
                               登记一次探访
  visits list [-household 户编号] [-visitor 探访人] [-since 日期] [-until 日期] [-limit N]
  due [-within 天数] [-visitor 探访人] [-village 村] [-unmasked]
                               待访名单
  overdue [-visitor 探访人] [-village 村] [-unmasked]
                               逾期名单
  follow-ups [-visitor 探访人] [-village 村] [-unmasked]
                               告警回访名单；姓名电话默认打码，-unmasked 显示全文（会记入操作记录）
  report visit-rate [-month 2026-11] [-filler 填报人] [-phone 电话] [-area 区域] [-o 文件.xlsx] [-unmasked]
                               月度探访率报表
  report alarms [-month 2026-11]
                               告警统计
  alarms list [-since 日期] [-household 户编号] [-state 状态]
  alarms show 告警编号         一条告警的经过：通知了谁、何时、结果
  alarms close -reason 原因 告警编号
                               关闭已处理或误报的告警，通知随即停止（需连接运行中的 alarmd，不能用 -db）
  audit [-who 操作人] [-action 操作] [-record 编号] [-since 日期] [-until 日期] [-limit N] [-offset N]
                               谁改过、看过个人信息（区级令牌或 -db）
  away on|off|show 户编号      老人外出（走亲戚、住院）：用水类告警暂停，直到 away off（需连接运行中的 alarmd）
`

// client calls the records API.
type client struct {
	json  bool // -json: the API's answers as they are
	base  string
	token string
	http  *http.Client
	loc   *time.Location // where -date days begin
}

// run is anxinctl. now is the clock of -db mode, where the API runs
// in-process (today's due list, a visit's default date, 登记日期 of an
// import); over HTTP the server's clock counts.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, now func() time.Time) int {
	fs := flag.NewFlagSet("anxinctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the flag package's own words are English: flagError says them
	fs.Usage = func() {}
	server := fs.String("server", getenv("ANXIN_API_URL"), "")
	tokenFile := fs.String("token-file", "", "")
	dbPath := fs.String("db", "", "")
	configPath := fs.String("config", "", "")
	asJSON := fs.Bool("json", false, "")
	// -json may follow the command too ("anxinctl due -json")
	var rest []string
	for _, a := range args {
		if a == "-json" || a == "--json" {
			*asJSON = true
			continue
		}
		rest = append(rest, a)
	}
	if err := fs.Parse(rest); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "anxinctl:", flagError(err))
		}
		fmt.Fprint(stderr, usage)
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	c, closeFn, err := connect(ctx, *server, *tokenFile, *dbPath, *configPath, getenv, now)
	if err != nil {
		var ce *configerr.ConfigError
		if errors.As(err, &ce) { // -config's alarmd.yaml: said as alarmd says it, then the English
			fmt.Fprintln(stderr, "anxinctl:", alarmd.ConfigErrorText(err, alarmd.AtCheck))
		}
		fmt.Fprintln(stderr, "anxinctl:", err)
		return 1
	}
	defer closeFn()
	c.json = *asJSON
	if err := command(ctx, c, fs.Args(), stdout); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, "anxinctl:", err)
			fmt.Fprint(stderr, usage)
			return 2
		}
		fmt.Fprintln(stderr, "anxinctl:", err)
		return 1
	}
	return 0
}

type usageError string

func (e usageError) Error() string { return string(e) }

func connect(ctx context.Context, server, tokenFile, dbPath, configPath string, getenv func(string) string, now func() time.Time) (*client, func(), error) {
	if dbPath == "" {
		if configPath != "" {
			return nil, nil, errors.New("-config 只能与 -db 一起使用")
		}
		if server == "" {
			server = "http://127.0.0.1:8080"
		}
		u, err := url.Parse(server)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, fmt.Errorf("-server %q 不是 http(s) 地址", server)
		}
		token := getenv("ANXIN_API_TOKEN")
		if tokenFile != "" {
			b, err := os.ReadFile(tokenFile)
			if err != nil {
				return nil, nil, fmt.Errorf("-token-file：读不到令牌文件（%w）", err)
			}
			token = strings.TrimSpace(string(b))
		}
		if token == "" {
			return nil, nil, errors.New("没有访问令牌（no token）：请设置 ANXIN_API_TOKEN 或用 -token-file")
		}
		return &client{base: strings.TrimRight(server, "/"), token: token, http: &http.Client{Timeout: 5 * time.Minute},
			loc: care.DefaultLocation()}, func() {}, nil
	}
	plan := care.DefaultPlan()
	if configPath != "" {
		cfg, err := alarmd.Load(configPath)
		if err != nil {
			return nil, nil, err
		}
		if plan, err = cfg.Care.Plan(); err != nil {
			return nil, nil, err
		}
	}
	if _, err := os.Stat(dbPath); err != nil {
		return nil, nil, fmt.Errorf("-db：打不开数据文件（%w）", err)
	}
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return nil, nil, err
	}
	token := "local-" + rand.Text() // never leaves the process
	srv := &api.Server{Store: db, Tokens: []api.Token{{Name: localUser(getenv), Token: token}}, Plan: plan, Now: now,
		Alarms: db, Escalation: db, Logger: slog.New(slog.DiscardHandler)}
	h := srv.Handler()
	c := &client{base: "http://store", token: token, http: &http.Client{Transport: handlerTransport{h}}, loc: plan.Location}
	return c, func() { db.Close() }, nil
}

// localUser names who works on the store file directly, for the audit log:
// anxinctl:<login name>.
func localUser(getenv func(string) string) string {
	name := getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	return "anxinctl:" + name
}

// handlerTransport serves requests with an in-process handler.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// do calls the API; a JSON error answer becomes a Go error with its code,
// message and every field or row problem.
func (c *client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) ([]byte, http.Header, error) {
	u := c.base + api.Prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 512<<20))
	if err != nil {
		return nil, nil, err
	}
	if res.StatusCode >= 300 {
		return nil, nil, apiError(res.StatusCode, b)
	}
	return b, res.Header, nil
}

func apiError(status int, b []byte) error {
	var e struct {
		Error struct {
			Code    string
			Message string
			Fields  []struct{ Field, Message string }
			Rows    []struct {
				Row     int
				Column  string
				Message string
			}
		}
	}
	if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
		return fmt.Errorf("服务器答复 HTTP %d：%.200s", status, b)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s（%s）", e.Error.Message, e.Error.Code)
	for _, f := range e.Error.Fields {
		fmt.Fprintf(&sb, "\n  %s：%s", f.Field, f.Message)
	}
	for _, r := range e.Error.Rows {
		fmt.Fprintf(&sb, "\n  第 %d 行，%s：%s", r.Row, r.Column, r.Message)
	}
	return errors.New(sb.String())
}

func command(ctx context.Context, c *client, args []string, stdout io.Writer) error {
	verb := strings.Join(args[:min(2, len(args))], " ")
	switch args[0] {
	case "due", "overdue", "follow-ups":
		return c.dueList(ctx, args[0], args[1:], stdout)
	case "audit":
		return c.getShown(ctx, "audit", args[1:], stdout, c.showAudit, "who", "action", "record", "since", "until", "limit", "offset")
	}
	if len(args) < 2 {
		return usageError("没有这个命令：" + args[0])
	}
	rest := args[2:]
	switch verb {
	case "elders list":
		return c.getShown(ctx, "elders", rest, stdout, c.showElders, "village", "tier", "grid-worker", "limit", "offset", "unmasked?", "area")
	case "elders get":
		if len(rest) != 1 {
			return usageError("elders get 后面要跟一个档案编号")
		}
		return c.getShown(ctx, "elders/"+url.PathEscape(rest[0]), nil, stdout, c.showElder)
	case "elders import":
		return c.importLedger(ctx, rest, stdout)
	case "elders export":
		return c.exportLedger(ctx, rest, stdout)
	case "visit add":
		return c.addVisit(ctx, rest, stdout)
	case "visits list":
		return c.getShown(ctx, "visits", rest, stdout, c.showVisits, "household", "visitor", "since", "until", "limit", "offset", "alarm-id")
	case "report visit-rate":
		return c.visitRate(ctx, rest, stdout)
	case "report alarms":
		return c.getShown(ctx, "reports/alarms", rest, stdout, c.showAlarmStats, "month")
	case "alarms list":
		return c.getShown(ctx, "alarms", rest, stdout, c.showAlarms, "since", "until", "household", "state", "limit")
	case "alarms show":
		if len(rest) != 1 {
			return usageError("alarms show 后面要跟一个告警编号")
		}
		return c.getShown(ctx, "alarms/"+url.PathEscape(rest[0]), nil, stdout, c.showAlarm)
	case "alarms close":
		q, ids, err := stringFlags(verb, rest, "reason")
		if err != nil {
			return err
		}
		if len(ids) != 1 || q.Get("reason") == "" {
			return usageError(`用法：alarms close -reason "原因" 告警编号（原因必填）`)
		}
		body, err := json.Marshal(map[string]string{"reason": q.Get("reason")})
		if err != nil {
			return err
		}
		b, _, err := c.do(ctx, "POST", "alarms/"+url.PathEscape(ids[0])+"/close", nil, bytes.NewReader(body), "application/json")
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, b)
		}
		fmt.Fprintf(stdout, "告警 %s 已关闭，原因：%s\n", ids[0], q.Get("reason"))
		return nil
	case "away on", "away off", "away show":
		if len(rest) != 1 {
			return usageError(verb + " 后面要跟一个户编号")
		}
		path := "households/" + url.PathEscape(rest[0]) + "/away"
		method, body := "GET", io.Reader(nil)
		if args[1] != "show" {
			method, body = "PUT", strings.NewReader(fmt.Sprintf(`{"away": %t}`, args[1] == "on"))
		}
		b, _, err := c.do(ctx, method, path, nil, body, "application/json")
		if err != nil {
			return err
		}
		var st struct{ Away bool }
		if c.json || json.Unmarshal(b, &st) != nil {
			return printJSON(stdout, b)
		}
		if st.Away {
			fmt.Fprintf(stdout, "住户 %s：外出中（用水提醒暂停，回家后请执行 away off）\n", rest[0])
		} else {
			fmt.Fprintf(stdout, "住户 %s：在家（用水提醒照常）\n", rest[0])
		}
		return nil
	}
	return usageError("没有这个命令：" + verb)
}

// flagError says a flag package error in Mandarin (its own words are
// English): an unknown flag, a flag without its value, a bad boolean.
func flagError(err error) string {
	msg := err.Error()
	for _, w := range []struct{ en, zh string }{
		{"flag provided but not defined: ", "没有这个参数 "},
		{"flag needs an argument: ", "这个参数后面要跟一个值："},
		{"bad flag syntax: ", "参数写法有误："},
	} {
		if rest, ok := strings.CutPrefix(msg, w.en); ok {
			return w.zh + rest
		}
	}
	if _, rest, ok := strings.Cut(msg, " for "); ok && strings.HasPrefix(msg, "invalid ") {
		name, _, _ := strings.Cut(strings.TrimPrefix(rest, "flag "), ":")
		return "参数 " + name + " 的值有误"
	}
	return msg
}

// stringFlags parses -name value flags into query parameters (dashes
// become underscores); a name ending in ? is a boolean flag, sent as =1.
func stringFlags(cmd string, args []string, names ...string) (url.Values, []string, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	vals := map[string]*string{}
	bools := map[string]*bool{}
	for _, n := range names {
		if b, ok := strings.CutSuffix(n, "?"); ok {
			bools[b] = fs.Bool(b, false, "")
		} else {
			vals[n] = fs.String(n, "", "")
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, usageError(cmd + "：参数有误（" + flagError(err) + "）")
	}
	q := url.Values{}
	for n, v := range vals {
		if *v != "" {
			q.Set(strings.ReplaceAll(n, "-", "_"), *v)
		}
	}
	for n, v := range bools {
		if *v {
			q.Set(strings.ReplaceAll(n, "-", "_"), "1")
		}
	}
	return q, fs.Args(), nil
}

// getShown GETs path with the flags as query parameters and prints the
// answer with show (a table), or as JSON with -json.
func (c *client) getShown(ctx context.Context, path string, args []string, stdout io.Writer,
	show func(io.Writer, []byte) error, names ...string) error {
	q, extra, err := stringFlags(path, args, names...)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		return usageError(path + "：多余的参数 " + extra[0])
	}
	b, _, err := c.do(ctx, "GET", path, q, nil, "")
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, b)
	}
	return show(stdout, b)
}

func printJSON(w io.Writer, b []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		_, err = w.Write(b)
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func (c *client) dueList(ctx context.Context, which string, args []string, stdout io.Writer) error {
	names := []string{"visitor", "village", "unmasked?"}
	if which == "due" {
		names = append(names, "within")
	}
	q, extra, err := stringFlags(which, args, names...)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		return usageError(which + "：多余的参数 " + extra[0])
	}
	b, _, err := c.do(ctx, "GET", which, q, nil, "")
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, b)
	}
	return c.showDue(stdout, which, b)
}

func (c *client) importLedger(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("elders import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dry := fs.Bool("dry-run", false, "")
	asJSON := fs.Bool("json", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return usageError("用法：elders import [-dry-run] [-json] 文件.xlsx|文件.csv")
	}
	path := fs.Arg(0)
	ct := "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		ct = "text/csv"
	case ".xlsx":
	default:
		return fmt.Errorf("%s：台账须为 .xlsx 或 .csv 文件", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	q := url.Values{}
	if *dry {
		q.Set("dry_run", "1")
	}
	b, _, err := c.do(ctx, "POST", "elders/import", q, f, ct)
	if err != nil {
		return err
	}
	if *asJSON || c.json {
		return printJSON(stdout, b)
	}
	return printImport(stdout, b)
}

// printImport tells a worker what an import did (or, dry, would do).
func printImport(w io.Writer, b []byte) error {
	var res struct {
		Checked, Imported, Created, Changed, Unchanged int
		DryRun                                         bool     `json:"dry_run"`
		Unmapped                                       []string `json:"unmapped_columns"`
		Changes                                        []struct {
			Row              int
			ID, Name, Action string
			Fields           []string
		}
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("读不懂服务器的导入结果（%w）", err)
	}
	if res.DryRun {
		fmt.Fprintf(w, "试导入（未写入登记册）：共 %d 行，将新增 %d 人，修改 %d 人，%d 人不变\n", res.Checked, res.Created, res.Changed, res.Unchanged)
	} else {
		fmt.Fprintf(w, "已导入：共 %d 行，新增 %d 人，修改 %d 人，%d 人不变\n", res.Checked, res.Created, res.Changed, res.Unchanged)
	}
	if len(res.Unmapped) > 0 {
		fmt.Fprintf(w, "以下列没有对应的登记项，已作为附加信息保存：%s\n", strings.Join(res.Unmapped, "、"))
	}
	if len(res.Changes) == 0 {
		return nil
	}
	action := map[string]string{"created": "新增", "changed": "修改", "unchanged": "不变"}
	var t table
	t.row("行号", "档案编号", "姓名", "操作", "改动的项")
	for _, c := range res.Changes {
		t.row(strconv.Itoa(c.Row), c.ID, c.Name, action[c.Action], strings.Join(c.Fields, "、"))
	}
	return t.write(w)
}

func (c *client) exportLedger(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("elders export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := fs.String("format", "", "")
	mask := fs.Bool("mask", false, "")
	out := fs.String("o", "", "")
	village := fs.String("village", "", "")
	if err := fs.Parse(args); err != nil || *out == "" || fs.NArg() != 0 {
		return usageError("用法：elders export [-format xlsx|csv] [-mask] [-village 村] -o 文件")
	}
	if *format == "" {
		*format = "xlsx"
		if strings.EqualFold(filepath.Ext(*out), ".csv") {
			*format = "csv"
		}
	}
	q := url.Values{"format": {*format}}
	if *mask {
		q.Set("mask", "1")
	}
	if *village != "" {
		q.Set("village", *village)
	}
	b, _, err := c.do(ctx, "GET", "elders/export", q, nil, "")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "已保存 %s（%d 字节）\n", *out, len(b))
	return nil
}

func (c *client) addVisit(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("visit add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	v := map[string]*string{}
	for _, n := range []string{"household", "method", "date", "health", "safety", "hygiene", "environment", "needs", "suggested-care", "visitor"} {
		v[n] = fs.String(n, "", "")
	}
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return usageError("用法：visit add -household 户编号 -method 方式 [-date 日期] [-health 文字] … [-visitor 探访人]")
	}
	body := map[string]any{}
	for n, p := range v {
		if *p != "" {
			body[strings.ReplaceAll(n, "-", "_")] = *p
		}
	}
	if d := *v["date"]; d != "" {
		t, err := time.ParseInLocation(time.DateOnly, d, c.loc)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, d); err != nil {
				return usageError("-date 须为 YYYY-MM-DD 格式的日期，如 2026-11-23")
			}
		}
		body["date"] = t
	}
	j, err := json.Marshal(body)
	if err != nil {
		return err
	}
	b, _, err := c.do(ctx, "POST", "visits", nil, bytes.NewReader(j), "application/json")
	if err != nil {
		return err
	}
	var saved struct {
		ID, Household, Method string
		Date                  time.Time
	}
	if c.json || json.Unmarshal(b, &saved) != nil {
		return printJSON(stdout, b)
	}
	fmt.Fprintf(stdout, "已记录探访 %s：户 %s，%s，%s\n", saved.ID, saved.Household, anxin.VisitMethod(saved.Method).Label(), c.minute(saved.Date))
	return nil
}

func (c *client) visitRate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report visit-rate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	month := fs.String("month", "", "")
	out := fs.String("o", "", "")
	filler := fs.String("filler", "", "")
	phone := fs.String("phone", "", "")
	area := fs.String("area", "", "")
	unmasked := fs.Bool("unmasked", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return usageError("用法：report visit-rate [-month 2026-11] [-filler 填报人] [-phone 电话] [-area 区域] [-o 文件.xlsx] [-unmasked]")
	}
	q := url.Values{}
	for k, v := range map[string]string{"month": *month, "filler": *filler, "phone": *phone, "area": *area} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *unmasked {
		q.Set("unmasked", "1")
	}
	if *out == "" {
		b, _, err := c.do(ctx, "GET", "reports/visit-rate", q, nil, "")
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, b)
		}
		return c.showReport(stdout, b)
	}
	q.Set("format", "xlsx")
	b, _, err := c.do(ctx, "GET", "reports/visit-rate", q, nil, "")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "已保存 %s（%d 字节）\n", *out, len(b))
	return nil
}
