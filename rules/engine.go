package rules

import (
	"bytes"
	"container/heap"
	"math"
	"sync"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/idtable"
)

// Engine evaluates rules for many households. It is a pure state machine:
// inputs and the current time go in, Decisions come out; it does no I/O and
// reads no clock. Safe for concurrent use.
type Engine struct {
	mu        sync.Mutex
	cfg       *Config
	rules     []*rule
	hh        *idtable.Table[*household] // by id (a Go map cost 40–56 bytes a household more)
	due       deadlineHeap
	dirty     []*household // changed since last taken, oldest first from dirtyHead; entries no longer dirty are skipped
	dirtyHead int

	// DeferSeen: a reading that only advances last-seen times and meter
	// values waits until its household's readings are seenLag (seconds)
	// past its last write; last-seen times restored from the store allow
	// staleSlack for what a crash forgot. 0: every change is written as
	// learned.
	seenLag, staleSlack int64
	prevExt             []byte // Observe's copy of a slot's ext before the reading

	// Reused under mu so the hot path does not allocate a context per call.
	input, timer evalCtx
	scratch      []byte // encode's buffer
	work         slot   // the slot an evaluator is given, unpacked (household.load)
}

// rule is a compiled rule: its base evaluator and its variants.
type rule struct {
	idx  int
	base *variant
	tier [5]*variant // by tierOf: 0 unknown, then irregular … high
	hh   map[string]*variant
}

type variant struct {
	cfg *Rule
	ev  evaluator
	id  alarmID
	id2 alarmID // second alarm (device_silent), if the kind has one
}

var tierIndex = []anxin.Tier{anxin.TierIrregular, anxin.TierGeneral, anxin.TierKey, anxin.TierHigh}

func tierOf(t anxin.Tier) uint8 {
	for i, v := range tierIndex {
		if v == t {
			return uint8(i + 1)
		}
	}
	return 0
}

// New makes an engine for cfg (nil: no rules).
func New(cfg *Config) *Engine {
	e := &Engine{hh: idtable.New(func(h *household) string { return h.id }, 0)}
	e.load(cfg)
	return e
}

func (e *Engine) load(cfg *Config) {
	if cfg == nil {
		cfg = &Config{Timezone: "UTC", loc: time.UTC}
	}
	e.cfg = cfg
	e.rules = make([]*rule, len(cfg.Rules))
	for i, rc := range cfg.Rules {
		r := &rule{idx: i, base: compileVariant(rc)}
		for t, v := range rc.Tier {
			r.tier[tierOf(t)] = compileVariant(v)
		}
		if len(rc.Household) > 0 {
			r.hh = make(map[string]*variant, len(rc.Household))
			for id, v := range rc.Household {
				r.hh[id] = compileVariant(v)
			}
		}
		if share := kindTable[rc.Kind].share; share != nil {
			evs := []evaluator{r.base.ev}
			for _, v := range r.tier {
				if v != nil {
					evs = append(evs, v.ev)
				}
			}
			for _, v := range r.hh {
				evs = append(evs, v.ev)
			}
			share(evs)
		}
		e.rules[i] = r
	}
}

func compileVariant(r *Rule) *variant {
	v := &variant{cfg: r, ev: kindTable[r.Kind].compile(r)}
	v.id = alarmID{Rule: r.Name, Kind: r.Kind, Severity: r.Severity, Route: r.Route}
	if s, ok := v.ev.(secondAlarm); ok {
		v.id2 = s.second()
	}
	return v
}

// Reload swaps in new rules. The state of rules with the same name and kind
// is kept; the state of removed rules is dropped (their open alarms stay in
// the store for people to close).
func (e *Engine) Reload(cfg *Config) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.rules
	e.load(cfg)
	remap := make([]int, len(old))
	for i, o := range old {
		remap[i] = -1
		for j, n := range e.rules {
			if n.base.cfg.Name == o.base.cfg.Name && n.base.cfg.Kind == o.base.cfg.Kind {
				remap[i] = j
			}
		}
	}
	for h := range e.hh.All() {
		h.keepSlots(func(s *slot) bool {
			if int(s.rule) < len(remap) && remap[s.rule] >= 0 {
				s.rule = uint16(remap[s.rule])
				return true
			}
			return false
		})
		e.markDirty(h)
		e.schedule(h, 0)
	}
}

