package amqp

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners/amqp/frame"
)

// channel is one AMQP channel. Fields above mu belong to the reader
// goroutine; those below are shared with core dispatchers (deliveries,
// server-sent cancels) and guarded by mu.
type channel struct {
	c  *conn
	id uint16

	closing   bool     // channel.close sent, waiting for close-ok
	pub       *pending // &pubBuf while a publish waits for content
	pubBuf    pending
	lastQueue string // most recently declared queue (the "" shortcut)
	prefetch  int    // basic.qos global=false: for consumers created later
	confirm   bool
	tx        *txState
	confirms  confirmSet
	replyTo   string // direct reply-to queue, once consumed

	mu        sync.Mutex
	closed    bool
	consumers map[string]*consumer
	tag       uint64    // last delivery tag
	ua        []unacked // outstanding deliveries in tag order (from head)
	head      int
	nUnacked  int
	global    int  // basic.qos global=true: per-channel unacked limit
	flowOff   bool // channel.flow active=false
	held      []*consumer
}

// unacked is one outstanding delivery: its tag on this channel and the
// core lease behind it.
type unacked struct {
	tag   uint64
	lease uint64
	cons  *consumer // nil for basic.get
	queue string
	done  bool
}

func newChannel(c *conn, id uint16) *channel {
	ch := &channel{c: c, id: id, consumers: map[string]*consumer{}}
	ch.confirms.out = c.out
	ch.confirms.ch = ch
	return ch
}

// handle runs one method on an open channel.
func (ch *channel) handle(ctx context.Context, m frame.Method) error {
	if ch.pub != nil {
		// §4.2.6: content frames follow their method with nothing in between.
		return newErr(ReplyUnexpectedFrame, "expected content header for basic.publish, got '%s'", frame.Name(m.ID()))
	}
	b, out, id := ch.c.b, ch.c.out, ch.id
	switch m := m.(type) {
	case *frame.BasicPublish:
		return ch.startPublish(m)
	case *frame.BasicAck:
		return ch.settle(m.DeliveryTag, m.Multiple, settleAck, false)
	case *frame.BasicNack:
		return ch.settle(m.DeliveryTag, m.Multiple, settleNack, m.Requeue)
	case *frame.BasicReject:
		return ch.settle(m.DeliveryTag, false, settleNack, m.Requeue)
	case *frame.BasicConsume:
		return ch.consume(m)
	case *frame.BasicCancel:
		return ch.cancel(m)
	case *frame.BasicGet:
		return ch.get(ctx, m)
	case *frame.BasicQos:
		return ch.qos(m)
	case *frame.BasicRecover:
		if err := ch.recover(m.Requeue); err != nil {
			return err
		}
		out.method(id, &frame.BasicRecoverOk{})
		return nil
	case *frame.BasicRecoverAsync:
		return ch.recover(m.Requeue)
	case *frame.ChannelClose:
		ch.shutdown()
		delete(ch.c.chans, id)
		out.method(id, &frame.ChannelCloseOk{})
		return nil
	case *frame.ChannelCloseOk:
		return nil
	case *frame.ChannelOpen:
		return newErr(ReplyChannelError, "second 'channel.open' seen")
	case *frame.ChannelFlow:
		ch.flow(m.Active)
		out.method(id, &frame.ChannelFlowOk{Active: m.Active})
		return nil
	case *frame.ChannelFlowOk:
		return nil
	case *frame.ConfirmSelect:
		if ch.tx != nil {
			return newErr(ReplyPreconditionFailed, "cannot switch from tx to confirm mode")
		}
		ch.confirm = true
		if !m.NoWait {
			out.method(id, &frame.ConfirmSelectOk{})
		}
		return nil
	case *frame.TxSelect:
		if ch.confirm {
			return newErr(ReplyPreconditionFailed, "cannot switch from confirm to tx mode")
		}
		if ch.tx == nil {
			ch.tx = &txState{}
		}
		out.method(id, &frame.TxSelectOk{})
		return nil
	case *frame.TxCommit:
		return ch.commit()
	case *frame.TxRollback:
		if ch.tx == nil {
			return newErr(ReplyPreconditionFailed, "channel is not transactional")
		}
		ch.tx.ops = nil
		out.method(id, &frame.TxRollbackOk{})
		return nil
	case *frame.ExchangeDeclare:
		return ch.exchangeDeclare(m)
	case *frame.ExchangeDelete:
		if m.Exchange == "" || strings.HasPrefix(m.Exchange, "amq.") {
			return newErr(ReplyAccessRefused, "operation not permitted on exchange '%s' in vhost '/'", m.Exchange)
		}
		if err := b.DeleteExchange(m.Exchange, m.IfUnused); err != nil && !errors.Is(err, core.ErrNotFound) {
			return err
		}
		if !m.NoWait {
			out.method(id, &frame.ExchangeDeleteOk{})
		}
		return nil
	case *frame.ExchangeBind:
		if err := b.Bind(core.Binding{Source: m.Source, Destination: m.Destination, ToExchange: true, Key: m.RoutingKey, Args: m.Arguments}); err != nil {
			return err
		}
		if !m.NoWait {
			out.method(id, &frame.ExchangeBindOk{})
		}
		return nil
	case *frame.ExchangeUnbind:
		if err := b.Unbind(core.Binding{Source: m.Source, Destination: m.Destination, ToExchange: true, Key: m.RoutingKey, Args: m.Arguments}); err != nil {
			return err
		}
		if !m.NoWait {
			out.method(id, &frame.ExchangeUnbindOk{})
		}
		return nil
	case *frame.QueueDeclare:
		return ch.queueDeclare(m)
	case *frame.QueueBind:
		q, key, err := ch.queueAndKey(m.Queue, m.RoutingKey)
		if err != nil {
			return err
		}
		if err := b.Bind(core.Binding{Source: m.Exchange, Destination: q, Key: key, Args: m.Arguments}); err != nil {
			return err
		}
		if !m.NoWait {
			out.method(id, &frame.QueueBindOk{})
		}
		return nil
	case *frame.QueueUnbind:
		q, key, err := ch.queueAndKey(m.Queue, m.RoutingKey)
		if err != nil {
			return err
		}
		if m.Exchange == "" {
			return newErr(ReplyAccessRefused, "operation not permitted on the default exchange")
		}
		if err := b.Unbind(core.Binding{Source: m.Exchange, Destination: q, Key: key, Args: m.Arguments}); err != nil {
			return err
		}
		out.method(id, &frame.QueueUnbindOk{})
		return nil
	case *frame.QueuePurge:
		q, err := ch.queueName(m.Queue)
		if err != nil {
			return err
		}
		n, err := b.PurgeQueue(q, ch.c.id)
		if err != nil {
			return err
		}
		if !m.NoWait {
			out.method(id, &frame.QueuePurgeOk{MessageCount: uint32(n)})
		}
		return nil
	case *frame.QueueDelete:
		q, err := ch.queueName(m.Queue)
		if err != nil {
			return err
		}
		n := 0
		if _, err := b.Queue(q, ch.c.id); err == nil {
			if n, err = b.DeleteQueue(q, m.IfUnused, m.IfEmpty); err != nil && !errors.Is(err, core.ErrNotFound) {
				return err
			}
		} else if !errors.Is(err, core.ErrNotFound) {
			return err
		}
		if !m.NoWait {
			out.method(id, &frame.QueueDeleteOk{MessageCount: uint32(n)})
		}
		return nil
	}
	e := newErr(ReplyCommandInvalid, "method '%s' not allowed from a client", frame.Name(m.ID()))
	e.MethodID = m.ID()
	return e
}

