// Command anxin-report measures detection quality on the real water-meter
// datasets and writes docs/detection.md and its plot:
//
//	go run ./cmd/anxin-report            # from the repository root
//
// It replays DAIAD (92 households) and AMPds2 through the rules engine with
// a seeded set of injected emergencies, for fixed no_use rules of several
// lengths and the learned rule at several sensitivities, side by side.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/anxin-care/anxin/replay"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Sweeps: the fixed rule's length and the learned rule's sensitivity.
var (
	fixedHours    = []int{4, 6, 8, 12, 16, 24}
	sensitivities = []string{"0.9", "0.95", "0.98", "0.99", "0.995", "0.998", "0.999", "0.9995"}
)

// dataset is one replay of a dataset and what came of it.
type dataset struct {
	name, format, file string
	minDelta           float64       // m³ rise that counts as use, for every rule
	period             time.Duration // one emergency per period (0: one per household)
	emergencies        []emergency
	sum                *replay.Summary
	elapsed, cpu       time.Duration
	bound              boundResult   // hindsight bound at the goal (bound.go)
	online             []onlinePoint // the past-only learner of the same cells
}

// onlineAlphas are the settings of the past-only learner in the report.
var onlineAlphas = []float64{0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002}

// cpuTime is the CPU time (user + system) the process used so far: on a
// shared machine a steadier measure of speed than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("anxin-report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	daiad := fs.String("daiad", "testdata/datasets/water/daiad_swm_trialA.zip", "DAIAD zip")
	ampds := fs.String("ampds2", "testdata/datasets/water/ampds2_water_whw.csv.gz", "AMPds2 csv.gz")
	out := fs.String("out", "docs/detection.md", "report (Markdown)")
	svg := fs.String("svg", "docs/detection-tradeoff.svg", "plot (SVG)")
	seed := fs.Uint64("seed", 1, "seed of the injected emergencies")
	window := fs.Duration("window", replay.DefaultWindow, "an emergency lasts this long; alarms later are missed")
	extra := fs.String("learned", "", "extra keys for every learned rule, as YAML flow pairs (\"memory: 120d, min_quiet: 2h\")")
	quick := fs.Bool("quick", false, "replay DAIAD with 10 l only and print its table (no files written)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	learnedExtra = *extra
	sets := []*dataset{
		{name: "DAIAD", format: "daiad", file: *daiad, minDelta: 0.01},
		{name: "DAIAD", format: "daiad", file: *daiad, minDelta: 0.003},
		{name: "AMPds2", format: "ampds2", file: *ampds, minDelta: 0.01, period: 30 * 24 * time.Hour},
		{name: "AMPds2", format: "ampds2", file: *ampds, minDelta: 0.003, period: 30 * 24 * time.Hour},
	}
	if *quick {
		sets = sets[:1]
	}
	for _, d := range sets {
		if err := d.replay(*seed, *window); err != nil {
			fmt.Fprintf(stderr, "anxin-report: %s: %v\n", d.name, err)
			return 1
		}
		fmt.Fprintf(stderr, "%s (%g l): %d households, %d household-days, %d emergencies, %.1f s\n",
			d.name, d.minDelta*1000, d.sum.Households, d.sum.HouseholdDays+d.sum.InjectedDays, d.sum.Injected, d.elapsed.Seconds())
	}
	if *quick {
		var b bytes.Buffer
		table(&b, sets[0])
		stdout.Write(b.Bytes())
		return 0
	}
	doc, plot := render(sets, *seed, *window)
	if err := os.WriteFile(*out, doc, 0o644); err != nil {
		fmt.Fprintln(stderr, "anxin-report:", err)
		return 1
	}
	if err := os.WriteFile(*svg, plot, 0o644); err != nil {
		fmt.Fprintln(stderr, "anxin-report:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", *out, *svg)
	return 0
}

// reportRules are the rules replayed side by side: fixed no_use rules of
// each length and the learned rule at each sensitivity (its other keys at
// their defaults: 14 d warm-up, 60 d memory, 1 h minimum quiet), all with
// the same rise that counts as use.
// learnedExtra are extra keys for the learned rules (flag -learned).
var learnedExtra string

func reportRules(minDelta float64) []byte {
	y := "rules:\n"
	for _, h := range fixedHours {
		y += fmt.Sprintf("  - {name: no_water_%dh, kind: no_use, field: total_m3, min_delta: %g, for: %dh, fresh_within: 2x, silent_after: 25h, silent_rule: silent_%dh}\n", h, minDelta, h, h)
	}
	for _, s := range sensitivities {
		y += fmt.Sprintf("  - {name: learned_%s, kind: learned, min_delta: %g, sensitivity: %s%s}\n", strings.ReplaceAll(s, ".", "_"), minDelta, s, prefixed(learnedExtra))
	}
	return []byte(y)
}

func (d *dataset) replay(seed uint64, window time.Duration) error {
	cfg, err := replay.Rules(reportRules(d.minDelta), replay.DefaultZone(d.format))
	if err != nil {
		return err
	}
	src, err := replay.Open(d.format, d.file, cfg.Location())
	if err != nil {
		return err
	}
	// one pass gives both the injected emergencies and the quiet periods of
	// the bound (bound.go)
	rng := newInjectRNG(seed)
	var hs []householdQuiets
	err = readSeries(src, func(s *meterSeries) error {
		d.emergencies = append(d.emergencies, s.emergencies(rng, 14*24*time.Hour, window, d.period, 10)...)
		hs = append(hs, quietsOf(s, d.minDelta*1000))
		return nil
	})
	src.Close()
	if err != nil {
		return err
	}
	inj := map[string][]time.Time{}
	for _, e := range d.emergencies {
		inj[e.Household] = append(inj[e.Household], e.StopAt)
	}
	src, err = replay.Open(d.format, d.file, cfg.Location())
	if err != nil {
		return err
	}
	defer src.Close()
	start, cpu0 := time.Now(), cpuTime()
	d.sum, err = replay.Run(src, replay.Options{Rules: cfg, Inject: inj, Window: window}, nil)
	d.elapsed, d.cpu = time.Since(start), cpuTime()-cpu0
	if err != nil {
		return err
	}
	d.bound = hindsightBound(hs, time.Duration(goalDelayH*float64(time.Hour)), goalFalse)
	d.online = onlineCurve(hs, onlineAlphas)
	return nil
}

func prefixed(extra string) string {
	if extra == "" {
		return ""
	}
	return ", " + extra
}
