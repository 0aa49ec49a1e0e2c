package stomp

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners/stomp/frame"
)

var errExpired = errors.New("expired on arrival")

// reserved headers are frame plumbing, never copied into core headers.
var reserved = map[string]bool{
	"destination": true, "receipt": true, "transaction": true, "content-length": true,
	"content-type": true, "persistent": true, "expires": true, "priority": true,
	"correlation-id": true, "reply-to": true, "message-id": true, "subscription": true,
	"ack": true, "id": true, "redelivered": true, "type": true,
}

// onSend publishes a SEND frame (STOMP 1.2 "SEND"). With persistent:true
// the receipt waits for the store (ARCHITECTURE.md: a receipt means stored).
func (c *conn) onSend(f *frame.Frame, top bool) error {
	if top {
		if buffered, err := c.inTx(f); err != nil || buffered {
			if err == nil {
				c.receipt(f)
			}
			return err
		}
	}
	dv, ok := f.Lookup("destination")
	if !ok {
		return errProto("malformed frame", "SEND needs a destination header")
	}
	d, err := c.parseDest(dv)
	if err != nil {
		return err
	}
	if len(f.Body) > c.s.o.MaxMessageBytes {
		return &protoError{msg: "message too large", detail: fmt.Sprintf("body of %d bytes is over the limit of %d", len(f.Body), c.s.o.MaxMessageBytes), reason: "too_large"}
	}
	m, err := c.toMessage(f)
	if err == errExpired {
		// Already expired: accepted and dropped, as a broker expiring it would.
		if top {
			c.receipt(f)
		}
		return nil
	}
	if err != nil {
		return err
	}
	exchange, key := d.exchange, d.key
	switch d.kind {
	case destQueue:
		if err := c.ensureQueue(d.queue); err != nil {
			return err
		}
	case destAmqQueue, destReply:
		if !c.queues[d.queue] {
			if _, err := c.s.b.Queue(d.queue, ""); err != nil {
				return err
			}
		}
	case destTemp:
		if err := c.ensureTemp(d, false); err != nil {
			return err
		}
	}
	receipt, wantReceipt := f.Lookup("receipt")
	if !top {
		wantReceipt = false
	}
	p := &pubState{c: c, receipt: receipt, wantReceipt: wantReceipt, commit: c.commitWG}
	if p.commit != nil {
		p.commit.Add(1)
	}
	if m.Props.Persistent {
		c.inflight <- struct{}{} // bounded: blocks the reader (TCP backpressure)
		p.slot = true
	}
	c.pubs.Add(1)
	res, err := c.s.b.Publish(exchange, key, m, p.done)
	if err != nil {
		p.release()
		return err
	}
	if res.Routed == 0 && (d.kind == destQueue || d.kind == destTemp) {
		// The queue was deleted under our cache: declare it again and publish.
		delete(c.queues, d.queue)
		p.ignore()
		if d.kind == destQueue {
			err = c.ensureQueue(d.queue)
		} else {
			err = c.ensureTemp(d, false)
		}
		if err != nil {
			return err
		}
		return c.onSend(f, false)
	}
	p.returned()
	c.s.stats.Published.Add(1)
	return nil
}

// pubState turns Publish's done callback into at most one receipt or
// ERROR; a publish that is retried is ignored.
type pubState struct {
	c           *conn
	commit      *sync.WaitGroup
	receipt     string
	wantReceipt bool
	slot        bool

	mu      sync.Mutex
	back    bool // Publish returned
	ignored bool
	fired   bool
	err     error
}

