package core

import (
	"context"
	"fmt"
	"time"
)

const dispatchBatch = 128

type deadLetter struct {
	q      *queue
	e      *entry
	reason string
}

type pendingDelivery struct {
	c       *Consumer
	d       *Delivery
	e       *entry
	resumes uint64 // c.resumes when collected
	taken   bool   // a no-ack delivery the handler accepted
}

// kick makes sure a dispatcher runs if there is work.
func (q *queue) kick() {
	q.mu.Lock()
	start := q.wantDispatchLocked()
	q.mu.Unlock()
	if start {
		q.startDispatch()
	}
}

// wantDispatchLocked marks the dispatcher running and reports whether the
// caller must start it (q.startDispatch, after unlocking q).
func (q *queue) wantDispatchLocked() bool {
	if q.dispatching || q.deleted || q.nready == 0 || !q.anyCreditLocked() {
		// Without credit there is nothing to hand out: the ack, Resume or
		// SetPrefetch that gives some comes back here.
		return false
	}
	q.dispatching = true
	return true
}

// dispatchTurn hands out up to rounds batches of q's ready messages on a
// dispatch worker, or inline on the caller's goroutine (see sched.go). It
// reports whether q may have more to hand out (the caller puts it on the
// run list, still marked dispatching); otherwise q is marked idle. batch is
// the caller's buffer, returned for reuse. An inline turn hands out nothing
// and reports more when some consumer of q is not Inline.
func (q *queue) dispatchTurn(batch []pendingDelivery, rounds int, inline bool) ([]pendingDelivery, bool) {
	for round := 0; round < rounds; round++ {
		q.mu.Lock()
		if inline && round == 0 && !q.inlineLocked() {
			q.mu.Unlock()
			return batch, true
		}
		var dl []*deadLetter
		batch, dl = q.collectLocked(batch[:0], dl)
		if len(batch) == 0 {
			q.dispatching = false
			q.mu.Unlock()
			q.b.flushDeadLetters(dl)
			return batch, false
		}
		q.mu.Unlock()
		q.b.flushDeadLetters(dl)
		var refused []pendingDelivery
		var refusers []*Consumer
		noack, delivered := 0, 0
		for i, p := range batch {
			if containsConsumer(refusers, p.c) || !p.c.h(p.d) {
				refused = append(refused, batch[i])
				if !containsConsumer(refusers, p.c) {
					refusers = append(refusers, p.c)
				}
				continue
			}
			if p.c.opts.NoAck {
				noack++
				batch[i].taken = true
			}
			delivered++
		}
		if delivered > 0 {
			q.b.stats.Delivered.Add(uint64(delivered))
		}
		flushConsumers(batch)
		q.mu.Lock()
		if delivered > 0 {
			q.flowProgressLocked()
		}
		if noack > 0 {
			for _, p := range batch {
				// Settle every no-ack delivery the handler took, even when
				// the same consumer refused a later one in this batch.
				if p.taken {
					q.forgetLocked(p.e)
				}
			}
		}
		for i := len(refused) - 1; i >= 0; i-- {
			p := refused[i]
			// A Resume between the refusal and this lock must not be
			// lost: pause only if none came since collection.
			if p.c.resumes == p.resumes {
				p.c.paused = true
			}
			q.unleaseLocked(p.e, p.c)
			q.pushReadyLocked(p.e, true)
		}
		clear(batch)
		if q.deleted || q.nready == 0 || !q.anyCreditLocked() {
			// Nothing left to hand out: arrivals and credit (acks,
			// Resume, under q.mu, seeing dispatching false) start the
			// next turn.
			q.dispatching = false
			q.mu.Unlock()
			return batch[:0], false
		}
		q.mu.Unlock()
	}
	return batch[:0], true
}

// inlineLocked reports whether every consumer of q lets the core run its
// handler inline (ConsumeOptions.Inline).
func (q *queue) inlineLocked() bool {
	for _, c := range q.consumers {
		if !c.opts.Inline {
			return false
		}
	}
	return len(q.consumers) > 0
}

