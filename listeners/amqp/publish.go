package amqp

import (
	"errors"
	"sync"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners/amqp/frame"
)

// pending is a basic.publish waiting for its content header and body.
type pending struct {
	m          frame.BasicPublish
	haveHeader bool
	size       uint64
	props      frame.Properties
	body       []byte
}

func (ch *channel) startPublish(m *frame.BasicPublish) error {
	if m.Immediate {
		// RabbitMQ dropped support for immediate in 3.0: a hard error.
		e := newErr(ReplyNotImplemented, "immediate=true")
		e.MethodID = m.ID()
		return e
	}
	// The channel's one pending struct is reused: content frames of a
	// channel never interleave (§4.2.6).
	ch.pubBuf = pending{m: *m}
	ch.pub = &ch.pubBuf
	return nil
}

// content handles a content header or body frame (§4.2.6).
func (ch *channel) content(f frame.Frame) error {
	p := ch.pub
	if p == nil {
		return newErr(ReplyUnexpectedFrame, "content frame on channel %d without basic.publish", ch.id)
	}
	if !p.haveHeader {
		if f.Type != frame.TypeHeader {
			return newErr(ReplyUnexpectedFrame, "expected content header on channel %d, got a body frame", ch.id)
		}
		h, err := frame.ReadHeader(f.Payload)
		if err != nil {
			return newErr(ReplyFrameError, "%s", err.Error())
		}
		if h.ClassID != frame.ClassBasic {
			return newErr(ReplyFrameError, "content header for class %d", h.ClassID)
		}
		if max := ch.c.s.o.MaxMessageBytes; h.BodySize > uint64(max) {
			ch.pub = nil
			// The body frames that follow are discarded by the channel's
			// closing state.
			return newErr(ReplyPreconditionFailed, "message size %d is larger than configured max size %d", h.BodySize, max)
		}
		p.haveHeader, p.size, p.props = true, h.BodySize, h.Props
		if p.size == 0 {
			ch.pub = nil
			return ch.publish(p)
		}
		p.body = make([]byte, 0, p.size)
		return nil
	}
	if f.Type != frame.TypeBody {
		return newErr(ReplyUnexpectedFrame, "expected content body on channel %d, got a header frame", ch.id)
	}
	if uint64(len(p.body))+uint64(len(f.Payload)) > p.size {
		return newErr(ReplyFrameError, "content body larger than the %d bytes announced", p.size)
	}
	p.body = append(p.body, f.Payload...)
	if uint64(len(p.body)) < p.size {
		return nil
	}
	ch.pub = nil
	return ch.publish(p)
}

// publish hands a complete message to the core.
func (ch *channel) publish(p *pending) error {
	c := ch.c
	ex := p.m.Exchange
	if ex == "amq.default" {
		ex = ""
	}
	msg := &core.Message{Body: p.body}
	if err := p.props.ToCore(&msg.Props); err != nil {
		return newErr(ReplyPreconditionFailed, "%s", err.Error())
	}
	if u := msg.Props.UserID; u != "" && u != c.user {
		// RabbitMQ validates user-id against the authenticated user.
		return newErr(ReplyPreconditionFailed, "user_id property set to '%s' but authenticated user was '%s'", u, c.user)
	}
	if msg.Props.ReplyTo == directReplyTo {
		if ch.replyTo == "" {
			return newErr(ReplyPreconditionFailed, "fast reply consumer does not exist")
		}
		msg.Props.ReplyTo = ch.replyTo
	}
	if ex != "" {
		cfg, err := c.b.Exchange(ex)
		if err != nil {
			return newErr(ReplyNotFound, "no exchange '%s' in vhost '/'", ex)
		}
		if cfg.Internal {
			return newErr(ReplyAccessRefused, "cannot publish to internal exchange '%s' in vhost '/'", ex)
		}
	}
	if ch.tx != nil {
		ch.tx.ops = append(ch.tx.ops, txOp{ex: ex, key: p.m.RoutingKey, mandatory: p.m.Mandatory, msg: msg})
		return nil
	}
	var done func(error)
	var seq uint64
	if ch.confirm {
		seq = ch.confirms.add()
		done = func(err error) { ch.confirms.done(seq, err) }
	}
	res, err := c.b.Publish(ex, p.m.RoutingKey, msg, done)
	if err != nil {
		if ch.confirm {
			ch.confirms.done(seq, err)
			ch.confirms.release(seq)
		}
		if errors.Is(err, core.ErrNotFound) {
			return newErr(ReplyNotFound, "no exchange '%s' in vhost '/'", ex)
		}
		return err
	}
	if res.Routed == 0 && p.m.Mandatory {
		ch.returnMessage(ex, p.m.RoutingKey, msg)
	}
	if ch.confirm {
		// The return (if any) is queued; only now may the confirm go out.
		ch.confirms.release(seq)
	}
	return nil
}

