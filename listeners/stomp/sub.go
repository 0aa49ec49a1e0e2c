package stomp

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners/stomp/frame"
	"github.com/omnibroker/broker/listeners/stomp/selector"
)

type ackMode int

const (
	ackAuto             ackMode = iota // settled when written (at-most-once)
	ackClient                          // ACK is cumulative
	ackClientIndividual                // ACK settles one message
)

// subscription is one SUBSCRIBE: a core consumer on a queue.
type subscription struct {
	c       *conn
	id      string
	dest    dest
	mode    ackMode
	queue   string
	durable bool
	temp    bool // the queue belongs to this subscription (transient topic queue)
	// implicit: created by reply-to /temp-queue/N; an explicit SUBSCRIBE
	// to the same temp queue replaces it.
	implicit bool

	rmu      sync.Mutex // guards consumer and wantResume
	consumer *core.Consumer
	resumeQd bool

	// guarded by c.mu
	order   []*pending // delivery order (cumulative ACK)
	byMsgID map[string]*pending
}

// pending is an unacked delivery.
type pending struct {
	sub   *subscription
	lease uint64
	ackID string
	msgID string
	done  bool
}

func (s *subscription) resume() {
	s.rmu.Lock()
	k := s.consumer
	if k == nil {
		s.resumeQd = true
	}
	s.rmu.Unlock()
	if k != nil {
		k.Resume()
	}
}

// handle is the core Handler: it never blocks (see outq.offerDelivery).
func (s *subscription) handle(d *core.Delivery) bool {
	c := s.c
	var p *pending
	msgID := d.Message.ID
	ackID := ""
	c.mu.Lock()
	c.ackSeq++
	seq := c.ackSeq
	if s.mode != ackAuto {
		if _, dup := s.byMsgID[msgID]; dup || msgID == "" {
			msgID = msgID + "#" + strconv.FormatUint(seq, 10)
		}
		ackID = strconv.FormatUint(seq, 10)
		p = &pending{sub: s, lease: d.ID, ackID: ackID, msgID: msgID}
		c.acks[ackID] = p
		s.order = append(s.order, p)
		s.byMsgID[msgID] = p
	}
	c.mu.Unlock()
	if ackID == "" && c.version >= frame.V12 {
		ackID = strconv.FormatUint(seq, 10)
	}
	mf := c.messageFrame(s, d, msgID, ackID)
	b := frame.Append(nil, mf, c.version)
	releaseFrame(mf)
	if c.out.offerDelivery(b, s) {
		c.s.stats.Delivered.Add(1)
		return true
	}
	if p != nil {
		c.mu.Lock()
		c.forgetLocked(p)
		c.mu.Unlock()
	}
	return false
}

func (c *conn) forgetLocked(p *pending) {
	p.done = true
	delete(c.acks, p.ackID)
	delete(p.sub.byMsgID, p.msgID)
	o := p.sub.order
	for len(o) > 0 && o[0].done {
		o[0] = nil
		o = o[1:]
	}
	p.sub.order = o
}

