package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/sqlite"
)

// Press report: -press-report DIR… reads rounds of the shared harness that
// ran with presses (scripts/bench-ingest.sh) and prints, per round, the
// time from each press's publish to its alarm's commit in alarmd.
//
// The commit moment is alarmd's own "alarm opened" log line: the ingest
// pipeline writes it right after the transaction holding the alarm
// committed (and the batch's acknowledgements went to the socket), before
// escalation, and alarmd's JSON log stamps it in ns (the moment its
// anxin_alarm_open_latency_seconds histogram ends at). The line
// names the household, and each press in a round goes to a household of
// its own, so the household is the press. A round directory holds the
// presser's output (presses.jsonl), alarmd's log (alarmd.log) and the
// harness's result.json, whose load generator's first publish and last
// acknowledgement bound "during the load": only presses sent inside it
// are in the percentiles; every press is checked for exactly one alarm,
// in the log by its household and in alarmd's store (alarmd.db, which the
// harness leaves in the round) by its message id.

// PressRound is what one round's presses became.
type PressRound struct {
	Round      string   `json:"round"`
	Presses    int      `json:"presses"`
	InLoad     int      `json:"in_load"` // sent while the load generator published
	Alarms     int      `json:"alarms"`  // alarms of the rule opened for pressed households
	Stored     int      `json:"stored"`  // alarms in the store whose message is a press
	Missing    []string `json:"missing,omitempty"`
	Duplicated []string `json:"duplicated,omitempty"`
	Unexpected int      `json:"unexpected"` // alarms of the rule for households not pressed
	P50Ms      float64  `json:"p50_ms"`
	P99Ms      float64  `json:"p99_ms"`
	MaxMs      float64  `json:"max_ms"`
	// from the press's arrival at alarmd to its commit (the log line's
	// since_arrival): alarmd's share of the figures above
	InP50Ms      float64  `json:"alarmd_p50_ms"`
	InP99Ms      float64  `json:"alarmd_p99_ms"`
	ProberCPU    float64  `json:"prober_cpu_s"`
	LoadgenCPU   float64  `json:"loadgen_cpu_s"`
	NoLoadWindow bool     `json:"no_load_window,omitempty"` // no result.json: every press counted
	Problems     []string `json:"problems,omitempty"`       // the round failed
	Notes        []string `json:"notes,omitempty"`
}

// openedLine is what the report reads of alarmd's "alarm opened" line.
type openedLine struct {
	Time      time.Time `json:"time"`
	Msg       string    `json:"msg"`
	Household string    `json:"household"`
	Rule      string    `json:"rule"`
	// SinceArrival is the message's arrival at alarmd to the commit, ns (0:
	// an alarmd that does not log it)
	SinceArrival time.Duration `json:"since_arrival"`
}

// parseOpened reads one line of alarmd's JSON log: ok when it is an
// "alarm opened" line with a time and a household.
func parseOpened(line []byte) (l openedLine, ok bool) {
	if !bytes.Contains(line, []byte(`"alarm opened"`)) {
		return l, false
	}
	if json.Unmarshal(line, &l) != nil || l.Msg != "alarm opened" || l.Time.IsZero() || l.Household == "" {
		return openedLine{}, false
	}
	return l, true
}

// readPresses reads a presser's output: its presses and, when it finished,
// its summary.
func readPresses(r io.Reader) ([]PressLine, *PressSummary, error) {
	var presses []PressLine
	var sum *PressSummary
	dec := json.NewDecoder(r)
	for {
		var l struct {
			PressLine
			PressSummary
		}
		if err := dec.Decode(&l); err == io.EOF {
			return presses, sum, nil
		} else if err != nil {
			return presses, sum, err
		}
		if l.Press != "" {
			presses = append(presses, l.PressLine)
		} else {
			s := l.PressSummary
			sum = &s
		}
	}
}

