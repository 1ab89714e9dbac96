package replay

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/replay")

const dir = "../testdata/replay/"

// TestGoldenSlices replays the committed slices of both datasets with the
// fixed and learned rules and injected emergencies; the output (alarms
// and summary) must match the reviewed golden file byte for byte, and a
// second run must give the same bytes (deterministic).
func TestGoldenSlices(t *testing.T) {
	for _, c := range []struct{ format, file, inject, golden string }{
		{"daiad", "daiad_slice.zip", "daiad_inject.csv", "daiad_slice.golden.jsonl"},
		{"ampds2", "ampds2_slice.csv.gz", "ampds2_inject.csv", "ampds2_slice.golden.jsonl"},
	} {
		t.Run(c.format, func(t *testing.T) {
			args := []string{"--format", c.format, "--file", dir + c.file, "--rules", dir + "rules.yaml", "--inject", dir + c.inject}
			got := runMain(t, args...)
			if again := runMain(t, args...); again != got {
				t.Fatal("two runs of the same replay differ")
			}
			if *update {
				if err := os.WriteFile(dir+c.golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(dir + c.golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (go test ./replay -update to accept):\n%s", c.golden, got)
			}
			checkOutput(t, got)
		})
	}
}

// checkOutput checks invariants of any replay output: every line is JSON,
// alarms are in the rules' names, delays are opened_at - injected_at, and
// the summary's counts agree with the alarm lines.
func checkOutput(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum struct{ Summary Summary }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Summary.Households == 0 {
		t.Fatalf("summary line %q: %v", lines[len(lines)-1], err)
	}
	perRule := map[string]int{}
	detected := map[string]int{}
	for _, l := range lines[:len(lines)-1] {
		var a Alarm
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("alarm line %q: %v", l, err)
		}
		if !anxin.ValidID(a.Household) || a.Reason == "" || a.OpenedAt.IsZero() {
			t.Errorf("alarm %+v", a)
		}
		perRule[a.Rule]++
		if a.InjectedAt != nil {
			detected[a.Rule]++
			if d := a.OpenedAt.Sub(*a.InjectedAt).Hours(); a.DelayH == nil || math.Abs(d-*a.DelayH) > 0.001 || d < 0 {
				t.Errorf("delay of %+v", a)
			}
		}
	}
	for _, r := range sum.Summary.Rules {
		if r.Alarms != perRule[r.Rule] {
			t.Errorf("%s: summary says %d alarms, output has %d", r.Rule, r.Alarms, perRule[r.Rule])
		}
		if IsNoUseFamily(r.Kind) && (r.Detected != detected[r.Rule] || r.Detected+r.Missed != r.Injected || r.Injected != sum.Summary.Injected) {
			t.Errorf("%s: detection figures %+v, %d detected lines", r.Rule, r, detected[r.Rule])
		}
	}
}

func runMain(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	return out.String()
}

// TestDAIADQuirks: the loader finds every 4e+05 line of the slice and
// skips it as unknown (counted), and the replay counts the decreasing
// readings and gaps it sees; none of them is taken for use or for no use.
func TestDAIADQuirks(t *testing.T) {
	raw := readZipCSV(t, dir+"daiad_slice.zip")
	lost := 0
	for _, l := range strings.Split(raw, "\n") {
		if f := strings.Split(l, ";"); len(f) == 4 && strings.Contains(f[2], "e+") {
			lost++
		}
	}
	if lost == 0 {
		t.Fatal("the slice should hold lines with lost precision")
	}
	src, err := Open("daiad", dir+"daiad_slice.zip", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	n := 0
	for {
		r, err := src.Next()
		if err != nil {
			break
		}
		n++
		if !anxin.ValidID(r.Household) || len(r.Household) != 8 || r.Litres < 0 || r.Litres > 1e7 {
			t.Fatalf("reading %+v", r)
		}
	}
	st := src.Stats()
	if st.LostPrecision != lost || st.Readings != n || st.Lines != strings.Count(strings.TrimSpace(raw), "\n") || st.Malformed != 0 {
		t.Errorf("stats %+v, %d lost-precision lines in the file, %d readings", st, lost, n)
	}
}

func readZipCSV(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, c, err := decompress(f, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// writeCSV writes a DAIAD-format CSV of one household: readings every hour
// from start, the counter given per hour (NaN: no reading, a gap; -1: a
// line in scientific notation).
func writeCSV(t *testing.T, start time.Time, counters []float64) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("user key;datetime;meter reading;diff\n")
	for i, v := range counters {
		ts := start.Add(time.Duration(i) * time.Hour).Format("02/01/2006 15:04:05")
		switch {
		case math.IsNaN(v):
			continue
		case v == -1:
			b.WriteString("ab-cd-ef-01;" + ts + ";4e+05;0\n")
		default:
			b.WriteString("ab-cd-ef-01;" + ts + ";" + strings.TrimRight(strings.TrimRight(jsonNum(v), "0"), ".") + ";0\n")
		}
	}
	p := filepath.Join(t.TempDir(), "hh.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func jsonNum(v float64) string { b, _ := json.Marshal(v); return string(b) + ".0" }

func fixed12h(t *testing.T) *rules.Config {
	t.Helper()
	cfg, err := Rules([]byte("timezone: UTC\nrules:\n  - {name: no_water_12h, kind: no_use, field: total_m3, min_delta: 0.01, for: 12h}\n"), "UTC")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func replayFile(t *testing.T, path string, o Options) (*Summary, []Alarm) {
	t.Helper()
	src, err := Open("daiad", path, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var alarms []Alarm
	sum, err := Run(src, o, func(a Alarm) error { alarms = append(alarms, a); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return sum, alarms
}

// TestQuirksAreNotUseNorNoUse: a 4e+05 value between two equal readings
// is neither a huge use nor a decrease; a decreasing reading is not use;
// a 20 h gap is no data, never no use.
func TestQuirksAreNotUseNorNoUse(t *testing.T) {
	start := time.Date(2016, 3, 1, 0, 0, 0, 0, time.UTC)
	var c []float64
	v := 1000.0
	for h := 0; h < 72; h++ {
		switch {
		case h == 10:
			c = append(c, -1) // 4e+05: unknown
		case h == 20:
			v += 50 // use: closes the first alarm
			c = append(c, v)
		case h >= 30 && h < 50:
			c = append(c, math.NaN()) // gap of 20 h with no use either side
		case h == 55:
			v -= 50 // meter reads lower: not use
			c = append(c, v)
		default:
			c = append(c, v)
		}
	}
	// Flat from hour 0: the 12 h rule must open at 12:00 (the unknown line
	// at 10:00 changes nothing); use at 20:00 closes it; not again during
	// the gap (20:00 + 12 h falls in it), but 12 h after the gap ends
	// (hour 50 → 62); the decrease at hour 55 does not restart the clock.
	// The gap itself raises device_silent (installers), once.
	sum, alarms := replayFile(t, writeCSV(t, start, c), Options{Rules: fixed12h(t)})
	var at []string
	for _, a := range alarms {
		if a.Rule == "no_water_12h" {
			at = append(at, a.OpenedAt.Format("02 15:04"))
		}
	}
	if strings.Join(at, ",") != "01 12:00,03 14:00" {
		t.Errorf("alarms at %v, want 01 12:00 and 03 14:00 (12 h after the gap ended at 02 02:00)", at)
	}
	if sum.Load.LostPrecision != 1 || sum.Decreasing != 1 || sum.Gaps != 1 || sum.Readings != 72-1-20 || len(alarms) != 3 || alarms[1].Kind != "device_silent" {
		t.Errorf("summary %+v", sum)
	}
}

// TestInjectedEmergency: a household using water every hour; from the
// injected stop_at the meter stays flat while readings continue: the 12 h
// rule detects it 12 h later, and the days touched by the window are not
// counted as household-days.
func TestInjectedEmergency(t *testing.T) {
	start := time.Date(2016, 3, 1, 0, 0, 0, 0, time.UTC)
	var c []float64
	for h := 0; h < 24*6; h++ {
		c = append(c, 1000+float64(h)*20)
	}
	stop := start.Add(50 * time.Hour)
	sum, alarms := replayFile(t, writeCSV(t, start, c), Options{Rules: fixed12h(t), Inject: map[string][]time.Time{"abcdef01": {stop}}})
	if len(alarms) != 1 || alarms[0].DelayH == nil || *alarms[0].DelayH != 12 || !alarms[0].InjectedAt.Equal(stop) {
		t.Fatalf("alarms %+v", alarms)
	}
	r := sum.Rules[0]
	if r.Injected != 1 || r.Detected != 1 || r.Missed != 0 || r.FalseAlarms != 0 || *r.MedianDelayH != 12 {
		t.Errorf("rule summary %+v", r)
	}
	// 6 days of data; the 48 h window from day 3 02:00 touches days 3, 4, 5.
	if sum.HouseholdDays != 3 || sum.InjectedDays != 3 || sum.Injected != 1 {
		t.Errorf("summary %+v", sum)
	}
	// An emergency outside the data is not applied, and counted.
	sum, _ = replayFile(t, writeCSV(t, start, c), Options{Rules: fixed12h(t), Inject: map[string][]time.Time{"abcdef01": {start.AddDate(1, 0, 0)}}})
	if sum.Injected != 0 || sum.InjectSkipped != 1 || sum.Rules[0].Injected != 0 {
		t.Errorf("summary %+v", sum)
	}
}

func TestMainArguments(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--format", "csv", "--file", "x"},
		{"--format", "daiad"},
		{"--format", "daiad", "--file", dir + "daiad_slice.zip", "--from", "1 March"},
		{"--format", "daiad", "--file", dir + "daiad_slice.zip", "--rules", dir + "daiad_inject.csv"},
		{"--format", "daiad", "--file", dir + "daiad_slice.zip", "--inject", dir + "rules.yaml"},
		{"--format", "daiad", "--file", dir + "daiad_slice.zip", "--households", "-1"},
	} {
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code != 2 || !strings.Contains(errb.String(), "replay") && !strings.Contains(errb.String(), "usage") {
			t.Errorf("%v: exit %d, %s", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"--format", "daiad", "--file", "/nonexistent"}, &out, &errb); code != 1 {
		t.Errorf("missing file: exit %d", code)
	}
}

// TestFromToAndHouseholds: --households 2 --from/--to limit what is read.
func TestFromToAndHouseholds(t *testing.T) {
	out := runMain(t, "--format", "daiad", "--file", dir+"daiad_slice.zip", "--rules", dir+"rules.yaml",
		"--households", "2", "--from", "2016-07-25", "--to", "2016-07-31")
	checkOutput(t, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum struct{ Summary Summary }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatal(err)
	}
	// The first household of the slice has data in those 7 days; the
	// second (April/May) has none, so only one household is replayed.
	if sum.Summary.Households != 1 || sum.Summary.HouseholdDays != 7 {
		t.Errorf("summary %+v", sum.Summary)
	}
}

func TestReadInject(t *testing.T) {
	m, err := ReadInject(strings.NewReader("household,stop_at\nh1,2016-03-01T10:00:00Z\nh1,2016-04-01T10:00:00+02:00\n"))
	if err != nil || len(m["h1"]) != 2 || m["h1"][1].UTC().Hour() != 8 {
		t.Errorf("%v %v", m, err)
	}
	for _, bad := range []string{"h1,yesterday\n", "h1\n", ",2016-03-01T10:00:00Z\n"} {
		if _, err := ReadInject(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
