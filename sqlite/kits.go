package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// schemaKits holds the register's sensor kits: one row per household with a
// kit (its devices), with the elder's name, tier and contacts as loaded from
// households_file or set through the records API. Where an elder record
// names the household, the elder record's tier and contacts win
// (RegisterHouseholds): one elder has one tier and one contact list.
// source is "file" (households_file: replaced when the file changes) or
// "api". register_meta keeps the hash of the households file last loaded.
var schemaKits = `
CREATE TABLE IF NOT EXISTS kits (
	household     TEXT PRIMARY KEY,
	elder_name    TEXT NOT NULL DEFAULT '',
	elder_phone   TEXT NOT NULL DEFAULT '',
	elder_address TEXT NOT NULL DEFAULT '',
	tier          TEXT NOT NULL DEFAULT '',
	contacts      TEXT NOT NULL DEFAULT '[]',
	community     TEXT NOT NULL DEFAULT '[]',
	devices       TEXT NOT NULL DEFAULT '[]',
	source        TEXT NOT NULL DEFAULT 'file',
	updated_at    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS register_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
`

// Kit sources.
const (
	KitFromFile = "file"
	KitFromAPI  = "api"
)

func eldersChange(es []anxin.ElderRecord) RegisterChange {
	c := RegisterChange{Elders: make([]string, len(es)), Households: make([]string, len(es))}
	for i := range es {
		c.Elders[i], c.Households[i] = es[i].ID, es[i].Household
	}
	return c
}

// registerChanged is called after a committed write of elders or kits
// (commitRegister), or one another process committed (RemoteRegisterChange).
func (d *DB) registerChanged(c RegisterChange) {
	d.registerVersion.Add(1)
	if hs := d.registerHooks.Load(); hs != nil {
		for _, f := range *hs {
			f(c)
		}
	}
}

// OnRegisterChange calls f after every committed write of elders or kits
// through this DB, in the writer's goroutine (f must not write the register);
// on PostgreSQL also after another process's (package postgres's listener
// goroutine, notify.go).
func (d *DB) OnRegisterChange(f func(RegisterChange)) {
	for {
		old := d.registerHooks.Load()
		var hs []func(RegisterChange)
		if old != nil {
			hs = append(hs, *old...)
		}
		hs = append(hs, f)
		if d.registerHooks.CompareAndSwap(old, &hs) {
			return
		}
	}
}

// RegisterVersion changes whenever elders or kits are written through this
// DB or, on PostgreSQL, by another process (notify.go): a reader holding a
// view of the register rebuilds it when it moved.
func (d *DB) RegisterVersion() uint64 { return d.registerVersion.Load() }

// HouseholdsFileHash is the hash stored by the last LoadHouseholdsFile ("" if none).
func (d *DB) HouseholdsFileHash(ctx context.Context) (string, error) {
	var h string
	err := d.db.QueryRowContext(ctx, "SELECT value FROM register_meta WHERE key = 'households_file_hash'").Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("households file hash: %w", err)
	}
	return h, nil
}

// LoadHouseholdsFile loads a households file's (validated) households into
// the register in one transaction: each becomes the kit of its household
// (source file), file kits no longer in the list are removed, kits set
// through the API and not in the file are kept. hash is remembered.
func (d *DB) LoadHouseholdsFile(ctx context.Context, list []anxin.Household, hash string, now time.Time) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("load households: %w", err)
	}
	defer tx.Rollback()
	if err := d.pgLock(ctx, tx, LockKits, ""); err != nil {
		return fmt.Errorf("load households: %w", err)
	}
	keep := make(map[string]bool, len(list))
	for i := range list {
		if err := putKit(ctx, tx, &list[i], KitFromFile, now); err != nil {
			return err
		}
		keep[list[i].ID] = true
	}
	rows, err := tx.QueryContext(ctx, "SELECT household FROM kits WHERE source = 'file'")
	if err != nil {
		return fmt.Errorf("load households: %w", err)
	}
	var gone []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return fmt.Errorf("load households: %w", err)
		}
		if !keep[h] {
			gone = append(gone, h)
		}
	}
	rows.Close()
	for _, h := range gone {
		if _, err := tx.ExecContext(ctx, "DELETE FROM kits WHERE household = ?", h); err != nil {
			return fmt.Errorf("load households: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO register_meta (key, value) VALUES ('households_file_hash', ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, hash); err != nil {
		return fmt.Errorf("load households: %w", err)
	}
	if err := d.commitRegister(ctx, tx, RegisterChange{All: true}); err != nil {
		return fmt.Errorf("load households: %w", err)
	}
	return nil
}

// PutKit creates or replaces one household's kit (source api). The
// household must be valid (anxin.Household.Validate).
func (d *DB) PutKit(ctx context.Context, h *anxin.Household, now time.Time) error {
	if err := h.Validate(); err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put kit: %w", err)
	}
	defer tx.Rollback()
	if err := putKit(ctx, tx, h, KitFromAPI, now); err != nil {
		return err
	}
	if err := d.commitRegister(ctx, tx, RegisterChange{Households: []string{h.ID}}); err != nil {
		return fmt.Errorf("put kit: %w", err)
	}
	return nil
}

