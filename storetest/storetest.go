// Package storetest is the contract every implementation of anxin.Store
// passes: what ingest, escalation, the records API and the web app rely on.
// An implementation runs it from its own tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) anxin.Store { return openEmpty(t) })
//	}
//
// open must give an empty store, closed by the test's cleanup.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// Run runs every contract test against stores made by open.
func Run(t *testing.T, open func(t *testing.T) anxin.Store) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, s anxin.Store)
	}{
		{"IngestOneOpenAlarmPerRule", ingestOneOpenAlarmPerRule},
		{"IngestSeenIDsAndRuleState", ingestSeenIDsAndRuleState},
		{"IngestConcurrentOpens", ingestConcurrentOpens},
		{"CloseAlarmByHand", closeAlarmByHand},
		{"AlarmStateLog", alarmStateLog},
		{"AlarmsAwaitingChain", alarmsAwaitingChain},
		{"ChainRoundTrip", chainRoundTrip},
		{"VersionedWrites", versionedWrites},
		{"ClaimExclusive", claimExclusive},
		{"ClaimExpiryAndFencing", claimExpiryAndFencing},
		{"ClaimPokeSurvivesRelease", claimPokeSurvivesRelease},
		{"ClaimDueList", claimDueList},
		{"AttemptTimesSort", attemptTimesSort},
		{"AckTokens", ackTokens},
		{"WebhookReplays", webhookReplays},
		{"Accounts", accounts},
		{"FormKeys", formKeys},
		{"Audit", audit},
		{"VisitFromAlarmOutcome", visitFromAlarmOutcome},
		{"VisitRejectsBadRecords", visitRejectsBadRecords},
		{"ElderPutGetList", elderPutGetList},
		{"ImportEldersAllOrNothing", importEldersAllOrNothing},
		{"SchedulesAndVisitCounts", schedulesAndVisitCounts},
		{"HouseholdAreas", householdAreas},
		{"AlarmsOpened", alarmsOpened},
		{"EldersByIDInChunks", eldersByIDInChunks},
		{"EachAlarmOutcome", eachAlarmOutcome},
		{"ElderForms", elderForms},
		{"EldersConcurrentWrites", eldersConcurrentWrites},
		{"Kits", kits},
		{"KitsConcurrentLoads", kitsConcurrentLoads},
		{"VisitForms", visitForms},
		{"VisitConcurrentWrites", visitConcurrentWrites},
		{"MonthVisits", monthVisits},
		{"WorkOrders", workOrders},
		{"WorkOrderConcurrentWrites", workOrderConcurrentWrites},
		{"AccountsNamedAndByRole", accountsNamedAndByRole},
		{"AwayMarks", awayMarks},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			if err := s.Ping(context.Background()); err != nil {
				t.Fatalf("ping: %v", err)
			}
			c.fn(t, s)
		})
	}
}

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func change(op anxin.AlarmOp, hh, rule string, at time.Time) anxin.AlarmChange {
	return anxin.AlarmChange{Op: op, Household: hh, Rule: rule, RuleKind: "event", Device: "btn1",
		Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: at, Reason: "the call button was pressed",
		MessageID: "m-" + string(op)}
}

func apply(t *testing.T, s anxin.Store, b *anxin.IngestBatch) anxin.IngestResult {
	t.Helper()
	res, err := s.ApplyIngest(context.Background(), b)
	if err != nil {
		t.Fatalf("apply ingest: %v", err)
	}
	return res
}

