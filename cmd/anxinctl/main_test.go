package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/internal/textwidth"
	"github.com/anxin-care/anxin/ledger"
	"github.com/anxin-care/anxin/sqlite"
)

const token = "cli-test-token-0123456789abcdef"

func idNumber(seq int) string {
	s := fmt.Sprintf("53012819400506%03d", seq)
	return s + string(care.CheckDigit(s))
}

// ledgerCSV writes a small ledger file with n elders.
func ledgerCSV(t *testing.T, dir string, n int) string {
	rows := [][]string{{"姓名", "身份证号", "村(社区)", "监护情况", "自理能力", "健康状况", "网格员", "紧急联系人1姓名", "紧急联系人1电话"}}
	for i := range n {
		rows = append(rows, []string{"张桂兰", idNumber(i), "善广村", "独居", "完好", "正常", "王芳", "李明", "13900000001"})
	}
	var buf bytes.Buffer
	if err := ledger.WriteCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ledger.csv")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testNow is the CLI's clock in tests (it counts only with -db): 23 Nov
// 2026, 17:00 in Beijing.
var testNow = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func cli(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	return cliAt(t, func() time.Time { return testNow }, env, args...)
}

func cliAt(t *testing.T, now func() time.Time, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, func(k string) string { return env[k] }, now)
	return code, out.String(), errOut.String()
}

