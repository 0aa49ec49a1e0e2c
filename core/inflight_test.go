package core

import (
	"math/rand"
	"testing"
)

// The lease table answers like a map under in-order and out-of-order
// settles, unknown and repeated ids, and walks its leases in id order.
func TestLeaseTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var tab leaseTable
	model := map[uint64]*entry{}
	var live []uint64 // in id order
	next := uint64(0)
	for step := 0; step < 200000; step++ {
		switch r := rng.Intn(10); {
		case r < 5: // lease (ids grow, with gaps: other queues share the counter)
			next += 1 + uint64(rng.Intn(3))
			e := &entry{pos: next}
			tab.put(next, e)
			model[next] = e
			live = append(live, next)
		case r < 8 && len(live) > 0: // settle the oldest (in-order ack)
			id := live[0]
			live = live[1:]
			tab.del(id)
			delete(model, id)
		case r < 9 && len(live) > 0: // settle any
			i := rng.Intn(len(live))
			id := live[i]
			live = append(live[:i], live[i+1:]...)
			tab.del(id)
			delete(model, id)
		default: // unknown or settled id: no effect
			id := uint64(rng.Int63n(int64(next) + 2))
			if _, ok := model[id]; !ok {
				tab.del(id)
			}
		}
		if step%997 == 0 {
			for id, e := range model {
				if got := tab.get(id); got != e {
					t.Fatalf("step %d: get(%d) = %v, want %v", step, id, got, e)
				}
			}
			if tab.len() != len(model) {
				t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(model))
			}
			all := tab.appendTo(nil)
			if len(all) != len(live) {
				t.Fatalf("step %d: walk gave %d leases, want %d", step, len(all), len(live))
			}
			for i, sl := range all {
				if sl.id != live[i] || sl.e != model[sl.id] {
					t.Fatalf("step %d: walk[%d] = %d, want %d", step, i, sl.id, live[i])
				}
			}
			// Holes are squeezed out: the table stays near its live size.
			if len(tab.s)-tab.head > 2*len(model)+64+1024 {
				t.Fatalf("step %d: %d slots for %d leases", step, len(tab.s)-tab.head, len(model))
			}
		}
		if tab.get(next+1) != nil {
			t.Fatal("get of a future id")
		}
	}
}
