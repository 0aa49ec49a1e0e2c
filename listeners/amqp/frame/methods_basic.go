package frame

import "github.com/omnibroker/broker/core"

// ---- basic (class 60) ----

// BasicQos sets the prefetch window (§1.8.3.1; RabbitMQ reinterprets
// global=false as per consumer and global=true as per channel).
type BasicQos struct {
	PrefetchSize  uint32
	PrefetchCount uint16
	Global        bool
}

func (*BasicQos) ID() uint32 { return mid(60, 10) }
func (m *BasicQos) read(r *Buf) {
	m.PrefetchSize, m.PrefetchCount, m.Global = r.Long(), r.Short(), bit(r.Octet(), 0)
}
func (m *BasicQos) write(w *Writer) {
	w.Long(m.PrefetchSize)
	w.Short(m.PrefetchCount)
	w.Bits(m.Global)
}

// BasicQosOk confirms basic.qos.
type BasicQosOk struct{}

func (*BasicQosOk) ID() uint32    { return mid(60, 11) }
func (*BasicQosOk) read(*Buf)     {}
func (*BasicQosOk) write(*Writer) {}

// BasicConsume starts a consumer.
type BasicConsume struct {
	Queue, ConsumerTag                string
	NoLocal, NoAck, Exclusive, NoWait bool
	Arguments                         core.Table
}

func (*BasicConsume) ID() uint32 { return mid(60, 20) }
func (m *BasicConsume) read(r *Buf) {
	r.Short()
	m.Queue, m.ConsumerTag = r.Shortstr(), r.Shortstr()
	o := r.Octet()
	m.NoLocal, m.NoAck, m.Exclusive, m.NoWait = bit(o, 0), bit(o, 1), bit(o, 2), bit(o, 3)
	m.Arguments = r.Table()
}
func (m *BasicConsume) write(w *Writer) {
	w.Short(0)
	w.Shortstr(m.Queue)
	w.Shortstr(m.ConsumerTag)
	w.Bits(m.NoLocal, m.NoAck, m.Exclusive, m.NoWait)
	w.Table(m.Arguments)
}

// BasicConsumeOk returns the consumer tag.
type BasicConsumeOk struct{ ConsumerTag string }

func (*BasicConsumeOk) ID() uint32        { return mid(60, 21) }
func (m *BasicConsumeOk) read(r *Buf)     { m.ConsumerTag = r.Shortstr() }
func (m *BasicConsumeOk) write(w *Writer) { w.Shortstr(m.ConsumerTag) }

// BasicCancel ends a consumer (either direction: the server sends it when
// the queue goes away, RabbitMQ's consumer_cancel_notify).
type BasicCancel struct {
	ConsumerTag string
	NoWait      bool
}

func (*BasicCancel) ID() uint32 { return mid(60, 30) }
func (m *BasicCancel) read(r *Buf) {
	m.ConsumerTag, m.NoWait = r.Shortstr(), bit(r.Octet(), 0)
}
func (m *BasicCancel) write(w *Writer) { w.Shortstr(m.ConsumerTag); w.Bits(m.NoWait) }

// BasicCancelOk confirms basic.cancel.
type BasicCancelOk struct{ ConsumerTag string }

func (*BasicCancelOk) ID() uint32        { return mid(60, 31) }
func (m *BasicCancelOk) read(r *Buf)     { m.ConsumerTag = r.Shortstr() }
func (m *BasicCancelOk) write(w *Writer) { w.Shortstr(m.ConsumerTag) }

// BasicPublish publishes content.
type BasicPublish struct {
	Exchange, RoutingKey string
	Mandatory, Immediate bool
}

func (*BasicPublish) ID() uint32 { return mid(60, 40) }
func (m *BasicPublish) read(r *Buf) {
	r.Short()
	m.Exchange, m.RoutingKey = r.Shortstr(), r.Shortstr()
	o := r.Octet()
	m.Mandatory, m.Immediate = bit(o, 0), bit(o, 1)
}
func (m *BasicPublish) write(w *Writer) {
	w.Short(0)
	w.Shortstr(m.Exchange)
	w.Shortstr(m.RoutingKey)
	w.Bits(m.Mandatory, m.Immediate)
}

// BasicReturn returns an unroutable mandatory message.
type BasicReturn struct {
	ReplyCode            uint16
	ReplyText            string
	Exchange, RoutingKey string
}

func (*BasicReturn) ID() uint32 { return mid(60, 50) }
func (m *BasicReturn) read(r *Buf) {
	m.ReplyCode, m.ReplyText, m.Exchange, m.RoutingKey = r.Short(), r.Shortstr(), r.Shortstr(), r.Shortstr()
}
func (m *BasicReturn) write(w *Writer) {
	w.Short(m.ReplyCode)
	w.Shortstr(m.ReplyText)
	w.Shortstr(m.Exchange)
	w.Shortstr(m.RoutingKey)
}

// BasicDeliver delivers a message to a consumer.
type BasicDeliver struct {
	ConsumerTag          string
	DeliveryTag          uint64
	Redelivered          bool
	Exchange, RoutingKey string
}

