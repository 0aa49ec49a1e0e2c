package core

import (
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
// are skipped when popped. The heap operations are written out rather
// than taken from container/heap, whose interface boxes every pushed item
// (an allocation per message).
type timeHeap []timed

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) less(i, j int) bool { return h[i].at.Before(h[j].at) }

func (h timeHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2 // parent
		if !h.less(j, i) {
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func (h timeHeap) down(i int) {
	n := len(h)
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		if r := j + 1; r < n && h.less(r, j) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (h *timeHeap) push(t timed) {
	if n := len(*h); n >= compactMin && n == cap(*h) {
		h.compact()
	}
	*h = append(*h, t)
	h.up(len(*h) - 1)
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
		for i := len(live)/2 - 1; i >= 0; i-- {
			live.down(i)
		}
	}
}

func (h *timeHeap) peek() (timed, bool) {
	if len(*h) == 0 {
		return timed{}, false
	}
	return (*h)[0], true
}

func (h *timeHeap) pop() timed {
	old := *h
	n := len(old) - 1
	t := old[0]
	old[0] = old[n]
	old[n] = timed{}
	*h = old[:n]
	h.down(0)
	return t
}