// queueName expands the "" shortcut to the channel's last declared queue.
func (ch *channel) queueName(q string) (string, error) {
	if q != "" {
		return q, nil
	}
	if ch.lastQueue == "" {
		return "", newErr(ReplyNotFound, "no previously declared queue")
	}
	return ch.lastQueue, nil
}

// queueAndKey applies RabbitMQ's shortcuts for queue.bind/unbind and
// checks exclusive ownership.
func (ch *channel) queueAndKey(q, key string) (string, string, error) {
	if q == "" && key == "" {
		key = ch.lastQueue
	}
	q, err := ch.queueName(q)
	if err != nil {
		return "", "", err
	}
	if _, err := ch.c.b.Queue(q, ch.c.id); err != nil {
		return "", "", err
	}
	return q, key, nil
}

func (ch *channel) exchangeDeclare(m *frame.ExchangeDeclare) error {
	b, out := ch.c.b, ch.c.out
	if m.Passive {
		if m.Exchange == "" {
			return reply(out, ch.id, m.NoWait, &frame.ExchangeDeclareOk{})
		}
		if _, err := b.Exchange(m.Exchange); err != nil {
			return newErr(ReplyNotFound, "no exchange '%s' in vhost '/'", m.Exchange)
		}
		return reply(out, ch.id, m.NoWait, &frame.ExchangeDeclareOk{})
	}
	kind, err := exchangeKind(m.Type)
	if err != nil {
		return err
	}
	if m.Exchange == "" {
		return newErr(ReplyAccessRefused, "operation not permitted on the default exchange")
	}
	cfg := core.ExchangeConfig{Name: m.Exchange, Kind: kind, Durable: m.Durable, AutoDelete: m.AutoDelete,
		Internal: m.Internal, Args: m.Arguments}
	if v, ok := m.Arguments["alternate-exchange"]; ok {
		s, isStr := strArg(v)
		if !isStr {
			return newErr(ReplyPreconditionFailed, "invalid arg 'alternate-exchange' for exchange '%s' in vhost '/'", m.Exchange)
		}
		cfg.AlternateExchange = s
	}
	if err := b.DeclareExchange(cfg); err != nil {
		if errors.Is(err, core.ErrPrecondition) {
			if cur, err2 := b.Exchange(cfg.Name); err2 == nil {
				return inequivalent("exchange", cfg.Name, []diff{
					{"type", string(cfg.Kind), string(cur.Kind)}, {"durable", cfg.Durable, cur.Durable},
					{"auto_delete", cfg.AutoDelete, cur.AutoDelete}, {"internal", cfg.Internal, cur.Internal}})
			}
		}
		return err
	}
	return reply(out, ch.id, m.NoWait, &frame.ExchangeDeclareOk{})
}