// One open alarm per (household, rule): a second open is a repeat, a
// repeat attaches to the newest unresolved alarm, a rising edge after
// acceptance opens a new one, a close resolves every unresolved one.
func ingestOneOpenAlarmPerRule(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	res := apply(t, s, &anxin.IngestBatch{At: t0, Changes: []anxin.AlarmChange{
		change(anxin.AlarmOpOpen, "hh-1", "button", t0),
		change(anxin.AlarmOpOpen, "hh-1", "button", t0.Add(time.Second)),
		change(anxin.AlarmOpOpen, "hh-1", "smoke", t0.Add(2*time.Second)),
		change(anxin.AlarmOpRepeat, "hh-1", "smoke", t0.Add(3*time.Second)),
	}})
	if len(res.Opened) != 2 || res.Repeats != 2 {
		t.Fatalf("opened %d repeats %d, want 2 and 2", len(res.Opened), res.Repeats)
	}
	a, err := s.Alarm(ctx, res.Opened[0].ID)
	if err != nil || a.State != anxin.AlarmOpen || a.Repeats != 1 || a.Rule != "button" || !a.OpenedAt.Equal(t0) ||
		!a.UpdatedAt.Equal(t0.Add(time.Second)) || a.Reason != "the call button was pressed" || a.Household != "hh-1" ||
		a.Severity != anxin.SeverityCritical || a.Route != anxin.RouteFamily || a.Device != "btn1" {
		t.Fatalf("button alarm: %+v %v", a, err)
	}
	if err := s.SetAlarmState(ctx, a.ID, anxin.AlarmAccepted, "李明", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	res = apply(t, s, &anxin.IngestBatch{At: t0, Changes: []anxin.AlarmChange{change(anxin.AlarmOpRepeat, "hh-1", "button", t0.Add(2*time.Minute))}})
	if len(res.Opened) != 0 || res.Repeats != 1 {
		t.Fatalf("repeat on accepted: %+v", res)
	}
	res = apply(t, s, &anxin.IngestBatch{At: t0, Changes: []anxin.AlarmChange{change(anxin.AlarmOpOpen, "hh-1", "button", t0.Add(time.Hour))}})
	if len(res.Opened) != 1 || res.Opened[0].ID == a.ID {
		t.Fatalf("open after accepted: %+v", res)
	}
	res = apply(t, s, &anxin.IngestBatch{At: t0, Changes: []anxin.AlarmChange{change(anxin.AlarmOpClose, "hh-1", "button", t0.Add(2*time.Hour))}})
	if len(res.Closed) != 2 {
		t.Fatalf("close: %+v", res)
	}
	a, _ = s.Alarm(ctx, a.ID)
	if a.State != anxin.AlarmResolved || !a.ClosedAt.Equal(t0.Add(2*time.Hour)) || a.AcceptedBy != "李明" {
		t.Fatalf("closed alarm: %+v", a)
	}
	open, err := s.Alarms(ctx, anxin.AlarmFilter{Household: "hh-1", State: anxin.AlarmOpen})
	if err != nil || len(open) != 1 || open[0].Rule != "smoke" {
		t.Fatalf("open alarms: %+v %v", open, err)
	}
	all, err := s.Alarms(ctx, anxin.AlarmFilter{Since: t0.Add(time.Second)})
	if err != nil || len(all) != 2 || !all[0].OpenedAt.After(all[1].OpenedAt) {
		t.Fatalf("since filter, newest first: %+v %v", all, err)
	}
	if _, err := s.Alarm(ctx, "nope"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("missing alarm: %v", err)
	}
	if err := s.SetAlarmState(ctx, a.ID, anxin.AlarmAccepted, "x", t0); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("accepting a resolved alarm: %v", err)
	}
	if _, err := s.ApplyIngest(ctx, &anxin.IngestBatch{At: t0, Changes: []anxin.AlarmChange{{Op: "explode", Household: "hh-1", Rule: "x"}}}); anxin.ErrorCode(err) != anxin.EINVALID {
		t.Fatalf("unknown op: %v", err)
	}
	// the cause round-trips
	at := t0.Add(3 * time.Hour)
	c := change(anxin.AlarmOpOpen, "hh-2", "smoke", at)
	c.Cause = anxin.Cause{Code: anxin.CauseSmoke, Device: anxin.KindSmokeDetector, At: at}
	res = apply(t, s, &anxin.IngestBatch{At: at, Changes: []anxin.AlarmChange{c}})
	if b, err := s.Alarm(ctx, res.Opened[0].ID); err != nil || b.Cause.Code != anxin.CauseSmoke || !b.Cause.At.Equal(at) {
		t.Fatalf("cause not kept: %+v %v", b.Cause, err)
	}
}

