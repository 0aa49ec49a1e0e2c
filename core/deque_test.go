package core

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The hand-written timer heap pops in time order through pushes, pops
// and compactions that sweep settled entries.
func TestTimeHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(1_700_000_000, 0)
	var h timeHeap
	live := map[*entry]bool{}
	last := time.Time{}
	for round := 0; round < 20000; round++ {
		switch {
		case r.IntN(3) > 0 || len(h) == 0:
			e := &entry{}
			e.done = r.IntN(4) == 0 // settled: a compaction may sweep it
			if !e.done {
				live[e] = true
			}
			at := base.Add(time.Duration(r.IntN(1_000_000)) * time.Microsecond)
			if at.Before(last) {
				at = last // the heap only sees times from now on
			}
			h.push(timed{at: at, e: e})
		default:
			it := h.pop()
			if it.at.Before(last) {
				t.Fatalf("round %d: popped %v after %v", round, it.at, last)
			}
			last = it.at
			delete(live, it.e)
		}
		if round%997 == 0 {
			for i := 1; i < len(h); i++ {
				if h.less(i, (i-1)/2) {
					t.Fatalf("round %d: heap property broken at %d", round, i)
				}
			}
		}
	}
	for len(h) > 0 {
		it := h.pop()
		if it.at.Before(last) {
			t.Fatalf("drain: popped %v after %v", it.at, last)
		}
		last = it.at
		delete(live, it.e)
	}
	if len(live) != 0 {
		t.Fatalf("%d live items were swept out", len(live))
	}
}
