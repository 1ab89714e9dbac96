package modem_test

import (
	"context"
	"errors"
	"testing"

	"github.com/anxin-care/anxin"
)

// The network's +CMS ERROR answers to AT+CMGS (3GPP TS 27.005 §3.2.5:
// 0–127 are TS 24.011 E.2 RP-causes). Only cause 21 is the recipient's
// number's fault: it is what the network answers when the SME (recipient)
// address is invalid (TS 23.040 §11, TS 23.540); such a send fails as
// anxin.ErrNumber, not retried, so one bad number does not mark the modem
// down. 1 (the service centre address unknown), 28 (our SIM not a
// subscriber of the service centre), 29, 30 (our own subscription) and 38
// (the network) are not the number's fault. Before, every CMS error was
// retried and counted toward the modem being down.
func TestCMSErrorOfTheNumberIsErrNumber(t *testing.T) {
	for _, tc := range []struct {
		cms    string
		number bool
	}{{"21", true}, {"1", false}, {"28", false}, {"29", false}, {"30", false}, {"38", false}, {"500", false}} {
		t.Run(tc.cms, func(t *testing.T) {
			f := newFakeModem(t)
			f.cms = tc.cms
			s := newSpy()
			m := open(t, f, s, s)
			_, retry, err := m.Send(context.Background(), anxin.Notification{AttemptID: "01A/s0/sms@modem", To: "+8613900000001",
				Channel: anxin.ChannelSMS, Body: "【安心】测试"})
			if err == nil {
				t.Fatal("send refused by the network reported no error")
			}
			if got := errors.Is(err, anxin.ErrNumber); got != tc.number || retry == tc.number {
				t.Fatalf("+CMS ERROR: %s → retry %v, %v (ErrNumber %v); want ErrNumber %v, retry %v", tc.cms, retry, err, got, tc.number, !tc.number)
			}
		})
	}
}
