package alarmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/idtable"
)

// Register is alarmd's households as the care register holds them: one
// truth for elders, tier, contacts and devices (sqlite.RegisterHouseholds).
// households_file is loaded into it (LoadFile); a write of elders or kits
// through the store (records API, web app, import) rebuilds the view at
// once, so the running chain and ingest's known-household check follow it
// without a restart. The view holds what ingest and the rules engine ask
// for (anxin.Kit, by the store's RegisterKits); the people of a household are read from the store when
// asked for (Household: a chain starts, a page shows them), so a district's
// million elders and their contacts are not held in memory. It implements
// anxin.Households, api.HouseholdSource and ingest.Register.
type Register struct {
	store    anxin.Store
	log      *slog.Logger
	onChange func([]anxin.Kit) []string // after each rebuild (the rules engine's tiers)

	mu   sync.Mutex // one rebuild at a time
	snap atomic.Pointer[registerSnap]
}

type registerSnap struct {
	version uint64
	at      *idtable.Table[int32] // household → its place in kits + 1 (a Go map cost ~30 bytes a household more)
	kits    []kitRow              // every household with a kit, in id order after a full refresh only (patch appends and moves rows; merge keeps old's order)
	devices [][]anxin.Device      // the distinct device lists of kits (a standard kit's is one)
	tiers   []anxin.Tier          // the distinct tiers of kits
	// stale: device lists patch appended since the last merge, some
	// perhaps no longer any kit's, and an added household's appended even
	// when another kit has the same: past 64 + 1/64 of the households the
	// next change merges, which keeps one of each list in use (at
	// 1,000,000 households some 15,000 lists, ~3 MB, between merges)
	stale int
}

// kitRow is a household's kit as the view holds it: 40 bytes, where an
// anxin.Kit is 72, its device list and tier places in lists every
// household shares.
type kitRow struct {
	household, elder string
	devices          int32  // in registerSnap.devices
	tier             uint16 // in registerSnap.tiers
}

// kit is row i as an anxin.Kit (its devices shared: not to be modified).
func (s *registerSnap) kit(i int) anxin.Kit {
	k := &s.kits[i]
	return anxin.Kit{Household: k.household, Tier: s.tiers[k.tier], Devices: s.devices[k.devices], Elder: k.elder}
}

// snapBuilder makes a view's rows, one copy of each distinct device list
// and tier.
type snapBuilder struct {
	s      *registerSnap
	key    sharing // its key: a device list's fields
	lists  map[string]int32
	tierAt map[anxin.Tier]uint16
}

func newSnapBuilder(v uint64, n int) *snapBuilder {
	return &snapBuilder{s: &registerSnap{version: v, kits: make([]kitRow, 0, n)},
		lists: map[string]int32{}, tierAt: map[anxin.Tier]uint16{}}
}

func (b *snapBuilder) add(k anxin.Kit) {
	b.s.kits = append(b.s.kits, kitRow{household: k.Household, elder: k.Elder, devices: b.list(k.Devices), tier: b.tier(k.Tier)})
}

// addOld adds row i of old, its device list and tier placed once per
// distinct list and tier of old (listAt, tierAt: old's place → the new
// one + 1, 0 until placed), not keyed again for every row.
func (b *snapBuilder) addOld(old *registerSnap, i int, listAt []int32, tierAt []uint16) {
	k := old.kits[i]
	if listAt[k.devices] == 0 {
		listAt[k.devices] = b.list(old.devices[k.devices]) + 1
	}
	if tierAt[k.tier] == 0 {
		tierAt[k.tier] = b.tier(old.tiers[k.tier]) + 1
	}
	k.devices, k.tier = listAt[k.devices]-1, tierAt[k.tier]-1
	b.s.kits = append(b.s.kits, k)
}

// list is ds's place in the view's distinct device lists.
func (b *snapBuilder) list(ds []anxin.Device) int32 {
	key := b.key.deviceKey(ds)
	l, ok := b.lists[string(key)]
	if !ok {
		l = int32(len(b.s.devices))
		b.s.devices = append(b.s.devices, ds)
		b.lists[string(key)] = l
	}
	return l
}

// tier is t's place in the view's distinct tiers.
func (b *snapBuilder) tier(t anxin.Tier) uint16 {
	at, ok := b.tierAt[t]
	if !ok {
		at = uint16(len(b.s.tiers))
		b.s.tiers = append(b.s.tiers, t)
		b.tierAt[t] = at
	}
	return at
}

