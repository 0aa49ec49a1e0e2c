package amqp

import (
	"context"
	"errors"
	"sort"
	"sync/atomic"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners/amqp/frame"
)

// directReplyTo is RabbitMQ's pseudo-queue for RPC replies
// (https://www.rabbitmq.com/docs/direct-reply-to).
const directReplyTo = "amq.rabbitmq.reply-to"

// consumer is one basic.consume on a channel.
type consumer struct {
	ch    *channel
	tag   string
	queue string
	noAck bool
	cc    atomic.Pointer[core.Consumer]

	// guarded by ch.mu
	started   bool // consume-ok sent: deliveries may flow
	refused   bool // a delivery was refused before start
	cancelled bool
	held      bool // in ch.held (flow or global prefetch)
	// guarded by outbox.mu
	outPaused bool
}

func (cs *consumer) core() *core.Consumer { return cs.cc.Load() }

func (ch *channel) consume(m *frame.BasicConsume) error {
	c := ch.c
	q, err := ch.queueName(m.Queue)
	if err != nil {
		return err
	}
	tag := m.ConsumerTag
	if tag == "" {
		tag = randomName("amq.ctag-")
	}
	ch.mu.Lock()
	_, dup := ch.consumers[tag]
	ch.mu.Unlock()
	if dup {
		return newErr(ReplyNotAllowed, "attempt to reuse consumer tag '%s'", tag)
	}
	if q == directReplyTo {
		if !m.NoAck {
			return newErr(ReplyPreconditionFailed, "reply consumer cannot acknowledge")
		}
		if ch.replyTo != "" {
			return newErr(ReplyPreconditionFailed, "reply consumer already set")
		}
		name := directReplyTo + "." + randomName("")
		if _, err := c.b.DeclareQueue(core.QueueConfig{Name: name, Exclusive: true, Owner: c.id, AutoDelete: true}); err != nil {
			return err
		}
		ch.replyTo = name
		q = name
	}
	opts := core.ConsumeOptions{Tag: tag, Owner: c.id, NoAck: m.NoAck, Exclusive: m.Exclusive, Prefetch: ch.prefetch}
	if v, ok := m.Arguments["x-priority"]; ok {
		p, isInt := intArg(v)
		if !isInt {
			return newErr(ReplyPreconditionFailed, "invalid arg 'x-priority' for consumer '%s'", tag)
		}
		opts.Priority = int(p)
	}
	cs := &consumer{ch: ch, tag: tag, queue: q, noAck: m.NoAck}
	opts.OnCancel = cs.serverCancel
	cc, err := c.b.Consume(q, opts, cs.deliver)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return newErr(ReplyNotFound, "no queue '%s' in vhost '/'", q)
		}
		if errors.Is(err, core.ErrAccessDenied) {
			return newErr(ReplyAccessRefused, "queue '%s' in exclusive use", q)
		}
		return err
	}
	cs.cc.Store(cc)
	ch.mu.Lock()
	if ch.closed {
		ch.mu.Unlock()
		cc.Close()
		return nil
	}
	ch.consumers[tag] = cs
	// consume-ok goes out before the first delivery (§1.8.3.3), hence
	// under ch.mu, which deliveries take too.
	if !m.NoWait {
		c.out.method(ch.id, &frame.BasicConsumeOk{ConsumerTag: tag})
	}
	cs.started = true
	resume := cs.refused
	ch.mu.Unlock()
	if resume {
		cc.Resume()
	}
	return nil
}

// deliver is the core.Handler: it runs on a queue's dispatcher and must
// not block. It refuses (returns false) while the channel is paused by
// flow or its global prefetch, or the write queue is over its soft limit;
// whoever lifts the condition resumes the consumer.
func (cs *consumer) deliver(d *core.Delivery) bool {
	ch := cs.ch
	ch.mu.Lock()
	if ch.closed || cs.cancelled {
		ch.mu.Unlock()
		return false
	}
	if !cs.started {
		cs.refused = true
		ch.mu.Unlock()
		return false
	}
	if ch.flowOff || (!cs.noAck && ch.global > 0 && ch.nUnacked >= ch.global) {
		if !cs.held {
			cs.held = true
			ch.held = append(ch.held, cs)
		}
		ch.mu.Unlock()
		return false
	}
	m := d.Message
	var p frame.Properties
	p.FromCore(&m.Props)
	tag := ch.tag + 1
	dm := frame.BasicDeliver{ConsumerTag: cs.tag, DeliveryTag: tag, Redelivered: d.Redelivered,
		Exchange: m.Exchange, RoutingKey: m.RoutingKey}
	if !ch.c.out.tryDeliver(cs, &dm, &p, m.Body, ch.c.frameMax) {
		ch.mu.Unlock()
		return false
	}
	ch.tag = tag
	if !cs.noAck {
		ch.ua = append(ch.ua, unacked{tag: tag, lease: d.ID, cons: cs})
		ch.nUnacked++
	}
	ch.mu.Unlock()
	return true
}