type diff struct {
	name          string
	received, cur any
}

// inequivalent builds RabbitMQ's reply text for a redeclare with other
// settings: "inequivalent arg 'durable' for queue 'q' in vhost '/':
// received 'true' but current is 'false'".
func inequivalent(kind, name string, diffs []diff) error {
	for _, d := range diffs {
		if fmt.Sprint(d.received) != fmt.Sprint(d.cur) {
			return newErr(ReplyPreconditionFailed, "inequivalent arg '%s' for %s '%s' in vhost '/': received '%v' but current is '%v'",
				d.name, kind, name, d.received, d.cur)
		}
	}
	return newErr(ReplyPreconditionFailed, "inequivalent arg for %s '%s' in vhost '/'", kind, name)
}

func queueInequivalent(b *core.Broker, cfg core.QueueConfig) error {
	info, err := b.Queue(cfg.Name, "")
	if err != nil {
		return newErr(ReplyPreconditionFailed, "inequivalent arg for queue '%s' in vhost '/'", cfg.Name)
	}
	cur := info.Config
	diffs := []diff{{"durable", cfg.Durable, cur.Durable}, {"exclusive", cfg.Exclusive, cur.Exclusive},
		{"auto_delete", cfg.AutoDelete, cur.AutoDelete}}
	keys := map[string]bool{}
	for k := range cfg.Args {
		keys[k] = true
	}
	for k := range cur.Args {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		a, aok := cfg.Args[k]
		c, cok := cur.Args[k]
		if aok != cok || fmt.Sprint(a) != fmt.Sprint(c) {
			if !aok {
				a = "none"
			}
			if !cok {
				c = "none"
			}
			diffs = append(diffs, diff{k, a, c})
		}
	}
	return inequivalent("queue", cfg.Name, diffs)
}

func reply(out *outbox, ch uint16, noWait bool, m frame.Method) error {
	if !noWait {
		out.method(ch, m)
	}
	return nil
}

func (ch *channel) queueDeclare(m *frame.QueueDeclare) error {
	b, out, c := ch.c.b, ch.c.out, ch.c
	name := m.Queue
	if m.Passive {
		q, err := ch.queueName(name)
		if err != nil {
			return err
		}
		info, err := b.Queue(q, c.id)
		if err != nil {
			if errors.Is(err, core.ErrNotFound) {
				return newErr(ReplyNotFound, "no queue '%s' in vhost '/'", q)
			}
			return err
		}
		ch.lastQueue = q
		return reply(out, ch.id, m.NoWait, &frame.QueueDeclareOk{Queue: q, MessageCount: uint32(info.Ready), ConsumerCount: uint32(info.Consumers)})
	}
	if name == "" {
		name = randomName("amq.gen-")
	} else if strings.HasPrefix(name, "amq.") {
		// RabbitMQ reserves amq.* queue names for the server (server-named
		// amq.gen-* queues, direct reply-to).
		return newErr(ReplyAccessRefused, "queue name '%s' contains reserved prefix 'amq.*'", name)
	}
	cfg, err := queueConfig(name, m.Durable, m.Exclusive, m.AutoDelete, c.id, m.Arguments)
	if err != nil {
		return err
	}
	info, err := b.DeclareQueue(cfg)
	if err != nil {
		if errors.Is(err, core.ErrPrecondition) {
			return queueInequivalent(b, cfg)
		}
		return err
	}
	ch.lastQueue = name
	return reply(out, ch.id, m.NoWait, &frame.QueueDeclareOk{Queue: name, MessageCount: uint32(info.Ready), ConsumerCount: uint32(info.Consumers)})
}

// shutdown ends the channel's consumers and returns every outstanding
// delivery to its queue (channel or connection close, channel exception).
func (ch *channel) shutdown() {
	ch.mu.Lock()
	if ch.closed {
		ch.mu.Unlock()
		return
	}
	ch.closed = true
	cons := make([]*consumer, 0, len(ch.consumers))
	for _, cs := range ch.consumers {
		cs.cancelled = true
		cons = append(cons, cs)
	}
	ch.consumers = map[string]*consumer{}
	pend := append([]unacked(nil), ch.ua[ch.head:]...)
	ch.ua, ch.head, ch.nUnacked = nil, 0, 0
	ch.mu.Unlock()
	for _, cs := range cons {
		if cc := cs.core(); cc != nil {
			cc.Cancel()
		}
	}
	// Requeue in reverse so that the queue gets them back in order.
	sort.SliceStable(pend, func(i, j int) bool { return pend[i].tag > pend[j].tag })
	ch.settleEntries(pend, settleNack, true)
	for _, cs := range cons {
		if cc := cs.core(); cc != nil {
			cc.Close()
		}
	}
	ch.confirms.close()
	ch.pub = nil
	if ch.tx != nil {
		ch.tx.ops = nil
	}
}
