package nmea

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

const fixtures = "../../testdata/fixtures/nmea"

// gpsdEpoch is gpsd's last word on one fix epoch in a .chk file.
type gpsdEpoch struct {
	mode     int
	lat, lon float64
	hasPos   bool
}

// readChk pairs gpsd's TPV lines with fix epochs. A .chk file is the capture
// with gpsd's JSON output interleaved: each TPV follows the sentence that
// produced it. A TPV belongs to the epoch of the last sentence before it that
// carries a time of day (RMC, GGA, GNS, GLL; GSA/GSV carry none and belong to
// the epoch they follow). The last TPV of an epoch is gpsd's final view of it.
func readChk(t *testing.T, path string) (map[string]gpsdEpoch, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	epochs := map[string]gpsdEpoch{}
	var order []string
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "$"):
			s, err := parseSentence(line)
			if err != nil || s.proprietary() {
				continue
			}
			var tod string
			switch s.typ {
			case "RMC", "GGA", "GNS":
				tod = field(s.fields, 0)
			case "GLL":
				tod = field(s.fields, 4)
			}
			if tod != "" {
				cur = tod
			}
		case strings.HasPrefix(line, `{"class":"TPV"`):
			var tpv struct {
				Mode int      `json:"mode"`
				Time string   `json:"time"`
				Lat  *float64 `json:"lat"`
				Lon  *float64 `json:"lon"`
			}
			if err := json.Unmarshal([]byte(line), &tpv); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if cur == "" {
				t.Fatalf("%s: TPV before any timed sentence", path)
			}
			if tpv.Time != "" {
				// gpsd's own time must name the epoch we paired it with.
				ts, err := time.Parse(time.RFC3339Nano, tpv.Time)
				if err != nil {
					t.Fatal(err)
				}
				if got := ts.Format("150405"); got != cur[:6] {
					t.Fatalf("%s: TPV time %s paired with epoch %s", path, tpv.Time, cur)
				}
			}
			if _, seen := epochs[cur]; !seen {
				order = append(order, cur)
			}
			e := gpsdEpoch{mode: tpv.Mode}
			if tpv.Lat != nil && tpv.Lon != nil {
				e.lat, e.lon, e.hasPos = *tpv.Lat, *tpv.Lon, true
			}
			epochs[cur] = e
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return epochs, order
}

func decodeFile(t *testing.T, path string) ([]Fix, Stats) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fixes []Fix
	asm := NewAssembler(func(x Fix) { fixes = append(fixes, x) })
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := asm.Line(line); err != nil {
			t.Errorf("%s: %q: %v", filepath.Base(path), line, err)
		}
	}
	asm.Flush()
	return fixes, asm.Stats
}

// TestGpsdPositions: for every capture with gpsd's expected output, every
// epoch where gpsd reports a 2D/3D fix (TPV mode >= 2) has exactly one
// reading with the same lat/lon to 1e-6, and no reading exists for an
// epoch gpsd did not fix.
func TestGpsdPositions(t *testing.T) {
	chks, err := filepath.Glob(filepath.Join(fixtures, "*.log.chk"))
	if err != nil || len(chks) == 0 {
		t.Fatalf("no .chk fixtures: %v", err)
	}
	for _, chk := range chks {
		log := strings.TrimSuffix(chk, ".chk")
		t.Run(filepath.Base(log), func(t *testing.T) {
			want, order := readChk(t, chk)
			fixes, st := decodeFile(t, log)
			got := map[string]Fix{}
			for _, f := range fixes {
				tod := f.Time.Format("150405.00")
				if _, dup := got[tod]; dup {
					t.Errorf("two readings for epoch %s", tod)
				}
				got[tod] = f
			}
			fixed := 0
			for _, tod := range order {
				w := want[tod]
				key := todKey(tod)
				g, ok := got[key]
				if w.mode < 2 {
					if ok {
						t.Errorf("epoch %s: reading %.6f,%.6f but gpsd has no fix (mode %d)", tod, g.Lat, g.Lon, w.mode)
					}
					continue
				}
				fixed++
				if !w.hasPos {
					t.Fatalf("epoch %s: gpsd mode %d without lat/lon", tod, w.mode)
				}
				if !ok {
					t.Errorf("epoch %s: no reading, gpsd has %.9f,%.9f", tod, w.lat, w.lon)
					continue
				}
				if math.Abs(g.Lat-w.lat) > 1e-6 || math.Abs(g.Lon-w.lon) > 1e-6 {
					t.Errorf("epoch %s: %.9f,%.9f, gpsd %.9f,%.9f", tod, g.Lat, g.Lon, w.lat, w.lon)
				}
			}
			if len(fixes) != fixed || fixed == 0 {
				t.Errorf("%d readings, gpsd fixed %d epochs", len(fixes), fixed)
			}
			if st.Malformed != 0 {
				t.Errorf("%d malformed lines in a real capture", st.Malformed)
			}
			t.Logf("%d epochs fixed, %d without fix, %d sentences skipped", st.Fixes, st.NoFix, st.Skipped)
		})
	}
}