// serverCancel runs when the core cancels the consumer (its queue was
// deleted): RabbitMQ's consumer_cancel_notify sends basic.cancel.
func (cs *consumer) serverCancel() {
	ch := cs.ch
	ch.mu.Lock()
	if ch.closed || cs.cancelled {
		ch.mu.Unlock()
		return
	}
	cs.cancelled = true
	delete(ch.consumers, cs.tag)
	notify := ch.c.capability("consumer_cancel_notify")
	if notify {
		ch.c.out.method(ch.id, &frame.BasicCancel{ConsumerTag: cs.tag, NoWait: true})
	}
	ch.mu.Unlock()
}

func (ch *channel) cancel(m *frame.BasicCancel) error {
	ch.mu.Lock()
	cs := ch.consumers[m.ConsumerTag]
	if cs != nil {
		cs.cancelled = true
		delete(ch.consumers, m.ConsumerTag)
	}
	ch.mu.Unlock()
	if cs != nil {
		if cc := cs.core(); cc != nil {
			// Unacked deliveries stay leased and can still be acked (§1.8.3.5).
			cc.Cancel()
		}
		if cs.queue == ch.replyTo {
			ch.c.b.DeleteQueue(ch.replyTo, false, false)
			ch.replyTo = ""
		}
	}
	if !m.NoWait {
		ch.c.out.method(ch.id, &frame.BasicCancelOk{ConsumerTag: m.ConsumerTag})
	}
	return nil
}

func (ch *channel) qos(m *frame.BasicQos) error {
	if m.PrefetchSize != 0 {
		return newErr(ReplyNotImplemented, "prefetch_size!=0 (%d)", m.PrefetchSize)
	}
	if m.Global {
		ch.mu.Lock()
		ch.global = int(m.PrefetchCount)
		resume := ch.takeHeldLocked()
		ch.mu.Unlock()
		resumeAll(resume)
	} else {
		ch.prefetch = int(m.PrefetchCount)
	}
	ch.c.out.method(ch.id, &frame.BasicQosOk{})
	return nil
}

// takeHeldLocked returns consumers held by the channel when it can take
// deliveries again.
func (ch *channel) takeHeldLocked() []*consumer {
	if ch.flowOff || (ch.global > 0 && ch.nUnacked >= ch.global) || len(ch.held) == 0 {
		return nil
	}
	h := ch.held
	ch.held = nil
	for _, cs := range h {
		cs.held = false
	}
	return h
}

func (ch *channel) flow(active bool) {
	ch.mu.Lock()
	ch.flowOff = !active
	resume := ch.takeHeldLocked()
	ch.mu.Unlock()
	resumeAll(resume)
}

func (ch *channel) get(ctx context.Context, m *frame.BasicGet) error {
	c := ch.c
	q, err := ch.queueName(m.Queue)
	if err != nil {
		return err
	}
	ds, err := c.b.Get(ctx, q, core.GetOptions{Max: 1, NoAck: m.NoAck, Owner: c.id})
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return newErr(ReplyNotFound, "no queue '%s' in vhost '/'", q)
		}
		return err
	}
	if len(ds) == 0 {
		c.out.method(ch.id, &frame.BasicGetEmpty{})
		return nil
	}
	d := ds[0]
	msg := d.Message
	var p frame.Properties
	p.FromCore(&msg.Props)
	ch.mu.Lock()
	ch.tag++
	tag := ch.tag
	if !m.NoAck {
		ch.ua = append(ch.ua, unacked{tag: tag, lease: d.ID, queue: q})
		ch.nUnacked++
	}
	c.out.content(ch.id, &frame.BasicGetOk{DeliveryTag: tag, Redelivered: d.Redelivered, Exchange: msg.Exchange,
		RoutingKey: msg.RoutingKey, MessageCount: uint32(d.MessageCount)}, &p, msg.Body, c.frameMax)
	ch.mu.Unlock()
	return nil
}

