package modem_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/modem"
)

// SMS through the AT dialogue over a pty opened at 115,200 baud (a pty does
// not pace bytes: this is the software's ceiling, not a real modem's air
// time of a few seconds per SMS). One op is one 2-part Chinese SMS.
func BenchmarkModemSMS(b *testing.B) {
	f := newFakeModem(b)
	m, err := modem.Open(modem.Config{Port: f.tty, Baud: 115200, Timeout: 5 * time.Second}, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	body := "【安心】张**家按下了呼叫按钮（善广乡幸福村3组），请尽快联系或上门查看。回复1表示您来处理，或打开链接确认：https://alarm.example.org/ack/AbCdEf123456"
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := m.Send(context.Background(), anxin.Notification{AttemptID: fmt.Sprint(i), To: "+8613900000001", Channel: anxin.ChannelSMS, Body: body}); err != nil {
			b.Fatal(err)
		}
		<-f.sms
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sms/s")
}
