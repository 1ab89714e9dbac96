package rules

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/configs"
	"github.com/anxin-care/anxin/internal/configerr"
)

// saved collects DirtyStates the way alarmd persists them.
func saved(e *Engine) map[string][]byte {
	m := map[string][]byte{}
	e.DirtyStates(func(hh string, b []byte) { m[hh] = bytes.Clone(b) })
	return m
}

// TestRestartKeepsNoWaterTimer: alarmd stops at hour 20 of a no-water
// period and starts again: the alarm comes at hour 24, not 44.
func TestRestartKeepsNoWaterTimer(t *testing.T) {
	tl := newTimeline(t, waterRules)
	tl.reading(at(0, "06:40"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 9.0)
	tl.meter("hh-1", at(0, "07:00"), at(1, "02:41"), 9, 0) // to hour 20
	store := saved(tl.e)
	if len(store) != 1 || len(store["hh-1"]) == 0 {
		t.Fatalf("dirty states %v", store)
	}
	if more := saved(tl.e); len(more) != 0 {
		t.Fatalf("states dirty again without a change: %v", more)
	}

	// A new process: same rules, state restored from the store.
	tl2 := newTimeline(t, waterRules)
	tl2.now = tl.now
	for hh, b := range store {
		if err := tl2.e.RestoreState(hh, b); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := tl2.e.NextDeadline(), tl.e.NextDeadline(); !got.Equal(want) {
		t.Errorf("restored deadline %v, want %v", got, want)
	}
	tl2.meter("hh-1", at(1, "03:00"), at(2, "08:00"), 9, 0)
	tl2.expect("Tue 06:40 open hh-1 no_water_24h wm1: no water used since 06:40 yesterday (24 h)")
}

func TestStateRoundTripsAllKinds(t *testing.T) {
	tl := newTimeline(t, string(configs.RulesYAML))
	tl.e.SetHousehold("hh-1", anxin.TierHigh)
	tl.meter("hh-1", at(0, "06:00"), at(0, "20:00"), 1, 0.01)
	tl.reading(at(0, "20:00"), "hh-1", "wm1", anxin.KindWaterMeter, "battery_pct", 10, "flow_lpm", 2.0)
	tl.event(at(0, "20:01"), "hh-1", "sd1", anxin.KindSmokeDetector, anxin.EventSmoke)
	tl.record(tl.e.ObserveStatus(at(0, "20:02"), "hh-1", anxin.GatewayDevice, anxin.GatewayStatus{State: "offline"}))
	tl.record(tl.e.ObserveStatus(at(0, "20:02"), "hh-1", "sd1", anxin.Status{State: "offline", TS: at(0, "20:02")}))
	tl.record(tl.e.ObserveStatus(at(0, "20:02"), "hh-1", "zigbee2mqtt", anxin.Status{State: "offline", TS: at(0, "20:01")}))
	tl.record(tl.e.SetAway(at(0, "20:03"), "hh-1", true))
	st := saved(tl.e)["hh-1"]

	e2 := New(Default())
	if err := e2.RestoreState("hh-1", st); err != nil {
		t.Fatal(err)
	}
	if !e2.Away("hh-1") || !tl.e.NextDeadline().Equal(e2.NextDeadline()) {
		t.Errorf("restored away %v deadline %v, want %v", e2.Away("hh-1"), e2.NextDeadline(), tl.e.NextDeadline())
	}
	h1, h2 := tl.e.get("hh-1"), e2.get("hh-1")
	if !reflect.DeepEqual(h1.slots, h2.slots) || !bytes.Equal(h1.ext, h2.ext) || !reflect.DeepEqual(h1.devs, h2.devs) || h1.tier != h2.tier {
		t.Errorf("restored state differs:\n%+v\n%+v", h1, h2)
	}
	if again := e2.encode(h2); !bytes.Equal(again, st) {
		t.Error("encode(decode(state)) differs")
	}
	// Same future on both engines.
	a := tl.e.Tick(at(1, "00:00"))
	b := e2.Tick(at(1, "00:00"))
	if !reflect.DeepEqual(a, b) {
		t.Errorf("futures differ:\n%v\n%v", a, b)
	}
}

func TestRestoreStateRejectsCorrupt(t *testing.T) {
	e := New(Default())
	tl := &timeline{t: t, e: e}
	tl.meter("hh-1", at(0, "06:00"), at(0, "08:00"), 1, 0.01)
	good := saved(e)["hh-1"]
	for _, b := range [][]byte{nil, {0}, {2}, good[:len(good)-1], append(bytes.Clone(good), 0)} {
		if err := e.RestoreState("hh-1", b); err == nil || anxin.ErrorCode(err) != anxin.EINVALID {
			t.Errorf("RestoreState(%x) = %v", b, err)
		}
	}
	if err := e.RestoreState("bad id!", good); err == nil {
		t.Error("bad household id accepted")
	}
}

// TestReloadKeepsStateOfSameRules: a timer of a rule that survives a
// reload keeps running; a renamed rule starts afresh.
func TestReloadKeepsStateOfSameRules(t *testing.T) {
	tl := newTimeline(t, waterRules)
	tl.meter("hh-1", at(0, "06:00"), at(0, "20:00"), 1, 0)
	cfg, err := Parse([]byte(`
rules:
  - {name: button, kind: event, events: [button_pressed]}
  - {name: no_water_24h, kind: no_use, field: total_m3, min_delta: 0.01, for: 20h, fresh_within: 2x, silent_after: 25h}
`))
	if err != nil {
		t.Fatal(err)
	}
	tl.e.Reload(cfg)
	tl.meter("hh-1", at(0, "20:00"), at(1, "04:00"), 1, 0)
	tl.expect("Tue 02:00 open hh-1 no_water_24h wm1: no water used since 06:00 yesterday (20 h)")
	tl.e.Reload(mustParse(t, `
rules:
  - {name: no_water_1d, kind: no_use, field: total_m3, min_delta: 0.01, for: 24h}
`))
	if h := tl.e.get("hh-1"); len(h.slots) != 0 {
		t.Errorf("slots of removed rules kept: %+v", h.slots)
	}
}

func mustParse(t *testing.T, s string) *Config {
	t.Helper()
	c, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTimerLoopUnderSynctest runs the loop alarmd runs — sleep until
// NextDeadline, then Tick(now) — in a synctest bubble with fake time.
func TestTimerLoopUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(mustParse(t, waterRules))
		start := time.Now()
		decisions := make(chan Decision, 16)
		stop := make(chan struct{})
		wake := make(chan struct{}, 1)
		go func() { // the alarmd side
			for {
				var c <-chan time.Time
				var tm *time.Timer
				if d := e.NextDeadline(); !d.IsZero() {
					tm = time.NewTimer(time.Until(d))
					c = tm.C
				}
				select {
				case <-stop:
					return
				case <-wake:
				case <-c:
					for _, d := range e.Tick(time.Now()) {
						decisions <- d
					}
				}
				if tm != nil {
					tm.Stop()
				}
			}
		}()
		feed := func(v float64) {
			now := time.Now()
			// A reading at the very deadline may decide first: both paths count.
			for _, d := range e.Observe(now, &anxin.Message{ID: now.String(), TS: now, Household: "hh-1", Device: "wm1",
				Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(v)}}) {
				decisions <- d
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		for i := 0; i < 30; i++ { // hourly, no use
			feed(4)
			time.Sleep(time.Hour)
		}
		synctest.Wait()
		close(stop)
		if len(decisions) != 1 {
			t.Fatalf("%d decisions", len(decisions))
		}
		d := <-decisions
		if d.Op != OpOpen || d.Rule != "no_water_24h" || !d.At.Equal(start.Add(24*time.Hour).Truncate(time.Second)) {
			t.Errorf("decision %+v, want open at %v", d, start.Add(24*time.Hour))
		}
	})
}

func FuzzRestoreState(f *testing.F) {
	e := New(Default())
	tl := &timeline{t: &testing.T{}, e: e}
	tl.meter("hh-1", at(0, "06:00"), at(0, "09:00"), 1, 0.01)
	tl.event(at(0, "09:01"), "hh-1", "sd1", anxin.KindSmokeDetector, anxin.EventSmoke)
	e.ObserveStatus(at(0, "09:02"), "hh-1", anxin.GatewayDevice, anxin.GatewayStatus{State: "offline"})
	e.ObserveStatus(at(0, "09:03"), "hh-1", "zigbee2mqtt", anxin.Status{State: "offline", TS: at(0, "09:03")})
	e.ObserveStatus(at(0, "09:04"), "hh-1", "sd1", anxin.Status{State: "offline", TS: at(0, "09:04")})
	f.Add(saved(e)["hh-1"])
	f.Add([]byte{stateVersion, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 0, 0})
	for _, n := range []string{"hazard_v1_default_hh-1", "hazard_v1_default_hh-2", "hazard_v2_default_hh-1", "hazard_v2_default_hh-2"} {
		b, err := os.ReadFile("testdata/" + n + ".state") // state versions 1 and 2
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	cfg := Default()
	f.Fuzz(func(t *testing.T, b []byte) {
		e := New(cfg)
		if err := e.RestoreState("hh-x", b); err != nil {
			if anxin.ErrorCode(err) != anxin.EINVALID {
				t.Fatalf("error code %q: %v", anxin.ErrorCode(err), err)
			}
			return
		}
		// A restored state re-encodes stably and runs without panicking.
		enc := e.encode(e.get("hh-x"))
		e2 := New(cfg)
		if err := e2.RestoreState("hh-x", enc); err != nil {
			t.Fatalf("re-encoded state rejected: %v", err)
		}
		if again := e2.encode(e2.get("hh-x")); !bytes.Equal(again, enc) {
			t.Fatalf("encoding not stable:\n%x\n%x", enc, again)
		}
		now := time.Unix(1_800_000_000, 0)
		e.Tick(now)
		e.Observe(now, &anxin.Message{ID: "x", TS: now, Household: "hh-x", Device: "wm1", Kind: anxin.KindWaterMeter,
			Fields: anxin.Fields{"total_m3": anxin.Num(1), "battery_pct": anxin.Num(3), "lat": anxin.Num(31), "lon": anxin.Num(121)}})
		e.Observe(now, &anxin.Message{ID: "y", TS: now, Household: "hh-x", Device: "sd1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmokeClear})
		e.ObserveStatus(now, "hh-x", "sd1", anxin.Status{State: "offline", TS: now})
		e.ObserveStatus(now, "hh-x", "zigbee2mqtt", anxin.Status{State: "online", TS: now})
		e.SetAway(now, "hh-x", true)
		e.SetAway(now, "hh-x", false)
		e.Closed("hh-x", "no_water")
		e.Tick(now.Add(48 * time.Hour))
		e.DirtyStates(func(string, []byte) {})
	})
}

func FuzzParse(f *testing.F) {
	f.Add(configs.RulesYAML)
	f.Add([]byte(waterRules))
	f.Add([]byte("rules:\n  - {name: w, kind: geofence, datum: gcj02, polygon: [{lat: 31, lon: 121}, {lat: 31.1, lon: 121}, {lat: 31, lon: 121.1}], for: 5m}\n"))
	f.Add([]byte("rules:\n  - {name: t, kind: threshold, field: x, above: 3, window: \"22:00-06:00\"}\n"))
	f.Add([]byte("timezone: UTC\nrules: []\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 8<<10 {
			return
		}
		c, err := Parse(b)
		if err != nil {
			if anxin.ErrorCode(err) != anxin.EINVALID {
				t.Fatalf("error code %q: %v", anxin.ErrorCode(err), err)
			}
			// every error is typed, so alarmd can say it in Mandarin
			var ce *configerr.ConfigError
			if !errors.As(err, &ce) || ce.Kind == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse of\n%s\n: %v", out, err)
		}
		if !equalConfigs(c, c2) {
			t.Fatalf("re-parsed config differs:\n%s", out)
		}
		New(c) // compiles without panicking
	})
}

// equalConfigs compares what Parse produced, ignoring source positions.
func equalConfigs(a, b *Config) bool {
	if a.Timezone != b.Timezone || len(a.Rules) != len(b.Rules) {
		return false
	}
	strip := func(r *Rule) Rule { c := *r; c.overrides = nil; return c }
	for i := range a.Rules {
		if !reflect.DeepEqual(strip(a.Rules[i]), strip(b.Rules[i])) {
			return false
		}
	}
	return true
}

func TestMarshalRoundTripsDefault(t *testing.T) {
	c := Default()
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !equalConfigs(c, c2) {
		t.Errorf("round trip differs:\n%s", out)
	}
}

func TestRestoreKeepsConfiguredTier(t *testing.T) {
	e := New(mustParse(t, waterRules))
	tl := &timeline{t: t, e: e}
	e.SetHousehold("hh-1", anxin.TierGeneral)
	tl.meter("hh-1", at(0, "06:00"), at(0, "09:00"), 1, 0)
	st := saved(e)["hh-1"]

	e2 := New(mustParse(t, waterRules))
	e2.SetHousehold("hh-1", anxin.TierHigh) // households.yaml changed while alarmd was down
	if err := e2.RestoreState("hh-1", st); err != nil {
		t.Fatal(err)
	}
	tl2 := &timeline{t: t, e: e2, now: at(0, "09:00")}
	tl2.meter("hh-1", at(0, "09:00"), at(0, "19:00"), 1, 0)
	tl2.expect("Mon 18:00 open hh-1 no_water_24h wm1: no water used since 06:00 (12 h)")
}

// TestConcurrentUse: the engine is shared by the ingest loop, the timer
// loop and the state flusher (run with -race).
func TestConcurrentUse(t *testing.T) {
	e := New(Default())
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 500; i++ {
				now := day0.Add(time.Duration(i) * time.Minute)
				switch g {
				case 0, 1:
					e.Observe(now, &anxin.Message{ID: "x", TS: now, Household: fmt.Sprintf("hh-%d-%d", g, i%50), Device: "wm1",
						Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(float64(i))}})
				case 2:
					e.Tick(now.Add(48 * time.Hour))
					e.NextDeadline()
				case 3:
					e.DirtyStates(func(string, []byte) {})
					e.SetAway(now, "hh-0-1", i%2 == 0)
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	if n := e.Households(); n != 100 {
		t.Errorf("%d households, want 100", n)
	}
}

// TestDeviceTableIsBounded: a household that sends from endless device ids
// (hostile or broken gateway) does not grow without bound.
func TestDeviceTableIsBounded(t *testing.T) {
	e := New(Default())
	for i := 0; i < 10*maxDevices; i++ {
		e.Observe(day0, &anxin.Message{ID: "x", TS: day0, Household: "hh-1", Device: fmt.Sprintf("d%d", i),
			Kind: anxin.KindTracker, Fields: anxin.Fields{"battery_pct": anxin.Num(50)}})
	}
	h := e.get("hh-1")
	if len(h.devs) != maxDevices || len(h.slots) > maxDevices+1 {
		t.Errorf("%d devices, %d slots", len(h.devs), len(h.slots))
	}
	st := saved(e)["hh-1"]
	if err := New(Default()).RestoreState("hh-1", st); err != nil {
		t.Errorf("a full device table does not restore: %v", err)
	}
}

func TestForget(t *testing.T) {
	e := New(Default())
	tl := &timeline{t: t, e: e}
	tl.meter("hh-1", at(0, "06:00"), at(0, "08:00"), 1, 0)
	tl.meter("hh-2", at(0, "08:00"), at(0, "10:00"), 1, 0)
	e.Forget("hh-1")
	e.Forget("hh-unknown")
	if e.Households() != 1 {
		t.Fatalf("%d households", e.Households())
	}
	if st := saved(e); len(st) != 1 || st["hh-2"] == nil {
		t.Errorf("dirty states %v", st)
	}
	for _, d := range e.Tick(at(3, "00:00")) {
		if d.Household == "hh-1" {
			t.Errorf("forgotten household decided: %+v", d)
		}
	}
}

// TestLearnedRestoresVersion1State: a learned rule's state saved by the
// code of state version 1 (its 480-byte ext without a length;
// testdata/learned_v1.state, 15 days of routine, commit 0a6db44) restores
// with its histograms unchanged and re-encodes as version 2, which
// restores to the same.
func TestLearnedRestoresVersion1State(t *testing.T) {
	v1, err := os.ReadFile("testdata/learned_v1.state")
	if err != nil {
		t.Fatal(err)
	}
	cfg := mustParse(t, learnedRules("0.99"))
	e := New(cfg)
	if err := e.RestoreState("hh-1", v1); err != nil {
		t.Fatal(err)
	}
	var ext []byte
	for i := range e.get("hh-1").slots {
		if s := e.get("hh-1").at(i); len(s.ext) == learnedExt {
			ext = s.ext
		}
	}
	if ext == nil || !bytes.Contains(v1, ext) || bytes.Count(ext, []byte{0}) == len(ext) {
		t.Fatalf("histograms not restored as saved")
	}
	v2 := e.State("hh-1")
	e2 := New(cfg)
	if err := e2.RestoreState("hh-1", v2); err != nil || v2[0] != stateVersion || !bytes.Equal(e2.State("hh-1"), v2) {
		t.Fatalf("version 2: %v", err)
	}
}

// meterEngine is an engine with the default rules and touch, which gives a
// household a new meter reading a minute after the last.
func meterEngine() (*Engine, func(hh string)) {
	e := New(Default())
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	return e, func(hh string) {
		m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: hh, Device: "wm1", Kind: anxin.KindWaterMeter,
			Fields: anxin.Fields{"total_m3": anxin.Num(float64(now.Unix()))}}
		now = now.Add(time.Minute)
		e.Observe(now, &m)
	}
}

// TestTakeDirtyInOrderAndInPart: changed households are taken oldest change
// first, limit at a time, encoded as they are taken; one taken alone
// (DirtyState) or forgotten is not taken again; a match takes only its
// households and leaves the rest in order; a change after a take makes the
// household dirty again, at the back.
func TestTakeDirtyInOrderAndInPart(t *testing.T) {
	e, touch := meterEngine()
	for i := range 6 {
		touch(fmt.Sprintf("hh-%d", i))
	}
	take := func(limit int, match func(string) bool) []string {
		var got []string
		n := e.TakeDirty(limit, match, func(hh string, st []byte) {
			if len(st) == 0 {
				t.Fatalf("%s: empty state", hh)
			}
			got = append(got, hh)
		})
		if n != len(got) {
			t.Fatalf("TakeDirty said %d, handed %d", n, len(got))
		}
		return got
	}
	if st, ok := e.DirtyState("hh-1"); !ok || len(st) == 0 {
		t.Fatal("DirtyState of a changed household: nothing")
	}
	if _, ok := e.DirtyState("hh-1"); ok {
		t.Fatal("DirtyState twice without a change")
	}
	e.ForgetWhere(func(hh string) bool { return hh == "hh-2" })
	if n := e.DirtyCount(); n != 4 {
		t.Fatalf("DirtyCount %d, want 4 (hh-0, hh-3, hh-4, hh-5)", n)
	}
	if got := take(2, nil); !reflect.DeepEqual(got, []string{"hh-0", "hh-3"}) {
		t.Fatalf("first two: %v", got)
	}
	touch("hh-0") // dirty again: behind hh-4 and hh-5
	if got := take(-1, func(hh string) bool { return hh == "hh-5" }); !reflect.DeepEqual(got, []string{"hh-5"}) {
		t.Fatalf("matched: %v", got)
	}
	if got := take(-1, nil); !reflect.DeepEqual(got, []string{"hh-4", "hh-0"}) {
		t.Fatalf("the rest: %v", got)
	}
	if n := e.DirtyCount(); n != 0 || len(take(-1, nil)) != 0 {
		t.Fatalf("%d still dirty after taking all", n)
	}
}

// TestDirtyCountAfterDirtyState: a household written alone (DirtyState, an
// urgent one in alarmd) that changes again is one household with changes,
// not two: alarmd sizes a flush by DirtyCount, and each such household left
// a stale entry behind, so the count (and the dirty list) grew with every
// urgent change between flushes.
func TestDirtyCountAfterDirtyState(t *testing.T) {
	e, touch := meterEngine()
	for range 5 {
		touch("hh-urgent")
		if _, ok := e.DirtyState("hh-urgent"); !ok {
			t.Fatal("DirtyState of a changed household: nothing")
		}
	}
	touch("hh-urgent")
	touch("hh-quiet")
	if n := e.DirtyCount(); n != 2 {
		t.Fatalf("DirtyCount %d, want 2 (hh-urgent, hh-quiet)", n)
	}
	var got []string
	if n := e.TakeDirty(-1, nil, func(hh string, _ []byte) { got = append(got, hh) }); n != 2 {
		t.Fatalf("TakeDirty handed %d (%v), want 2", n, got)
	}
	e.mu.Lock()
	left := len(e.dirty) - e.dirtyHead
	e.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d entries left in the dirty list after taking all", left)
	}
}

// TestTakeDirtyAgainstAModel: random changes, partial takes (with and
// without a match), single takes, forgets and restores, checked against a
// plain set of changed households: each is handed exactly once per change,
// none is lost, DirtyCount is the set's size, and the dirty list stays
// bounded by the households (it held one entry per urgent change).
func TestTakeDirtyAgainstAModel(t *testing.T) {
	e := New(Default())
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 7))
	const hhs = 40
	name := func(i int) string { return fmt.Sprintf("hh-%d", i) }
	dirty := map[string]bool{} // the model
	handed := func(hh string) {
		t.Helper()
		if !dirty[hh] {
			t.Fatalf("%s handed without a change since it was last taken", hh)
		}
		delete(dirty, hh)
	}
	for step := range 20000 {
		hh := name(rng.IntN(hhs))
		switch op := rng.IntN(100); {
		case op < 55:
			m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: hh, Device: "wm1", Kind: anxin.KindWaterMeter,
				Fields: anxin.Fields{"total_m3": anxin.Num(float64(step))}}
			now = now.Add(time.Second)
			e.Observe(now, &m)
			dirty[hh] = true
		case op < 70:
			if _, ok := e.DirtyState(hh); ok != dirty[hh] {
				t.Fatalf("step %d: DirtyState(%s) %v, model %v", step, hh, ok, dirty[hh])
			}
			delete(dirty, hh)
		case op < 85:
			e.TakeDirty(rng.IntN(5), nil, func(h string, _ []byte) { handed(h) })
		case op < 92:
			odd := rng.IntN(2)
			e.TakeDirty(-1, func(h string) bool { return len(h)%2 == odd }, func(h string, _ []byte) { handed(h) })
		case op < 96:
			e.ForgetWhere(func(h string) bool { return h == hh })
			delete(dirty, hh)
		default:
			if st := e.State(hh); st != nil {
				if err := e.RestoreState(hh, st); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n := e.DirtyCount(); n != len(dirty) {
			t.Fatalf("step %d: DirtyCount %d, model %d", step, n, len(dirty))
		}
		e.mu.Lock()
		size := len(e.dirty)
		e.mu.Unlock()
		if size > 2*hhs+8 {
			t.Fatalf("step %d: %d entries in the dirty list for %d households", step, size, hhs)
		}
	}
	e.TakeDirty(-1, nil, func(h string, _ []byte) { handed(h) })
	if len(dirty) != 0 {
		t.Fatalf("never handed: %v", dirty)
	}
}
