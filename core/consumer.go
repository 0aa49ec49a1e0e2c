package core

import (
	"fmt"
	"sort"
)

// Handler receives deliveries. It runs without core locks held and must not
// block; it returns false when it cannot take the delivery now (its buffer
// is full), which pauses the consumer until Resume and leaves the message
// in the queue.
type Handler func(d *Delivery) bool

// ConsumeOptions configure a consumer.
type ConsumeOptions struct {
	Tag       string
	Owner     string // connection identity, checked against exclusive queues
	Prefetch  int    // max unacked deliveries; 0 = unlimited
	NoAck     bool   // deliveries are settled on hand-over (at-most-once)
	Exclusive bool   // no other consumer may share the queue
	Priority  int    // higher-priority consumers are served first
	// Selector, when set, limits this consumer to matching messages.
	Selector func(*Message) bool
	// OnCancel runs when the server cancels the consumer (queue deleted).
	OnCancel func()
	// Inline lets the core run the handler (and Flush) on the goroutine
	// whose core call made a delivery possible (Publish, Ack, Nack,
	// Resume, Consume, a store confirmation, a queue timer) instead of
	// handing the queue to a dispatch worker, while every consumer of the
	// queue is Inline: no goroutine hand-off per message. Those calls
	// hold no core lock when they do so, but they may hold the caller's:
	// an adapter that sets Inline must never call the core while holding
	// a lock its handler or Flush takes (see sched.go).
	Inline bool
	// Flush, when set, runs after each batch of handler calls on the same
	// goroutine, once per consumer that took part in the batch, without
	// core locks: the adapter may write what its handler queued there
	// instead of waking a writer goroutine. It must not block.
	Flush func()
}

// Consumer is a subscription to one queue.
type Consumer struct {
	q    *queue
	opts ConsumeOptions
	h    Handler

	// guarded by q.mu
	unacked  int
	paused   bool
	resumes  uint64 // Resume calls; a refusal only pauses if none came since the delivery was collected
	closed   bool
	prefetch int
}

// Consume attaches a consumer to a queue.
func (b *Broker) Consume(queueName string, o ConsumeOptions, h Handler) (*Consumer, error) {
	q, err := b.queue(queueName)
	if err != nil {
		return nil, err
	}
	if err := q.checkOwner(o.Owner); err != nil {
		return nil, err
	}
	c := &Consumer{q: q, opts: o, h: h, prefetch: o.Prefetch}
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return nil, fmt.Errorf("queue '%s' deleted: %w", queueName, ErrNotFound)
	}
	for _, other := range q.consumers {
		if other.opts.Exclusive || (o.Exclusive && len(q.consumers) > 0) {
			q.mu.Unlock()
			return nil, fmt.Errorf("queue '%s' in exclusive use: %w", queueName, ErrAccessDenied)
		}
	}
	q.consumers = append(q.consumers, c)
	sort.SliceStable(q.consumers, func(i, j int) bool { return q.consumers[i].opts.Priority > q.consumers[j].opts.Priority })
	q.hadConsumer = true
	if o.Selector != nil {
		q.hasSelector = true
	}
	q.lastUsed = q.b.now()
	q.mu.Unlock()
	q.kick()
	return c, nil
}

// Queue returns the consumer's queue name.
func (c *Consumer) Queue() string { return c.q.cfg.Name }

// Tag returns the consumer's tag.
func (c *Consumer) Tag() string { return c.opts.Tag }

// Ack settles deliveries by lease id.
func (c *Consumer) Ack(ids ...uint64) error { return c.q.ack(ids) }

// Nack returns deliveries to the queue (requeue) or dead-letters them.
func (c *Consumer) Nack(requeue bool, ids ...uint64) error { return c.q.nack(ids, requeue) }

// SetPrefetch changes the credit window.
func (c *Consumer) SetPrefetch(n int) {
	c.q.mu.Lock()
	c.prefetch = n
	c.q.mu.Unlock()
	c.q.kick()
}

// Resume restarts a consumer whose handler returned false.
func (c *Consumer) Resume() {
	c.q.mu.Lock()
	c.paused = false
	c.resumes++
	c.q.mu.Unlock()
	c.q.kick()
}

// Cancel stops deliveries. Unacked deliveries stay leased and may still be
// acked or nacked after the cancel; use Close to requeue them.
func (c *Consumer) Cancel() { c.cancel(false) }

// Close stops deliveries and requeues every unacked delivery of this consumer.
func (c *Consumer) Close() { c.cancel(true) }

func (c *Consumer) cancel(requeue bool) {
	q := c.q
	q.mu.Lock()
	wasOpen := !c.closed
	c.closed = true
	for i, x := range q.consumers {
		if x == c {
			q.consumers = append(q.consumers[:i], q.consumers[i+1:]...)
			break
		}
	}
	var dl []*deadLetter
	if requeue {
		for _, sl := range q.unacked.appendTo(nil) {
			if sl.e.owner == c {
				dl = q.requeueLocked(sl.id, sl.e, dl)
			}
		}
	}
	autoDelete := wasOpen && q.cfg.AutoDelete && q.hadConsumer && len(q.consumers) == 0 && !q.deleted
	q.lastUsed = q.b.now()
	q.scheduleLocked(q.nextDeadlineLocked())
	q.mu.Unlock()
	q.b.flushDeadLetters(dl)
	if autoDelete {
		q.b.deleteQueue(q)
		return
	}
	q.kick()
}

func (c *Consumer) serverCancel() {
	c.q.mu.Lock()
	already := c.closed
	c.closed = true
	c.q.mu.Unlock()
	if !already && c.opts.OnCancel != nil {
		c.opts.OnCancel()
	}
}

// hasCredit reports whether c may take another delivery (q.mu held).
func (c *Consumer) hasCredit() bool {
	if c.closed || c.paused {
		return false
	}
	return c.opts.NoAck || c.prefetch <= 0 || c.unacked < c.prefetch
}
