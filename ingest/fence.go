package ingest

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/anxin-care/anxin"
)

// Fencing the commits of a partitioned source: an alarmd that stalls (a VM
// pause, a long GC, a blocked disk) past its lease while a batch is in
// flight must not commit after a peer claimed the partition and restored
// its households. Every write of the pipeline names the leases (partition,
// epoch) its households were processed under, and the store applies it
// only while this alarmd still holds them (anxin.LeaseFence). What belongs
// to a lost partition is left out of the write, its deliveries are handed
// back for the new owner, and the partition is dropped here.

// fencer is a partitioned source's leases (*JetStreamSource).
type fencer interface {
	// partition is the partition of a household; partitions how many there are.
	partition(household string) int
	partitions() int
	// leaseFence is the fence of partitions parts as this alarmd holds them
	// now; notHeld are those of parts it does not hold (dropped already).
	leaseFence(parts []int) (f *anxin.LeaseFence, notHeld []int)
	// leaseLost: a write found these leases lost; the source stops pulling
	// their partitions (dropLost has taken them out of the ownership). It
	// must not wait for the batch loop (it is called from it).
	leaseLost(lost []anxin.PartitionEpoch)
}

// applyIngest writes b, fenced by its households' partition leases when
// the source is partitioned. A lease found lost drops its partition here
// and its share of b, and the rest is written again.
func (p *Pipeline) applyIngest(ctx context.Context, b *anxin.IngestBatch) (anxin.IngestResult, error) {
	if p.fencer == nil {
		return p.store.ApplyIngest(ctx, b)
	}
	for {
		f, lost := p.fencer.leaseFence(p.batchParts(b))
		var lostEpochs []anxin.PartitionEpoch
		if len(lost) == 0 {
			b.Fence = f
			res, err := p.store.ApplyIngest(ctx, b)
			var ll *anxin.LeaseLostError
			if !errors.As(err, &ll) {
				return res, err
			}
			lost = ll.Parts
			for _, pe := range f.Parts {
				if slices.Contains(lost, pe.Part) {
					lostEpochs = append(lostEpochs, pe)
				}
			}
		}
		p.dropLost(b, lost, lostEpochs)
		if len(b.Changes) == 0 && len(b.SeenIDs) == 0 && len(b.States) == 0 {
			return anxin.IngestResult{}, nil
		}
	}
}

// batchParts is the distinct partitions of b's households.
func (p *Pipeline) batchParts(b *anxin.IngestBatch) []int {
	if n := p.fencer.partitions(); cap(p.fenceMarks) < n {
		p.fenceMarks = make([]bool, n)
	}
	marks := p.fenceMarks[:p.fencer.partitions()]
	var parts []int
	add := func(hh string) {
		if k := p.fencer.partition(hh); !marks[k] {
			marks[k] = true
			parts = append(parts, k)
		}
	}
	for i := range b.Changes {
		add(b.Changes[i].Household)
	}
	for _, id := range b.SeenIDs {
		hh, _, _ := strings.Cut(id, "/")
		add(hh)
	}
	for i := range b.States {
		add(b.States[i].Household)
	}
	for _, k := range parts {
		marks[k] = false
	}
	return parts
}

// dropLost stops processing the households of partitions lost (the new
// owner's from now on: their state here is forgotten, the source stops the
// partitions) and takes their share out of b. Logged once a write.
func (p *Pipeline) dropLost(b *anxin.IngestBatch, lost []int, epochs []anxin.PartitionEpoch) {
	isLost := func(hh string) bool { return slices.Contains(lost, p.fencer.partition(hh)) }
	owns := p.owns
	p.owns = func(hh string) bool { return (owns == nil || owns(hh)) && !isLost(hh) }
	p.engine.ForgetWhere(isLost)
	changes, seen, states := len(b.Changes), len(b.SeenIDs), len(b.States)
	b.Changes = slices.DeleteFunc(b.Changes, func(c anxin.AlarmChange) bool { return isLost(c.Household) })
	b.SeenIDs = slices.DeleteFunc(b.SeenIDs, func(id string) bool { hh, _, _ := strings.Cut(id, "/"); return isLost(hh) })
	b.States = slices.DeleteFunc(b.States, func(s anxin.RuleState) bool { return isLost(s.Household) })
	p.leasesLost++
	p.m.leaseLost.Inc()
	p.log.Warn("partition lease lost before a commit: its share of the batch is rolled back and handed back to the new owner",
		"partitions", lost, "alarm_changes", changes-len(b.Changes), "seen_ids", seen-len(b.SeenIDs),
		"rule_states", states-len(b.States))
	p.fencer.leaseLost(epochs)
}

// handBackLost hands back the deliveries of a batch whose households a
// commit found in a lost partition (their effects were left out of it):
// the new owner processes them. Their ids are forgotten here, so that if
// the partition comes back (its take-over reads the window from the store)
// no id is remembered whose effect the store never got.
func (p *Pipeline) handBackLost(batch []Delivery) {
	for i := range batch {
		d := &batch[i]
		if d.Ack == nil {
			continue // handed back already
		}
		hh, _, _, err := anxin.ParseTopic(d.Topic)
		if err != nil || p.owned(hh) {
			continue
		}
		if m, err := p.parser.parse(d.Topic, d.Payload); err == nil {
			p.seen.forget(p.seen.key2(m.Household, m.ID))
		}
		p.handBack(d)
	}
}
