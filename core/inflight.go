package core

// leaseTable holds a queue's leased (unacked) entries by lease id. A queue
// takes its lease ids from the broker's counter under its own lock, so they
// grow with every lease: the table is a slice kept in id order, found by a
// look at the oldest slot first (acks mostly come in delivery order) and a
// binary search otherwise. Settled slots are left as holes and squeezed
// out as they pile up. Compared with a map this has no hashing, no
// per-lease bucket memory to miss in the cache, and walks in lease order.
type leaseTable struct {
	s    []leaseSlot // s[head:] ascending by id; e == nil: settled
	head int
	n    int // live slots
}

type leaseSlot struct {
	id uint64
	e  *entry
}

func (t *leaseTable) len() int { return t.n }

// put adds a lease whose id is above every id in the table.
func (t *leaseTable) put(id uint64, e *entry) {
	if holes := len(t.s) - t.head - t.n; holes > t.n+32 || (t.head > 1024 && t.head*2 > len(t.s)) {
		t.compact()
	}
	t.s = append(t.s, leaseSlot{id: id, e: e})
	t.n++
}

// compact drops the settled slots and moves the live ones to the front.
func (t *leaseTable) compact() {
	j := 0
	for _, sl := range t.s[t.head:] {
		if sl.e != nil {
			t.s[j] = sl
			j++
		}
	}
	clear(t.s[j:])
	t.s = t.s[:j]
	t.head = 0
}

// find returns the index of id's live slot, or -1.
func (t *leaseTable) find(id uint64) int {
	if t.n == 0 {
		return -1
	}
	if sl := t.s[t.head]; sl.id == id {
		if sl.e == nil {
			return -1
		}
		return t.head
	}
	lo, hi := t.head+1, len(t.s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.s[m].id < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t.s) && t.s[lo].id == id && t.s[lo].e != nil {
		return lo
	}
	return -1
}

// get returns the entry leased under id, or nil.
func (t *leaseTable) get(id uint64) *entry {
	if i := t.find(id); i >= 0 {
		return t.s[i].e
	}
	return nil
}

// del forgets lease id (no-op when absent).
func (t *leaseTable) del(id uint64) {
	i := t.find(id)
	if i < 0 {
		return
	}
	t.s[i].e = nil
	t.n--
	for t.head < len(t.s) && t.s[t.head].e == nil {
		t.s[t.head] = leaseSlot{}
		t.head++
	}
	if t.head == len(t.s) {
		if cap(t.s) > 4096 {
			t.s = nil // let a burst's table go
		} else {
			t.s = t.s[:0]
		}
		t.head = 0
	}
}

// appendTo appends the live leases in id order.
func (t *leaseTable) appendTo(out []leaseSlot) []leaseSlot {
	for _, sl := range t.s[t.head:] {
		if sl.e != nil {
			out = append(out, sl)
		}
	}
	return out
}

// reset forgets every lease.
func (t *leaseTable) reset() { *t = leaseTable{} }