// SetHousehold sets the tier that selects a household's per-tier overrides.
func (e *Engine) SetHousehold(id string, tier anxin.Tier) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.household(id)
	if t := tierOf(tier); t != h.tier {
		h.tier = t
		e.markDirty(h)
		e.schedule(h, 0)
	}
}

// SetAway marks a household away (visiting family, in hospital) or back.
// Away pauses no_use rules (and other away-aware kinds) and closes their
// open alarms; back restarts their timers from now.
func (e *Engine) SetAway(now time.Time, household string, away bool) []Decision {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.household(household)
	if h.away() == away {
		return nil
	}
	h.set(hAway, away)
	x := e.ctx(h, now, "")
	s := &e.work
	for i := range h.slots {
		x.use(e.rules[h.slots[i].rule])
		aw, ok := x.v.ev.(awayAware)
		if !ok {
			continue
		}
		h.load(i, s)
		x.cur = i
		if away {
			x.clear(s, fOpen, func() string { return "the elder is away: " + x.v.cfg.Name + " paused" })
		} else {
			aw.rebaseline(x, s)
		}
		h.store(i, s)
	}
	e.markDirty(h)
	e.schedule(h, x.now)
	return x.out
}

// DeferSeen lets the state of a household whose readings only advanced
// last-seen times and meter values (no use, no alarm, nothing learned)
// wait: it is taken when the household next learns something, when its
// readings are lag past its last write (so the store's last-seen times
// never lag by more than that), or by TakeSeen; TakeDirty and
// DirtyCount leave it. flush is how long a learned change may wait before
// it is written (ingest.state_flush). A state restored from then on may
// lag 2 × lag + flush + 1 min: until its meter is heard again, silence
// limits wait that much longer and gaps must be that much longer, so a
// crash's forgotten readings raise no device_silent and restart no quiet
// period (silence alarms due meanwhile come that much late). lag 0: every
// change is learned (the default). Call before RestoreState.
func (e *Engine) DeferSeen(lag, flush time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seenLag, e.staleSlack = 0, 0
	if lag > 0 {
		e.seenLag = int64(lag / time.Second)
		e.staleSlack = 2*e.seenLag + int64(flush/time.Second) + 60
	}
}

// Away reports whether a household is marked away.
func (e *Engine) Away(household string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.get(household)
	return h != nil && h.away()
}

// Observe feeds one validated message. now is the engine's clock; the
// message's own timestamp (clamped to now) dates the measurement.
func (e *Engine) Observe(now time.Time, m *anxin.Message) []Decision {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.household(m.Household)
	x := e.ctx(h, now, m.ID)
	t := x.now
	if !m.TS.IsZero() && m.TS.Unix() < t {
		t = m.TS.Unix()
	}
	// learned: what this reading changed must reach the store within the
	// state flush; else it changed only last-seen times and meter values
	// and may wait (DeferSeen). Long-silent devices and slots waking up,
	// and readings lag past the last write, count as learned: the store's
	// last-seen times then never lag by more than 2 × lag. A household
	// already learned-dirty is written at the next state flush whatever
	// this reading changed: nothing to compare.
	learned := e.seenLag == 0 || h.dirty || t > int64(h.savedSeen)+e.seenLag
	floor := int64(h.savedSeen) - e.seenLag // a last-seen time older than this was not deferred
	if t > int64(h.lastMsg) {
		h.lastMsg = sec32(t)
	}
	ns := len(h.slots)
	d, prev, newDev := h.device(m.Device, m.Kind, t)
	learned = learned || newDev || (t > prev && prev < floor)
	for _, r := range e.rules {
		x.use(r)
		c := x.v.cfg
		if c.Disabled || !kindIn(c.DeviceKinds, m.Kind) || !x.v.ev.match(m) {
			continue
		}
		dev := d
		if _, ok := x.v.ev.(perHousehold); ok {
			dev = noDevice
		}
		var i int
		if sp, ok := x.v.ev.(sparse); ok && sp.sparse() {
			if i = h.existingSlot(r.idx, dev); i < 0 {
				continue
			}
		} else {
			i = h.slot(r.idx, dev)
		}
		s := &e.work
		h.load(i, s)
		x.cur = i
		if learned {
			x.v.ev.observe(x, s, m, t)
		} else {
			snap := e.snapshot(s)
			x.v.ev.observe(x, s, m, t)
			learned = e.learnedChange(x.v.ev, &snap, s, floor)
		}
		h.store(i, s)
	}
	if learned || len(h.slots) != ns {
		e.markDirty(h)
	} else {
		h.seen = true
	}
	e.schedule(h, x.now)
	return x.out
}