// onSubscribe serves SUBSCRIBE (STOMP 1.2 "SUBSCRIBE").
func (c *conn) onSubscribe(f *frame.Frame) error {
	dv, ok := f.Lookup("destination")
	if !ok {
		return errProto("malformed frame", "SUBSCRIBE needs a destination header")
	}
	id, ok := f.Lookup("id")
	if !ok {
		if c.version >= frame.V11 {
			return errProto("malformed frame", "SUBSCRIBE needs an id header")
		}
		id = dv // STOMP 1.0: the id is optional
	}
	d, err := c.parseDest(dv)
	if err != nil {
		return err
	}
	if d.kind == destTemp {
		if old, ok := c.subs[d.raw]; ok && old.implicit {
			delete(c.subs, d.raw)
			old.close()
		}
	}
	if _, dup := c.subs[id]; dup {
		return errProto("duplicate subscription", "subscription id '"+id+"' is already in use")
	}
	if len(c.subs) >= maxSubscriptions {
		return errProto("too many subscriptions", "at most "+strconv.Itoa(maxSubscriptions)+" per connection")
	}
	mode := ackAuto
	switch f.Get("ack") {
	case "", "auto":
	case "client":
		mode = ackClient
	case "client-individual":
		mode = ackClientIndividual
	default:
		return errProto("malformed frame", "ack must be auto, client or client-individual")
	}
	prefetch := 0
	for _, h := range []string{"prefetch-count", "activemq.prefetchSize"} {
		if v, ok := f.Lookup(h); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errProto("invalid header", h+" must be a non-negative integer")
			}
			prefetch = n
			break
		}
	}
	var sel func(*core.Message) bool
	if expr := strings.TrimSpace(f.Get("selector")); expr != "" {
		s, err := selector.Parse(expr)
		if err != nil {
			return errProto("invalid selector", err.Error())
		}
		sel = func(m *core.Message) bool { return s.Match(messageFields(m)) }
	}
	subName := f.Get("activemq.subscriptionName")
	durable := f.Get("durable") == "true" || f.Get("persistent") == "true" || subName != ""
	if subName == "" {
		subName = id
	}
	exclusive := f.Get("activemq.exclusive") == "true" || f.Get("exclusive") == "true"
	return c.subscribe(id, d, mode, sel, prefetch, durable, subName, exclusive)
}

func (c *conn) subscribe(id string, d dest, mode ackMode, sel func(*core.Message) bool, prefetch int, durable bool, subName string, exclusive bool) error {
	b := c.s.b
	s := &subscription{c: c, id: id, dest: d, mode: mode, byMsgID: map[string]*pending{}}
	switch d.kind {
	case destQueue:
		if err := c.ensureQueue(d.queue); err != nil {
			return err
		}
		s.queue = d.queue
	case destAmqQueue, destReply:
		if _, err := b.Queue(d.queue, c.id); err != nil {
			return err
		}
		s.queue = d.queue
	case destTemp:
		if err := c.ensureTemp(d, false); err != nil {
			return err
		}
		s.queue = d.queue
	case destTopic, destExchange:
		if _, err := b.Exchange(d.exchange); err != nil {
			return err
		}
		if durable {
			// RabbitMQ STOMP "Durable Topic Subscriptions" / ActiveMQ
			// activemq.subscriptionName: a durable queue per client and name.
			owner := c.clientID
			if owner == "" {
				owner = c.user
			}
			s.queue = "stomp-durable." + owner + "." + subName
			s.durable = true
			if _, err := b.DeclareQueue(core.QueueConfig{Name: s.queue, Durable: true}); err != nil {
				return err
			}
		} else {
			s.queue = "stomp-sub." + c.id + "." + id
			s.temp = true
			if _, err := b.DeclareQueue(core.QueueConfig{Name: s.queue, Exclusive: true, Owner: c.id, AutoDelete: true}); err != nil {
				return err
			}
		}
		if err := b.Bind(core.Binding{Source: d.exchange, Destination: s.queue, Key: d.key}); err != nil {
			if s.temp {
				b.DeleteQueue(s.queue, false, false)
			}
			return err
		}
	}
	o := core.ConsumeOptions{Tag: id, Owner: c.id, NoAck: mode == ackAuto, Exclusive: exclusive, Selector: sel,
		OnCancel: func() { s.serverCancelled() }}
	if mode != ackAuto {
		o.Prefetch = prefetch
		if o.Prefetch == 0 {
			o.Prefetch = c.s.o.Prefetch
		}
	}
	c.subs[id] = s
	k, err := b.Consume(s.queue, o, s.handle)
	if err != nil {
		delete(c.subs, id)
		if s.temp {
			b.DeleteQueue(s.queue, false, false)
		}
		return err
	}
	s.rmu.Lock()
	s.consumer = k
	resume := s.resumeQd
	s.rmu.Unlock()
	if resume {
		k.Resume()
	}
	return nil
}

// serverCancelled: the queue was deleted under the subscription. STOMP has
// no cancel notification; the connection gets an ERROR and closes.
func (s *subscription) serverCancelled() {
	c := s.c
	if c.closing.Swap(true) {
		return
	}
	ef := frame.New(frame.ERROR, "message", "subscription cancelled", "subscription", s.id, "content-type", "text/plain")
	ef.Body = []byte("the queue of subscription '" + s.id + "' was deleted")
	c.out.closeAfter(c.encode(ef))
	c.nc.SetReadDeadline(time.Now())
}