func putKit(ctx context.Context, tx *sql.Tx, h *anxin.Household, source string, now time.Time) error {
	contacts, err1 := json.Marshal(nonNil(h.Contacts))
	community, err2 := json.Marshal(nonNil(h.Community))
	devs := h.Devices
	if devs == nil {
		devs = []anxin.Device{}
	}
	devices, err3 := json.Marshal(devs)
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("put kit: %w", err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO kits (household, elder_name, elder_phone, elder_address, tier, contacts,
		community, devices, source, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(household) DO UPDATE SET elder_name=excluded.elder_name, elder_phone=excluded.elder_phone,
		elder_address=excluded.elder_address, tier=excluded.tier, contacts=excluded.contacts,
		community=excluded.community, devices=excluded.devices, source=excluded.source, updated_at=excluded.updated_at`,
		h.ID, h.Elder.Name, h.Elder.Phone, h.Elder.Address, string(h.Elder.Tier), string(contacts), string(community),
		string(devices), source, millis(now))
	if err != nil {
		return fmt.Errorf("put kit %s: %w", h.ID, err)
	}
	return nil
}

// tierRank orders tiers for "the household's highest"; unassessed is
// visited as general and ranks with it.
func tierRank(t anxin.Tier) int {
	switch t {
	case anxin.TierHigh:
		return 4
	case anxin.TierKey:
		return 3
	case anxin.TierGeneral, anxin.TierUnassessed:
		return 2
	case anxin.TierIrregular:
		return 1
	}
	return 0
}

// RegisterHouseholds is alarmd's view of the register: every household with
// a kit, in id order. Where elder records name the household, they are the
// truth for the elder and the chain: the elder with the highest tier (then
// the lowest id) gives name, phone, address and tier; contacts are that
// elder's emergency contacts (at most 4), community its responders; the
// kit's own values fill only what no elder record gives. Devices are the kit's.
func (d *DB) RegisterHouseholds(ctx context.Context) ([]anxin.Household, error) {
	hs, _, err := d.RegisterHouseholdsOf(ctx, nil)
	return hs, err
}

// RegisterHouseholdsOf is RegisterHouseholds for the given households only
// (nil: all), with the id of the elder record each took its elder and
// chain from (absent: the kit's own).
func (d *DB) RegisterHouseholdsOf(ctx context.Context, households []string) ([]anxin.Household, map[string]string, error) {
	var out []anxin.Household
	scanKit := func(rows *sql.Rows) error {
		var h anxin.Household
		var tier, contacts, community, devices string
		if err := rows.Scan(&h.ID, &h.Elder.Name, &h.Elder.Phone, &h.Elder.Address, &tier, &contacts, &community, &devices); err != nil {
			return err
		}
		h.Elder.Tier = anxin.Tier(tier)
		err := errors.Join(json.Unmarshal([]byte(contacts), &h.Contacts), json.Unmarshal([]byte(community), &h.Community),
			json.Unmarshal([]byte(devices), &h.Devices))
		if err != nil {
			return fmt.Errorf("kit %s: %w", h.ID, err)
		}
		out = append(out, h)
		return nil
	}
	best := map[string]anxin.ElderRecord{}
	scanElderRow := func(rows *sql.Rows) error {
		e, err := scanElder(rows)
		if err != nil {
			return err
		}
		if b, ok := best[e.Household]; !ok || outranks(e.Tier, e.ID, b.Tier, b.ID) {
			best[e.Household] = e
		}
		return nil
	}
	const kitCols = `household, elder_name, elder_phone, elder_address, tier, contacts, community, devices`
	if err := d.eachKit(ctx, households, kitCols, elderSelect, scanKit, scanElderRow); err != nil {
		return nil, nil, fmt.Errorf("register households: %w", err)
	}
	slices.SortFunc(out, func(a, b anxin.Household) int { return strings.Compare(a.ID, b.ID) })
	at := make(map[string]int, len(out))
	for i := range out {
		at[out[i].ID] = i
	}
	src := make(map[string]string, len(best))
	for hh, e := range best {
		i, ok := at[hh]
		if !ok {
			continue
		}
		src[hh] = e.ID
		h := &out[i]
		h.Elder.Name, h.Elder.Tier = e.Name, e.Tier
		if e.Phone != "" {
			h.Elder.Phone = e.Phone
		}
		if addr := strings.TrimSpace(strings.Join([]string{e.Current.Township, e.Current.Village, e.Current.Detail}, "")); addr != "" {
			h.Elder.Address = addr
		}
		if len(e.Contacts) > 0 {
			h.Contacts = slices.Clone(e.Contacts[:min(len(e.Contacts), anxin.MaxPersonalContacts)])
		}
		if len(e.Responders) > 0 {
			h.Community = slices.Clone(e.Responders)
		}
	}
	return out, src, nil
}

// RegisterKits is RegisterHouseholdsOf without the people: the kits'
// devices and tiers, and the tier and id of the elder record each follows
// (three columns of the elders, not whole records).
func (d *DB) RegisterKits(ctx context.Context, households []string) ([]anxin.Kit, error) {
	var out []anxin.Kit
	scanKit := func(rows *sql.Rows) error {
		var k anxin.Kit
		var tier, devices string
		if err := rows.Scan(&k.Household, &tier, &devices); err != nil {
			return err
		}
		k.Tier = anxin.Tier(tier)
		if err := json.Unmarshal([]byte(devices), &k.Devices); err != nil {
			return fmt.Errorf("kit %s: %w", k.Household, err)
		}
		out = append(out, k)
		return nil
	}
	type elder struct {
		id   string
		tier anxin.Tier
	}
	best := map[string]elder{}
	scanElderRow := func(rows *sql.Rows) error {
		var e elder
		var household, tier string
		if err := rows.Scan(&e.id, &household, &tier); err != nil {
			return err
		}
		e.tier = anxin.Tier(tier)
		if b, ok := best[household]; !ok || outranks(e.tier, e.id, b.tier, b.id) {
			best[household] = e
		}
		return nil
	}
	if err := d.eachKit(ctx, households, "household, tier, devices", "id, household, tier", scanKit, scanElderRow); err != nil {
		return nil, fmt.Errorf("register kits: %w", err)
	}
	slices.SortFunc(out, func(a, b anxin.Kit) int { return strings.Compare(a.Household, b.Household) })
	for i := range out {
		if e, ok := best[out[i].Household]; ok {
			out[i].Tier, out[i].Elder = e.tier, e.id
		}
	}
	return out, nil
}

// eachKit scans the kits of households (nil: all), then the elder records
// naming them: kitCols of kits, elderCols of elders.
func (d *DB) eachKit(ctx context.Context, households []string, kitCols, elderCols string, scanKit, scanElder func(*sql.Rows) error) error {
	kits, elders := "SELECT "+kitCols+" FROM kits", "SELECT "+elderCols+" FROM elders"
	if households == nil {
		if err := d.each(ctx, kits, scanKit); err != nil {
			return err
		}
		// one pass over the elders of households with a kit
		return d.each(ctx, elders+" WHERE household IN (SELECT household FROM kits)", scanElder)
	}
	if err := d.eachIn(ctx, households, kits+" WHERE household IN (%s)", nil, scanKit); err != nil {
		return err
	}
	return d.eachIn(ctx, households, elders+" WHERE household IN (%s)", nil, scanElder)
}

// outranks: the elder record of tier and id, not the one of bestTier and
// bestID, is the one a household follows (the highest tier, then the lowest id).
func outranks(tier anxin.Tier, id string, bestTier anxin.Tier, bestID string) bool {
	r, br := tierRank(tier), tierRank(bestTier)
	return r > br || (r == br && id < bestID)
}

// each runs a query and calls scan for each row.
func (d *DB) each(ctx context.Context, query string, scan func(*sql.Rows) error) error {
	rows, err := d.db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