// slotSnap is what a reading may change of a slot, before it: the
// learned part and the last-seen time (ext is in Engine.prevExt).
type slotSnap struct {
	flags  uint8
	n      uint16
	t0, t1 int64
	t2     int64
	v0     uint64
	ext    int
}

func (e *Engine) snapshot(s *slot) slotSnap {
	e.prevExt = append(e.prevExt[:0], s.ext...)
	return slotSnap{flags: s.flags, n: s.n, t0: s.t0, t1: s.t1, t2: s.t2, v0: math.Float64bits(s.v0), ext: len(s.ext)}
}

// learnedChange reports whether a reading changed s (p before it) in
// more than its last-seen time t1, its last value v1 and its reading
// interval t2 unless it grew far (movedFar). A long-silent slot waking
// up (t1 before floor) counts as learned: see Observe. A kind that keeps
// a reading's time and value in slot.ext says which bytes those are
// (seenInExt); in any other kind every byte of ext is learned.
func (e *Engine) learnedChange(ev evaluator, p *slotSnap, s *slot, floor int64) bool {
	switch {
	case p.flags != s.flags, p.n != s.n, p.t0 != s.t0, p.v0 != math.Float64bits(s.v0), p.ext != len(s.ext):
		return true
	case s.t1 > p.t1 && p.t1 < floor, movedFar(p.t2, s.t2):
		return true
	case len(s.ext) == 0:
		return false
	}
	if k, ok := ev.(seenInExt); ok {
		return k.extLearned(e.prevExt, s.ext, floor)
	}
	return !bytes.Equal(e.prevExt, s.ext)
}

// movedFar reports whether a reading interval (as limits count it:
// usualInterval) grew by more than an eighth: a meter that
// reads less often is learned, so a restored interval is never much
// shorter than the truth and no silence limit or gap shrinks with it. One
// that settles from the assumed hour or reads more often is not: a
// restored interval longer than the truth makes limits longer, never an
// alarm early.
func movedFar(prev, cur int64) bool {
	p := usualInterval(prev)
	return 8*(usualInterval(cur)-p) > p
}

// ObserveStatus feeds a status (online/offline) from
// anxin/v1/<hh>/<dev>/status. The gateway's own (dev "gateway") goes to the
// per-household status watchers (gateway_offline), a device's to the
// per-device ones. now is the engine's clock; the status's ts (clamped to
// now) dates it. A device's kind is the one its messages carry: a device
// the engine has not heard a message from (a zigbee2mqtt bridge) has none,
// and only rules without device_kinds take its status.
func (e *Engine) ObserveStatus(now time.Time, household, device string, st anxin.Status) []Decision {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.household(household)
	x := e.ctx(h, now, "")
	t := x.now
	if !st.TS.IsZero() && st.TS.Unix() < t {
		t = st.TS.Unix()
	}
	gateway := device == anxin.GatewayDevice
	d, k := uint16(noDevice), anxin.Kind("")
	if !gateway {
		d, _, _ = h.device(device, "", 0)
		k = h.deviceKind(d)
	}
	for _, r := range e.rules {
		x.use(r)
		c := x.v.cfg
		w, ok := x.v.ev.(statusWatcher)
		if !ok || c.Disabled {
			continue
		}
		if _, perHH := x.v.ev.(perHousehold); perHH != gateway ||
			(!gateway && len(c.DeviceKinds) > 0 && (k == "" || !kindIn(c.DeviceKinds, k))) {
			continue
		}
		i := h.slot(r.idx, d)
		s := &e.work
		h.load(i, s)
		x.cur = i
		w.observeStatus(x, s, st, t)
		h.store(i, s)
	}
	e.markDirty(h)
	e.schedule(h, x.now)
	return x.out
}