// anyCreditLocked reports whether some consumer of q may take a delivery.
func (q *queue) anyCreditLocked() bool {
	for _, c := range q.consumers {
		if c.hasCredit() {
			return true
		}
	}
	return false
}

// flushConsumers calls the Flush hook of each consumer of batch once,
// after its handler calls (no core lock held).
func flushConsumers(batch []pendingDelivery) {
	var buf [4]*Consumer
	done := buf[:0]
	for _, p := range batch {
		if p.c.opts.Flush == nil || containsConsumer(done, p.c) {
			continue
		}
		done = append(done, p.c)
		p.c.opts.Flush()
	}
}

// collectLocked picks up to dispatchBatch (consumer, entry) pairs.
func (q *queue) collectLocked(batch []pendingDelivery, dl []*deadLetter) ([]pendingDelivery, []*deadLetter) {
	if q.deleted {
		return batch, dl
	}
	now := q.b.now()
	if n := q.takeableLocked(dispatchBatch - len(batch)); n > 2 {
		q.warm ^= q.ready[0].touch(n)
	}
	var skip []*Consumer // selector consumers with nothing eligible this round
	for len(batch) < dispatchBatch && q.nready > 0 {
		c := q.pickConsumerLocked(skip)
		if c == nil {
			break
		}
		var e *entry
		e, dl = q.takeReadyLocked(c, now, dl, nil)
		if e == nil {
			if c.opts.Selector != nil {
				// Nothing matches this consumer's selector: let the others
				// take what they match.
				skip = append(skip, c)
				continue
			}
			if q.cfg.FIFO {
				// Every ready group is locked, for every consumer: arrivals,
				// acks and timers kick again.
				break
			}
			continue
		}
		d := q.leaseLocked(e, c, c.opts.NoAck, 0, now)
		batch = append(batch, pendingDelivery{c: c, d: d, e: e, resumes: c.resumes})
	}
	return batch, dl
}

// takeableLocked is how many of up to max ready messages the consumers'
// credit lets this round take, on a plain queue (no priorities, selectors
// or groups); 0 otherwise.
func (q *queue) takeableLocked(max int) int {
	if len(q.ready) != 1 || q.hasSelector || q.cfg.FIFO {
		return 0
	}
	n := min(max, q.nready)
	credit := 0
	for _, c := range q.consumers {
		if c.closed || c.paused {
			continue
		}
		if c.opts.NoAck || c.prefetch <= 0 {
			return n
		}
		if c.unacked < c.prefetch {
			credit += c.prefetch - c.unacked
		}
		if credit >= n {
			return n
		}
		if q.cfg.SingleActiveConsumer {
			break
		}
	}
	return credit
}

// pickConsumerLocked chooses the next consumer with credit: highest priority
// first, round-robin among equals; single-active-consumer queues only ever
// use the first consumer.
func (q *queue) pickConsumerLocked(skip []*Consumer) *Consumer {
	n := len(q.consumers)
	if n == 0 {
		return nil
	}
	if q.cfg.SingleActiveConsumer {
		if c := q.consumers[0]; c.hasCredit() && !containsConsumer(skip, c) {
			return c
		}
		return nil
	}
	best := -1
	for i := 0; i < n; i++ {
		idx := (q.rr + i) % n
		c := q.consumers[idx]
		if !c.hasCredit() || containsConsumer(skip, c) {
			continue
		}
		if best < 0 || c.opts.Priority > q.consumers[best].opts.Priority {
			best = idx
		}
	}
	if best < 0 {
		return nil
	}
	q.rr = best + 1
	return q.consumers[best]
}

