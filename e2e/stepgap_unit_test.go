package e2e

import (
	"strings"
	"testing"
	"time"
)

// explainGap's verdict follows the lag it is given: a wait covered by the
// time this process could not run is starvation; one the machine ran
// through is not. The alarm's lines come from every instance, in time order.
func TestExplainGapVerdict(t *testing.T) {
	from := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	to := from.Add(20 * time.Second)
	faults := &faultLog{entries: []faultEntry{{from.Add(-time.Second), "kill alarmd a1"}, {from.Add(time.Minute), "restart alarmd a1"}}}
	outputs := map[string]string{
		"a0": `{"time":"2026-12-07T15:00:12.5Z","level":"INFO","msg":"sent","component":"escalate","attempt":"01X/s1/voice"}` + "\n",
		"a2": `{"time":"2026-12-07T15:00:02Z","level":"WARN","msg":"chain lease lost during a pass","component":"escalate","alarm":"01X"}` + "\nnot json 01X\n",
	}
	starved := &lagMeter{samples: []lagSample{{from.Add(5 * time.Second), 9 * time.Second}, {from.Add(15 * time.Second), 6 * time.Second}}}
	got := explainGap(faults, starved, outputs, "01X", from, to, 6200*time.Millisecond, 3*time.Second)
	for _, want := range []string{"verdict: CPU starvation", "15s late in total", "fault kill alarmd a1", "15:00:02.000 a2 chain lease lost during a pass {\"alarm\":\"01X\"}\n  15:00:12.500 a0 sent"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q missing from:\n%s", want, got)
		}
	}
	if strings.Contains(got, "restart alarmd a1") {
		t.Errorf("a fault after the wait is listed:\n%s", got)
	}
	ran := &lagMeter{samples: []lagSample{{from.Add(5 * time.Second), 300 * time.Millisecond}}}
	if got := explainGap(faults, ran, outputs, "01X", from, to, 6200*time.Millisecond, 3*time.Second); !strings.Contains(got, "verdict: not CPU starvation alone") {
		t.Errorf("verdict with the machine running:\n%s", got)
	}
}