func (s *subscription) close() {
	s.rmu.Lock()
	k := s.consumer
	s.rmu.Unlock()
	if k != nil {
		k.Close()
	}
	if s.temp {
		s.c.s.b.DeleteQueue(s.queue, false, false)
	}
	s.c.mu.Lock()
	for _, p := range append([]*pending(nil), s.order...) {
		if !p.done {
			s.c.forgetLocked(p)
		}
	}
	s.c.mu.Unlock()
}

// onUnsubscribe serves UNSUBSCRIBE; a durable subscription's queue is
// deleted when the frame says durable:true or names the subscription
// (RabbitMQ and ActiveMQ conventions).
func (c *conn) onUnsubscribe(f *frame.Frame) error {
	id, ok := f.Lookup("id")
	if !ok && c.version == frame.V10 {
		id, ok = f.Lookup("destination")
	}
	if !ok {
		return errProto("malformed frame", "UNSUBSCRIBE needs an id header")
	}
	s, ok := c.subs[id]
	if !ok {
		return errProto("no such subscription", "subscription '"+id+"' does not exist")
	}
	delete(c.subs, id)
	s.close()
	if s.durable && (f.Get("durable") == "true" || f.Get("persistent") == "true" || f.Get("activemq.subscriptionName") != "") {
		if _, err := c.s.b.DeleteQueue(s.queue, false, false); err != nil && !errors.Is(err, core.ErrNotFound) {
			return err
		}
	}
	return nil
}

// onAck serves ACK and NACK. STOMP 1.2 names the message by "id" (the
// MESSAGE's ack header); 1.1 by message-id and subscription; 1.0 by
// message-id alone. Client mode is cumulative.
func (c *conn) onAck(f *frame.Frame, top bool) error {
	if top {
		if buffered, err := c.inTx(f); err != nil || buffered {
			return err // handle sends the receipt
		}
	}
	var p *pending
	c.mu.Lock()
	id, hasID := f.Lookup("id")
	mid, hasMID := f.Lookup("message-id")
	if c.version >= frame.V12 && hasID {
		p = c.acks[id]
	}
	if p == nil && hasMID {
		// STOMP 1.0/1.1 (and lenient 1.2: older stomp.js acks by message-id).
		if sid, ok := f.Lookup("subscription"); ok {
			if s := c.subs[sid]; s != nil {
				p = s.byMsgID[mid]
			}
		} else {
			for _, s := range c.subs {
				if p = s.byMsgID[mid]; p != nil {
					break
				}
			}
		}
	}
	if p == nil && !hasMID && !(c.version >= frame.V12 && hasID) {
		c.mu.Unlock()
		if c.version >= frame.V12 {
			return errProto("malformed frame", f.Command+" needs an id header")
		}
		return errProto("malformed frame", f.Command+" needs a message-id header")
	}
	if p == nil || p.done {
		c.mu.Unlock()
		// Unknown or already settled (or auto mode): nothing to do, as RabbitMQ.
		c.log.Debug("ack for unknown message", "command", f.Command)
		return nil
	}
	s := p.sub
	var leases []uint64
	if s.mode == ackClient {
		var settle []*pending
		for _, q := range s.order {
			if q.done {
				continue
			}
			settle = append(settle, q)
			if q == p {
				break
			}
		}
		for _, q := range settle {
			leases = append(leases, q.lease)
			c.forgetLocked(q)
		}
	} else {
		leases = append(leases, p.lease)
		c.forgetLocked(p)
	}
	c.mu.Unlock()
	s.rmu.Lock()
	k := s.consumer
	s.rmu.Unlock()
	if k == nil {
		return nil
	}
	var err error
	if f.Command == frame.ACK {
		err = k.Ack(leases...)
	} else {
		// NACK requeues unless requeue:false (RabbitMQ), which dead-letters.
		err = k.Nack(f.Get("requeue") != "false", leases...)
	}
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}
	return nil
}
