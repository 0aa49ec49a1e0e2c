package core

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Queues with deliveries to make are run by a small pool of long-lived
// dispatch workers shared by every queue of the process, instead of a new
// goroutine per queue wake-up: one publish to a hundred idle queues then
// costs a hundred appends to the run list and a wake-up of the idle
// workers, not a hundred goroutine starts (each with its own stack growth
// under the handler). A worker takes a queue from the head of the run list,
// hands out up to roundBatches batches and, when the queue still has work,
// puts it back at the tail, so a busy queue cannot starve the others.
//
// q.dispatching is true from the moment a queue is put on the run list
// until a worker finds nothing more to hand out, so a queue is on the list
// at most once and is never run by two workers at a time: its deliveries
// stay in order.
//
// The pool has GOMAXPROCS workers (at least two), started on demand and
// parked (not ended) when the run list is empty, so a wake-up finds a warm
// goroutine with its stack already grown. Handlers must not block. If they
// do anyway, a stall check adds a worker beyond the pool size whenever the
// run list has not moved for stallCheckAfter, so queues whose handlers do
// not block keep being served; such extra workers end once the run list is
// empty.

const (
	roundBatches    = 4 // batches one queue may hand out per turn
	stallCheckAfter = 20 * time.Millisecond
)

type dispatchPool struct {
	mu      sync.Mutex
	run     []*queue // run list: run[head:] are waiting
	head    int
	idle    []*dispatchWorker // parked workers, last parked first
	workers int
	max     int
	taken   atomic.Uint64 // queues taken from the run list, for the stall check
	checkOn bool          // a stall check is armed
}

type dispatchWorker struct {
	wake chan struct{} // capacity 1: signalled once per parking
}

var dispatchers = &dispatchPool{max: max(2, runtime.GOMAXPROCS(0))}

// Inline dispatch: a queue whose consumers all set ConsumeOptions.Inline
// is not handed to a worker when a core call makes it dispatchable (a
// Publish to an idle queue, an Ack that frees credit, a Resume...): the
// caller's goroutine hands out one batch itself, and only a queue with more
// to deliver after that batch goes on the run list. At low rates a message
// then goes from the publisher's goroutine to the subscriber's handler (and
// its Flush) with no goroutine wake-up at all. A fan-out wider than
// inlineMaxQueues still goes to the pool: the workers spread it over the
// cores instead of holding up the publisher.
//
// The caller's goroutine runs the handler with no core lock held (every
// submit comes after q.mu is released), but with whatever locks the caller
// holds: adapters that set Inline must not call the core under a lock that
// their handler or Flush takes. A handler that calls back into the core
// (an Ack) cannot recurse into the queue it is served from, which is
// marked dispatching for the whole turn; each nesting level is another
// queue.

const inlineMaxQueues = 4

var inlineBatches = sync.Pool{New: func() any { b := make([]pendingDelivery, 0, dispatchBatch); return &b }}

// startDispatch runs q inline or puts it on the run list (the caller set
// q.dispatching under q.mu and released it).
func (q *queue) startDispatch() { dispatchers.submit(q) }

// submit dispatches the queues whose consumers are all Inline on the
// caller's goroutine (one batch each, when there are few of them) and puts
// the others, and those with more to deliver, on the run list. qs is
// reused.
func (p *dispatchPool) submit(qs ...*queue) {
	if len(qs) == 0 || len(qs) > inlineMaxQueues {
		p.enqueue(qs...)
		return
	}
	n := 0
	for _, q := range qs {
		if q.dispatchInline() {
			qs[n] = q
			n++
		}
	}
	p.enqueue(qs[:n]...)
}

// dispatchInline hands out one batch of q on the caller's goroutine when
// its consumers allow it; it reports whether q still has work for a worker.
func (q *queue) dispatchInline() bool {
	bp := inlineBatches.Get().(*[]pendingDelivery)
	b, more := q.dispatchTurn((*bp)[:0], 1, true)
	*bp = b[:0]
	inlineBatches.Put(bp)
	return more
}

// enqueue puts queues on the run list, waking parked workers (or starting
// new ones up to the pool size) for as many of them as it can.
func (p *dispatchPool) enqueue(qs ...*queue) {
	if len(qs) == 0 {
		return
	}
	var wake [8]*dispatchWorker
	nwake, spawn := 0, 0
	p.mu.Lock()
	p.run = append(p.run, qs...)
	for range qs {
		if n := len(p.idle); n > 0 && nwake < len(wake) {
			wake[nwake] = p.idle[n-1]
			nwake++
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
		} else if p.workers < p.max {
			p.workers++
			spawn++
		} else {
			break
		}
	}
	if nwake+spawn < len(qs) && !p.checkOn {
		// Some of these queues wait for a busy worker: make sure they are
		// not waiting on workers stuck in blocking handlers.
		p.checkOn = true
		seen := p.taken.Load()
		time.AfterFunc(stallCheckAfter, func() { p.stallCheck(seen) })
	}
	p.mu.Unlock()
	for _, w := range wake[:nwake] {
		w.wake <- struct{}{}
	}
	for ; spawn > 0; spawn-- {
		go p.work()
	}
}

// stallCheck adds a worker when queues wait and no worker took one since
// the check was armed (every worker is inside a blocking handler).
func (p *dispatchPool) stallCheck(seen uint64) {
	p.mu.Lock()
	waiting := p.head < len(p.run)
	if !waiting {
		p.checkOn = false
		p.mu.Unlock()
		return
	}
	now := p.taken.Load()
	spawn := now == seen && len(p.idle) == 0
	if spawn {
		p.workers++
	}
	p.mu.Unlock()
	if spawn {
		go p.work()
	}
	time.AfterFunc(stallCheckAfter, func() { p.stallCheck(now) })
}

// next pops the run list's head (p.mu held).
func (p *dispatchPool) nextLocked() *queue {
	if p.head >= len(p.run) {
		return nil
	}
	q := p.run[p.head]
	p.run[p.head] = nil
	p.head++
	if p.head == len(p.run) {
		p.run = p.run[:0]
		p.head = 0
	} else if p.head > 256 && p.head*2 > len(p.run) {
		n := copy(p.run, p.run[p.head:])
		clear(p.run[n:])
		p.run = p.run[:n]
		p.head = 0
	}
	p.taken.Add(1)
	return q
}

func (p *dispatchPool) work() {
	w := &dispatchWorker{wake: make(chan struct{}, 1)}
	batch := make([]pendingDelivery, 0, dispatchBatch)
	for {
		p.mu.Lock()
		if q := p.nextLocked(); q != nil {
			p.mu.Unlock()
			var more bool
			batch, more = q.dispatchTurn(batch, roundBatches, false)
			if more {
				p.enqueue(q)
			}
			continue
		}
		if p.workers > p.max {
			// Added by the stall check: not needed any more.
			p.workers--
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		<-w.wake
	}
}