// Tick runs every timer due at now.
func (e *Engine) Tick(now time.Time) []Decision {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Decision
	n := now.Unix()
	for len(e.due) > 0 && int64(e.due[0].next) <= n {
		h := e.due[0]
		x := e.ctx(h, now, "")
		x.out = out
		s := &e.work
		for i := range h.slots {
			x.use(e.rules[h.slots[i].rule])
			if !x.v.cfg.Disabled {
				h.load(i, s)
				x.cur = i
				x.v.ev.tick(x, s)
				h.store(i, s)
			}
		}
		out = x.out
		e.markDirty(h)
		e.schedule(h, n+1) // nothing more at n: a timer that did not fire waits for input
	}
	return out
}

// NextDeadline is the earliest instant at which Tick has work (zero: none).
func (e *Engine) NextDeadline() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.due) == 0 {
		return time.Time{}
	}
	return time.Unix(int64(e.due[0].next), 0)
}

// Closed tells the engine that people closed the alarm (household, rule) in
// the store. A button or fall rule re-arms at once; a timer or detector
// rule stays quiet until its condition has cleared and risen again.
func (e *Engine) Closed(household, ruleName string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.get(household)
	if h == nil {
		return
	}
	for i := range h.slots {
		s := &h.slots[i] // flags only: no need to unpack
		v := e.rules[s.rule].resolve(h)
		_, rearm := v.ev.(closedByPeople)
		for _, b := range []struct {
			bit uint8
			id  alarmID
		}{{fOpen, v.id}, {fOpen2, v.id2}} {
			if b.id.Rule != ruleName || s.flags&b.bit == 0 {
				continue
			}
			s.flags &^= b.bit
			if !rearm {
				s.flags |= b.bit << muteShift
			}
			e.markDirty(h)
		}
	}
}

// Forget drops all state of a household (removed from households.yaml).
// Its alarms stay in the store for people to close.
func (e *Engine) Forget(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if h := e.get(id); h != nil {
		e.forget(h)
	}
}

// ForgetWhere drops the state of every household match says yes to (a
// partition handed to another alarmd: its timers are the new owner's) and
// returns how many it dropped.
func (e *Engine) ForgetWhere(match func(household string) bool) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	var gone []*household
	for h := range e.hh.All() {
		if match(h.id) {
			gone = append(gone, h)
		}
	}
	for _, h := range gone {
		e.forget(h)
	}
	return len(gone)
}

// forget removes h from the engine, under e.mu.
func (e *Engine) forget(h *household) {
	if h.heapIdx >= 0 {
		heap.Remove(&e.due, int(h.heapIdx))
	}
	h.dirty, h.seen = false, false // its entry in e.dirty is skipped and dropped by TakeDirty
	e.hh.Delete(h.id)
}

// Households is how many households the engine tracks.
func (e *Engine) Households() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hh.Len()
}

// DirtyStates hands the encoded state of every household changed since the
// last call to fn (outside the engine's lock), for alarmd to persist.
func (e *Engine) DirtyStates(fn func(household string, state []byte)) {
	e.TakeDirty(-1, nil, fn)
	e.TakeSeen(-1, nil, fn)
}