// takeReadyLocked removes and returns the next entry c may receive,
// expiring dead entries at the head on the way. On FIFO queues a group
// with a message in flight is skipped unless own holds it (GroupBatch).
func (q *queue) takeReadyLocked(c *Consumer, now time.Time, dl []*deadLetter, own map[string]bool) (*entry, []*deadLetter) {
	for lvl := len(q.ready) - 1; lvl >= 0; lvl-- {
		d := &q.ready[lvl]
		for d.len() > 0 {
			e := d.front()
			if !e.expires.IsZero() && !now.Before(e.expires) {
				d.popFront()
				q.nready--
				dl = q.expireLocked(e, dl)
				continue
			}
			break
		}
		if d.len() == 0 {
			continue
		}
		if !q.cfg.FIFO && (c == nil || c.opts.Selector == nil) {
			q.nready--
			return d.popFront(), dl
		}
		for i := 0; i < d.len(); i++ {
			e := d.at(i)
			if q.cfg.FIFO && e.msg.GroupID != "" && q.groups[e.msg.GroupID] > 0 && !own[e.msg.GroupID] {
				continue
			}
			if c != nil && c.opts.Selector != nil && !c.opts.Selector(e.msg) {
				continue
			}
			q.nready--
			return d.removeAt(i), dl
		}
	}
	return nil, dl
}

// leaseLocked hands e out. c may be nil (Get). lease 0 = queue default.
func (q *queue) leaseLocked(e *entry, c *Consumer, noAck bool, lease time.Duration, now time.Time) *Delivery {
	e.deliveries++
	if e.first.IsZero() {
		e.first = now
	}
	var d *Delivery
	if !e.firstDUsed {
		e.firstDUsed = true
		d = &e.firstD
	} else {
		d = new(Delivery)
	}
	*d = Delivery{Queue: q.cfg.Name, Message: e.msg, Redelivered: e.deliveries > 1 || e.recov,
		DeliveryCount: e.deliveries, FirstDelivery: e.first, EnqueuedAt: e.enqueued}
	if noAck {
		return d // settled by the caller once handed over
	}
	id := q.nextLeaseLocked()
	e.lease = id
	e.owner = c
	q.unacked.put(id, e)
	if c != nil {
		c.unacked++
	}
	if q.cfg.FIFO && e.msg.GroupID != "" {
		if q.groups == nil {
			q.groups = map[string]int{}
		}
		q.groups[e.msg.GroupID]++
	}
	if lease <= 0 {
		lease = q.cfg.VisibilityTimeout
	}
	if lease > 0 {
		e.deadline = now.Add(lease)
		q.leases.push(timed{at: e.deadline, e: e, tok: id})
		q.scheduleLocked(e.deadline)
	}
	d.ID = id
	d.Deadline = e.deadline
	return d
}

// leaseBlock is how many lease ids a queue takes from the broker's counter
// at a time: ids stay unique across queues and grow within each queue,
// and the shared counter (a cache line every dispatching core would
// otherwise fight over) is touched once per block.
const leaseBlock = 1024

func (q *queue) nextLeaseLocked() uint64 {
	if q.leaseNext == q.leaseEnd {
		end := q.b.leaseSeq.Add(leaseBlock)
		q.leaseNext, q.leaseEnd = end-leaseBlock, end
	}
	q.leaseNext++
	return q.leaseNext
}

// unleaseLocked takes e back from its lease without settling it.
func (q *queue) unleaseLocked(e *entry, c *Consumer) {
	if e.lease != 0 {
		q.unacked.del(e.lease)
		if c != nil {
			c.unacked--
		}
		if q.cfg.FIFO && e.msg.GroupID != "" {
			q.releaseGroupLocked(e.msg.GroupID)
		}
	}
	e.lease, e.owner, e.deadline = 0, nil, time.Time{}
	e.deliveries--
}

func (q *queue) releaseGroupLocked(g string) {
	if n := q.groups[g]; n <= 1 {
		delete(q.groups, g)
	} else {
		q.groups[g] = n - 1
	}
}

func (q *queue) pushReadyLocked(e *entry, front bool) {
	d := &q.ready[min(int(e.pri), len(q.ready)-1)]
	if front {
		d.insertByPos(e)
	} else {
		d.pushBack(e)
	}
	q.nready++
	q.flowPushedLocked()
}

// forgetLocked removes e from accounting and the store (ack, drop, purge).
func (q *queue) forgetLocked(e *entry) {
	if e.done {
		return
	}
	e.done = true
	q.bytes -= int64(e.size)
	if e.seq != 0 && q.b.eng != nil {
		q.b.eng.Remove(q.key, e.seq, int(e.sub))
	}
}