// returnMessage sends basic.return 312 NO_ROUTE with the content.
func (ch *channel) returnMessage(ex, key string, msg *core.Message) {
	var props frame.Properties
	props.FromCore(&msg.Props)
	ch.c.out.content(ch.id, &frame.BasicReturn{ReplyCode: ReplyNoRoute, ReplyText: "NO_ROUTE", Exchange: ex, RoutingKey: key},
		&props, msg.Body, ch.c.frameMax)
}

// ---- publisher confirms (RabbitMQ extension, https://www.rabbitmq.com/docs/confirms) ----

const (
	confHeld = 1 << iota // the reader has not finished with the publish yet
	confDone
	confNack
)

// confirmSet tracks unconfirmed publishes of a channel in sequence order.
// Confirms are sent in order: a run of acks becomes one basic.ack with
// multiple=true, a failed publish one basic.nack.
type confirmSet struct {
	out *outbox
	ch  *channel

	mu     sync.Mutex
	base   uint64 // sequence number of st[0]
	st     []uint8
	next   uint64
	dirty  bool
	closed bool
}

func (cs *confirmSet) add() uint64 {
	cs.mu.Lock()
	cs.next++
	if len(cs.st) == 0 {
		cs.base = cs.next
	}
	cs.st = append(cs.st, confHeld)
	n := cs.next
	cs.mu.Unlock()
	return n
}

func (cs *confirmSet) done(seq uint64, err error) {
	cs.mu.Lock()
	i := seq - cs.base
	if seq < cs.base || i >= uint64(len(cs.st)) {
		cs.mu.Unlock()
		return
	}
	cs.st[i] |= confDone
	if err != nil {
		cs.st[i] |= confNack
	}
	cs.schedule(i)
}

func (cs *confirmSet) release(seq uint64) {
	cs.mu.Lock()
	i := seq - cs.base
	if seq < cs.base || i >= uint64(len(cs.st)) {
		cs.mu.Unlock()
		return
	}
	cs.st[i] &^= confHeld
	cs.schedule(i)
}

// schedule unlocks cs.mu and asks the writer to flush when the head is ready.
func (cs *confirmSet) schedule(i uint64) {
	ready := i == 0 && cs.st[0] == confDone|cs.st[0]&confNack && !cs.dirty && !cs.closed
	if ready {
		cs.dirty = true
	}
	cs.mu.Unlock()
	if ready {
		cs.out.markDirty(cs.ch)
	}
}

// flush appends the confirms that are ready, in order (writer goroutine).
func (cs *confirmSet) flush(dst []byte, ch uint16) []byte {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.dirty = false
	if cs.closed {
		return dst
	}
	n, run := 0, 0
	emitRun := func() {
		if run > 0 {
			last := cs.base + uint64(n) - 1
			dst = frame.AppendMethod(dst, ch, &frame.BasicAck{DeliveryTag: last, Multiple: run > 1})
			run = 0
		}
	}
	for n < len(cs.st) && cs.st[n]&confHeld == 0 && cs.st[n]&confDone != 0 {
		if cs.st[n]&confNack != 0 {
			emitRun()
			dst = frame.AppendMethod(dst, ch, &frame.BasicNack{DeliveryTag: cs.base + uint64(n)})
		} else {
			run++
		}
		n++
	}
	emitRun()
	if n > 0 {
		cs.base += uint64(n)
		rest := copy(cs.st, cs.st[n:])
		cs.st = cs.st[:rest]
	}
	return dst
}

func (cs *confirmSet) close() {
	cs.mu.Lock()
	cs.closed = true
	cs.st = nil
	cs.mu.Unlock()
}

// ---- transactions (tx class, §1.9) ----

type txState struct{ ops []txOp }

// txOp is a publish or a settlement deferred until tx.commit.
type txOp struct {
	settle    bool
	tag       uint64
	multiple  bool
	kind      settleKind
	requeue   bool
	ex, key   string
	mandatory bool
	msg       *core.Message
}

// commit runs the transaction's publishes and settlements in order, waits
// until every publish is stored, then answers commit-ok.
func (ch *channel) commit() error {
	tx := ch.tx
	if tx == nil {
		return newErr(ReplyPreconditionFailed, "channel is not transactional")
	}
	ops := tx.ops
	ch.tx = nil // settle/publish below run directly
	defer func() { ch.tx = tx; tx.ops = nil }()
	var wg sync.WaitGroup
	for _, op := range ops {
		if op.settle {
			if err := ch.settle(op.tag, op.multiple, op.kind, op.requeue); err != nil {
				return err
			}
			continue
		}
		wg.Add(1)
		res, err := ch.c.b.Publish(op.ex, op.key, op.msg, func(error) { wg.Done() })
		if err != nil {
			wg.Done()
			if errors.Is(err, core.ErrNotFound) {
				return newErr(ReplyNotFound, "no exchange '%s' in vhost '/'", op.ex)
			}
			return err
		}
		if res.Routed == 0 && op.mandatory {
			ch.returnMessage(op.ex, op.key, op.msg)
		}
	}
	wg.Wait()
	ch.c.out.method(ch.id, &frame.TxCommitOk{})
	return nil
}