// TakeDirty hands fn the encoded state of at most limit changed households
// (limit < 0: all), those changed longest ago first (one written alone by
// DirtyState and changed again keeps its earlier place), that match says yes to
// (nil: any), and marks them taken (clean). It returns how many it handed.
// States are encoded as they are taken, so a district's pending states are
// never all held encoded at once (at 1,000,000 households that was ~660 MB
// while a flush ran). fn runs outside the engine's lock.
func (e *Engine) TakeDirty(limit int, match func(household string) bool, fn func(household string, state []byte)) int {
	type item struct {
		id string
		b  []byte
	}
	e.mu.Lock()
	var items []item
	if match == nil {
		// from the front: the head moves on, the slice is compacted once
		// half of it is behind the head (each entry moved O(1) times)
		for e.dirtyHead < len(e.dirty) && (limit < 0 || len(items) < limit) {
			h := e.dirty[e.dirtyHead]
			e.dirty[e.dirtyHead] = nil
			e.dirtyHead++
			h.set(hQueued, false)
			if h.dirty { // else taken by DirtyState meanwhile
				items = append(items, item{h.id, e.take(h)})
			}
		}
	} else {
		keep := e.dirty[:e.dirtyHead] // unmatched entries stay, in order
		for _, h := range e.dirty[e.dirtyHead:] {
			switch {
			case !h.dirty:
				h.set(hQueued, false)
			case !match(h.id):
				keep = append(keep, h)
			default:
				items = append(items, item{h.id, e.take(h)})
				h.set(hQueued, false)
			}
		}
		clear(e.dirty[len(keep):])
		e.dirty = keep
	}
	if e.dirtyHead == len(e.dirty) || e.dirtyHead > len(e.dirty)/2 {
		n := copy(e.dirty, e.dirty[e.dirtyHead:])
		clear(e.dirty[n:])
		e.dirty, e.dirtyHead = e.dirty[:n], 0
		if c := cap(e.dirty); c > 4096 && 4*n < c {
			// a burst (a district starting, every household at once) left
			// room for all of them: keep room for twice what is queued
			e.dirty = append(make([]*household, 0, max(2*n, 1024)), e.dirty...)
		}
	}
	e.mu.Unlock()
	for _, it := range items {
		fn(it.id, it.b)
	}
	return len(items)
}

// take is h's state for the store, h taken (clean): what it learned and
// what it only saw. Under e.mu.
func (e *Engine) take(h *household) []byte {
	h.dirty, h.seen = false, false
	h.savedSeen = h.lastMsg
	return e.encode(h)
}

// TakeSeen is TakeDirty for the households whose readings only advanced
// last-seen times and meter values (DeferSeen), not learned-dirty: at
// shutdown, or when a partition is handed over, so the store's times are
// exact. It scans every household: not for the hot path.
func (e *Engine) TakeSeen(limit int, match func(household string) bool, fn func(household string, state []byte)) int {
	type item struct {
		id string
		b  []byte
	}
	var items []item
	e.mu.Lock()
	for h := range e.hh.All() {
		if limit >= 0 && len(items) >= limit {
			break
		}
		if h.seen && !h.dirty && (match == nil || match(h.id)) {
			items = append(items, item{h.id, e.take(h)})
		}
	}
	e.mu.Unlock()
	for _, it := range items {
		fn(it.id, it.b)
	}
	return len(items)
}

// DirtyState is household's encoded state if it changed since it was last
// taken, learned or only seen (and marks it taken); ok false: nothing to
// write.
func (e *Engine) DirtyState(household string) (state []byte, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.get(household)
	if h == nil || (!h.dirty && !h.seen) {
		return nil, false
	}
	// its entry in e.dirty stays (queued) and is skipped, and dropped, by
	// TakeDirty; a change meanwhile reuses it rather than adding another
	return e.take(h), true
}

// DirtyCount is how many households have changes not yet taken.
func (e *Engine) DirtyCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, h := range e.dirty[e.dirtyHead:] {
		if h.dirty {
			n++
		}
	}
	return n
}

