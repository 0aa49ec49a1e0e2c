package core

import (
	"container/heap"
	"time"
)

// deque is a FIFO of entries with O(1) push/pop at both ends.
type deque struct {
	buf  []*entry
	head int
}

func (d *deque) len() int { return len(d.buf) - d.head }

func (d *deque) pushBack(e *entry) { d.buf = append(d.buf, e) }

func (d *deque) pushFront(e *entry) {
	if d.head > 0 {
		d.head--
		d.buf[d.head] = e
		return
	}
	d.buf = append(d.buf, nil)
	copy(d.buf[1:], d.buf)
	d.buf[0] = e
}

func (d *deque) front() *entry {
	if d.head >= len(d.buf) {
		return nil
	}
	return d.buf[d.head]
}

func (d *deque) popFront() *entry {
	if d.head >= len(d.buf) {
		return nil
	}
	e := d.buf[d.head]
	d.buf[d.head] = nil
	d.head++
	if d.head == len(d.buf) {
		d.buf = d.buf[:0]
		d.head = 0
	} else if d.head > 1024 && d.head*2 > len(d.buf) {
		n := copy(d.buf, d.buf[d.head:])
		clear(d.buf[n:])
		d.buf = d.buf[:n]
		d.head = 0
	}
	return e
}

// insertByPos puts e before the first entry that arrived after it, so a
// requeued message regains its place (scans from the front: requeues land
// near the head).
func (d *deque) insertByPos(e *entry) {
	n := d.len()
	i := 0
	for i < n && d.at(i).pos < e.pos {
		i++
	}
	if i == 0 {
		d.pushFront(e)
		return
	}
	if i == n {
		d.pushBack(e)
		return
	}
	idx := d.head + i
	d.buf = append(d.buf, nil)
	copy(d.buf[idx+1:], d.buf[idx:])
	d.buf[idx] = e
}

// touch reads the parts of the first n entries that a delivery reads,
// one entry after another without waiting on each: entries of a long
// queue have left the CPU caches by the time they are delivered, and this
// lets their cache misses overlap instead of stalling the dispatch loop
// once per message. The result only keeps the reads from being optimised
// away.
func (d *deque) touch(n int) uint64 {
	var sum uint64
	buf := d.buf[d.head:]
	if n < len(buf) {
		buf = buf[:n]
	}
	for _, e := range buf {
		sum += uint64(e.deliveries) + uint64(e.expires.Nanosecond()) + uint64(e.first.Nanosecond())
	}
	return sum
}

// at returns the i-th entry from the front.
func (d *deque) at(i int) *entry { return d.buf[d.head+i] }

// removeAt removes the i-th entry from the front (O(n)).
func (d *deque) removeAt(i int) *entry {
	if i == 0 {
		return d.popFront()
	}
	idx := d.head + i
	e := d.buf[idx]
	copy(d.buf[idx:], d.buf[idx+1:])
	d.buf[len(d.buf)-1] = nil
	d.buf = d.buf[:len(d.buf)-1]
	return e
}

func (d *deque) clear() []*entry {
	out := d.buf[d.head:]
	d.buf = nil
	d.head = 0
	return out
}

// timed is a heap item: an entry due at a time, valid while the entry's
// lease (or delay) token still equals tok.
type timed struct {
	at  time.Time
	e   *entry
	tok uint64
}

// timeHeap is a min-heap of timed items. Stale items (whose entry moved on)
// are skipped when popped.
type timeHeap []timed

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(timed)) }
func (h *timeHeap) Pop() any {
	old := *h
	n := len(old) - 1
	t := old[n]
	old[n] = timed{}
	*h = old[:n]
	return t
}

func (h *timeHeap) push(t timed) {
	if n := len(*h); n >= compactMin && n == cap(*h) {
		h.compact()
	}
	heap.Push(h, t)
}

// compactMin is the heap size from which settled items are swept out.
const compactMin = 1024

// compact drops the items of settled entries before the heap grows:
// otherwise each acked message would stay referenced (with its body) until
// its old deadline passed, i.e. a whole visibility timeout's worth of
// traffic. The sweep is O(n) once per doubling: O(1) per push.
func (h *timeHeap) compact() {
	old := *h
	live := old[:0]
	for _, t := range old {
		if !t.e.done {
			live = append(live, t)
		}
	}
	clear(old[len(live):])
	*h = live
	if len(live) < len(old) {
		heap.Init(h)
	}
}

func (h *timeHeap) peek() (timed, bool) {
	if len(*h) == 0 {
		return timed{}, false
	}
	return (*h)[0], true
}

func (h *timeHeap) pop() timed { return heap.Pop(h).(timed) }