func TestCLIOverHTTP(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "alarmd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// the server's clock is fixed: "due" is judged on 2026-11-23, three days after the visit below
	now := func() time.Time { return time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) }
	srv := httptest.NewServer((&api.Server{Store: db, Now: now, Tokens: []api.Token{{Name: "district", Token: token}}}).Handler())
	defer srv.Close()
	env := map[string]string{"ANXIN_API_URL": srv.URL, "ANXIN_API_TOKEN": token}

	if code, _, errOut := cli(t, map[string]string{"ANXIN_API_URL": srv.URL}, "due"); code != 1 || !strings.Contains(errOut, "no token") {
		t.Fatalf("no token: %d %s", code, errOut)
	}
	if code, _, errOut := cli(t, map[string]string{"ANXIN_API_URL": srv.URL, "ANXIN_API_TOKEN": "wrong-token-0123456789"}, "due"); code != 1 || !strings.Contains(errOut, "unauthorized") {
		t.Fatalf("wrong token: %d %s", code, errOut)
	}
	p := ledgerCSV(t, dir, 3)
	if code, out, errOut := cli(t, env, "elders", "import", p); code != 0 || !strings.Contains(out, "已导入：共 3 行，新增 3 人") {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	// a dry run of the same ledger: nothing would change, nothing is written
	if code, out, errOut := cli(t, env, "elders", "import", "-dry-run", p); code != 0 ||
		!strings.Contains(out, "试导入（未写入登记册）：共 3 行，将新增 0 人，修改 0 人，3 人不变") {
		t.Fatalf("dry run: %d %s %s", code, out, errOut)
	}
	es, _ := db.Elders(context.Background(), sqlite.ElderFilter{})
	hh := es[0].Household
	// one elder as a worker reads it: Chinese labels, the ID number masked
	if code, out, errOut := cli(t, env, "elders", "get", es[0].ID); code != 0 || !strings.Contains(out, "老人档案 "+es[0].ID) ||
		!strings.Contains(out, "姓名："+es[0].Name) || !strings.Contains(out, "身份证号："+anxin.MaskIDNumber(es[0].IDNumber)) ||
		strings.Contains(out, es[0].IDNumber) || !strings.Contains(out, "紧急联系人（按顺序）") || strings.Contains(out, "{") {
		t.Fatalf("elders get: %d %s %s", code, out, errOut)
	}
	if code, out, _ := cli(t, env, "-json", "elders", "get", es[0].ID); code != 0 || !strings.Contains(out, `"id_number": "`+es[0].IDNumber) {
		t.Fatalf("elders get -json: %d %s", code, out)
	}
	if code, out, errOut := cli(t, env, "visit", "add", "-household", hh, "-method", "home", "-date", "2026-11-20",
		"-health", "精神好", "-visitor", "王芳"); code != 0 || !strings.Contains(out, "上门探访") {
		t.Fatalf("visit add: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := cli(t, env, "visit", "add", "-household", hh, "-method", "fax"); code != 1 || !strings.Contains(errOut, "invalid") {
		t.Fatalf("bad visit: %d %s", code, errOut)
	}
	vs, _ := db.Visits(context.Background(), sqlite.VisitFilter{Household: hh})
	if len(vs) != 1 || vs[0].Health != "精神好" || vs[0].Method != anxin.VisitHome {
		t.Fatalf("stored visits %+v", vs)
	}
	if code, out, _ := cli(t, env, "due"); code != 0 || !strings.Contains(out, "待访名单（2026-11-23）：共 2 位") {
		t.Fatalf("due: %d %s", code, out)
	}
	x := filepath.Join(dir, "out.xlsx")
	if code, out, errOut := cli(t, env, "elders", "export", "-o", x); code != 0 || !strings.Contains(out, "已保存") {
		t.Fatalf("export: %d %s %s", code, out, errOut)
	}
	f, err := os.Open(x)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ledger.ReadXLSXRows(f)
	f.Close()
	if err != nil || len(rows) != 4 {
		t.Fatalf("exported %d rows: %v", len(rows), err)
	}
	if code, out, _ := cli(t, env, "report", "visit-rate", "-month", "2026-11", "-json"); code != 0 || !strings.Contains(out, `"in_scope"`) {
		t.Fatalf("report: %d %s", code, out)
	}
	// a bad ledger: every bad row on stderr, exit 1, nothing stored
	bad := ledgerCSV(t, dir, 2)
	b, _ := os.ReadFile(bad)
	b = bytes.Replace(b, []byte("独居"), []byte("有人管"), 1)
	os.WriteFile(bad, b, 0o600)
	if code, _, errOut := cli(t, env, "elders", "import", bad); code != 1 || !strings.Contains(errOut, "第 2 行，监护情况：只能是孤寡") {
		t.Fatalf("bad import: %d %s", code, errOut)
	}
	if code, _, errOut := cli(t, env, "elders", "frobnicate"); code != 2 || !strings.Contains(errOut, "没有这个命令：elders frobnicate") ||
		!strings.Contains(errOut, "用法：anxinctl") {
		t.Fatalf("unknown command: %d %s", code, errOut)
	}
	// a mistyped flag in Mandarin, the flag package's English kept out
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"visits", "list", "-frobnicate", "x"}, "没有这个参数 -frobnicate"},
		{[]string{"visits", "list", "-since"}, "这个参数后面要跟一个值：-since"},
		{[]string{"-frobnicate", "due"}, "没有这个参数 -frobnicate"},
		{[]string{"-json=maybe", "due"}, "参数 -json 的值有误"},
	} {
		code, _, errOut := cli(t, env, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "用法：anxinctl") || strings.Contains(errOut, "flag ") {
			t.Errorf("%v: %d %s", c.args, code, errOut)
		}
	}
	// the API's refusal as a worker reads it: the message, its code after it
	if code, _, errOut := cli(t, env, "visits", "list", "-since", "yesterday"); code != 1 || !strings.Contains(errOut, "（invalid）") ||
		strings.Contains(errOut, "invalid:") {
		t.Fatalf("bad date: %d %s", code, errOut)
	}
}

func TestCLIDirectStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alarmd.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	p := ledgerCSV(t, dir, 2)
	if code, out, errOut := cli(t, nil, "-db", path, "elders", "import", "-json", p); code != 0 || !strings.Contains(out, `"imported": 2`) {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	if code, out, _ := cli(t, nil, "-db", path, "elders", "list"); code != 0 || !strings.Contains(out, "共 2 位") || strings.Contains(out, idNumber(0)) ||
		strings.Contains(out, "张桂兰") || strings.Contains(out, "13900000001") {
		t.Fatalf("list (masked): %d %s", code, out)
	}
	if code, out, _ := cli(t, nil, "-db", path, "elders", "list", "-unmasked"); code != 0 || !strings.Contains(out, "张桂兰") {
		t.Fatalf("list -unmasked: %d %s", code, out)
	}
	if code, out, _ := cli(t, nil, "-db", path, "due"); code != 0 || strings.Contains(out, "张桂兰") || !strings.Contains(out, "张**") {
		t.Fatalf("due (masked): %d %s", code, out)
	}
	// who imported and who read the names in full, under the login name
	code, out, errOut := cli(t, nil, "-db", path, "audit", "-limit", "10", "-json")
	if code != 0 || strings.Count(out, `"action": "elder.import"`) != 2 || strings.Count(out, `"action": "elders.list"`) != 2 ||
		!strings.Contains(out, `"who": "anxinctl:`) || strings.Contains(out, "张桂兰") {
		t.Fatalf("audit: %d %s %s", code, out, errOut)
	}
	if code, out, _ := cli(t, nil, "-db", path, "audit", "-action", "elders.list", "-limit", "1", "-json"); code != 0 || strings.Count(out, `"action"`) != 1 {
		t.Fatalf("audit -action: %d %s", code, out)
	}
	if code, _, errOut := cli(t, nil, "-db", filepath.Join(dir, "missing.db"), "due"); code != 1 || !strings.Contains(errOut, "-db") {
		t.Fatalf("missing store: %d %s", code, errOut)
	}
}

