package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/rules"
)

// TestDeployedRulesReadTheDefault: the as-deployed run measures
// configs/rules.yaml's own no_water rule — kind steps, every key as
// shipped, its 3 l clock and 1 l sign of life whatever the run's
// min_delta — beside the fixed rule and the stand-ins; the steps1l rule
// counts 1 l as use whatever the run's min_delta, the stepsdrip rule 1 l
// as life and 3 l for its last step. The default has drip_run 12h, split
// weekend and a 3-day warm-up; the previous default beside it is the
// shipped rule without them (drip_run off, the 14-day warm-up, per_quiet
// 8) at stepsdrip's cost.
func TestDeployedRulesReadTheDefault(t *testing.T) {
	want := defaultSteps()
	if want == nil {
		t.Fatalf("configs/rules.yaml has no %s of kind steps", defaultRule)
	}
	for _, run := range []float64{0.003, 0.01} {
		cfg, err := deployedRules(run, "Asia/Shanghai")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		var got, life, drip, prev *rules.StepsParams
		for _, r := range cfg.Rules {
			names = append(names, r.Name)
			switch r.Name {
			case defaultRule:
				got = r.Params.(*rules.StepsParams)
			case fmt.Sprintf("steps1l_%dh_deployed", steps1lDeployed):
				life = r.Params.(*rules.StepsParams)
			case fmt.Sprintf("stepsdrip_%dh_deployed", stepsdripDeployed):
				drip = r.Params.(*rules.StepsParams)
			case previousDefault:
				prev = r.Params.(*rules.StepsParams)
			}
		}
		if len(names) != 6+len(standInCosts) || names[0] != "no_water_24h" || got == nil || life == nil || life.MinDelta != lifeDelta ||
			drip == nil || drip.MinDelta != dripMinDelta || drip.LifeDelta != lifeDelta ||
			prev == nil || want.DripRun != rules.Duration(12*time.Hour) || want.WarmUp != rules.Duration(3*24*time.Hour) || want.Split != "weekend" {
			t.Fatalf("%g: rules %v", run, names)
		}
		// the previous default: the shipped rule without drip_run, at
		// 9600h, per_quiet 8 and the 14-day warm-up
		old := *want
		old.DripRun, old.Cost, old.PerQuiet, old.WarmUp = 0, rules.Duration(stepsdripDeployed*time.Hour), 8, rules.Duration(14*24*time.Hour)
		if prev.MinDelta != old.MinDelta || prev.LifeDelta != old.LifeDelta || prev.Cost != old.Cost || prev.Fallback != old.Fallback ||
			prev.SilentAfter != old.SilentAfter || prev.Neighbours != old.Neighbours || prev.Memory != old.Memory || prev.LateShare != old.LateShare ||
			prev.PerQuiet != old.PerQuiet || prev.Split != old.Split || prev.DripRun != old.DripRun || prev.WarmUp != old.WarmUp || !slices.Equal(prev.AlarmTimes, old.AlarmTimes) {
			t.Errorf("%g: previous default %+v\nwant %+v", run, prev, old)
		}
		if got.MinDelta != want.MinDelta || got.LifeDelta != want.LifeDelta || got.Cost != want.Cost || got.Fallback != want.Fallback ||
			got.SilentAfter != want.SilentAfter || got.Neighbours != want.Neighbours || got.Memory != want.Memory ||
			got.LateShare != want.LateShare || got.PerQuiet != want.PerQuiet || got.Split != want.Split || got.DripRun != want.DripRun || got.WarmUp != want.WarmUp || !slices.Equal(got.AlarmTimes, want.AlarmTimes) {
			t.Errorf("%g: measured %+v\nshipped %+v", run, got, want)
		}
	}
}

// TestEligibleUsesFromFirstDay: the as-deployed sample includes the uses
// of the first 14 days that the learners' sample leaves out.
func TestEligibleUsesFromFirstDay(t *testing.T) {
	s := &meterSeries{id: "h"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := 0.0
	for h := 0; h < 40*24; h++ {
		if h%24 == 8 {
			v += 20
		}
		s.ts = append(s.ts, t0.Add(time.Duration(h)*time.Hour))
		s.v = append(s.v, v)
	}
	late, all := eligibleUses(s, 10, 48*time.Hour), eligibleUsesAfter(s, 10, 48*time.Hour, 0)
	if len(all) != 38 || len(late) != 24 || !all[0].at.Equal(t0.Add(8*time.Hour)) || late[0].at.Before(t0.Add(warmUp)) {
		t.Errorf("from day 1: %d uses (first %v); after the warm-up: %d", len(all), all[0].at, len(late))
	}
}

// TestDeployedSectionSaysTheDefaultsKeys: the section on the default rule
// gives its cost, drip_run and warm-up as configured, not as they were
// when the text was written.
func TestDeployedSectionSaysTheDefaultsKeys(t *testing.T) {
	def := *defaultSteps()
	def.Cost, def.DripRun, def.WarmUp = rules.Duration(5000*time.Hour), rules.Duration(6*time.Hour), rules.Duration(7*24*time.Hour)
	var b bytes.Buffer
	deployedSection(&b, nil, &def)
	for _, want := range []string{"(cost 5000h;", "close together for 6 h", "its first 7 days with data", "slower than 1 l in 6 h", "= 30 h after the last use"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in:\n%s", want, b.String())
		}
	}
}