type settleKind int

const (
	settleAck settleKind = iota
	settleNack
)

// settle acks or nacks by delivery tag. multiple covers every outstanding
// tag up to and including tag, and tag 0 with multiple means all
// (§1.8.3.13). An unknown tag is a channel error 406, as in RabbitMQ.
func (ch *channel) settle(tag uint64, multiple bool, kind settleKind, requeue bool) error {
	if ch.tx != nil {
		ch.tx.ops = append(ch.tx.ops, txOp{settle: true, tag: tag, multiple: multiple, kind: kind, requeue: requeue})
		return nil
	}
	entries, err := ch.take(tag, multiple)
	if err != nil {
		return err
	}
	if kind == settleNack && requeue {
		// Requeued deliveries go back to the head; return them last-first
		// so the queue keeps their order.
		for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
			entries[i], entries[j] = entries[j], entries[i]
		}
	}
	ch.settleEntries(entries, kind, requeue)
	return nil
}

// take removes outstanding entries for tag (and below, with multiple).
func (ch *channel) take(tag uint64, multiple bool) ([]unacked, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if tag > ch.tag {
		return nil, newErr(ReplyPreconditionFailed, "unknown delivery tag %d", tag)
	}
	live := ch.ua[ch.head:]
	var out []unacked
	if multiple {
		n := len(live)
		if tag != 0 {
			n = sort.Search(len(live), func(i int) bool { return live[i].tag > tag })
		}
		for i := 0; i < n; i++ {
			if !live[i].done {
				out = append(out, live[i])
				live[i].done = true
			}
		}
		if tag != 0 && len(out) == 0 && (n == 0 || live[n-1].tag != tag) {
			return nil, newErr(ReplyPreconditionFailed, "unknown delivery tag %d", tag)
		}
	} else {
		i := sort.Search(len(live), func(i int) bool { return live[i].tag >= tag })
		if i == len(live) || live[i].tag != tag || live[i].done {
			return nil, newErr(ReplyPreconditionFailed, "unknown delivery tag %d", tag)
		}
		live[i].done = true
		out = append(out, live[i])
	}
	ch.nUnacked -= len(out)
	for ch.head < len(ch.ua) && ch.ua[ch.head].done {
		ch.ua[ch.head] = unacked{}
		ch.head++
	}
	if ch.head == len(ch.ua) {
		ch.ua, ch.head = ch.ua[:0], 0
	} else if ch.head > 1024 && ch.head > len(ch.ua)/2 {
		n := copy(ch.ua, ch.ua[ch.head:])
		clear(ch.ua[n:])
		ch.ua, ch.head = ch.ua[:n], 0
	}
	return out, nil
}

// settleEntries calls the core for entries, batching consecutive entries of
// the same consumer or queue into one call. Lease ids the core no longer
// knows (queue deleted, lease expired) are not the client's fault.
func (ch *channel) settleEntries(entries []unacked, kind settleKind, requeue bool) {
	b := ch.c.b
	ids := make([]uint64, 0, min(len(entries), 256))
	for i := 0; i < len(entries); {
		e := entries[i]
		ids = ids[:0]
		j := i
		for ; j < len(entries) && entries[j].cons == e.cons && entries[j].queue == e.queue; j++ {
			ids = append(ids, entries[j].lease)
		}
		i = j
		var cc *core.Consumer
		if e.cons != nil {
			cc = e.cons.core()
		}
		switch {
		case cc != nil && kind == settleAck:
			_ = cc.Ack(ids...)
		case cc != nil:
			_ = cc.Nack(requeue, ids...)
		case kind == settleAck:
			_ = b.Ack(e.queue, ids...)
		default:
			_ = b.Nack(e.queue, requeue, ids...)
		}
	}
	ch.mu.Lock()
	resume := ch.takeHeldLocked()
	ch.mu.Unlock()
	resumeAll(resume)
}

// recover redelivers every outstanding delivery (§1.8.3.16). Like
// RabbitMQ, only requeue=true is supported.
func (ch *channel) recover(requeue bool) error {
	if !requeue {
		return newErr(ReplyNotImplemented, "requeue=false")
	}
	return ch.settle(0, true, settleNack, true)
}