// RestoreState loads a household's state saved by DirtyStates, replacing
// what the engine holds for it (except a tier already set by SetHousehold).
// Slots of rules that no longer exist are dropped. Corrupt or hostile input
// is an error, never a panic.
func (e *Engine) RestoreState(household string, state []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !anxin.ValidID(household) {
		return anxin.Errorf(anxin.EINVALID, "household id %q is not valid", clip(household))
	}
	h, err := e.decode(household, state)
	if err != nil {
		return err
	}
	h.savedSeen = h.lastMsg
	if e.staleSlack > 0 {
		h.restored = h.lastMsg // its last-seen times may lag what the engine knew before a crash
	}
	if old := e.get(household); old != nil {
		h.tier = old.tier // the tier is configuration: SetHousehold's word beats a saved one
		if old.heapIdx >= 0 {
			heap.Remove(&e.due, int(old.heapIdx))
		}
		old.heapIdx = -1
		if old.dirty {
			old.dirty = false // its entry is skipped; h takes its place at the back
			e.markDirty(h)
		}
	}
	e.hh.Put(h)
	e.schedule(h, 0)
	return nil
}

// household returns the state of id, creating it.
func (e *Engine) household(id string) *household {
	h := e.get(id)
	if h == nil {
		h = &household{id: id, heapIdx: -1}
		e.hh.Put(h)
	}
	return h
}

// get is the state of id, or nil.
func (e *Engine) get(id string) *household {
	h, _ := e.hh.Get(id)
	return h
}

func (e *Engine) markDirty(h *household) {
	if !h.dirty {
		h.dirty = true
		if !h.queued() { // else its entry, left by DirtyState, is still there
			h.set(hQueued, true)
			e.dirty = append(e.dirty, h)
		}
	}
}

// schedule recomputes h's next deadline (never before notBefore) and its
// place in the heap.
func (e *Engine) schedule(h *household, notBefore int64) {
	var next int64
	e.timer = evalCtx{e: e, h: h, now: notBefore}
	x := &e.timer
	s := &e.work
	for i := range h.slots {
		x.use(e.rules[h.slots[i].rule])
		if x.v.cfg.Disabled {
			continue
		}
		h.load(i, s) // deadline reads it only: nothing to store
		x.cur = i
		d := x.v.ev.deadline(x, s)
		if d != 0 && d < notBefore {
			d = notBefore
		}
		if d != 0 && (next == 0 || d < next) {
			next = d
		}
	}
	h.next = sec32(next)
	switch {
	case next == 0 && h.heapIdx >= 0:
		heap.Remove(&e.due, int(h.heapIdx))
	case next != 0 && h.heapIdx >= 0:
		heap.Fix(&e.due, int(h.heapIdx))
	case next != 0:
		heap.Push(&e.due, h)
	}
}

func (e *Engine) ctx(h *household, now time.Time, msgID string) *evalCtx {
	e.input = evalCtx{e: e, h: h, now: now.Unix(), msgID: msgID}
	return &e.input
}

func (r *rule) resolve(h *household) *variant {
	if r.hh != nil {
		if v := r.hh[h.id]; v != nil {
			return v
		}
	}
	if v := r.tier[h.tier]; v != nil {
		return v
	}
	return r.base
}

func kindIn(kinds []anxin.Kind, k anxin.Kind) bool {
	if len(kinds) == 0 {
		return true
	}
	for _, v := range kinds {
		if v == k {
			return true
		}
	}
	return false
}

// deadlineHeap orders households by their next deadline.
type deadlineHeap []*household

func (d deadlineHeap) Len() int           { return len(d) }
func (d deadlineHeap) Less(i, j int) bool { return d[i].next < d[j].next }
func (d deadlineHeap) Swap(i, j int) {
	d[i], d[j] = d[j], d[i]
	d[i].heapIdx, d[j].heapIdx = int32(i), int32(j)
}
func (d *deadlineHeap) Push(x any) {
	h := x.(*household)
	h.heapIdx = int32(len(*d))
	*d = append(*d, h)
}
func (d *deadlineHeap) Pop() any {
	old := *d
	h := old[len(old)-1]
	old[len(old)-1] = nil
	h.heapIdx = -1
	*d = old[:len(old)-1]
	return h
}

// State is the encoded state of one household (as DirtyStates hands it
// on), or nil if the engine does not track it. With RestoreState it forks a
// household: the replay measures an emergency by restoring the state at
// the elder's last use into a second engine and feeding it a flat meter.
func (e *Engine) State(household string) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.get(household)
	if h == nil {
		return nil
	}
	return e.encode(h)
}