// With -db the in-process API runs on the clock run is given: the import's
// 登记日期, a visit's default date, due and overdue lists and the report are
// judged on a fixed day, never the real calendar.
func TestCLIDirectStoreOnFixedDate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "alarmd.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	loc := care.DefaultLocation()
	clock := time.Date(2026, 11, 20, 10, 0, 0, 0, loc)
	at := func(args ...string) (int, string, string) {
		t.Helper()
		return cliAt(t, func() time.Time { return clock }, nil, append([]string{"-db", path}, args...)...)
	}
	if code, out, errOut := at("elders", "import", ledgerCSV(t, dir, 3)); code != 0 || !strings.Contains(out, "已导入：共 3 行，新增 3 人") {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	es, err := db.Elders(ctx, sqlite.ElderFilter{})
	if err != nil || len(es) != 3 {
		t.Fatalf("%d elders: %v", len(es), err)
	}
	for _, e := range es {
		if !e.CreatedAt.Equal(clock) || e.Tier != anxin.TierGeneral {
			t.Fatalf("registered %v (tier %s), want %v", e.CreatedAt, e.Tier, clock)
		}
	}
	// registered today, never visited: all three are due today
	if code, out, _ := at("due"); code != 0 || !strings.HasPrefix(out, "待访名单（2026-11-20）：共 3 位") {
		t.Fatalf("due: %d %s", code, out)
	}
	// a visit without -date is dated now by the fixed clock; -date is a day in care.timezone
	hh0, hh1 := es[0].Household, es[1].Household
	if code, out, errOut := at("visit", "add", "-household", hh0, "-method", "home", "-visitor", "王芳"); code != 0 {
		t.Fatalf("visit add: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := at("visit", "add", "-household", hh1, "-method", "home", "-date", "2026-11-19"); code != 0 {
		t.Fatalf("visit add -date: %d %s %s", code, out, errOut)
	}
	if vs, _ := db.Visits(ctx, sqlite.VisitFilter{Household: hh0}); len(vs) != 1 || !vs[0].Date.Equal(clock) {
		t.Fatalf("visit without -date: %+v, want dated %v", vs, clock)
	}
	if vs, _ := db.Visits(ctx, sqlite.VisitFilter{Household: hh1}); len(vs) != 1 || !vs[0].Date.Equal(time.Date(2026, 11, 19, 0, 0, 0, 0, loc)) {
		t.Fatalf("visit -date 2026-11-19: %+v", vs)
	}
	// a visit "tomorrow" by the fixed clock is in the future: refused
	if code, _, errOut := at("visit", "add", "-household", hh0, "-method", "phone", "-date", "2026-11-21"); code != 1 || !strings.Contains(errOut, "探访日期不能晚于现在") {
		t.Fatalf("visit in the future: %d %s", code, errOut)
	}
	if code, out, _ := at("due"); code != 0 || !strings.HasPrefix(out, "待访名单（2026-11-20）：共 1 位") || !strings.Contains(out, es[2].ID) {
		t.Fatalf("due after the visits: %d %s", code, out)
	}
	// three days later (general tier: phone every 10 days): the unvisited elder is 3 days overdue;
	// within 5 days nobody else is due, within 6 the elder visited on the 19th (phone due the 29th) is
	clock = time.Date(2026, 11, 23, 10, 0, 0, 0, loc)
	if code, out, _ := at("overdue"); code != 0 || !strings.HasPrefix(out, "逾期名单（2026-11-23）：共 1 位") || !strings.Contains(out, "3 天") {
		t.Fatalf("overdue: %d %s", code, out)
	}
	if code, out, _ := at("due", "-within", "5"); code != 0 || !strings.HasPrefix(out, "待访名单（2026-11-23）：共 1 位") {
		t.Fatalf("due within 5: %d %s", code, out)
	}
	if code, out, _ := at("due", "-within", "6"); code != 0 || !strings.HasPrefix(out, "待访名单（2026-11-23）：共 2 位") || !strings.Contains(out, "2026-11-29") {
		t.Fatalf("due within 6: %d %s", code, out)
	}
	// the report's default month is the clock's
	if code, out, _ := at("-json", "report", "visit-rate"); code != 0 || !strings.Contains(out, `"month": "2026-11"`) ||
		!strings.Contains(out, `"visited": 2`) || !strings.Contains(out, `"in_scope": 3`) {
		t.Fatalf("report: %d %s", code, out)
	}
}

// awayFake is the running rules' away marks.
type awayFake struct{ marks map[string]bool }

func (a *awayFake) SetAway(_ context.Context, hh string, away bool) error {
	a.marks[hh] = away
	return nil
}
func (a *awayFake) Away(_ context.Context, hh string) (bool, error) { return a.marks[hh], nil }

func TestCLIAway(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "alarmd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	marks := &awayFake{marks: map[string]bool{}}
	srv := httptest.NewServer((&api.Server{Store: db, Tokens: []api.Token{{Name: "district", Token: token}}, Away: marks,
		Households: api.HouseholdList{{ID: "hh-0001"}}}).Handler())
	defer srv.Close()
	env := map[string]string{"ANXIN_API_URL": srv.URL, "ANXIN_API_TOKEN": token}
	if code, out, errOut := cli(t, env, "away", "on", "hh-0001"); code != 0 || !strings.Contains(out, "住户 hh-0001：外出中") || !marks.marks["hh-0001"] {
		t.Fatalf("away on: %d %s %s", code, out, errOut)
	}
	if code, out, _ := cli(t, env, "-json", "away", "show", "hh-0001"); code != 0 || !strings.Contains(out, `"away": true`) {
		t.Fatalf("away show: %d %s", code, out)
	}
	if code, out, _ := cli(t, env, "away", "off", "hh-0001"); code != 0 || marks.marks["hh-0001"] || !strings.Contains(out, "住户 hh-0001：在家") {
		t.Fatalf("away off: %d %s", code, out)
	}
	if code, _, errOut := cli(t, env, "away", "on", "hh-9999"); code != 1 || !strings.Contains(errOut, "not_found") && !strings.Contains(errOut, "没有找到住户") {
		t.Fatalf("unknown household: %d %s", code, errOut)
	}
	if code, _, _ := cli(t, env, "away", "on"); code != 2 {
		t.Fatalf("no household: %d", code)
	}
}

// closeInStore is alarmd's closer without a chain to stop.
type closeInStore struct{ db *sqlite.DB }

func (c closeInStore) CloseAlarm(ctx context.Context, id, by, reason string) error {
	return c.db.CloseAlarm(ctx, id, by, reason, time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
}

func TestCLIAlarmsClose(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "alarmd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.ApplyIngest(ctx, &sqlite.IngestBatch{At: time.Now(), Changes: []sqlite.AlarmChange{{Op: sqlite.AlarmOpOpen,
		Household: "hh-0001", Rule: "device_offline", RuleKind: "offline", Device: "btn1", Severity: anxin.SeverityWarning,
		Route: anxin.RouteInstaller, At: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), Reason: "the button is offline"}}})
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("open: %+v %v", res, err)
	}
	id := res.Opened[0].ID
	srv := httptest.NewServer((&api.Server{Store: db, Tokens: []api.Token{{Name: "district", Token: token}},
		Alarms: db, Closer: closeInStore{db}}).Handler())
	defer srv.Close()
	env := map[string]string{"ANXIN_API_URL": srv.URL, "ANXIN_API_TOKEN": token}
	if code, _, errOut := cli(t, env, "alarms", "close", id); code != 2 || !strings.Contains(errOut, "-reason") {
		t.Fatalf("no reason: %d %s", code, errOut)
	}
	if code, out, errOut := cli(t, env, "-json", "alarms", "close", "-reason", "按钮已拆除，换新", id); code != 0 || !strings.Contains(out, `"state": "resolved"`) {
		t.Fatalf("close: %d %s %s", code, out, errOut)
	}
	if code, out, _ := cli(t, env, "alarms", "show", id); code != 0 || !strings.Contains(out, "按钮已拆除，换新") ||
		!strings.Contains(out, "状态：已关闭") || !strings.Contains(out, "经过：2 条") || strings.Contains(out, "{") ||
		strings.Contains(out, "the button is offline") {
		t.Fatalf("show after close: %d %s", code, out)
	}
	if code, _, errOut := cli(t, env, "alarms", "close", "-reason", "again", id); code != 1 || !strings.Contains(errOut, "已经关闭") {
		t.Fatalf("second close: %d %s", code, errOut)
	}
}