func (*BasicDeliver) ID() uint32 { return mid(60, 60) }
func (m *BasicDeliver) read(r *Buf) {
	m.ConsumerTag, m.DeliveryTag, m.Redelivered = r.Shortstr(), r.LongLong(), bit(r.Octet(), 0)
	m.Exchange, m.RoutingKey = r.Shortstr(), r.Shortstr()
}
func (m *BasicDeliver) write(w *Writer) {
	w.Shortstr(m.ConsumerTag)
	w.LongLong(m.DeliveryTag)
	w.Bits(m.Redelivered)
	w.Shortstr(m.Exchange)
	w.Shortstr(m.RoutingKey)
}

// BasicGet polls one message.
type BasicGet struct {
	Queue string
	NoAck bool
}

func (*BasicGet) ID() uint32 { return mid(60, 70) }
func (m *BasicGet) read(r *Buf) {
	r.Short()
	m.Queue, m.NoAck = r.Shortstr(), bit(r.Octet(), 0)
}
func (m *BasicGet) write(w *Writer) { w.Short(0); w.Shortstr(m.Queue); w.Bits(m.NoAck) }

// BasicGetOk carries a polled message.
type BasicGetOk struct {
	DeliveryTag          uint64
	Redelivered          bool
	Exchange, RoutingKey string
	MessageCount         uint32
}

func (*BasicGetOk) ID() uint32 { return mid(60, 71) }
func (m *BasicGetOk) read(r *Buf) {
	m.DeliveryTag, m.Redelivered = r.LongLong(), bit(r.Octet(), 0)
	m.Exchange, m.RoutingKey, m.MessageCount = r.Shortstr(), r.Shortstr(), r.Long()
}
func (m *BasicGetOk) write(w *Writer) {
	w.LongLong(m.DeliveryTag)
	w.Bits(m.Redelivered)
	w.Shortstr(m.Exchange)
	w.Shortstr(m.RoutingKey)
	w.Long(m.MessageCount)
}

// BasicGetEmpty says the queue was empty.
type BasicGetEmpty struct{ Reserved string }

func (*BasicGetEmpty) ID() uint32        { return mid(60, 72) }
func (m *BasicGetEmpty) read(r *Buf)     { m.Reserved = r.Shortstr() }
func (m *BasicGetEmpty) write(w *Writer) { w.Shortstr(m.Reserved) }

// BasicAck acknowledges deliveries (client) or publishes (server, confirms).
type BasicAck struct {
	DeliveryTag uint64
	Multiple    bool
}

func (*BasicAck) ID() uint32 { return mid(60, 80) }
func (m *BasicAck) read(r *Buf) {
	m.DeliveryTag, m.Multiple = r.LongLong(), bit(r.Octet(), 0)
}
func (m *BasicAck) write(w *Writer) { w.LongLong(m.DeliveryTag); w.Bits(m.Multiple) }

// BasicReject rejects one delivery.
type BasicReject struct {
	DeliveryTag uint64
	Requeue     bool
}

func (*BasicReject) ID() uint32 { return mid(60, 90) }
func (m *BasicReject) read(r *Buf) {
	m.DeliveryTag, m.Requeue = r.LongLong(), bit(r.Octet(), 0)
}
func (m *BasicReject) write(w *Writer) { w.LongLong(m.DeliveryTag); w.Bits(m.Requeue) }

// BasicRecoverAsync is the deprecated asynchronous basic.recover.
type BasicRecoverAsync struct{ Requeue bool }

func (*BasicRecoverAsync) ID() uint32        { return mid(60, 100) }
func (m *BasicRecoverAsync) read(r *Buf)     { m.Requeue = bit(r.Octet(), 0) }
func (m *BasicRecoverAsync) write(w *Writer) { w.Bits(m.Requeue) }

// BasicRecover redelivers unacknowledged messages.
type BasicRecover struct{ Requeue bool }

func (*BasicRecover) ID() uint32        { return mid(60, 110) }
func (m *BasicRecover) read(r *Buf)     { m.Requeue = bit(r.Octet(), 0) }
func (m *BasicRecover) write(w *Writer) { w.Bits(m.Requeue) }

// BasicRecoverOk confirms basic.recover.
type BasicRecoverOk struct{}

func (*BasicRecoverOk) ID() uint32    { return mid(60, 111) }
func (*BasicRecoverOk) read(*Buf)     {}
func (*BasicRecoverOk) write(*Writer) {}

// BasicNack rejects one or many deliveries (RabbitMQ extension), or
// negatively confirms publishes.
type BasicNack struct {
	DeliveryTag       uint64
	Multiple, Requeue bool
}

func (*BasicNack) ID() uint32 { return mid(60, 120) }
func (m *BasicNack) read(r *Buf) {
	m.DeliveryTag = r.LongLong()
	o := r.Octet()
	m.Multiple, m.Requeue = bit(o, 0), bit(o, 1)
}
func (m *BasicNack) write(w *Writer) { w.LongLong(m.DeliveryTag); w.Bits(m.Multiple, m.Requeue) }
