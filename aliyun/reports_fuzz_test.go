package aliyun_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/anxin-care/anxin/aliyun"
)

// Report parsers: no panic, a clear error or reports that survive a round
// trip through JSON unchanged.
func FuzzParseSMSReports(f *testing.F) {
	f.Add([]byte(`[{"phone_number":"13900000001","send_time":"2026-12-06 10:00:00","report_time":"2026-12-06 10:00:05","success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1","biz_id":"12345^0","out_id":"01A/s0/sms@aliyun"}]`))
	f.Add([]byte(`[{"success":false,"err_code":"MK:0001","out_id":"x"}, {}]`))
	f.Add([]byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, aliyun.ParseSMSReports) })
}

func FuzzParseVoiceReports(f *testing.F) {
	f.Add([]byte(`[{"call_id":"116012354^1001","start_time":"2026-12-06 10:00:00","end_time":"2026-12-06 10:00:30","duration":"30","status_code":"200000","status_msg":"用户听完挂断","out_id":"01A/s0/voice@aliyun","dtmf":"1","toll_type":"LOCAL"}]`))
	f.Add([]byte(`[{"call_id":"c","status_code":"200002","out_id":"o"}]`))
	f.Add([]byte(`[` + "\x00" + `]`))
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, aliyun.ParseVoiceReports) })
}

// roundTrip: what parses encodes to JSON that parses to the same reports.
func roundTrip[T any](t *testing.T, b []byte, parse func([]byte) ([]T, error)) {
	rs, err := parse(b)
	if err != nil || len(rs) == 0 {
		return
	}
	again, _ := json.Marshal(rs)
	rs2, err := parse(again)
	if err != nil || !reflect.DeepEqual(rs, rs2) {
		t.Fatalf("round trip: %v %+v %+v", err, rs, rs2)
	}
}
