package alarmd

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Aliyun unreachable (nothing listens on its endpoint): every step still
// goes out on the next channel, /healthz names the provider that is down,
// /metrics counts the failovers, and Aliyun's report route is mounted
// behind its path secret.
func TestFailoverWhenAliyunUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	_ = l.Close()
	cfg := testConfig(t)
	cfg.Notify.Channels = ChannelsConfig{SMS: []string{"aliyun", "log"}, Voice: []string{"aliyun", "log"}}
	cfg.Notify.RouteTries, cfg.Notify.DownAfter, cfg.Notify.DownFor = 1, 2, time.Hour
	cfg.Notify.Aliyun = AliyunConfig{AccessKeyID: "LTAI5tKey", AccessKeySecret: "secret-of-the-key", SignName: "安心守护",
		SMSTemplate: "SMS_1", TTSTemplate: "TTS_1", CalledShowNumber: "057100000000", SMSEndpoint: dead, VoiceEndpoint: dead,
		Protocol: "http", ReportSecret: "path-secret-0123456789"}
	logs := &logBuffer{lines: make(chan string, 10000)}
	m := &Main{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	startMain(t, m)
	pub := publisher(t, m.BrokerURL().Dial())
	publishMsg(t, pub, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	sent := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for !sent["sms"] || !sent["voice"] {
		select {
		case l := <-logs.lines:
			if strings.Contains(l, "notify (log provider: not sent)") {
				for _, ch := range []string{"sms", "voice"} {
					if strings.Contains(l, "/s0/"+ch+"@log") {
						sent[ch] = true
					}
				}
			}
			if strings.Contains(l, "secret-of-the-key") || strings.Contains(l, "path-secret-0123456789") {
				t.Fatalf("secret in the log: %s", l)
			}
		case <-deadline:
			t.Fatalf("step not sent on the log channel: %v", sent)
		}
	}
	base := "http://" + m.HTTPAddr()
	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "provider aliyun down") {
		t.Fatalf("/healthz %d %s", code, body)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, `anxin_notify_failovers_total{channel="sms",from="aliyun",to="log"} 1`) ||
		!strings.Contains(body, `anxin_notify_sends_total{channel="voice",provider="aliyun",result="failed"} 1`) {
		t.Fatalf("metrics lack the failover counts")
	}
	post := func(path string) int {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(`{"not":"a list"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/aliyun/path-secret-0123456789/sms_report"); code != 400 {
		t.Fatalf("report route with the secret: %d", code)
	}
	if code := post("/aliyun/guess-0000000000000000/sms_report"); code != 404 {
		t.Fatalf("report route without the secret: %d", code)
	}
}
