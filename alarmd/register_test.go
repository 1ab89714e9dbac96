package alarmd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

const districtToken = "district-0123456789abcdef"

// chainPhones are the phones of an alarm's contact chain, once it started.
func chainPhones(t *testing.T, m *Main, household string) []string {
	t.Helper()
	var phones []string
	waitFor(t, "the chain of "+household, 10*time.Second, func() bool {
		as, err := m.Store.Alarms(context.Background(), sqlite.AlarmFilter{Household: household})
		if err != nil || len(as) == 0 {
			return false
		}
		c, err := m.Store.Chain(context.Background(), as[0].ID)
		if err != nil || len(c.Targets) == 0 {
			return false
		}
		phones = nil
		for _, tg := range c.Targets {
			phones = append(phones, tg.Phone)
		}
		return true
	})
	return phones
}

// TestIntegrationRegisterChangeReachesRunningChain: an elder record put
// through the records API becomes the household's tier and chain in the
// running alarmd (no restart, no file edit), and a kit put through the API
// is a known household to ingest at once.
func TestIntegrationRegisterChangeReachesRunningChain(t *testing.T) {
	cfg := testConfig(t)
	cfg.API.Tokens = []APIToken{{Name: "district", Token: districtToken}, {Name: "village", Token: "village-0123456789abcdef", Area: "一村"}}
	m := &Main{Config: cfg}
	startMain(t, m)

	// the file's view: tier high, chain 李明 then 王芳
	h, err := m.Households.Household(context.Background(), "hh-0001")
	if err != nil || h.Elder.Tier != anxin.TierHigh || h.Contacts[0].Phone != "+8613900000001" {
		t.Fatalf("hh-0001 from the file: %+v %v", h, err)
	}
	// the elder's record: 重点 on the form, no assessment; a new child first, a new grid worker
	code, body := apiCall(t, m, "PUT", "elders/e-1", districtToken, `{"household":"hh-0001","name":"张桂兰",
		"id_number":"11010519491231002X","current_address":{"township":"善广乡","village":"一村"},"form_tier":"重点对象",
		"contacts":[{"name":"周一","relation":"child","phone":"13900000099"}],
		"responders":[{"name":"网格员甲","role":"grid_worker","phone":"13700000088"}],"consent":true}`)
	if code != 200 {
		t.Fatalf("PUT elder: %d %s", code, body)
	}
	var e anxin.ElderRecord
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Tier != anxin.TierKey || e.FormTier != "重点" {
		t.Fatalf("elder tier from the form's box: %+v %v", e, err)
	}
	// the running alarmd sees it without a restart: one tier, one chain
	h, err = m.Households.Household(context.Background(), "hh-0001")
	if err != nil || h.Elder.Tier != anxin.TierKey || len(h.Contacts) != 1 || h.Contacts[0].Phone != "+8613900000099" ||
		len(h.Community) != 1 || h.Community[0].Phone != "+8613700000088" || len(h.Devices) != 3 {
		t.Fatalf("hh-0001 after the register change: %+v %v", h, err)
	}
	pub := publisher(t, m.BrokerURL().Dial())
	publishMsg(t, pub, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	phones := chainPhones(t, m, "hh-0001")
	if !slices.Contains(phones, "+8613900000099") || !slices.Contains(phones, "+8613700000088") ||
		slices.Contains(phones, "+8613900000001") || slices.Contains(phones, "+8613700000002") {
		t.Fatalf("the running chain does not follow the register: %v", phones)
	}

	// a kit put through the register: ingest knows it from the next message
	code, body = apiCall(t, m, "PUT", "households/hh-0003", districtToken, `{"elder":{"name":"钱大爷","tier":"general"},
		"contacts":[{"name":"钱小","relation":"child","phone":"+8613900000077"}],"devices":[{"id":"btn1","kind":"call_button"}]}`)
	if code != 200 {
		t.Fatalf("PUT household: %d %s", code, body)
	}
	publishMsg(t, pub, button("hh-0003", time.Now().UTC().Truncate(time.Millisecond)))
	if phones := chainPhones(t, m, "hh-0003"); !slices.Contains(phones, "+8613900000077") {
		t.Fatalf("hh-0003 chain: %v", phones)
	}
	// an area token may not set kits
	if code, _ := apiCall(t, m, "PUT", "households/hh-0004", "village-0123456789abcdef", `{}`); code != 403 {
		t.Fatalf("PUT household with an area token: %d", code)
	}
}

// TestIntegrationHouseholdsFileReloadIntoRegister: households_file is loaded
// into the register at start and when it changes (file watch); a file
// unchanged since it was loaded does not undo changes made through the API
// at the next start; a household removed from the file is no longer known.
func TestIntegrationHouseholdsFileReloadIntoRegister(t *testing.T) {
	cfg := testConfig(t)
	cfg.API.Tokens = []APIToken{{Name: "district", Token: districtToken}}
	logs := &syncBuf{}
	m := &Main{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	stop := startMain(t, m)
	if ok, _ := m.register.Knows("hh-0002", "sd1"); !ok {
		t.Fatal("hh-0002 from the file is not in the register")
	}
	// the file changes: hh-0002 goes, hh-0005 comes
	edited := strings.Replace(twoHouseholds, "id: hh-0002", "id: hh-0005", 1)
	if err := os.WriteFile(cfg.HouseholdsFile, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the file to be loaded", 10*time.Second, func() bool {
		hk, dk := m.register.Knows("hh-0005", "sd1")
		gone, _ := m.register.Knows("hh-0002", "sd1")
		return hk && dk && !gone
	})
	// a change through the API to a file household …
	code, body := apiCall(t, m, "PUT", "households/hh-0005", districtToken, `{"elder":{"name":"赵国强","tier":"key"},
		"devices":[{"id":"btn2","kind":"call_button"}]}`)
	if code != 200 {
		t.Fatalf("PUT household: %d %s", code, body)
	}
	stop()
	// … stands at the next start: the file did not change since it was loaded
	m2 := &Main{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	startMain(t, m2)
	if _, dk := m2.register.Knows("hh-0005", "btn2"); !dk {
		t.Fatal("the API's kit was undone by an unchanged households_file at start")
	}
	if !strings.Contains(logs.String(), "households_file unchanged") {
		t.Fatalf("start with an unchanged file did not say so:\n%s", logs)
	}
	// a bad edit is rejected and the register keeps its households
	if err := os.WriteFile(cfg.HouseholdsFile, []byte("households: [{id: 'bad id'}]"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rejection", 10*time.Second, func() bool { return strings.Contains(logs.String(), "reload rejected: households") })
	if hk, _ := m2.register.Knows("hh-0001", "btn1"); !hk {
		t.Fatal("a bad households_file emptied the register")
	}

}

// BenchmarkRegisterElderChange: one elder record written in a register of
// 10,000 kits with elders, until alarmd's view has it (the write and the
// partial rebuild); and Knows, ingest's check per message.
func BenchmarkRegisterElderChange(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, b.TempDir()+"/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const n = 10000
	list := make([]anxin.Household, n)
	es := make([]anxin.ElderRecord, n)
	for i := range list {
		id := fmt.Sprintf("hh-%05d", i)
		list[i] = anxin.Household{ID: id, Elder: anxin.Elder{Name: "某", Tier: anxin.TierGeneral},
			Devices: []anxin.Device{{ID: "btn1", Kind: anxin.KindCallButton}}}
		es[i] = anxin.ElderRecord{ID: fmt.Sprintf("e-%05d", i), Household: id, Name: "某", IDNumber: fmt.Sprintf("N%05d", i),
			Tier: anxin.TierKey, Contacts: []anxin.Contact{{Name: "女", Phone: "+8613900000002"}}}
	}
	if err := db.LoadHouseholdsFile(ctx, list, "h", time.Now()); err != nil {
		b.Fatal(err)
	}
	if err := db.ImportElders(ctx, es, time.Now()); err != nil {
		b.Fatal(err)
	}
	r, err := OpenRegister(ctx, db, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("put-elder", func(b *testing.B) {
		i := 0
		for b.Loop() {
			e := es[i%n]
			e.Contacts = []anxin.Contact{{Name: "子", Phone: fmt.Sprintf("+86139%08d", i)}}
			if err := db.PutElder(ctx, &e); err != nil {
				b.Fatal(err)
			}
			if h, _ := r.Household(ctx, e.Household); h.Contacts[0].Phone != e.Contacts[0].Phone {
				b.Fatal("view not updated")
			}
			i++
		}
	})
	b.Run("knows", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if hk, dk := r.Knows(list[i%n].ID, "btn1"); !hk || !dk {
				b.Fatal("unknown")
			}
			i++
		}
	})
}

// testRegister is a register on a test config's store (closed at the
// test's end), households_file not loaded yet.
func testRegister(t *testing.T) (*Config, anxin.Store, *Register) {
	t.Helper()
	cfg := testConfig(t)
	db, err := OpenStore(context.Background(), cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r, err := OpenRegister(context.Background(), db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, db, r
}

// TestReadFileSkipsTheLoadedContent: a households file whose content the
// register last loaded is not decoded again (a district's restart), a
// changed one is.
func TestReadFileSkipsTheLoadedContent(t *testing.T) {
	ctx := context.Background()
	cfg, db, r := testRegister(t)
	list, hash, err := r.ReadFile(ctx, cfg.HouseholdsFile)
	if err != nil || len(list) != 2 || hash == "" {
		t.Fatalf("first read: %d households, %q, %v", len(list), hash, err)
	}
	// what the register loaded last is not parsed: not even a broken file is noticed
	broken := []byte("households: [{id: 'bad id'}]")
	if err := db.LoadHouseholdsFile(ctx, list, fileHash(broken), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.HouseholdsFile, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	if list, hash, err := r.ReadFile(ctx, cfg.HouseholdsFile); err != nil || list != nil || hash != "" {
		t.Fatalf("loaded content read again: %d households, %q, %v", len(list), hash, err)
	}
	if err := os.WriteFile(cfg.HouseholdsFile, []byte(twoHouseholds+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if list, hash, err := r.ReadFile(ctx, cfg.HouseholdsFile); err != nil || len(list) != 2 || hash != fileHash([]byte(twoHouseholds+"\n")) {
		t.Fatalf("changed file: %d households, %q, %v", len(list), hash, err)
	}
}

// Several alarmd start at once on one store (a cluster): one loads
// households_file while another has read the register (empty) and then
// finds the file's content loaded. That one must still know the
// households: before 2026-12-07 it kept the view it read before the
// other's load, believed no household, and rejected (and acknowledged)
// every message of the partitions it held until it was restarted
// (TestClusterFailover: 305 of 1,600 readings acknowledged and never
// archived, "message rejected: not in the register" for every household
// of two partitions).
func TestRegisterAtStartKnowsAFileAPeerLoaded(t *testing.T) {
	ctx := context.Background()
	cfg, _, r := testRegister(t)
	peer, err := OpenStore(ctx, cfg.Store) // another alarmd's connection to the store
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	list, hash, err := ReadHouseholdsFile(cfg.HouseholdsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.LoadHouseholdsFile(ctx, list, hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := r.LoadFileAtStart(ctx, cfg.HouseholdsFile, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, h := range list {
		if known, _ := r.Knows(h.ID, anxin.GatewayDevice); !known {
			t.Errorf("household %s, loaded by a peer, is not known", h.ID)
		}
	}
}
