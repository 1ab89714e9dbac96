package tcpserver_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/jt808"
	"github.com/anxin-care/anxin/drivers/watch3g"
	"github.com/anxin-care/anxin/gateway"
)

// TestGatewaydDecode runs `gatewayd decode` (in process) on captured byte
// streams of both protocols: JSON lines on stdout, one error line with its
// offset per bad frame on stderr, device = the terminal id as sent.
func TestGatewaydDecode(t *testing.T) {
	ts := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	term := &jt808.Terminal{Phone: "013800138000"}
	jt := jt808.Encode(term.Packet(jt808.MsgLocation, jt808.LocationBody(jt808.Fix{Lat: 30, Lon: 120, Time: ts, Alarm: jt808.AlarmSOS, BatteryPct: 50})))
	bad := bytes.Clone(jt)
	bad[5] ^= 1
	w := watch3g.Encode("3G", "9031853319", "", watch3g.PositionContent("AL", watch3g.Fix{Time: ts, Lat: 22.5, Lon: 114, BatteryPct: 60, Status: watch3g.AlarmFall}))
	w = append(w, watch3g.Encode("3G", "9031853319", "", "btemp2,1,36.8")...)
	for _, c := range []struct {
		driver string
		in     []byte
		want   []string // device/event-or-field per line
		errAt  []int64
	}{
		{"jt808", append(append([]byte("xyz"), bad...), jt...), []string{"013800138000/reading", "013800138000/button_pressed"}, []int64{3}},
		{"watch3g", append(append(w, "[3G*1*00ZZ*LK]"...), w...), []string{"9031853319/reading", "9031853319/fall", "9031853319/body_temp_c",
			"9031853319/reading", "9031853319/fall", "9031853319/body_temp_c"}, []int64{int64(len(w))}},
	} {
		var out, errOut bytes.Buffer
		err := gateway.Decode(gateway.DecodeOptions{Driver: c.driver, Stdin: bytes.NewReader(c.in), Stdout: &out, Stderr: &errOut,
			Now: func() time.Time { return ts }})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			m, err := anxin.ParseMessage("", []byte(l))
			if err != nil {
				t.Fatalf("%s: %v: %s", c.driver, err, l)
			}
			what := string(m.Event)
			if what == "" {
				what = "reading"
				if _, ok := m.Fields["body_temp_c"]; ok {
					what = "body_temp_c"
				}
			}
			got = append(got, m.Device+"/"+what)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: got %v, want %v", c.driver, got, c.want)
		}
		var offs []int64
		for _, l := range strings.Split(strings.TrimSpace(errOut.String()), "\n") {
			var e struct {
				Error  string
				Offset int64
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil || e.Error == "" {
				t.Fatalf("%s: stderr line %q", c.driver, l)
			}
			offs = append(offs, e.Offset)
		}
		if len(offs) != len(c.errAt) || offs[0] != c.errAt[0] {
			t.Errorf("%s: errors at %v, want %v", c.driver, offs, c.errAt)
		}
	}
}
