package escalate_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
)

// The log notifier prints the ack link (so a person on the same machine can
// accept) but neither the number nor the words, which name the elder.
func TestLogNotifierPrintsLinkNotPersonalData(t *testing.T) {
	var b syncBuffer
	n := &escalate.LogNotifier{Logger: slog.New(slog.NewTextHandler(&b, nil))}
	sms := anxin.Notification{AttemptID: "01A/s0/sms", To: phone1, Channel: anxin.ChannelSMS,
		Body: "【安心】张桂兰：一键呼叫 https://alarm.example.org/ack/tok", AckURL: "https://alarm.example.org/ack/tok"}
	call := anxin.Notification{AttemptID: "01A/s0/voice", To: phone1, Channel: anxin.ChannelVoice, Body: "张桂兰家…按1", AskKey: true}
	for _, no := range []anxin.Notification{sms, call} {
		if id, retry, err := n.Send(t.Context(), no); err != nil || retry || id == "" {
			t.Fatalf("send: %q %v %v", id, retry, err)
		}
	}
	if ids, err := n.Lookup(t.Context(), sms, time.Time{}); err != nil || len(ids) != 1 || ids[0] != "log-01A/s0/sms" {
		t.Fatalf("lookup: %q %v", ids, err)
	}
	out := b.String()
	if !strings.Contains(out, "ack_url=https://alarm.example.org/ack/tok") || !strings.Contains(out, anxin.MaskPhone(phone1)) {
		t.Fatalf("log lacks the link or the masked number:\n%s", out)
	}
	if strings.Contains(out, phone1) || strings.Contains(out, "张桂兰") {
		t.Fatalf("log holds personal data:\n%s", out)
	}
}
