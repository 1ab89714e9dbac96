package rules

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

var update = flag.Bool("update", false, "regenerate testdata/rules/week (input CSV and golden alarms)")

const weekDir = "../testdata/rules/week"

// weekHousehold is one simulated home for the week of Mon 23 .. Sun 29 Nov 2026.
type weekHousehold struct {
	id, tier, story string
	away            [2]time.Time // marked away from..to
	silent          [2]time.Time // meter sends nothing from..to
	stopAt          time.Time    // emergency: no use from the use at stopAt on
	tap             [2]time.Time // a tap left running from..to (6 l/min)
}

// weekHouseholds are the cases the golden file must show: normal days for
// both tiers, a holiday marked away, a silent meter, a fall at 07:00 for a
// general and a high-risk elder, a tap left running.
func weekHouseholds() []weekHousehold {
	return []weekHousehold{
		{id: "hh-01", tier: "general", story: "normal week"},
		{id: "hh-02", tier: "high", story: "normal week, high-risk tier (12 h rule)"},
		{id: "hh-03", tier: "general", story: "holiday: marked away Wed 09:00 .. Sat 17:00, no use meanwhile",
			away: [2]time.Time{at(2, "09:00"), at(5, "17:00")}},
		{id: "hh-04", tier: "general", story: "meter silent Tue 14:00 .. Thu 10:00",
			silent: [2]time.Time{at(1, "14:00"), at(3, "10:00")}},
		{id: "hh-05", tier: "general", story: "fall Wed 07:00 right after using water; meter keeps reporting",
			stopAt: at(2, "07:00")},
		{id: "hh-06", tier: "high", story: "fall Wed 07:00, high-risk tier",
			stopAt: at(2, "07:00")},
		{id: "hh-07", tier: "general", story: "tap left running Thu 10:00 .. 13:00",
			tap: [2]time.Time{at(3, "10:00"), at(3, "13:00")}},
	}
}

func within(t time.Time, r [2]time.Time) bool {
	return !r[0].IsZero() && !t.Before(r[0]) && t.Before(r[1])
}

// generateWeek is the deterministic generator of readings.csv: readings
// every 30 min, five bursts of use a day (10–40 l each) at jittered times.
// Columns: ts, household, device, kind, what (a field, "event", "away",
// "tier"), value.
func generateWeek() []byte {
	rng := rand.New(rand.NewPCG(2026, 11))
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	row := func(t time.Time, hh, dev, kind, what, val string) {
		_ = w.Write([]string{t.Format(time.RFC3339), hh, dev, kind, what, val})
	}
	end := at(7, "00:00")
	for _, h := range weekHouseholds() {
		row(day0, h.id, "", "", "tier", h.tier)
		// Uses of water: minute of the week → litres.
		uses := map[int]float64{}
		for d := 0; d < 7; d++ {
			for _, base := range []int{7*60 - 30, 8*60 + 30, 12 * 60, 18*60 + 30, 20*60 + 30} {
				m := d*1440 + base + rng.IntN(41) - 20
				uses[m] += 10 + float64(rng.IntN(31))
			}
		}
		total := 100 + float64(rng.IntN(900)) + float64(rng.IntN(1000))/1000
		for t := day0; t.Before(end); t = t.Add(30 * time.Minute) {
			if !h.away[0].IsZero() && t.Equal(h.away[0]) {
				row(t, h.id, "", "", "away", "1")
			}
			if !h.away[1].IsZero() && t.Equal(h.away[1]) {
				row(t, h.id, "", "", "away", "0")
			}
			from := int(t.Sub(day0).Minutes())
			for m := from; m < from+30; m++ {
				mt := day0.Add(time.Duration(m) * time.Minute)
				quiet := within(mt, h.away) || (!h.stopAt.IsZero() && !mt.Before(h.stopAt))
				if !quiet {
					total += uses[m] / 1000
				}
				if within(mt, h.tap) {
					total += 6.0 / 1000
				}
			}
			if !h.stopAt.IsZero() && t.Add(30*time.Minute).Equal(h.stopAt) {
				total += 0.015 // the last use, right before the fall
			}
			if within(t.Add(30*time.Minute), h.silent) {
				continue
			}
			row(t.Add(30*time.Minute), h.id, "wm1", "water_meter", "total_m3", strconv.FormatFloat(total, 'f', 3, 64))
		}
	}
	w.Flush()
	// One stream in time order, as the broker would deliver it.
	lines := strings.SplitAfter(strings.TrimSuffix(b.String(), "\n"), "\n")
	sort.SliceStable(lines, func(i, j int) bool { return lines[i][:25] < lines[j][:25] })
	return []byte("ts,household,device,kind,what,value\n" + strings.Join(lines, "") + "\n")
}