// todKey normalizes hhmmss[.s…] to hhmmss.00 as Fix.Time formats it.
func todKey(tod string) string {
	tt, err := parseDate("", tod)
	if err != nil {
		return tod
	}
	return tt.Format("150405.00")
}

// TestCapturesWithoutChk: the captures gpsd ships without expected output
// decode without errors and give readings with valid fixes.
func TestCapturesWithoutChk(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(fixtures, "*.log"))
	n := 0
	for _, log := range logs {
		if _, err := os.Stat(log + ".chk"); err == nil {
			continue
		}
		n++
		t.Run(filepath.Base(log), func(t *testing.T) {
			fixes, st := decodeFile(t, log)
			if len(fixes) == 0 {
				t.Fatal("no readings")
			}
			for _, f := range fixes {
				if f.Lat == 0 || f.Lon == 0 || f.Lat < -90 || f.Lat > 90 || f.Lon < -180 || f.Lon > 180 {
					t.Errorf("implausible fix %+v", f)
				}
				if f.HasQuality && f.Quality < 1 { // an RMC-only epoch has no quality
					t.Errorf("fix with quality 0: %+v", f)
				}
			}
			t.Logf("%d readings, %d skipped sentences (proprietary/unknown)", len(fixes), st.Skipped)
		})
	}
	if n == 0 {
		t.Fatal("no captures without .chk")
	}
}

// TestDecoderCapture runs a capture through the Decoder `gatewayd decode`
// uses: one contract-valid tracker reading per fix epoch, ts the fix time.
func TestDecoderCapture(t *testing.T) {
	log := filepath.Join(fixtures, "gpsd-beidou-bd.log")
	fixes, _ := decodeFile(t, log)
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	dec := &decoder{cfg: &Config{Device: "trk1"}, env: drivers.Env{Household: "hh-0001", Now: func() time.Time { return now }}}
	var msgs []anxin.Message
	var fails []drivers.DecodeError
	if err := dec.Decode(f, func(m anxin.Message) { msgs = append(msgs, m) }, func(e drivers.DecodeError) { fails = append(fails, e) }); err != nil {
		t.Fatal(err)
	}
	if len(fails) != 0 {
		t.Errorf("errors: %v", fails)
	}
	if len(msgs) != len(fixes) || len(msgs) == 0 {
		t.Fatalf("%d messages, %d fixes", len(msgs), len(fixes))
	}
	ids := map[string]bool{}
	for i, m := range msgs {
		if err := m.Validate(); err != nil {
			t.Errorf("message %d: %v", i, err)
		}
		if m.Kind != anxin.KindTracker || m.Device != "trk1" || m.Household != "hh-0001" {
			t.Errorf("message %d: %+v", i, m)
		}
		if !m.TS.Equal(fixes[i].Time) || m.TS.Year() != 2015 {
			t.Errorf("message %d ts %s, fix time %s", i, m.TS, fixes[i].Time)
		}
		for _, k := range []string{"lat", "lon", "alt_m", "speed_kmh", "fix_quality", "sats", "hdop"} {
			if _, ok := m.Fields[k]; !ok {
				t.Errorf("message %d lacks %s", i, k)
			}
		}
		ids[m.ID] = true
	}
	if len(ids) != len(msgs) {
		t.Error("message ids are not unique")
	}
	// Positions were checked against gpsd above; here only that they pass through unchanged.
	if got := msgs[0].Fields["lat"].Float(); got != fixes[0].Lat {
		t.Errorf("lat %v != %v", got, fixes[0].Lat)
	}
}