// readRound reports on one round directory; rule is the rules.yaml name of
// the alarm a press opens.
func readRound(dir, rule string) (PressRound, error) {
	r := PressRound{Round: filepath.Base(dir)}
	f, err := os.Open(filepath.Join(dir, "presses.jsonl"))
	if err != nil {
		return r, err
	}
	presses, sum, err := readPresses(f)
	f.Close()
	if err != nil {
		return r, fmt.Errorf("%s: %w", f.Name(), err)
	}
	r.Presses = len(presses)
	switch {
	case sum == nil:
		r.Problems = append(r.Problems, "the presser did not finish (no summary line): its presses may not all have been acknowledged")
	case sum.Errors > 0:
		r.ProberCPU = sum.CPUSeconds
		r.Problems = append(r.Problems, fmt.Sprintf("the presser had %d errors, the first: %s", sum.Errors, sum.FirstError))
	default:
		r.ProberCPU = sum.CPUSeconds
		if sum.Exhausted {
			r.Notes = append(r.Notes, "every household was pressed before the load ended: the rest of it went without presses")
		}
	}

	from, to := int64(0), int64(1<<63-1)
	var res struct {
		Loadgen struct {
			FirstPublishNs int64 `json:"first_publish_unix_ns"`
			LastAckNs      int64 `json:"last_ack_unix_ns"`
		} `json:"loadgen"`
		LoadgenCPU float64 `json:"loadgen_cpu_s"`
	}
	switch b, err := os.ReadFile(filepath.Join(dir, "result.json")); {
	case errors.Is(err, os.ErrNotExist):
		r.NoLoadWindow = true
	case err != nil:
		return r, err
	default:
		if err := json.Unmarshal(b, &res); err != nil {
			return r, fmt.Errorf("%s/result.json: %w", dir, err)
		}
		from, to, r.LoadgenCPU = res.Loadgen.FirstPublishNs, res.Loadgen.LastAckNs, res.LoadgenCPU
	}

	opened := map[string][]time.Time{}
	inAlarmd := map[string]time.Duration{} // a household's first alarm's since_arrival
	lf, err := os.Open(filepath.Join(dir, "alarmd.log"))
	if err != nil {
		return r, err
	}
	sc := bufio.NewScanner(lf)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if l, ok := parseOpened(sc.Bytes()); ok && l.Rule == rule {
			opened[l.Household] = append(opened[l.Household], l.Time)
			if _, seen := inAlarmd[l.Household]; !seen && l.SinceArrival > 0 {
				inAlarmd[l.Household] = l.SinceArrival
			}
		}
	}
	lf.Close()
	if err := sc.Err(); err != nil {
		return r, fmt.Errorf("%s: %w", lf.Name(), err)
	}

	var lat, in []time.Duration
	pressed := map[string]bool{}
	for _, p := range presses {
		pressed[p.Household] = true
		at := opened[p.Household]
		r.Alarms += len(at)
		inLoad := p.SentNs >= from && p.SentNs <= to
		if inLoad {
			r.InLoad++
		}
		switch {
		case len(at) == 0:
			r.Missing = append(r.Missing, p.Household+" ("+p.Press+")")
			continue
		case len(at) > 1:
			r.Duplicated = append(r.Duplicated, fmt.Sprintf("%s (%s): %d alarms", p.Household, p.Press, len(at)))
		}
		if inLoad {
			lat = append(lat, slices.MinFunc(at, time.Time.Compare).Sub(time.Unix(0, p.SentNs)))
			if d, ok := inAlarmd[p.Household]; ok {
				in = append(in, d)
			}
		}
	}
	for hh, at := range opened {
		if !pressed[hh] {
			r.Unexpected += len(at)
		}
	}
	if err := r.checkStore(filepath.Join(dir, "alarmd.db"), rule, presses); err != nil {
		r.Notes = append(r.Notes, "the store was not checked: "+err.Error())
	}
	if n := len(r.Missing); n > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d of %d presses opened no alarm: %s", n, r.Presses, strings.Join(r.Missing, ", ")))
	}
	if n := len(r.Duplicated); n > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d presses opened more than one alarm: %s", n, strings.Join(r.Duplicated, ", ")))
	}
	if r.Unexpected > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d %s alarms of households nobody pressed", r.Unexpected, rule))
	}
	if r.InLoad == 0 {
		r.Problems = append(r.Problems, "no press was sent while the load was published")
	}
	if len(lat) > 0 { // care.Percentile sorts a copy of its own
		r.P50Ms, r.P99Ms, r.MaxMs = ms(care.Percentile(lat, 50)), ms(care.Percentile(lat, 99)), ms(slices.Max(lat))
	}
	r.InP50Ms, r.InP99Ms = ms(care.Percentile(in, 50)), ms(care.Percentile(in, 99)) // 0 when empty
	return r, nil
}