// runWeek streams the CSV through an engine with the default rules,
// ticking at every deadline, and returns one line per decision.
func runWeek(t *testing.T, data []byte) []string {
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	tl := &timeline{t: t, e: New(Default()), now: day0}
	for i, r := range rows[1:] {
		ts, err := time.Parse(time.RFC3339, r[0])
		if err != nil {
			t.Fatalf("row %d: %v", i+2, err)
		}
		switch r[4] {
		case "tier":
			tl.e.SetHousehold(r[1], anxin.Tier(r[5]))
		case "away":
			tl.advance(ts)
			tl.record(tl.e.SetAway(ts, r[1], r[5] == "1"))
		default:
			v, err := strconv.ParseFloat(r[5], 64)
			if err != nil {
				t.Fatalf("row %d: %v", i+2, err)
			}
			tl.reading(ts, r[1], r[2], anxin.Kind(r[3]), r[4], v)
		}
	}
	tl.advance(at(7, "00:00"))
	return tl.log
}

func TestWeekOfWaterMeters(t *testing.T) {
	input := generateWeek()
	inPath, goldPath := filepath.Join(weekDir, "readings.csv"), filepath.Join(weekDir, "expected_alarms.txt")
	if *update {
		if err := os.MkdirAll(weekDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(inPath, input, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(inPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, input) {
		t.Fatalf("%s is not what the generator makes: go test ./rules -run Week -update", inPath)
	}
	got := runWeek(t, committed)

	var hdr strings.Builder
	hdr.WriteString("# Expected decisions for readings.csv with configs/rules.yaml (go test ./rules -run Week -update).\n")
	for _, h := range weekHouseholds() {
		fmt.Fprintf(&hdr, "# %s (%s): %s\n", h.id, h.tier, h.story)
	}
	golden := hdr.String() + strings.Join(got, "\n") + "\n"
	if *update {
		if err := os.WriteFile(goldPath, []byte(golden), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != golden {
		t.Errorf("decisions differ from %s:\n%s", goldPath, golden)
	}

	// The properties the golden file was reviewed for, checked on their own.
	has := func(prefix string) bool {
		for _, l := range got {
			if strings.HasPrefix(l, prefix) {
				return true
			}
		}
		return false
	}
	for _, must := range []string{
		"Thu 07:00 open hh-05 no_water wm1: no water used since 07:00 yesterday (24 h)", // fall 07:00 + 24 h
		"Wed 19:00 open hh-06 no_water wm1: no water used since 07:00 (12 h)",           // high tier: 07:00 + 12 h
		"Wed 14:30 open hh-04 device_silent wm1",                                        // last reading Tue 13:30 + 25 h
		"Thu 10:00 close hh-04 device_silent wm1",
		"Thu 12:00 open hh-07 water_running_2h wm1", // tap from 10:00, 2 h
	} {
		if !has(must) {
			t.Errorf("missing: %s", must)
		}
	}
	for _, l := range got {
		f := strings.Fields(l)
		switch {
		case f[3] == "hh-03" && f[2] == "open":
			t.Errorf("the holiday away raised an alarm: %s", l)
		case f[3] == "hh-04" && f[4] == "no_water":
			t.Errorf("the silent meter raised no-use: %s", l)
		case (f[3] == "hh-01" || f[3] == "hh-02") && f[4] != "gateway_offline":
			t.Errorf("a normal week raised: %s", l)
		}
	}
}