// A worker's due list is a table with phone and address, columns aligned
// on screen; the monthly report prints its header, rates ("—" where
// nobody is in scope) and 本月未探访名单.
func TestCLITablesForWorkers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alarmd.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"张桂兰", "Li Ming"} {
		e := anxin.ElderRecord{ID: fmt.Sprintf("e%d", i), Name: name, IDNumber: idNumber(i), Phone: "+8613800001234",
			Current:    anxin.Address{County: "忠县", Township: "善广乡", Village: "善广村", Detail: fmt.Sprintf("3组%d号", 12+i)},
			Categories: []anxin.Category{anxin.CategoryAlone},
			Assessment: anxin.Assessment{Guardianship: anxin.GuardianAlone, SelfCare: anxin.SelfCareIntact, Health: anxin.HealthNormal},
			GridWorker: "王芳", Consent: true, CreatedAt: testNow.Add(-48 * time.Hour), UpdatedAt: testNow}
		if errs := care.Normalize(&e, testNow); len(errs) > 0 {
			t.Fatal(errs)
		}
		if err := db.PutElder(context.Background(), &e); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	code, out, errOut := cli(t, nil, "-db", path, "due", "-unmasked")
	if code != 0 || !strings.HasPrefix(out, "待访名单（2026-11-23）：共 2 位") {
		t.Fatalf("due: %d %s %s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")[1:]
	if len(lines) != 3 || !strings.Contains(lines[1], "+8613800001234") || !strings.Contains(out, "3组12号") || !strings.Contains(out, "3组13号") {
		t.Fatalf("due table:\n%s", out)
	}
	// the 地址 column starts at the same screen column on every line
	var at []int
	for i, l := range lines {
		key := []string{"地址", "3组", "3组"}[i]
		at = append(at, textwidth.Width(l[:strings.Index(l, key)]))
	}
	if at[0] != at[1] || at[1] != at[2] {
		t.Fatalf("地址 at columns %v:\n%s", at, out)
	}
	code, out, errOut = cli(t, nil, "-db", path, "report", "visit-rate", "-filler", "赵敏", "-phone", "023-54321234")
	if code != 0 || !strings.Contains(out, "善广乡特殊困难老年人探访关爱服务月报表（2026年11月）") || !strings.Contains(out, "填报人：赵敏") ||
		!strings.Contains(out, "本月未探访名单（截至月末）：共 2 位") || !strings.Contains(out, "0.0%") {
		t.Fatalf("report: %d %s %s", code, out, errOut)
	}
	if code, out, _ = cli(t, nil, "-db", path, "report", "visit-rate", "-month", "2026-10"); code != 0 || !strings.Contains(out, "—") {
		t.Fatalf("October (nobody registered): %d %s", code, out)
	}
}

// A bad -config is said as alarmd says it: the Mandarin line, then the English.
func TestCLIBadConfigInMandarin(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "alarmd.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "alarmd.yaml")
	if err := os.WriteFile(cfg, []byte("care: {timezon: Asia/Shanghai}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cli(t, nil, "-db", db, "-config", cfg, "elders", "list")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != 1 || len(lines) != 2 ||
		lines[0] != "anxinctl: 配置有误：alarmd.yaml 中的 care.timezon 项：没有这一项，是不是想写 timezone？（可用的项：cadence、surges、timezone）" ||
		!strings.HasPrefix(lines[1], "anxinctl: "+cfg+": config: care.timezon: unknown key") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
}
