package sqlite

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

func TestEscalationRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alarmd.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 123456789, time.UTC)
	c := anxin.Chain{
		AlarmID: "01ALARM", Household: "hh-0001", Severity: anxin.SeverityCritical, State: anxin.ChainWalking,
		Targets:  []anxin.ChainTarget{{Name: "李明", Phone: "+8613900000001", Relation: "child"}, {Name: "王芳", Phone: "+8613700000002", Role: "grid_worker"}},
		Steps:    []int{0, 1, 0, 1},
		Deadline: t0.Add(3 * time.Minute), StartedAt: t0, UpdatedAt: t0,
	}
	if created, err := d.CreateChain(ctx, &c); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	again := c
	again.Step = 3
	if created, err := d.CreateChain(ctx, &again); err != nil || created {
		t.Fatalf("second create: %v %v", created, err)
	}
	c.Step, c.State, c.AcceptedBy, c.AcceptedVia, c.AcceptedAt = 1, anxin.ChainAccepted, "王芳", "key_press", t0.Add(time.Minute)
	if err := d.SaveChain(ctx, &c); err != nil {
		t.Fatal(err)
	}
	a := anxin.Attempt{ID: "01ALARM/s1/voice", AlarmID: c.AlarmID, Purpose: anxin.PurposeStep, Step: 1, Target: 1,
		Channel: anxin.ChannelVoice, Provider: "twilio", Status: anxin.AttemptSending, Tries: 1, CreatedAt: t0, UpdatedAt: t0}
	if created, err := d.CreateAttempt(ctx, &a); err != nil || !created {
		t.Fatalf("attempt: %v %v", created, err)
	}
	if created, _ := d.CreateAttempt(ctx, &a); created {
		t.Fatal("an attempt id was created twice")
	}
	a.Status, a.ProviderID, a.AnsweredBy, a.NextTry = "completed", "CA1", "human", t0.Add(time.Second)
	if err := d.SaveAttempt(ctx, &a); err != nil {
		t.Fatal(err)
	}
	d.Close()

	// what a restart reads back
	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Chain(ctx, c.AlarmID)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("chain\n got %+v\nwant %+v (%v)", got, c, err)
	}
	un, err := d.UnfinishedChains(ctx)
	if err != nil || len(un) != 1 {
		t.Fatalf("unfinished: %d %v", len(un), err)
	}
	as, err := d.Attempts(ctx, c.AlarmID)
	if err != nil || len(as) != 1 || !reflect.DeepEqual(as[0], a) {
		t.Fatalf("attempts %+v %v", as, err)
	}
	c.Finished = true
	if err := d.SaveChain(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if un, _ := d.UnfinishedChains(ctx); len(un) != 0 {
		t.Fatalf("finished chain still unfinished")
	}
	if _, err := d.Chain(ctx, "nope"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("missing chain: %v", err)
	}
	if _, err := d.Attempt(ctx, "nope"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("missing attempt: %v", err)
	}
}
