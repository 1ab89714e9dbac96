package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportOnSlices runs the report on the committed slices (small
// samples): it writes a Markdown report with a table per run and a
// well-formed SVG, and the same seeds give the same report.
func TestReportOnSlices(t *testing.T) {
	dir := t.TempDir()
	gen := func(name string) (string, string) {
		md, svg := filepath.Join(dir, name+".md"), filepath.Join(dir, name+".svg")
		var out, errb bytes.Buffer
		code := run([]string{"-daiad", "../../testdata/replay/daiad_slice.zip", "-ampds2", "../../testdata/replay/ampds2_slice.csv.gz",
			"-out", md, "-svg", svg, "-learned", "warm_up: 7d", "-seeds", "2", "-k-daiad", "5", "-k-ampds2", "20"}, &out, &errb)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		a, err := os.ReadFile(md)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(svg)
		if err != nil {
			t.Fatal(err)
		}
		return string(a), string(b)
	}
	md, svg := gen("a")
	for _, want := range []string{"## Verdict", "## DAIAD, 10 l counts as use", "## AMPds2, 3 l counts as use", "`learned_0_99`", "`no_water_24h`", "`hazard_6144h`", "`hazard_1536h_restart`", "within 8 h", "household-days / CPU s",
		"## The default rule as deployed", "`no_water`", "`standin_4800h`", "**The default rule, as deployed**",
		"## Kind steps", "`steps_4200h`", "`steps_4200h_deployed`", "half b (held out)", "`steps1l_4200h`", "`steps1l_4600h_deployed`",
		"`stepsdrip_5600h`", "`stepsdrip_9600h_deployed`", "## Under a drip", "kind steps"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	d := xml.NewDecoder(strings.NewReader(svg))
	n := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG: %v", err)
			}
			break
		}
		if _, ok := tok.(xml.StartElement); ok {
			n++
		}
	}
	if n < 50 || !strings.Contains(svg, "<polyline") {
		t.Errorf("SVG has %d elements", n)
	}
	md2, svg2 := gen("b")
	// Only the measured seconds (and the date) may differ.
	strip := func(s string) string {
		var keep []string
		skip := false
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "## ") {
				skip = l == "## Replay speed"
			}
			if !skip && !strings.HasPrefix(l, "<!-- Generated") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if strip(md) != strip(md2) || svg != svg2 {
		t.Error("the same seed gave a different report")
	}
}

// TestQuickHalvesAndAddedRules: -add measures an extra rule beside the
// others, and the two halves of -half split the households between them
// (each household in exactly one) and change the figures.
func TestQuickHalvesAndAddedRules(t *testing.T) {
	t.Cleanup(func() { onlyRules, addRules, householdHalf = nil, "", "" })
	quick := func(half string) string {
		var out, errb bytes.Buffer
		args := []string{"-daiad", "../../testdata/replay/daiad_slice.zip", "-quick", "-seeds", "1", "-k-daiad", "5", "-only", "^(no_water_24h|x_steps)$",
			"-add", "{name: x_steps, kind: steps, min_delta: 0.003, alarm_times: [8h, 24h]}"}
		if half != "" {
			args = append(args, "-half", half)
		}
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		return out.String()
	}
	all := quick("")
	if !strings.Contains(all, "`x_steps`") {
		t.Fatalf("added rule not measured:\n%s", all)
	}
	a, b := quick("a"), quick("b")
	if a == b || a == all {
		t.Errorf("halves give the same figures as each other or as all households:\n%s\n%s", a, all)
	}
	ids := []string{"abcdef01", "0123abcd", "ffff0000", "1a2b3c4d"}
	for _, id := range ids {
		inA := inHalf(id, "a")
		if inB := inHalf(id, "b"); inA == inB {
			t.Errorf("%s in half a: %v, in half b: %v", id, inA, inB)
		}
	}
	if code := run([]string{"-quick", "-half", "c"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("-half c: exit %d", code)
	}
}
