package idtable

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

type entry struct {
	id  string
	val int
}

// TestTableAgreesWithAMap: random puts, replacements and deletes over a
// small id space (long probe runs, wrapping at the table's end) leave the
// table holding what a Go map holds, after every step.
func TestTableAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	tab := New(func(e *entry) string { return e.id }, 0)
	want := map[string]*entry{}
	for step := range 50_000 {
		id := fmt.Sprintf("hh-%d", rng.IntN(300))
		switch rng.IntN(3) {
		case 0, 1:
			e := &entry{id: id, val: step}
			tab.Put(e)
			want[id] = e
		case 2:
			_, had := want[id]
			if tab.Delete(id) != had {
				t.Fatalf("step %d: delete %s reported %v", step, id, !had)
			}
			delete(want, id)
		}
		if tab.Len() != len(want) {
			t.Fatalf("step %d: %d held, want %d", step, tab.Len(), len(want))
		}
		if step%97 == 0 {
			for id, e := range want {
				if got, ok := tab.Get(id); !ok || got != e {
					t.Fatalf("step %d: %s is %v, want %v", step, id, got, e)
				}
			}
			n := 0
			for e := range tab.All() {
				if want[e.id] != e {
					t.Fatalf("step %d: All yields %v, not held", step, e)
				}
				n++
			}
			if n != len(want) {
				t.Fatalf("step %d: All yields %d, want %d", step, n, len(want))
			}
		}
		if _, ok := tab.Get(fmt.Sprintf("x-%d", step)); ok {
			t.Fatal("found an id never put")
		}
	}
}

// indexOf is a table of the places of ids (+ 1), as the register's view
// holds them, and the ids.
func indexOf(ids ...string) ([]string, *Table[int32]) {
	tab := New(func(i int32) string { return ids[i-1] }, len(ids))
	for i := range ids {
		tab.Put(int32(i + 1))
	}
	return ids, tab
}

// TestTableIndexes: int32 values indexing a slice (the register's view):
// 0 is empty, so the index is stored plus one.
func TestTableIndexes(t *testing.T) {
	_, tab := indexOf("a", "b", "c")
	if i, ok := tab.Get("b"); !ok || i != 2 {
		t.Fatalf("b: %d %v", i, ok)
	}
	if _, ok := tab.Get("d"); ok {
		t.Fatal("d found")
	}
}

// TestTableWithID: a table over a copy of the rows finds every value as
// the original does, through the copy (the original may go), and neither
// copies the slots.
func TestTableWithID(t *testing.T) {
	ids, tab := indexOf("a", "b", "c")
	copied := slices.Clone(ids)
	c := tab.WithID(func(i int32) string { return copied[i-1] })
	ids[1] = "x" // the original rows change: the copy's table does not follow them
	for i, id := range copied {
		if v, ok := c.Get(id); !ok || v != int32(i+1) {
			t.Errorf("Get(%s) = %d, %v; want %d", id, v, ok, i+1)
		}
	}
	if c.Len() != 3 || &c.slots[0] != &tab.slots[0] {
		t.Error("WithID copied the slots or lost the count")
	}
}

// TestTableClone: a clone changes without changing the table it came from.
func TestTableClone(t *testing.T) {
	ids, tab := indexOf("a", "b", "c")
	more := append(slices.Clone(ids), "d")
	c := tab.Clone(func(i int32) string { return more[i-1] })
	c.Delete("a")
	c.Put(4)
	if _, ok := tab.Get("a"); !ok || tab.Len() != 3 {
		t.Error("deleting from the clone changed the table")
	}
	if _, ok := c.Get("a"); ok || c.Len() != 3 {
		t.Error("the clone still holds a")
	}
	if v, ok := c.Get("d"); !ok || v != 4 {
		t.Errorf("the clone's d: %d, %v", v, ok)
	}
}

// TestTableMemory reports the bytes an entry of a table of 1,000,000
// (the ids and values not counted): at most 24, a Go map's 40–56.
func TestTableMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million entries")
	}
	const n = 1_000_000
	es := make([]entry, n)
	for i := range es {
		es[i].id = fmt.Sprintf("hh-%07d", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab := New(func(e *entry) string { return e.id }, 0)
	for i := range es {
		tab.Put(&es[i])
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	runtime.KeepAlive(tab)
	t.Logf("%.1f bytes an entry", per)
	if per > 24 {
		t.Errorf("%.1f bytes an entry", per)
	}
}
