package core

import (
	"time"
)

// scheduleLocked arms the queue's timer for t if that is earlier than the
// current one. One timer per queue, created on demand, covers delayed
// messages, lease deadlines, head-of-queue TTL and queue expiry.
func (q *queue) scheduleLocked(t time.Time) {
	if t.IsZero() || q.deleted {
		return
	}
	if !q.timerAt.IsZero() && !t.Before(q.timerAt) {
		return
	}
	q.timerAt = t
	d := time.Until(t)
	if d < 0 {
		d = 0
	}
	if q.timer == nil {
		q.timer = time.AfterFunc(d, q.onTimer)
		return
	}
	q.timer.Reset(d)
}

// nextDeadlineLocked is the earliest time the queue has something to do.
func (q *queue) nextDeadlineLocked() time.Time {
	var next time.Time
	take := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if t, ok := q.delayed.peek(); ok {
		take(t.at)
	}
	if t, ok := q.leases.peek(); ok {
		take(t.at)
	}
	for i := range q.ready {
		if e := q.ready[i].front(); e != nil {
			take(e.expires)
		}
	}
	if q.cfg.Expires > 0 && len(q.consumers) == 0 {
		take(q.lastUsed.Add(q.cfg.Expires))
	}
	return next
}

func (q *queue) onTimer() {
	q.mu.Lock()
	q.timerAt = time.Time{}
	if q.deleted {
		q.mu.Unlock()
		return
	}
	now := q.b.now()
	var dl []*deadLetter
	woke := false
	// Delayed messages become visible.
	for {
		t, ok := q.delayed.peek()
		if !ok || t.at.After(now) {
			break
		}
		q.delayed.pop()
		if t.e.done || t.e.lease != 0 {
			continue
		}
		t.e.visible = time.Time{}
		q.pushReadyLocked(t.e, false)
		woke = true
	}
	// Expired leases go back to the queue.
	for {
		t, ok := q.leases.peek()
		if !ok || t.at.After(now) {
			break
		}
		q.leases.pop()
		e := t.e
		if e.done || e.lease != t.tok || e.deadline.After(now) {
			continue // settled, re-leased, or extended
		}
		dl = q.requeueLocked(t.tok, e, dl)
		woke = true
	}
	// Head-of-queue TTL.
	for i := range q.ready {
		d := &q.ready[i]
		for d.len() > 0 {
			e := d.front()
			if e.expires.IsZero() || now.Before(e.expires) {
				break
			}
			d.popFront()
			q.nready--
			dl = q.expireLocked(e, dl)
		}
	}
	expired := q.cfg.Expires > 0 && len(q.consumers) == 0 && !now.Before(q.lastUsed.Add(q.cfg.Expires))
	if woke {
		q.wakeWaitersLocked()
	}
	if !expired {
		q.scheduleLocked(q.nextDeadlineLocked())
	}
	start := q.wantDispatchLocked()
	q.mu.Unlock()
	q.b.flushDeadLetters(dl)
	if expired {
		q.b.deleteQueue(q)
		return
	}
	if start {
		q.startDispatch()
	}
}