// settleLocked removes a leased entry after ack.
func (q *queue) settleLocked(id uint64, e *entry) {
	q.unleaseOnlyLocked(id, e)
	q.forgetLocked(e)
}

// unleaseOnlyLocked ends e's lease without touching the message.
func (q *queue) unleaseOnlyLocked(id uint64, e *entry) {
	q.unacked.del(id)
	if e.owner != nil {
		e.owner.unacked--
	}
	if q.cfg.FIFO && e.msg.GroupID != "" {
		q.releaseGroupLocked(e.msg.GroupID)
	}
	e.lastLease = id
	e.lease, e.owner, e.deadline = 0, nil, time.Time{}
}

func (q *queue) ack(ids []uint64) error {
	q.mu.Lock()
	var missing uint64
	acked := 0
	for _, id := range ids {
		e := q.unacked.get(id)
		if e == nil {
			missing = id
			continue
		}
		q.settleLocked(id, e)
		acked++
	}
	if acked > 0 {
		q.b.stats.Acked.Add(uint64(acked))
		q.flowProgressLocked()
	}
	kick := q.wantDispatchLocked()
	q.mu.Unlock()
	if kick {
		q.startDispatch()
	}
	if missing != 0 {
		return fmt.Errorf("unknown delivery tag %d: %w", missing, ErrNotFound)
	}
	return nil
}

func (q *queue) nack(ids []uint64, requeue bool) error {
	q.mu.Lock()
	var missing uint64
	var dl []*deadLetter
	for _, id := range ids {
		e := q.unacked.get(id)
		if e == nil {
			missing = id
			continue
		}
		if requeue {
			dl = q.requeueLocked(id, e, dl)
		} else {
			q.unleaseOnlyLocked(id, e)
			dl = q.deadLetterLocked(e, "rejected", dl)
		}
	}
	kick := q.wantDispatchLocked()
	q.mu.Unlock()
	q.b.flushDeadLetters(dl)
	if kick {
		q.startDispatch()
	}
	if missing != 0 {
		return fmt.Errorf("unknown delivery tag %d: %w", missing, ErrNotFound)
	}
	return nil
}

// requeueLocked puts a leased entry back at the head of the queue, or
// dead-letters it when it has used up its deliveries.
func (q *queue) requeueLocked(id uint64, e *entry, dl []*deadLetter) []*deadLetter {
	q.unleaseOnlyLocked(id, e)
	if q.cfg.MaxDeliveries > 0 && e.deliveries >= q.cfg.MaxDeliveries {
		return q.deadLetterLocked(e, "delivery_limit", dl)
	}
	q.pushReadyLocked(e, true)
	q.wakeWaitersLocked()
	return dl
}

// Ack settles deliveries of a queue by lease id (Get leases or any consumer's).
func (b *Broker) Ack(queueName string, ids ...uint64) error {
	q, err := b.queue(queueName)
	if err != nil {
		return err
	}
	return q.ack(ids)
}

// Nack requeues or dead-letters deliveries of a queue by lease id.
func (b *Broker) Nack(queueName string, requeue bool, ids ...uint64) error {
	q, err := b.queue(queueName)
	if err != nil {
		return err
	}
	return q.nack(ids, requeue)
}

// ChangeLease sets a leased delivery's deadline to now+d; d == 0 makes it
// visible again at once (requeue without counting as a failed delivery
// beyond the one already counted).
func (b *Broker) ChangeLease(queueName string, id uint64, d time.Duration) error {
	q, err := b.queue(queueName)
	if err != nil {
		return err
	}
	q.mu.Lock()
	e := q.unacked.get(id)
	if e == nil {
		q.mu.Unlock()
		return fmt.Errorf("lease %d not found: %w", id, ErrNotFound)
	}
	var dl []*deadLetter
	if d <= 0 {
		dl = q.requeueLocked(id, e, dl)
	} else {
		e.deadline = q.b.now().Add(d)
		q.leases.push(timed{at: e.deadline, e: e, tok: id})
		q.scheduleLocked(e.deadline)
	}
	kick := q.wantDispatchLocked()
	q.mu.Unlock()
	b.flushDeadLetters(dl)
	if kick {
		q.startDispatch()
	}
	return nil
}

