package core

import (
	"sync/atomic"
	"time"
)

// Publisher flow control: back-pressure from a slow but live consumer to
// the publishers feeding its queue, bounded so that a stalled consumer
// never holds anyone up (ActiveMQ producer flow control and RabbitMQ credit
// flow, with stall detection).
//
// A queue whose backlog (ready messages) rises above FlowHigh is "over"
// until the backlog falls to FlowLow. While it is over and some consumer of
// it made progress (an ack, or a batch of deliveries handed out) within the
// last FlowStall, Publish reports the queue in PublishResult.Busy. The
// publisher's adapter may then wait (Flow.Wait) until the backlog falls to
// FlowLow, the consumers make no progress for FlowStall (stalled: waiting
// would not help, so the wait ends), or its own maximum wait passes. A
// queue without consumers, or whose consumers stopped, never reports Busy.
//
// Cost: the fast path (queue not over) is one atomic load per routed queue
// in Publish and a comparison per ready push; progress is stamped (one
// clock read) per ack call and per batch of deliveries. Waiters share one channel per queue, created by
// the first waiter and closed when the backlog falls to FlowLow or the
// queue goes; no core lock is held while waiting.
//
// Thresholds: the high-water mark is a count of ready messages, on top of
// what consumers hold unacked (their prefetch): 300 ready messages are
// 12-30 ms of work for a client that takes 10-25k messages/s, enough to
// keep it busy while a released publisher's next messages arrive, without
// a backlog of seconds (measured against 1,000/500: same throughput, p99
// of an unthrottled 1 -> 1 flow with acknowledged publishes 82-116 ms
// instead of 156-211 ms, BENCHMARKS.md). A count (not bytes) keeps the check one comparison;
// large messages are paced by the consumers' prefetch and the memory
// alarm.
const (
	// FlowHigh is the ready backlog above which a queue asks its
	// publishers to slow down.
	FlowHigh = 300
	// FlowLow is the backlog at which waiting publishers are released.
	FlowLow = 150
	// FlowStall is how long consumers may make no progress before the
	// queue counts as stalled: publishers are no longer held for it.
	FlowStall = 100 * time.Millisecond
)

// flowStall is FlowStall in nanoseconds; tests change it.
var flowStall atomic.Int64

func init() { flowStall.Store(int64(FlowStall)) }

// Flow is a queue's publisher flow-control handle (PublishResult.Busy).
type Flow struct {
	q        *queue
	over     atomic.Bool   // backlog went above FlowHigh and not yet back to FlowLow (set under q.mu)
	progress atomic.Int64  // monoNow of the consumers' last progress while the backlog was high
	ch       chan struct{} // q.mu: closed when the backlog drains; created by the first waiter
}

// flowEpoch is an hour before the process started, so that a progress
// stamp never set (0) reads as an hour old.
var flowEpoch = time.Now().Add(-time.Hour)

// monoNow is a monotonic clock reading in nanoseconds.
func monoNow() int64 { return int64(time.Since(flowEpoch)) }

// Queue is the name of the queue asking its publishers to slow down.
func (f *Flow) Queue() string { return f.q.cfg.Name }

// busy reports whether publishers should wait for the queue (no lock).
func (f *Flow) busy() bool {
	return f.over.Load() && monoNow()-f.progress.Load() < flowStall.Load()
}

// Wait blocks until the queue's backlog falls to FlowLow (true), or its
// consumers have made no progress for FlowStall, max passes, or stop is
// closed (false). It holds no core lock while waiting.
func (f *Flow) Wait(stop <-chan struct{}, max time.Duration) bool {
	q := f.q
	deadline := monoNow() + int64(max)
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		q.mu.Lock()
		if q.deleted || !f.over.Load() {
			q.mu.Unlock()
			return true
		}
		now := monoNow()
		wake := min(f.progress.Load()+flowStall.Load(), deadline) - now
		if wake <= 0 {
			q.mu.Unlock()
			return false
		}
		if f.ch == nil {
			f.ch = make(chan struct{})
		}
		ch := f.ch
		q.mu.Unlock()
		if t == nil {
			t = time.NewTimer(time.Duration(wake))
		} else {
			t.Reset(time.Duration(wake))
		}
		select {
		case <-ch:
		case <-t.C:
		case <-stop:
			return false
		}
	}
}

// flowPushedLocked notes a ready push (q.mu held, q.nready updated).
func (q *queue) flowPushedLocked() {
	if q.nready > FlowHigh && !q.flow.over.Load() {
		q.flow.over.Store(true)
	}
}

// flowProgressLocked stamps consumer progress (an ack, a delivery batch)
// (q.mu held). Stamping also while the backlog is low costs a clock read
// per ack call or delivery batch, but a backlog that rises between two
// acks is then seen as Busy from its first publish over FlowHigh.
func (q *queue) flowProgressLocked() {
	q.flow.progress.Store(monoNow())
	q.flowCheckLocked()
}

// flowCheckLocked releases waiting publishers once the backlog is down to
// FlowLow or the queue is gone (q.mu held).
func (q *queue) flowCheckLocked() {
	if !q.flow.over.Load() || (q.nready > FlowLow && !q.deleted) {
		return
	}
	q.flow.over.Store(false)
	if q.flow.ch != nil {
		close(q.flow.ch)
		q.flow.ch = nil
	}
}
