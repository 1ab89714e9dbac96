package alarmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anxin-care/anxin"
)

// Register is alarmd's households as the care register holds them: one
// truth for elders, tier, contacts and devices (sqlite.RegisterHouseholds).
// households_file is loaded into it (LoadFile); a write of elders or kits
// through the store (records API, web app, import) rebuilds the view at
// once, so the running chain and ingest's known-household check follow it
// without a restart. It implements anxin.Households and ingest.Register.
type Register struct {
	store    anxin.Store
	log      *slog.Logger
	onChange func([]anxin.Household) []string // after each rebuild (the rules engine's tiers)

	mu   sync.Mutex // one rebuild at a time
	snap atomic.Pointer[registerSnap]
}

type registerSnap struct {
	version uint64
	householdIndex
	src []string // list[i]'s elder record, whose elder and chain it took ("": the kit's own)
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
	list, src, err := r.store.RegisterHouseholdsOf(ctx, nil)
	if err != nil {
		return err
	}
	compactHouseholds(list)
	r.install(v, list, src, list)
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
	for i, e := range old.src {
		if e != "" && elders[e] {
			touched[old.list[i].ID] = true
		}
	}
	ids := make([]string, 0, len(touched))
	for h := range touched {
		ids = append(ids, h)
	}
	fresh, src, err := r.store.RegisterHouseholdsOf(ctx, ids)
	if err != nil {
		return err
	}
	list := make([]anxin.Household, 0, len(old.list)+len(fresh))
	for i, h := range old.list {
		if !touched[h.ID] {
			list = append(list, h)
			if old.src[i] != "" {
				src[h.ID] = old.src[i]
			}
		}
	}
	compactHouseholds(fresh)
	r.install(v, append(list, fresh...), src, fresh)
	return nil
}

// install makes a view of list (compacted, in any order) current and tells
// the rules engine of the changed households (under r.mu).
func (r *Register) install(v uint64, list []anxin.Household, src map[string]string, changed []anxin.Household) {
	slices.SortFunc(list, func(a, b anxin.Household) int { return strings.Compare(a.ID, b.ID) })
	s := &registerSnap{version: v, householdIndex: indexHouseholds(list), src: make([]string, len(list))}
	for i := range list {
		s.src[i] = src[list[i].ID]
	}
	r.snap.Store(s)
	if r.onChange != nil {
		r.onChange(changed)
	}
}

func (r *Register) current() *registerSnap {
	if s := r.snap.Load(); s != nil {
		return s
	}
	return &registerSnap{}
}

// Household looks a household up by id (ENOTFOUND when unknown).
func (r *Register) Household(_ context.Context, id string) (anxin.Household, error) {
	return r.current().household(id)
}

// Knows reports whether household has a kit in the register and device is
// one of its devices (or its gateway): what alarmd's ingest believes.
func (r *Register) Knows(household, device string) (householdKnown, deviceKnown bool) {
	return r.current().knows(household, device)
}

// All is every household with a kit, in id order.
func (r *Register) All() []anxin.Household { return r.current().list }

// fileHash identifies a households file's content.
func fileHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ReadHouseholdsFile reads and validates households_file.
func ReadHouseholdsFile(path string) ([]anxin.Household, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("households: %w", err)
	}
	list, err := ParseHouseholds(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return list, fileHash(data), nil
}

// ReadFile reads households_file for LoadFile. One whose content the
// register last loaded is not parsed again (list nil, hash "": it was valid
// then, and LoadFile would keep the register's households for it), so a
// restart or a reload of a district's unchanged file costs a hash, not a
// decode.
func (r *Register) ReadFile(ctx context.Context, path string) ([]anxin.Household, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("households: %w", err)
	}
	hash := fileHash(data)
	loaded, err := r.store.HouseholdsFileHash(ctx)
	if err != nil {
		return nil, "", err
	}
	if hash == loaded {
		r.log.Info("households_file unchanged since it was last loaded: the register's households stand")
		return nil, "", nil
	}
	list, err := ParseHouseholds(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return list, hash, nil
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
	snap := r.current()
	for _, h := range list {
		got, _ := snap.household(h.ID)
		if h.Elder.Tier != "" && got.Elder.Tier != h.Elder.Tier {
			r.log.Warn("households_file: the elder record's tier is used, not the file's", "household", h.ID,
				"file_tier", h.Elder.Tier, "register_tier", got.Elder.Tier)
		}
		if !reflect.DeepEqual(nonNilContacts(got.Contacts), nonNilContacts(h.Contacts)) ||
			!reflect.DeepEqual(nonNilContacts(got.Community), nonNilContacts(h.Community)) {
			r.log.Warn("households_file: the elder record's contacts are used, not the file's", "household", h.ID)
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
func (r *Register) setOnChange(f func([]anxin.Household) []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onChange = f
}
