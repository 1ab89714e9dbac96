package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/alarmd"
	"github.com/anxin-care/anxin/words"
)

func previewConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	hh := filepath.Join(dir, "households.yaml")
	if err := os.WriteFile(hh, []byte(`
households:
  - id: hh-0001
    elder: {name: 张桂兰, phone: "+8613800000000", address: 善广乡东村三组12号, tier: high}
    contacts: [{name: 李明, relation: child, phone: "+8613900000001"}]
    community: [{name: 王芳, role: grid_worker, phone: "+8613700000002"}]
    devices: [{id: btn1, kind: call_button, place: 卧室}, {id: sd1, kind: smoke_detector, place: 厨房}, {id: wm1, kind: water_meter}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "alarmd.yaml")
	if err := os.WriteFile(cfg, []byte("http: {public_url: \"https://alarm.example.org\"}\nhouseholds_file: "+hh+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

var previewAt = time.Date(2026, 12, 6, 16, 57, 0, 0, time.UTC) // 00:57 on 7 December in Shanghai

func TestPreviewButton(t *testing.T) {
	var out, errs bytes.Buffer
	if code := previewMain([]string{"--rule", "button", "--household", "hh-0001", "-config", previewConfig(t)}, previewAt, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	want := `== SMS (101 characters, 2 segments)
【安心】张桂兰（善广乡东村三组12号）：12月7日 00:57 按下了卧室的呼叫按钮。请尽快联系或上门查看。由您处理请点：https://alarm.example.org/ack/Ab3dE6gH9k
== call to a contact
您好，这里是安心居家养老平台。张桂兰家：12月7日 00:57 按下了卧室的呼叫按钮。由您处理请按1。
== call to the elder
您好，这里是安心居家养老平台。12月7日 00:57 按下了卧室的呼叫按钮。如果您平安，请按1。
== ack page (https://alarm.example.org/ack/Ab3dE6gH9k)
安心告警
张桂兰（善广乡东村三组12号）：12月7日 00:57 按下了卧室的呼叫按钮
请确认由您来处理此告警。
我来处理
拨打老人电话
== taken notice
【安心】张桂兰的告警（12月7日 00:57 按下了卧室的呼叫按钮）已由李明接手处理，无需再确认。
== duty notice
【安心】无人接收：张桂兰（善广乡东村三组12号）：12月7日 00:57 按下了卧室的呼叫按钮。已呼叫4次无人确认，请值班人员立即处理，接手请点：https://alarm.example.org/ack/Ab3dE6gH9k
`
	if out.String() != want {
		t.Errorf("preview:\n%s\nwant:\n%s", out.String(), want)
	}
}

// Every rule previews in Mandarin: no ASCII word outside the link, SMS in
// two segments.
func TestPreviewEveryRule(t *testing.T) {
	cfg := previewConfig(t)
	word := regexp.MustCompile(`[A-Za-z]{3,}`)
	for _, r := range alarmd.PreviewRules() {
		var out, errs bytes.Buffer
		if code := previewMain([]string{"--rule", r, "--household", "hh-0001", "-config", cfg}, previewAt, &out, &errs); code != 0 {
			t.Fatalf("%s: exit %d: %s", r, code, errs.String())
		}
		lines := strings.Split(out.String(), "\n")
		for _, l := range lines {
			if strings.HasPrefix(l, "== ") {
				continue
			}
			if w := word.FindString(strings.ReplaceAll(l, "https://alarm.example.org/ack/Ab3dE6gH9k", "")); w != "" {
				t.Errorf("%s: %q in %s", r, w, l)
			}
		}
		if sms := lines[1]; !words.SMSFits(sms) {
			t.Errorf("%s: SMS over two segments: %s", r, sms)
		}
	}
	var out, errs bytes.Buffer
	if code := previewMain([]string{"--rule", "tea", "--household", "hh-0001", "-config", cfg}, previewAt, &out, &errs); code != 2 || !strings.Contains(errs.String(), "button") {
		t.Errorf("unknown rule: exit %d, %s", code, errs.String())
	}
	if code := previewMain([]string{"--household", "hh-9", "-config", cfg}, previewAt, &out, &errs); code != 2 || !strings.Contains(errs.String(), "hh-9") {
		t.Errorf("unknown household: exit %d, %s", code, errs.String())
	}
}