// checkStore counts the alarms of rule in alarmd's store by the message
// that opened them: each press's exactly once, none of any other message.
func (r *PressRound) checkStore(path, rule string, presses []PressLine) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	const most = 10_000 // what Alarms lists at most
	alarms, err := db.Alarms(ctx, anxin.AlarmFilter{Limit: most})
	if err != nil {
		return err
	}
	if len(alarms) == most {
		return fmt.Errorf("%d alarms or more: not all listed", most)
	}
	byMessage := map[string]int{}
	for _, a := range alarms {
		if a.Rule == rule {
			byMessage[a.MessageID]++
		}
	}
	var none, more []string
	for _, p := range presses {
		n := byMessage[p.Press]
		switch {
		case n == 0:
			none = append(none, p.Press)
		case n > 1:
			more = append(more, fmt.Sprintf("%s: %d", p.Press, n))
		}
		r.Stored += n
		delete(byMessage, p.Press)
	}
	if len(none) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d presses have no alarm in the store: %s", len(none), strings.Join(none, ", ")))
	}
	if len(more) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d presses have more than one alarm in the store: %s", len(more), strings.Join(more, ", ")))
	}
	if n := len(byMessage); n > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d %s alarms in the store were opened by no press", n, rule))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// median as summarize.py's statistics.median takes it (the mean of the
// middle two of an even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pressReport prints the table of rounds dirs to stdout and every problem
// loudly to stdout and stderr; 1 when a round has one.
func pressReport(dirs []string, rule string, stdout, stderr io.Writer) int {
	var rounds []PressRound
	code := 0
	for _, d := range dirs {
		r, err := readRound(d, rule)
		if err != nil {
			fmt.Fprintf(stdout, "\n**PRESSES FAILED** %s: %v\n", d, err)
			fmt.Fprintf(stderr, "anxin-load: PRESSES FAILED: %s: %v\n", d, err)
			code = 1
			continue
		}
		if b, err := json.MarshalIndent(r, "", "  "); err == nil {
			_ = os.WriteFile(filepath.Join(d, "presses-report.json"), append(b, '\n'), 0o644)
		}
		rounds = append(rounds, r)
	}
	if len(dirs) > 0 {
		fmt.Fprintf(stdout, "\n### press → alarm committed: %s\n\n", filepath.Dir(dirs[0]))
	}
	fmt.Fprintln(stdout, "| round | presses | during the load | alarms logged | alarms stored | missing | duplicated | not pressed | p50 ms | p99 ms | max ms | in alarmd p50 / p99 ms | prober CPU s | loadgen CPU s |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	var p99s []float64
	for _, r := range rounds {
		fmt.Fprintf(stdout, "| %s | %d | %d | %d | %d | %d | %d | %d | %.1f | %.1f | %.1f | %.1f / %.1f | %.2f | %.2f |\n", strings.TrimPrefix(r.Round, "round-"),
			r.Presses, r.InLoad, r.Alarms, r.Stored, len(r.Missing), len(r.Duplicated), r.Unexpected, r.P50Ms, r.P99Ms, r.MaxMs,
			r.InP50Ms, r.InP99Ms, r.ProberCPU, r.LoadgenCPU)
		if r.InLoad > 0 {
			p99s = append(p99s, r.P99Ms)
		}
	}
	if len(p99s) > 0 {
		fmt.Fprintf(stdout, "| **median of the rounds' p99** | | | | | | | | | **%.1f** | | | | |\n", median(p99s))
	}
	for _, r := range rounds {
		if r.NoLoadWindow {
			r.Notes = append(r.Notes, "no result.json, so no load window: every press is in the percentiles")
		}
		for _, n := range r.Notes {
			fmt.Fprintf(stdout, "\n%s: %s\n", r.Round, n)
		}
		for _, p := range r.Problems {
			fmt.Fprintf(stdout, "\n**PRESSES FAILED** %s: %s\n", r.Round, p)
			fmt.Fprintf(stderr, "anxin-load: PRESSES FAILED: %s: %s\n", r.Round, p)
			code = 1
		}
	}
	return code
}