// Seen ids are remembered with the batch time; the same id again keeps its
// first time (a batch committed twice is no error); rule state is replaced.
func ingestSeenIDsAndRuleState(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	for i, at := range []time.Time{t0, t0.Add(time.Hour)} {
		apply(t, s, &anxin.IngestBatch{At: at, SeenIDs: []string{"hh-1/id-" + string(rune('a'+i)), "hh-1/id-x"},
			States: []anxin.RuleState{{Household: "hh-1", State: []byte{byte(i)}}}})
	}
	got := map[string]time.Time{}
	if err := s.SeenIDs(ctx, t0, func(id string, at time.Time) { got[id] = at }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got["hh-1/id-x"].Equal(t0) || !got["hh-1/id-b"].Equal(t0.Add(time.Hour)) {
		t.Fatalf("seen ids: %v", got)
	}
	later := map[string]bool{}
	if err := s.SeenIDs(ctx, t0.Add(time.Minute), func(id string, _ time.Time) { later[id] = true }); err != nil || len(later) != 1 || !later["hh-1/id-b"] {
		t.Fatalf("seen since: %v %v", later, err)
	}
	if n, err := s.ForgetSeenIDs(ctx, t0.Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("forget: %d %v", n, err)
	}
	states := map[string][]byte{}
	if err := s.RuleStates(ctx, func(h string, st []byte) error { states[h] = st; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || len(states["hh-1"]) != 1 || states["hh-1"][0] != 1 {
		t.Fatalf("rule state: %v", states)
	}
	// one batch naming an id twice and a household's state twice: the last state wins
	apply(t, s, &anxin.IngestBatch{At: t0.Add(2 * time.Hour), SeenIDs: []string{"hh-2/id-y", "hh-2/id-y"},
		States: []anxin.RuleState{{Household: "hh-2", State: []byte{7}}, {Household: "hh-2", State: []byte{8}, AppliedSeq: 3}}})
	states = map[string][]byte{}
	if err := s.RuleStates(ctx, func(h string, st []byte) error { states[h] = st; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 || len(states["hh-2"]) != 1 || states["hh-2"][0] != 8 {
		t.Fatalf("rule state after a batch naming hh-2 twice: %v", states)
	}
	// hostile bytes in a message id (NUL, invalid UTF-8) do not fail the batch
	odd := change(anxin.AlarmOpOpen, "hh-3", "button", t0)
	odd.MessageID = "m\x00\xff"
	if res := apply(t, s, &anxin.IngestBatch{At: t0.Add(3 * time.Hour), SeenIDs: []string{"hh-3/a\x00b\xfe"},
		Changes: []anxin.AlarmChange{odd}}); len(res.Opened) != 1 {
		t.Fatalf("a batch with odd bytes: %+v", res)
	}
	stop := errors.New("stop")
	if err := s.RuleStates(ctx, func(string, []byte) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn's error: %v", err)
	}
}

// Writers racing to open the same (household, rule) make one alarm.
func ingestConcurrentOpens(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ApplyIngest(ctx, &anxin.IngestBatch{At: t0, Changes: []anxin.AlarmChange{
				change(anxin.AlarmOpOpen, "hh-1", "fall", t0.Add(time.Duration(i)*time.Second))}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	open, err := s.Alarms(ctx, anxin.AlarmFilter{State: anxin.AlarmOpen})
	if err != nil || len(open) != 1 || open[0].Repeats != 7 {
		t.Fatalf("open alarms after racing opens: %+v %v", open, err)
	}
}

// Closing by hand resolves the alarm, keeps who and why, logs the change,
// and cannot be done twice or undone.
func closeAlarmByHand(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	res := apply(t, s, &anxin.IngestBatch{At: t0, Changes: []anxin.AlarmChange{change(anxin.AlarmOpOpen, "hh-1", "button", t0)}})
	id := res.Opened[0].ID
	if err := s.CloseAlarm(ctx, id, "community-1", "电话确认老人安全，误按", t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	a, err := s.Alarm(ctx, id)
	if err != nil || a.State != anxin.AlarmResolved || !a.ClosedAt.Equal(t0.Add(5*time.Minute)) || a.AcceptedBy != "" {
		t.Fatalf("closed alarm: %+v %v", a, err)
	}
	notes, err := s.AlarmNotes(ctx, id)
	if err != nil || len(notes) != 1 || notes[0].By != "community-1" || notes[0].What != "closed" ||
		notes[0].Text != "电话确认老人安全，误按" || !notes[0].At.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("notes: %+v %v", notes, err)
	}
	changes, err := s.AlarmStateChanges(ctx, 0, 10)
	if err != nil || len(changes) != 1 || changes[0].State != anxin.AlarmResolved || changes[0].AlarmID != id {
		t.Fatalf("state log: %+v %v", changes, err)
	}
	if err := s.CloseAlarm(ctx, id, "district", "again", t0.Add(time.Hour)); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("second close: %v", err)
	}
	if err := s.SetAlarmState(ctx, id, anxin.AlarmAccepted, "李明", t0.Add(time.Hour)); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("accepting a closed alarm: %v", err)
	}
	if notes, _ := s.AlarmNotes(ctx, id); len(notes) != 1 {
		t.Fatalf("notes after refused closes: %+v", notes)
	}
	if err := s.CloseAlarm(ctx, "no-such-alarm", "district", "x", t0); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("unknown alarm: %v", err)
	}
	res = apply(t, s, &anxin.IngestBatch{At: t0, Changes: []anxin.AlarmChange{change(anxin.AlarmOpRepeat, "hh-1", "button", t0.Add(2*time.Hour))}})
	if len(res.Opened) != 1 || res.Opened[0].ID == id {
		t.Fatalf("a press after the close: %+v", res)
	}
}

// State changes are logged in order with rising sequence numbers; what a
// household's stored rule state already reflects is not handed over again.
func alarmStateLog(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	if seq, err := s.LastAlarmStateSeq(ctx); err != nil || seq != 0 {
		t.Fatalf("empty log: %d %v", seq, err)
	}
	res := apply(t, s, &anxin.IngestBatch{At: t0, Changes: []anxin.AlarmChange{
		change(anxin.AlarmOpOpen, "hh-1", "button", t0), change(anxin.AlarmOpOpen, "hh-2", "button", t0)}})
	for _, a := range res.Opened {
		if err := s.SetAlarmState(ctx, a.ID, anxin.AlarmAccepted, "+8613900000001", t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetAlarmState(ctx, res.Opened[1].ID, anxin.AlarmResolved, "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	all, err := s.AlarmStateChanges(ctx, 0, 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("log: %+v %v", all, err)
	}
	for i, want := range []struct {
		id    string
		state anxin.AlarmState
	}{{res.Opened[0].ID, anxin.AlarmAccepted}, {res.Opened[1].ID, anxin.AlarmAccepted}, {res.Opened[1].ID, anxin.AlarmResolved}} {
		if all[i].AlarmID != want.id || all[i].State != want.state || all[i].Rule != "button" || (i > 0 && all[i].Seq <= all[i-1].Seq) {
			t.Fatalf("log entry %d: %+v", i, all)
		}
	}
	if page, err := s.AlarmStateChanges(ctx, all[0].Seq, 1); err != nil || len(page) != 1 || page[0] != all[1] {
		t.Fatalf("page after the first: %+v %v", page, err)
	}
	last, err := s.LastAlarmStateSeq(ctx)
	if err != nil || last != all[2].Seq {
		t.Fatalf("last seq %d %v, want %d", last, err, all[2].Seq)
	}
	// hh-1's state was written after its change, hh-2's before both of its
	apply(t, s, &anxin.IngestBatch{At: t0, States: []anxin.RuleState{{Household: "hh-1", State: []byte{1}, AppliedSeq: last},
		{Household: "hh-2", State: []byte{1}, AppliedSeq: 0}}})
	var got []anxin.AlarmStateChange
	if err := s.UnappliedAlarmStateChanges(ctx, func(c anxin.AlarmStateChange) { got = append(got, c) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != all[1] || got[1] != all[2] {
		t.Fatalf("unapplied changes: %+v", got)
	}
}

// The outbox lists open family alarms of severity critical or warning
// without a chain, oldest first.
func alarmsAwaitingChain(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	res := apply(t, s, &anxin.IngestBatch{At: t0, Changes: []anxin.AlarmChange{
		{Op: anxin.AlarmOpOpen, Household: "hh-1", Rule: "fall", RuleKind: "event", Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: t0},
		{Op: anxin.AlarmOpOpen, Household: "hh-1", Rule: "device_silent", RuleKind: "device_silent", Severity: anxin.SeverityInfo, Route: anxin.RouteInstaller, At: t0},
		{Op: anxin.AlarmOpOpen, Household: "hh-2", Rule: "smoke", RuleKind: "event", Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: t0},
		{Op: anxin.AlarmOpClose, Household: "hh-2", Rule: "smoke", At: t0.Add(time.Second)},
		{Op: anxin.AlarmOpOpen, Household: "hh-3", Rule: "no_water", RuleKind: "no_use", Severity: anxin.SeverityWarning, Route: anxin.RouteFamily, At: t0.Add(time.Second)},
		{Op: anxin.AlarmOpOpen, Household: "hh-4", Rule: "button", RuleKind: "event", Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: t0.Add(2 * time.Second)},
	}})
	if len(res.Opened) != 5 || len(res.Closed) != 1 {
		t.Fatalf("%+v", res)
	}
	if _, err := s.CreateChain(ctx, &anxin.Chain{AlarmID: res.Opened[4].ID, Household: "hh-4", State: anxin.ChainResolved,
		Targets: []anxin.ChainTarget{}, Steps: []int{}, Finished: true, StartedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AlarmsAwaitingChain(ctx, 10, false)
	if err != nil || len(got) != 2 || got[0].ID != res.Opened[0].ID || got[1].ID != res.Opened[3].ID {
		t.Fatalf("awaiting %+v %v, want the fall and the no-water alarm, oldest first", got, err)
	}
	if got, _ := s.AlarmsAwaitingChain(ctx, 1, false); len(got) != 1 {
		t.Fatalf("limit 1 gave %d", len(got))
	}
	got, err = s.AlarmsAwaitingChain(ctx, 10, true)
	if err != nil || len(got) != 3 || got[1].ID != res.Opened[1].ID {
		t.Fatalf("with installers: %+v %v, want the installer alarm too", got, err)
	}
}

func chainRoundTrip(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 8, 0, 0, 123456789, time.UTC)
	c := anxin.Chain{
		AlarmID: "01ALARM", Household: "hh-0001", Severity: anxin.SeverityCritical, State: anxin.ChainWalking,
		Targets: []anxin.ChainTarget{{Name: "李明", Phone: "+8613900000001", Relation: "child"},
			{Name: "王芳", Phone: "+8613700000002", Role: "grid_worker"}},
		Steps:    []int{0, 1, 0, 1},
		Deadline: at.Add(3 * time.Minute), StartedAt: at, UpdatedAt: at, AcceptedTarget: -1,
	}
	if created, err := s.CreateChain(ctx, &c); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	again := c
	again.Step = 3
	if created, err := s.CreateChain(ctx, &again); err != nil || created {
		t.Fatalf("second create: %v %v", created, err)
	}
	c.Step, c.State, c.AcceptedBy, c.AcceptedVia, c.AcceptedAt, c.AcceptedTarget = 1, anxin.ChainAccepted, "王芳", "key_press", at.Add(time.Minute), 1
	if err := s.SaveChain(ctx, &c); err != nil {
		t.Fatal(err)
	}
	a := anxin.Attempt{ID: "01ALARM/s1/voice", AlarmID: c.AlarmID, Purpose: anxin.PurposeStep, Step: 1, Target: 1,
		Channel: anxin.ChannelVoice, Provider: "twilio", Status: anxin.AttemptSending, Tries: 1, CreatedAt: at, UpdatedAt: at}
	if created, err := s.CreateAttempt(ctx, &a); err != nil || !created {
		t.Fatalf("attempt: %v %v", created, err)
	}
	if created, _ := s.CreateAttempt(ctx, &a); created {
		t.Fatal("an attempt id was created twice")
	}
	a.Status, a.ProviderID, a.AnsweredBy, a.NextTry = "completed", "CA1", "human", at.Add(time.Second)
	if err := s.SaveAttempt(ctx, &a); err != nil {
		t.Fatal(err)
	}
	got, err := s.Chain(ctx, c.AlarmID)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("chain\n got %+v\nwant %+v (%v)", got, c, err)
	}
	un, err := s.UnfinishedChains(ctx)
	if err != nil || len(un) != 1 {
		t.Fatalf("unfinished: %d %v", len(un), err)
	}
	if got, err := s.ChainsSince(ctx, c.StartedAt); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], c) {
		t.Fatalf("chains since its start: %+v %v", got, err)
	}
	if got, err := s.ChainsSince(ctx, c.StartedAt.Add(time.Nanosecond)); err != nil || len(got) != 0 {
		t.Fatalf("chains since after its start: %d %v", len(got), err)
	}
	as, err := s.Attempts(ctx, c.AlarmID)
	if err != nil || len(as) != 1 || !reflect.DeepEqual(as[0], a) {
		t.Fatalf("attempts\n got %+v\nwant %+v %v", as, a, err)
	}
	if one, err := s.Attempt(ctx, a.ID); err != nil || !reflect.DeepEqual(one, a) {
		t.Fatalf("attempt %+v %v", one, err)
	}
	c.Finished = true
	if err := s.SaveChain(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if un, _ := s.UnfinishedChains(ctx); len(un) != 0 {
		t.Fatalf("finished chain still unfinished")
	}
	if got, err := s.ChainsSince(ctx, c.StartedAt.Add(-time.Hour)); err != nil || len(got) != 1 || !got[0].Finished {
		t.Fatalf("a finished chain since before its start: %+v %v", got, err)
	}
	if _, err := s.Chain(ctx, "nope"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("missing chain: %v", err)
	}
	if _, err := s.Attempt(ctx, "nope"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("missing attempt: %v", err)
	}
}

// A save based on an older read is ECONFLICT; a provider id belongs to one attempt.
func versionedWrites(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	c := anxin.Chain{AlarmID: "01A", Household: "hh-1", State: anxin.ChainWalking, Targets: []anxin.ChainTarget{{Name: "李明"}},
		Steps: []int{0}, StartedAt: t0, UpdatedAt: t0, AcceptedTarget: -1}
	if _, err := s.CreateChain(ctx, &c); err != nil {
		t.Fatal(err)
	}
	stale, _ := s.Chain(ctx, "01A")
	c.State, c.AcceptedTarget = anxin.ChainAccepted, 0
	if err := s.SaveChain(ctx, &c); err != nil {
		t.Fatal(err)
	}
	stale.Step = 1
	if err := s.SaveChain(ctx, &stale); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("stale save: %v, want ECONFLICT", err)
	}
	if got, _ := s.Chain(ctx, "01A"); got.State != anxin.ChainAccepted || got.AcceptedTarget != 0 || got.Step != 0 {
		t.Fatalf("chain %+v: the stale save overwrote the acceptance", got)
	}
	missing := anxin.Chain{AlarmID: "01NONE"}
	if err := s.SaveChain(ctx, &missing); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("save of a missing chain: %v", err)
	}
	for _, id := range []string{"01A/s0/voice", "01B/s0/voice", "01C/s0/sms"} {
		a := anxin.Attempt{ID: id, AlarmID: id[:3], Purpose: anxin.PurposeStep, Channel: anxin.ChannelVoice,
			Provider: "twilio", Status: anxin.AttemptSending, CreatedAt: t0, UpdatedAt: t0}
		if strings.HasSuffix(id, "sms") {
			a.Channel, a.Provider = anxin.ChannelSMS, "aliyun"
		}
		if _, err := s.CreateAttempt(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := s.Attempt(ctx, "01A/s0/voice")
	staleA := a
	a.ProviderID = "CA1"
	if err := s.SaveAttempt(ctx, &a); err != nil {
		t.Fatal(err)
	}
	staleA.Status = "failed"
	if err := s.SaveAttempt(ctx, &staleA); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("stale attempt save: %v, want ECONFLICT", err)
	}
	b, _ := s.Attempt(ctx, "01B/s0/voice")
	b.ProviderID = "CA1"
	if err := s.SaveAttempt(ctx, &b); anxin.ErrorCode(err) != anxin.ECONFLICT || !errors.Is(err, anxin.ErrProviderIDHeld) {
		t.Fatalf("a second attempt took CA1: %v", err)
	}
	c3, _ := s.Attempt(ctx, "01C/s0/sms")
	c3.ProviderID = "CA1" // another provider's id space
	if err := s.SaveAttempt(ctx, &c3); err != nil {
		t.Fatalf("CA1 at another provider: %v", err)
	}
	if held, err := s.AttemptByProviderID(ctx, "twilio", "CA1"); err != nil || held.ID != "01A/s0/voice" {
		t.Fatalf("CA1 held by %+v %v", held, err)
	}
	if _, err := s.AttemptByProviderID(ctx, "twilio", "CA2"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("CA2: %v", err)
	}
}

// Attempts list in the order they were made, to the nanosecond.
func attemptTimesSort(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	base := time.Date(2026, 12, 7, 0, 57, 0, 0, time.UTC)
	times := []time.Time{base, base.Add(500 * time.Millisecond), base.Add(time.Second + 123456*time.Microsecond)}
	for i, at := range []int{2, 0, 1} {
		a := anxin.Attempt{ID: "01T/n" + string(rune('a'+i)) + "/sms", AlarmID: "01T", Purpose: anxin.PurposeTaken,
			Channel: anxin.ChannelSMS, Provider: "log", Status: "queued", CreatedAt: times[at], UpdatedAt: times[at]}
		if _, err := s.CreateAttempt(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	as, err := s.Attempts(ctx, "01T")
	if err != nil || len(as) != 3 {
		t.Fatal(as, err)
	}
	for i := range as {
		if !as[i].CreatedAt.Equal(times[i]) {
			t.Fatalf("attempt %d made at %v, want %v", i, as[i].CreatedAt, times[i])
		}
	}
}

func ackTokens(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	exp := time.Date(2026, 12, 8, 0, 57, 0, 0, time.UTC)
	tok := anxin.AckToken{Token: "Ab3dE6gH9k", AlarmID: "a1", Step: 3, PhoneTag: [4]byte{1, 2, 3, 4}, Expires: exp}
	if err := s.PutAckToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	again := tok
	again.AlarmID = "a2"
	if err := s.PutAckToken(ctx, again); err != nil {
		t.Fatal(err)
	}
	got, err := s.AckToken(ctx, "Ab3dE6gH9k")
	if err != nil || got != tok {
		t.Fatalf("got %+v, %v; want %+v", got, err, tok)
	}
	if _, err := s.AckToken(ctx, "ab3dE6gH9k"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("tokens are case-sensitive: %v", err)
	}
	if _, err := s.AckToken(ctx, "nope"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("unknown token: %v", err)
	}
}

// A key is a replay within the window from its first sight, not after;
// forgetting and trimming drop it.
func webhookReplays(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	const day = 24 * time.Hour
	note := func(key string, at time.Time) bool {
		t.Helper()
		replay, err := s.NoteWebhook(ctx, key, at, day)
		if err != nil {
			t.Fatal(err)
		}
		return replay
	}
	if note("k1", t0) {
		t.Fatal("a new key is a replay")
	}
	if !note("k1", t0.Add(time.Second)) {
		t.Fatal("the same key a second later is not a replay")
	}
	if note("k2", t0.Add(time.Second)) {
		t.Fatal("another key is a replay")
	}
	if !note("k1", t0.Add(time.Hour)) {
		t.Fatal("k1 forgotten within the window")
	}
	if note("k1", t0.Add(day)) {
		t.Fatal("k1 is still a replay after the window")
	}
	if !note("k1", t0.Add(day+time.Minute)) {
		t.Fatal("k1, noted again, is not remembered")
	}
	if err := s.ForgetWebhook(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if note("k1", t0.Add(day+2*time.Minute)) {
		t.Fatal("a forgotten key is a replay")
	}
	n, err := s.ForgetWebhooksBefore(ctx, t0.Add(day))
	if err != nil || n != 1 {
		t.Fatalf("trimmed %d, %v; want k2 only", n, err)
	}
	if note("k2", t0.Add(day+3*time.Minute)) {
		t.Fatal("a trimmed key is a replay")
	}
}

func accounts(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	if _, err := s.Account(ctx, "wangfang"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("unknown account: %v", err)
	}
	a := anxin.Account{Login: "wangfang", Name: "王芳", Area: "屏山街道/善广村", Role: "worker", Hash: "$argon2id$v=19$x"}
	if err := s.PutAccount(ctx, a, t0); err != nil {
		t.Fatal(err)
	}
	got, err := s.Account(ctx, "wangfang")
	if err != nil || got != a {
		t.Fatalf("account %+v %v, want %+v", got, err, a)
	}
	lock := t0.Add(15 * time.Minute)
	for i := 1; i <= 3; i++ {
		if n, err := s.SignInFailed(ctx, "wangfang", 3, lock); err != nil || n != i {
			t.Fatalf("failure %d counted %d %v", i, n, err)
		}
	}
	if got, _ := s.Account(ctx, "wangfang"); got.Failures != 3 || !got.LockedUntil.Equal(lock) {
		t.Fatalf("locked account %+v", got)
	}
	if n, err := s.SignInFailed(ctx, "nobody", 3, lock); err != nil || n != 0 {
		t.Fatalf("unknown login: %d %v", n, err)
	}
	if err := s.SignedIn(ctx, "wangfang"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Account(ctx, "wangfang"); got.Failures != 0 || !got.LockedUntil.IsZero() {
		t.Fatalf("after sign-in %+v", got)
	}
	digest := []byte("0123456789abcdef0123456789abcdef")
	sess := anxin.Session{Login: "wangfang", CSRF: "csrf-1", Expires: t0.Add(12 * time.Hour)}
	if err := s.CreateSession(ctx, digest, sess); err != nil {
		t.Fatal(err)
	}
	gs, ga, err := s.Session(ctx, digest, t0)
	if err != nil || gs.Login != sess.Login || gs.CSRF != sess.CSRF || !gs.Expires.Equal(sess.Expires) || ga.Login != "wangfang" || ga.Name != "王芳" || ga.Area != a.Area || ga.Role != "worker" {
		t.Fatalf("session %+v %+v %v", gs, ga, err)
	}
	if _, _, err := s.Session(ctx, digest, t0.Add(12*time.Hour)); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("expired session: %v", err)
	}
	if err := s.DeleteSession(ctx, digest, t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, digest, t0); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("deleted session: %v", err)
	}
	// replacing an account clears its failures and ends its sessions
	_, _ = s.SignInFailed(ctx, "wangfang", 3, lock)
	if err := s.CreateSession(ctx, digest, sess); err != nil {
		t.Fatal(err)
	}
	a.Name = "王芳芳"
	if err := s.PutAccount(ctx, a, t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, digest, t0); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("a session outlived its account's reset: %v", err)
	}
	if got, _ := s.Account(ctx, "wangfang"); got.Name != a.Name || got.Failures != 0 || !got.LockedUntil.IsZero() {
		t.Fatalf("replaced %+v", got)
	}
}

func formKeys(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	if id, claimed, err := s.ClaimFormKey(ctx, "k1", "wangfang", t0); err != nil || !claimed || id != "" {
		t.Fatalf("first claim: %q %v %v", id, claimed, err)
	}
	if id, claimed, err := s.ClaimFormKey(ctx, "k1", "wangfang", t0); err != nil || claimed || id != "" {
		t.Fatalf("claim while unfinished: %q %v %v", id, claimed, err)
	}
	if err := s.FinishFormKey(ctx, "k1", "V1"); err != nil {
		t.Fatal(err)
	}
	if id, claimed, err := s.ClaimFormKey(ctx, "k1", "wangfang", t0); err != nil || claimed || id != "V1" {
		t.Fatalf("claim after finish: %q %v %v", id, claimed, err)
	}
	if id, claimed, err := s.ClaimFormKey(ctx, "k1", "lisi", t0); err != nil || claimed || id != "" {
		t.Fatalf("another person's key: %q %v %v", id, claimed, err)
	}
	for _, c := range []struct {
		login, visit string
		want         bool
	}{{"wangfang", "V1", true}, {"lisi", "V1", false}, {"wangfang", "V2", false}, {"wangfang", "", false}} {
		if got, err := s.EnteredVisit(ctx, c.login, c.visit); err != nil || got != c.want {
			t.Errorf("EnteredVisit(%s, %q) = %v %v, want %v", c.login, c.visit, got, err, c.want)
		}
	}
	if _, claimed, _ := s.ClaimFormKey(ctx, "k2", "wangfang", t0); !claimed {
		t.Fatal("k2 not claimed")
	}
	if err := s.ReleaseFormKey(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if _, claimed, _ := s.ClaimFormKey(ctx, "k2", "wangfang", t0); !claimed {
		t.Fatal("a released key cannot be claimed again")
	}
	if err := s.ReleaseFormKey(ctx, "k1"); err != nil { // finished: kept
		t.Fatal(err)
	}
	if id, _, _ := s.ClaimFormKey(ctx, "k1", "wangfang", t0); id != "V1" {
		t.Fatalf("a finished key was released: %q", id)
	}
	// keys older than 30 days go
	if _, claimed, _ := s.ClaimFormKey(ctx, "k1", "wangfang", t0.AddDate(0, 0, 31)); !claimed {
		t.Fatal("a month-old key is still held")
	}
}

func audit(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	if err := s.Audit(ctx); err != nil {
		t.Fatal(err)
	}
	var entries []anxin.AuditEntry
	for i := range 5 {
		who := "token-a"
		if i%2 == 1 {
			who = "wangfang"
		}
		entries = append(entries, anxin.AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Who: who,
			Action: "elder.read", Record: fmt.Sprintf("e%d", i%3), Detail: "list"})
	}
	if err := s.Audit(ctx, entries[:3]...); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, entries[3:]...); err != nil {
		t.Fatal(err)
	}
	ids := func(es []anxin.AuditEntry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Record+"@"+e.At.Format("04"))
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		f    anxin.AuditFilter
		want string
	}{
		{anxin.AuditFilter{}, "e1@04 e0@03 e2@02 e1@01 e0@00"},
		{anxin.AuditFilter{Who: "wangfang"}, "e0@03 e1@01"},
		{anxin.AuditFilter{Record: "e0"}, "e0@03 e0@00"},
		{anxin.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, "e2@02 e1@01"},
		{anxin.AuditFilter{Limit: 2, Offset: 1}, "e0@03 e2@02"},
		{anxin.AuditFilter{Action: "elder.update"}, ""},
	} {
		got, err := s.AuditLog(ctx, c.f)
		if err != nil || ids(got) != c.want || got == nil {
			t.Errorf("%+v: %q %v, want %q", c.f, ids(got), err, c.want)
		}
	}
	got, _ := s.AuditLog(ctx, anxin.AuditFilter{Limit: 1})
	if len(got) != 1 || got[0].Who != "token-a" || got[0].Action != "elder.read" || got[0].Detail != "list" || got[0].ID == 0 {
		t.Fatalf("newest entry %+v", got)
	}
}