func (p *pubState) done(err error) {
	p.mu.Lock()
	if !p.back {
		// Called inside Publish: decide once Publish has returned.
		p.fired, p.err = true, err
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.finish(err)
}

func (p *pubState) returned() {
	p.mu.Lock()
	p.back = true
	fired, err := p.fired, p.err
	p.mu.Unlock()
	if fired {
		p.finish(err)
	}
}

func (p *pubState) ignore() {
	p.mu.Lock()
	p.back, p.ignored = true, true
	p.mu.Unlock()
	p.release()
}

func (p *pubState) release() {
	if p.slot {
		<-p.c.inflight
	}
	if p.commit != nil {
		p.commit.Done()
	}
	p.c.pubs.Done()
}

func (p *pubState) finish(err error) {
	c := p.c
	defer p.release()
	if err != nil {
		msg, detail, reason := reasonFor(err)
		c.reason.CompareAndSwap(nil, reason)
		ef := frame.New(frame.ERROR, "message", msg, "content-type", "text/plain")
		if p.wantReceipt {
			ef.Add("receipt-id", p.receipt)
		}
		ef.Body = []byte(detail)
		c.log.Warn("publish failed; closing", "err", err)
		c.closing.Store(true)
		c.out.closeAfter(c.encode(ef))
		c.nc.SetReadDeadline(time.Now())
		return
	}
	if p.wantReceipt {
		c.out.push(c.encode(frame.New(frame.RECEIPT, "receipt-id", p.receipt)), false)
	}
}

// ensureQueue declares /queue/Q durable on first use.
func (c *conn) ensureQueue(name string) error {
	if c.queues[name] {
		return nil
	}
	if _, err := c.s.b.Queue(name, ""); err != nil {
		if !errors.Is(err, core.ErrNotFound) {
			return err
		}
		if _, err := c.s.b.DeclareQueue(core.QueueConfig{Name: name, Durable: true}); err != nil && !errors.Is(err, core.ErrPrecondition) {
			return err
		}
	}
	c.queues[name] = true
	return nil
}

// ensureTemp declares this connection's temp queue d; autoSub subscribes
// to it (as RabbitMQ does for reply-to) unless a subscription exists.
func (c *conn) ensureTemp(d dest, autoSub bool) error {
	if _, ok := c.temps[d.raw]; !ok {
		if len(c.temps) >= maxTempQueues {
			return errProto("too many temp queues", "at most "+strconv.Itoa(maxTempQueues)+" per connection")
		}
		if _, err := c.s.b.DeclareQueue(core.QueueConfig{Name: d.queue, Exclusive: true, Owner: c.id}); err != nil {
			return err
		}
		c.temps[d.raw] = d.queue
		c.queues[d.queue] = true
	}
	if autoSub {
		for _, s := range c.subs {
			if s.dest.kind == destTemp && s.dest.queue == d.queue {
				return nil
			}
		}
		if _, ok := c.subs[d.raw]; ok {
			return nil
		}
		if err := c.subscribe(d.raw, d, ackAuto, nil, 0, false, "", false); err != nil {
			return err
		}
		c.subs[d.raw].implicit = true
	}
	return nil
}

// toMessage maps SEND headers onto core properties (ARCHITECTURE.md
// "Message properties across protocols"). The first of repeated headers
// wins (STOMP 1.2 "Repeated Header Entries").
func (c *conn) toMessage(f *frame.Frame) (*core.Message, error) {
	m := &core.Message{Body: f.Body}
	if m.Body == nil {
		m.Body = []byte{}
	}
	var seen map[string]bool // only for frames with many headers
	if len(f.Headers) > 16 {
		seen = make(map[string]bool, len(f.Headers))
	}
	for i, h := range f.Headers {
		if seen != nil {
			if seen[h.Name] {
				continue
			}
			seen[h.Name] = true
		} else if repeated(f.Headers[:i], h.Name) {
			continue
		}
		v := h.Value
		switch h.Name {
		case "content-type":
			m.Props.ContentType = v
		case "correlation-id":
			m.Props.CorrelationID = v
		case "reply-to":
			r, err := c.inReplyTo(v)
			if err != nil {
				return nil, err
			}
			m.Props.ReplyTo = r
		case "type":
			m.Props.Type = v
		case "persistent":
			m.Props.Persistent = v == "true"
		case "priority":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 255 {
				return nil, errProto("invalid header", "priority must be 0..255")
			}
			m.Props.Priority, m.Props.HasPriority = uint8(n), true
		case "expires":
			// ActiveMQ: absolute time in ms since the epoch; 0 = never.
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, errProto("invalid header", "expires must be milliseconds since the epoch")
			}
			if n > 0 {
				ttl := time.Until(time.UnixMilli(n))
				if ttl <= 0 {
					return nil, errExpired
				}
				m.Props.Expiration = ttl
			}
		case "JMSXGroupID", "message_group":
			m.GroupID = v
			m.Props.Headers = setHeader(m.Props.Headers, h.Name, v)
		case "AMQ_SCHEDULED_DELAY", "x-delay":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
				m.Delay = time.Duration(n) * time.Millisecond
			}
		default:
			if !reserved[h.Name] {
				m.Props.Headers = setHeader(m.Props.Headers, h.Name, v)
			}
		}
	}
	return m, nil
}

func repeated(hs []frame.Header, name string) bool {
	for _, h := range hs {
		if h.Name == name {
			return true
		}
	}
	return false
}

func setHeader(t core.Table, k string, v any) core.Table {
	if t == nil {
		t = core.Table{}
	}
	t[k] = v
	return t
}

// framePool recycles MESSAGE frames between deliveries (see releaseFrame).
var framePool = sync.Pool{New: func() any { return &frame.Frame{Headers: make([]frame.Header, 0, 16)} }}

func releaseFrame(f *frame.Frame) {
	clear(f.Headers)
	f.Headers, f.Body = f.Headers[:0], nil
	framePool.Put(f)
}

// messageFrame maps a delivery onto a MESSAGE frame (STOMP 1.2 "MESSAGE").
func (c *conn) messageFrame(s *subscription, d *core.Delivery, msgID, ackID string) *frame.Frame {
	m := d.Message
	f := framePool.Get().(*frame.Frame)
	f.Command, f.Headers, f.Body = frame.MESSAGE, f.Headers[:0], m.Body
	f.Add("subscription", s.id)
	f.Add("message-id", msgID)
	f.Add("destination", c.messageDest(m, s))
	if ackID != "" {
		f.Add("ack", ackID)
	}
	if d.Redelivered {
		f.Add("redelivered", "true")
	}
	p := &m.Props
	if p.ContentType != "" {
		f.Add("content-type", p.ContentType)
	}
	if p.Persistent {
		f.Add("persistent", "true")
	}
	if p.HasPriority {
		f.Add("priority", strconv.Itoa(int(p.Priority)))
	}
	if p.Expiration > 0 && !m.SentAt.IsZero() {
		f.Add("expires", strconv.FormatInt(m.SentAt.Add(p.Expiration).UnixMilli(), 10))
	}
	if p.CorrelationID != "" {
		f.Add("correlation-id", p.CorrelationID)
	}
	if p.ReplyTo != "" {
		f.Add("reply-to", outReplyTo(p.ReplyTo))
	}
	if p.Type != "" {
		f.Add("type", p.Type)
	}
	if !m.SentAt.IsZero() {
		f.Add("timestamp", strconv.FormatInt(m.SentAt.UnixMilli(), 10))
	}
	for k, v := range p.Headers {
		if reserved[k] || k == "timestamp" || k == "" {
			continue
		}
		f.Add(k, headerString(v))
	}
	return f
}

// headerString renders a typed core header as STOMP text.
func headerString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, int:
		return fmt.Sprint(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		return strconv.FormatInt(x.Unix(), 10)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