// OpenRegister builds the view and follows the store's changes.
func OpenRegister(ctx context.Context, store anxin.Store, log *slog.Logger) (*Register, error) {
	r := &Register{store: store, log: log}
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	store.OnRegisterChange(func(c anxin.RegisterChange) {
		var err error
		if c.All {
			err = r.Refresh(context.Background())
		} else {
			err = r.refreshSome(context.Background(), c)
		}
		if err != nil {
			r.log.Error("register changed but alarmd's households could not be rebuilt: the previous ones stay", "err", err)
		}
	})
	return r, nil
}

// Refresh rebuilds the whole view from the store (skipped when nothing
// changed through this process's store).
func (r *Register) Refresh(ctx context.Context) error { return r.refresh(ctx, false) }

// refresh rebuilds the view; force also when no write went through this
// process (another one, anxinctl -db, wrote the store: SIGHUP picks it up).
func (r *Register) refresh(ctx context.Context, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.store.RegisterVersion()
	if s := r.snap.Load(); !force && s != nil && s.version == v {
		return nil
	}
	kits, err := r.store.RegisterKits(ctx, nil)
	if err != nil {
		return err
	}
	r.install(v, nil, nil, kits)
	return nil
}

// refreshSome rebuilds the households a change touched: those written, and
// those whose chain came from an elder written (the elder may have moved).
func (r *Register) refreshSome(ctx context.Context, c anxin.RegisterChange) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.store.RegisterVersion()
	old := r.current()
	touched := map[string]bool{}
	for _, h := range c.Households {
		touched[h] = true
	}
	elders := map[string]bool{}
	for _, e := range c.Elders {
		elders[e] = true
	}
	for _, k := range old.kits {
		if k.elder != "" && elders[k.elder] {
			touched[k.household] = true
		}
	}
	ids := make([]string, 0, len(touched))
	for h := range touched {
		ids = append(ids, h)
	}
	fresh, err := r.store.RegisterKits(ctx, ids)
	if err != nil {
		return err
	}
	r.install(v, old, touched, fresh)
	return nil
}

// install makes a view current of the kits of old (nil: none) but those
// of households in drop, and those of fresh (in any order), and tells the
// rules engine of fresh's (under r.mu).
func (r *Register) install(v uint64, old *registerSnap, drop map[string]bool, fresh []anxin.Kit) {
	slices.SortFunc(fresh, func(a, b anxin.Kit) int { return strings.Compare(a.Household, b.Household) })
	s := patch(v, old, drop, fresh)
	if s == nil {
		s = merge(v, old, drop, fresh)
	}
	r.snap.Store(s)
	if r.onChange != nil {
		r.onChange(fresh)
	}
}

// patch is old changed by a small change (at most an eighth of its
// households written), and nil for a larger one (merge's). At a million
// households a merge costs about half a second of CPU; a patch copies the
// rows (40 bytes a household) and changes the written ones: an edited kit
// in its row, an added household's appended, a removed one's row taken by
// the last one. When no household comes or goes the id index is shared
// (its slots do not move), otherwise copied and changed, not rebuilt.
// Rows are then in id order no longer, nor after a later merge (only a
// full refresh sorts them): nothing reads them in order.
func patch(v uint64, old *registerSnap, drop map[string]bool, fresh []anxin.Kit) *registerSnap {
	if old == nil || old.at == nil || len(drop) > len(old.kits)/8 || old.stale+len(fresh) > 64+len(old.kits)/64 {
		return nil // a merge's place; or so many lists appended that a rebuild should drop the unused
	}
	same := len(fresh) == len(drop)
	for j, k := range fresh {
		if !drop[k.Household] || j > 0 && fresh[j-1].Household == k.Household {
			return nil // not what refreshSome asks (a written one twice would keep its old row)
		}
		if _, ok := old.find(k.Household); !ok {
			same = false
		}
	}
	s := &registerSnap{version: v, kits: make([]kitRow, len(old.kits), len(old.kits)+len(fresh)), stale: old.stale,
		devices: slices.Clip(old.devices), tiers: slices.Clip(old.tiers)} // appends copy: old is still read
	copy(s.kits, old.kits)
	id := func(i int32) string { return s.kits[i-1].household }
	if same {
		s.at = old.at.WithID(id)
	} else {
		s.at = old.at.Clone(id)
	}
	gone := make([]string, 0, len(drop)-len(fresh)+1)
	for h := range drop {
		if _, ok := slices.BinarySearchFunc(fresh, h, func(k anxin.Kit, h string) int { return strings.Compare(k.Household, h) }); !ok {
			gone = append(gone, h)
		}
	}
	for _, h := range gone { // removed from the register (or never in the view)
		i, ok := s.find(h)
		if !ok {
			continue
		}
		last := len(s.kits) - 1
		s.at.Delete(h)
		if i != last {
			s.kits[i] = s.kits[last]
			s.at.Put(int32(i + 1)) // the last row's id, found under its old place
		}
		s.kits = s.kits[:last]
	}
	for _, k := range fresh {
		i, ok := s.find(k.Household)
		if !ok {
			s.kits = append(s.kits, kitRow{household: k.Household, devices: -1})
			i = len(s.kits) - 1
			s.at.Put(int32(i + 1))
		}
		row := &s.kits[i]
		row.elder = k.Elder
		if row.devices < 0 || !slices.Equal(s.devices[row.devices], k.Devices) {
			row.devices = int32(len(s.devices))
			s.devices = append(s.devices, k.Devices)
			s.stale++
		}
		t := slices.Index(s.tiers, k.Tier)
		if t < 0 {
			if len(s.tiers) >= 1<<16-1 {
				return nil
			}
			t = len(s.tiers)
			s.tiers = append(s.tiers, k.Tier)
		}
		row.tier = uint16(t)
	}
	return s
}