// GetOptions configure a polling Get.
type GetOptions struct {
	Max   int           // up to this many messages (default 1)
	NoAck bool          // settle on hand-over
	Lease time.Duration // lease length; 0 = the queue's visibility timeout (or until ack)
	Wait  time.Duration // long poll: wait up to this long for a first message
	// GroupBatch lets one call on a FIFO queue take several messages of a
	// group, in order; the group stays locked until all are settled.
	GroupBatch bool
	Owner      string
	// Stop, when closed, ends a long poll as ctx's cancellation does (with
	// context.Canceled): a second cancellation without deriving a context.
	Stop <-chan struct{}
}

// Get takes up to o.Max ready messages without a consumer. With o.Wait it
// waits for the first message to arrive (long polling). An empty result
// with a nil error means the queue stayed empty.
func (b *Broker) Get(ctx context.Context, queueName string, o GetOptions) ([]*Delivery, error) {
	q, err := b.queue(queueName)
	if err != nil {
		return nil, err
	}
	if err := q.checkOwner(o.Owner); err != nil {
		return nil, err
	}
	if o.Max <= 0 {
		o.Max = 1
	}
	// The long-poll timer starts only when the first look finds nothing.
	var deadline <-chan time.Time
	for {
		q.mu.Lock()
		if q.deleted {
			q.mu.Unlock()
			return nil, fmt.Errorf("queue '%s' deleted: %w", queueName, ErrNotFound)
		}
		q.lastUsed = b.now()
		now := b.now()
		var out []*Delivery
		var dl []*deadLetter
		var own map[string]bool // FIFO groups this call leased (GroupBatch)
		for len(out) < o.Max {
			var e *entry
			e, dl = q.takeReadyLocked(nil, now, dl, own)
			if e == nil {
				break
			}
			if o.GroupBatch && q.cfg.FIFO && !o.NoAck && e.msg.GroupID != "" {
				if own == nil {
					own = map[string]bool{}
				}
				own[e.msg.GroupID] = true
			}
			d := q.leaseLocked(e, nil, o.NoAck, o.Lease, now)
			if o.NoAck {
				q.forgetLocked(e)
			}
			if out == nil {
				out = make([]*Delivery, 0, min(o.Max, q.nready+1)) // one allocation for the call
			}
			out = append(out, d)
		}
		if len(out) > 0 {
			out[len(out)-1].MessageCount = q.nready
			q.flowProgressLocked()
		}
		var wait chan struct{}
		if len(out) == 0 && o.Wait > 0 {
			if deadline == nil {
				t := time.NewTimer(o.Wait)
				defer t.Stop()
				deadline = t.C
			}
			wait = make(chan struct{})
			q.waiters = append(q.waiters, wait)
		}
		q.scheduleLocked(q.nextDeadlineLocked())
		q.mu.Unlock()
		b.flushDeadLetters(dl)
		if len(out) > 0 {
			b.stats.Delivered.Add(uint64(len(out)))
			return out, nil
		}
		if wait == nil {
			return nil, nil
		}
		select {
		case <-wait:
		case <-deadline:
			q.removeWaiter(wait)
			return nil, nil
		case <-ctx.Done():
			q.removeWaiter(wait)
			return nil, ctx.Err()
		case <-o.Stop:
			q.removeWaiter(wait)
			return nil, context.Canceled
		}
	}
}

func (q *queue) removeWaiter(w chan struct{}) {
	q.mu.Lock()
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			break
		}
	}
	q.mu.Unlock()
}

func (q *queue) wakeWaitersLocked() {
	for _, w := range q.waiters {
		close(w)
	}
	q.waiters = nil
}

func containsConsumer(list []*Consumer, c *Consumer) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}
