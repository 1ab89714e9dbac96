package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The operator's lines: Mandarin first, then the English error (or the
// structured log line with it); secrets and phone numbers in neither.
func TestAlarmdExplainsInMandarin(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodHH := write("households.yaml", "households:\n  - id: hh-0001\n    elder: {name: 张桂兰, phone: \"+8613800000000\", tier: high}\n"+
		"    contacts: [{name: 李建国, relation: child, phone: \"+8613900000001\"}]\n")
	badHH := write("bad-households.yaml", "households:\n  - id: hh-0001\n    elder: {name: 张桂兰, phone: \"+8613800000000\", tier: high}\n"+
		"    contacts: [{name: 李建国, relation: child, phone: \"13900000001\"}]\n")
	base := "mqtt: {listen: '127.0.0.1:0', password: hunter2-s3cret, broker: ''}\nstore: {path: " + filepath.Join(dir, "a.db") + "}\n"
	good := write("good.yaml", base+"http: {listen: '127.0.0.1:0'}\nhouseholds_file: "+goodHH+"\n")
	for _, c := range []struct {
		name  string
		args  []string
		code  int
		lines []string // stdout+stderr lines start with these, in order
	}{
		{"typo", []string{"-config", write("typo.yaml", "mqtt: {borker: 'tcp://127.0.0.1:1883', password: hunter2-s3cret}\n")}, 2,
			[]string{"alarmd: 配置有误，alarmd 未启动：typo.yaml 中的 mqtt.borker 项：没有这一项，是不是想写 broker？", filepath.Join(dir, "typo.yaml") + ": config: mqtt.borker: unknown key"}},
		{"check typo", []string{"check", "-config", write("typo2.yaml", "rules:\n  - name: button\n")}, 2,
			[]string{"alarmd: 配置有误：typo2.yaml 中的 rules 项：没有这一项，是不是想写 rules_file？", filepath.Join(dir, "typo2.yaml") + ": config: rules: unknown key"}},
		{"check households", []string{"check", "-config", write("c.yaml", base+"households_file: "+badHH+"\n")}, 2,
			[]string{"alarmd: 配置有误：bad-households.yaml 中的 households[0].contacts[0].phone 项：写法不对", badHH + ": households[0].contacts[0].phone: "}},
		{"check store port", []string{"check", "-config", write("pg.yaml", "store: {url: 'postgres://anxin:hunter2-s3cret@db.example.org:99999/anxin'}\n")}, 2,
			[]string{"alarmd: 配置有误：pg.yaml 中的 store.url 项：地址里的端口 “99999” 不对", filepath.Join(dir, "pg.yaml") + ": config: store.url: port 99999 is not 1..65535"}},
		{"check good", []string{"check", "-config", good}, 0,
			[]string{"配置无误：" + good + "，住户登记表 " + goodHH + "，告警规则用内置的"}},
		{"port in use", []string{"-config", write("busy.yaml", base+"http: {listen: '"+busy.Addr().String()+"'}\nhouseholds_file: "+goodHH+"\n")}, 1,
			[]string{"alarmd: alarmd 未能启动：http.listen 的地址 " + busy.Addr().String() + " 已被别的程序占用", `{"time":`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(c.args, &out, &out); code != c.code {
				t.Errorf("exit %d, want %d:\n%s", code, c.code, out.String())
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if !strings.HasPrefix(l, "{") || strings.Contains(l, `"msg":"start failed"`) { // not the start's own log lines
					lines = append(lines, l)
				}
			}
			for i, want := range c.lines {
				if i >= len(lines) || !strings.HasPrefix(lines[i], want) {
					t.Errorf("line %d does not start with %q:\n%s", i+1, want, out.String())
				}
			}
			if c.code == 1 && !strings.Contains(out.String(), `"msg":"start failed"`) {
				t.Errorf("no structured start failed line:\n%s", out.String())
			}
			for _, s := range []string{"hunter2-s3cret", "8613800000000", "13900000001", "张桂兰", "李建国"} {
				if strings.Contains(out.String(), s) {
					t.Errorf("%q is shown:\n%s", s, out.String())
				}
			}
		})
	}
}