// merge is a view of old's kits (nil: none) but those of households in
// drop, and those of fresh (sorted by household): in id order when old's
// rows are (a patched old's are not; the result is complete either way).
func merge(v uint64, old *registerSnap, drop map[string]bool, fresh []anxin.Kit) *registerSnap {
	n := len(fresh)
	if old != nil {
		n += len(old.kits)
	}
	b := newSnapBuilder(v, n)
	// a merge of two lists, in id order when old's is: old's rows (less those fresh
	// replaces) and fresh
	j := 0
	if old != nil {
		listAt, tierAt := make([]int32, len(old.devices)), make([]uint16, len(old.tiers))
		for i := range old.kits {
			id := old.kits[i].household
			for j < len(fresh) && fresh[j].Household < id {
				b.add(fresh[j])
				j++
			}
			if drop[id] {
				continue // written: fresh holds its kit, if it still has one
			}
			b.addOld(old, i, listAt, tierAt)
		}
	}
	for ; j < len(fresh); j++ {
		b.add(fresh[j])
	}
	s := b.s
	if cap(s.kits)-len(s.kits) > len(s.kits)/16 {
		s.kits = slices.Clone(s.kits) // what was made for dropped kits would be held as long as the view
	}
	s.at = idtable.New(func(i int32) string { return s.kits[i-1].household }, len(s.kits))
	for i := range s.kits {
		s.at.Put(int32(i + 1))
	}
	return s
}

// find is where household is in s.kits (ok false: not there).
func (s *registerSnap) find(household string) (i int, ok bool) {
	if s.at == nil {
		return 0, false
	}
	at, ok := s.at.Get(household)
	return int(at) - 1, ok
}

func (r *Register) current() *registerSnap {
	if s := r.snap.Load(); s != nil {
		return s
	}
	return &registerSnap{}
}

// Household reads a household's elder, chain and kit from the store
// (ENOTFOUND when the view does not list it).
func (r *Register) Household(ctx context.Context, id string) (anxin.Household, error) {
	if _, ok := r.current().find(id); !ok {
		return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "household %s is not registered", id)
	}
	hs, _, err := r.store.RegisterHouseholdsOf(ctx, []string{id})
	if err != nil {
		return anxin.Household{}, fmt.Errorf("household %s: %w", id, err)
	}
	if len(hs) == 0 {
		return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "household %s is not registered", id)
	}
	return hs[0], nil
}

// AllHouseholds reads every household with a kit from the store, in id order.
func (r *Register) AllHouseholds(ctx context.Context) ([]anxin.Household, error) {
	hs, _, err := r.store.RegisterHouseholdsOf(ctx, nil)
	return hs, err
}

// HouseholdsOf reads the given households with a kit from the store.
func (r *Register) HouseholdsOf(ctx context.Context, ids []string) ([]anxin.Household, error) {
	hs, _, err := r.store.RegisterHouseholdsOf(ctx, ids)
	return hs, err
}

// Knows reports whether household has a kit in the register and device is
// one of its devices (or its gateway): what alarmd's ingest believes.
func (r *Register) Knows(household, device string) (householdKnown, deviceKnown bool) {
	s := r.current()
	i, ok := s.find(household)
	return ok, ok && hasDevice(s.devices[s.kits[i].devices], device)
}

// Kits yields every household's kit, in no particular order (the devices shared: not
// to be modified), one at a time: a list of them all would be 72 bytes a
// household made at every start and reload, only to be walked once.
func (r *Register) Kits() iter.Seq[anxin.Kit] {
	s := r.current()
	return func(yield func(anxin.Kit) bool) {
		for i := range s.kits {
			if !yield(s.kit(i)) {
				return
			}
		}
	}
}

// fileHash identifies a households file's content.
func fileHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ReadHouseholdsFile reads and validates households_file.
func ReadHouseholdsFile(path string) ([]anxin.Household, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", householdsFileError(path, err)
	}
	list, err := ParseHouseholds(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, householdsDecodeError(data, path, err))
	}
	return list, fileHash(data), nil
}

// ReadFile reads households_file for LoadFile. One whose content the
// register last loaded is not parsed again (list nil, hash "": it was valid
// then, and LoadFile would keep the register's households for it), so a
// restart or a reload of a district's unchanged file costs a hash, not a
// decode.
func (r *Register) ReadFile(ctx context.Context, path string) ([]anxin.Household, string, error) {
	hash, err := hashFile(path) // not read into memory: a district's file is 200 MB
	if err != nil {
		return nil, "", householdsFileError(path, err)
	}
	loaded, err := r.store.HouseholdsFileHash(ctx)
	if err != nil {
		return nil, "", err
	}
	if hash == loaded {
		r.log.Info("households_file unchanged since it was last loaded: the register's households stand")
		return nil, "", nil
	}
	return ReadHouseholdsFile(path) // the hash of what it parses, should the file change meanwhile
}

// LoadFileAtStart loads households_file at alarmd's start unless its
// content was loaded already (LoadFile, always false).
func (r *Register) LoadFileAtStart(ctx context.Context, path string, now time.Time) error {
	list, hash, err := r.ReadFile(ctx, path)
	if err != nil {
		return err
	}
	if hash == "" {
		// unchanged since it was last loaded, but not necessarily before
		// OpenRegister read the view: a peer alarmd starting at the same
		// time may have loaded it since (its write fires no hook here).
		// Read again, or every household stays unknown to this alarmd
		// and their messages are rejected (TestRegisterAtStartKnowsAFileAPeerLoaded)
		return r.refresh(ctx, true)
	}
	return r.LoadFile(ctx, list, hash, false, now)
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// LoadFile loads a parsed households file into the register. At start
// (always false) a file whose content was already loaded is skipped, so
// changes made through the records API since then stand; on a change of
// the file (watch or SIGHUP) it is loaded. Where an elder record names a
// household, its tier and contacts win over the file's: each difference is
// logged (the household id only).
func (r *Register) LoadFile(ctx context.Context, list []anxin.Household, hash string, always bool, now time.Time) error {
	if !always {
		old, err := r.store.HouseholdsFileHash(ctx)
		if err != nil {
			return err
		}
		if old == hash {
			r.log.Info("households_file unchanged since it was last loaded: the register's households stand")
			return r.refresh(ctx, true)
		}
	}

	if err := r.store.LoadHouseholdsFile(ctx, list, hash, now); err != nil {
		return err
	}
	if err := r.Refresh(ctx); err != nil {
		return err
	}
	// where an elder record gives tier and chain, say where they differ from the file's
	fromElder := map[string]bool{}
	for _, k := range r.current().kits {
		if k.elder != "" {
			fromElder[k.household] = true
		}
	}
	var ids []string
	var file []*anxin.Household
	compare := func() error {
		got, _, err := r.store.RegisterHouseholdsOf(ctx, ids)
		if err != nil {
			return err
		}
		for _, h := range file {
			i, ok := slices.BinarySearchFunc(got, h.ID, func(g anxin.Household, id string) int { return strings.Compare(g.ID, id) })
			if !ok {
				continue
			}
			g := &got[i]
			if h.Elder.Tier != "" && g.Elder.Tier != h.Elder.Tier {
				r.log.Warn("households_file: the elder record's tier is used, not the file's", "household", h.ID,
					"file_tier", h.Elder.Tier, "register_tier", g.Elder.Tier)
			}
			if !reflect.DeepEqual(nonNilContacts(g.Contacts), nonNilContacts(h.Contacts)) ||
				!reflect.DeepEqual(nonNilContacts(g.Community), nonNilContacts(h.Community)) {
				r.log.Warn("households_file: the elder record's contacts are used, not the file's", "household", h.ID)
			}
		}
		ids, file = ids[:0], file[:0]
		return nil
	}
	for i := range list {
		if !fromElder[list[i].ID] {
			continue // the kit's own: the file's
		}
		ids, file = append(ids, list[i].ID), append(file, &list[i])
		if len(ids) == 500 {
			if err := compare(); err != nil {
				return err
			}
		}
	}
	if len(ids) > 0 {
		if err := compare(); err != nil {
			return err
		}
	}
	r.log.Info("households_file loaded into the register", "households", len(list))
	return nil
}

func nonNilContacts(cs []anxin.Contact) []anxin.Contact {
	if cs == nil {
		return []anxin.Contact{}
	}
	return cs
}

// setOnChange sets what runs after each rebuild.
func (r *Register) setOnChange(f func([]anxin.Kit) []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onChange = f
}
