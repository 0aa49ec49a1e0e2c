package frame

import "github.com/omnibroker/broker/core"

// ---- exchange (class 40) ----

// ExchangeDeclare creates or checks an exchange.
type ExchangeDeclare struct {
	Exchange, Type                                 string
	Passive, Durable, AutoDelete, Internal, NoWait bool
	Arguments                                      core.Table
}

func (*ExchangeDeclare) ID() uint32 { return mid(40, 10) }
func (m *ExchangeDeclare) read(r *Buf) {
	r.Short()
	m.Exchange, m.Type = r.Shortstr(), r.Shortstr()
	o := r.Octet()
	m.Passive, m.Durable, m.AutoDelete, m.Internal, m.NoWait = bit(o, 0), bit(o, 1), bit(o, 2), bit(o, 3), bit(o, 4)
	m.Arguments = r.Table()
}
func (m *ExchangeDeclare) write(w *Writer) {
	w.Short(0)
	w.Shortstr(m.Exchange)
	w.Shortstr(m.Type)
	w.Bits(m.Passive, m.Durable, m.AutoDelete, m.Internal, m.NoWait)
	w.Table(m.Arguments)
}

// ExchangeDeclareOk confirms exchange.declare.
type ExchangeDeclareOk struct{}

func (*ExchangeDeclareOk) ID() uint32    { return mid(40, 11) }
func (*ExchangeDeclareOk) read(*Buf)     {}
func (*ExchangeDeclareOk) write(*Writer) {}

// ExchangeDelete deletes an exchange.
type ExchangeDelete struct {
	Exchange         string
	IfUnused, NoWait bool
}

func (*ExchangeDelete) ID() uint32 { return mid(40, 20) }
func (m *ExchangeDelete) read(r *Buf) {
	r.Short()
	m.Exchange = r.Shortstr()
	o := r.Octet()
	m.IfUnused, m.NoWait = bit(o, 0), bit(o, 1)
}
func (m *ExchangeDelete) write(w *Writer) {
	w.Short(0)
	w.Shortstr(m.Exchange)
	w.Bits(m.IfUnused, m.NoWait)
}

// ExchangeDeleteOk confirms exchange.delete.
type ExchangeDeleteOk struct{}

func (*ExchangeDeleteOk) ID() uint32    { return mid(40, 21) }
func (*ExchangeDeleteOk) read(*Buf)     {}
func (*ExchangeDeleteOk) write(*Writer) {}

// ExchangeBind binds an exchange to an exchange (RabbitMQ extension).
type ExchangeBind struct {
	Destination, Source, RoutingKey string
	NoWait                          bool
	Arguments                       core.Table
}

func (*ExchangeBind) ID() uint32 { return mid(40, 30) }
func (m *ExchangeBind) read(r *Buf) {
	r.Short()
	m.Destination, m.Source, m.RoutingKey = r.Shortstr(), r.Shortstr(), r.Shortstr()
	m.NoWait = bit(r.Octet(), 0)
	m.Arguments = r.Table()
}
func (m *ExchangeBind) write(w *Writer) {
	w.Short(0)
	w.Shortstr(m.Destination)
	w.Shortstr(m.Source)
	w.Shortstr(m.RoutingKey)
	w.Bits(m.NoWait)
	w.Table(m.Arguments)
}

// ExchangeBindOk confirms exchange.bind.
type ExchangeBindOk struct{}

func (*ExchangeBindOk) ID() uint32    { return mid(40, 31) }
func (*ExchangeBindOk) read(*Buf)     {}
func (*ExchangeBindOk) write(*Writer) {}

// ExchangeUnbind removes an exchange-to-exchange binding.
type ExchangeUnbind ExchangeBind

func (*ExchangeUnbind) ID() uint32        { return mid(40, 40) }
func (m *ExchangeUnbind) read(r *Buf)     { (*ExchangeBind)(m).read(r) }
func (m *ExchangeUnbind) write(w *Writer) { (*ExchangeBind)(m).write(w) }

// ExchangeUnbindOk confirms exchange.unbind (method id 51, per the spec XML).
type ExchangeUnbindOk struct{}

func (*ExchangeUnbindOk) ID() uint32    { return mid(40, 51) }
func (*ExchangeUnbindOk) read(*Buf)     {}
func (*ExchangeUnbindOk) write(*Writer) {}

// ---- queue (class 50) ----

// QueueDeclare creates or checks a queue.
type QueueDeclare struct {
	Queue                                           string
	Passive, Durable, Exclusive, AutoDelete, NoWait bool
	Arguments                                       core.Table
}

func (*QueueDeclare) ID() uint32 { return mid(50, 10) }
func (m *QueueDeclare) read(r *Buf) {
	r.Short()
	m.Queue = r.Shortstr()
	o := r.Octet()
	m.Passive, m.Durable, m.Exclusive, m.AutoDelete, m.NoWait = bit(o, 0), bit(o, 1), bit(o, 2), bit(o, 3), bit(o, 4)
	m.Arguments = r.Table()
}
func (m *QueueDeclare) write(w *Writer) {
	w.Short(0)
	w.Shortstr(m.Queue)
	w.Bits(m.Passive, m.Durable, m.Exclusive, m.AutoDelete, m.NoWait)
	w.Table(m.Arguments)
}

// QueueDeclareOk returns the queue name and counts.
type QueueDeclareOk struct {
	Queue                       string
	MessageCount, ConsumerCount uint32
}

func (*QueueDeclareOk) ID() uint32 { return mid(50, 11) }
func (m *QueueDeclareOk) read(r *Buf) {
	m.Queue, m.MessageCount, m.ConsumerCount = r.Shortstr(), r.Long(), r.Long()
}
func (m *QueueDeclareOk) write(w *Writer) {
	w.Shortstr(m.Queue)
	w.Long(m.MessageCount)
	w.Long(m.ConsumerCount)
}

// QueueBind binds a queue to an exchange.
type QueueBind struct {
	Queue, Exchange, RoutingKey string
	NoWait                      bool
	Arguments                   core.Table
}

func (*QueueBind) ID() uint32 { return mid(50, 20) }
func (m *QueueBind) read(r *Buf) {
	r.Short()
	m.Queue, m.Exchange, m.RoutingKey = r.Shortstr(), r.Shortstr(), r.Shortstr()
	m.NoWait = bit(r.Octet(), 0)
	m.Arguments = r.Table()
}
func (m *QueueBind) write(w *Writer) {
	w.Short(0)
	w.Shortstr(m.Queue)
	w.Shortstr(m.Exchange)
	w.Shortstr(m.RoutingKey)
	w.Bits(m.NoWait)
	w.Table(m.Arguments)
}

// QueueBindOk confirms queue.bind.
type QueueBindOk struct{}

func (*QueueBindOk) ID() uint32    { return mid(50, 21) }
func (*QueueBindOk) read(*Buf)     {}
func (*QueueBindOk) write(*Writer) {}

// QueuePurge deletes a queue's ready messages.
type QueuePurge struct {
	Queue  string
	NoWait bool
}

func (*QueuePurge) ID() uint32 { return mid(50, 30) }
func (m *QueuePurge) read(r *Buf) {
	r.Short()
	m.Queue = r.Shortstr()
	m.NoWait = bit(r.Octet(), 0)
}
func (m *QueuePurge) write(w *Writer) { w.Short(0); w.Shortstr(m.Queue); w.Bits(m.NoWait) }

// QueuePurgeOk returns the number purged.
type QueuePurgeOk struct{ MessageCount uint32 }

func (*QueuePurgeOk) ID() uint32        { return mid(50, 31) }
func (m *QueuePurgeOk) read(r *Buf)     { m.MessageCount = r.Long() }
func (m *QueuePurgeOk) write(w *Writer) { w.Long(m.MessageCount) }

// QueueDelete deletes a queue.
type QueueDelete struct {
	Queue                     string
	IfUnused, IfEmpty, NoWait bool
}

func (*QueueDelete) ID() uint32 { return mid(50, 40) }
func (m *QueueDelete) read(r *Buf) {
	r.Short()
	m.Queue = r.Shortstr()
	o := r.Octet()
	m.IfUnused, m.IfEmpty, m.NoWait = bit(o, 0), bit(o, 1), bit(o, 2)
}
func (m *QueueDelete) write(w *Writer) {
	w.Short(0)
	w.Shortstr(m.Queue)
	w.Bits(m.IfUnused, m.IfEmpty, m.NoWait)
}

// QueueDeleteOk returns the number of messages deleted.
type QueueDeleteOk struct{ MessageCount uint32 }

func (*QueueDeleteOk) ID() uint32        { return mid(50, 41) }
func (m *QueueDeleteOk) read(r *Buf)     { m.MessageCount = r.Long() }
func (m *QueueDeleteOk) write(w *Writer) { w.Long(m.MessageCount) }

// QueueUnbind removes a binding (no no-wait bit).
type QueueUnbind struct {
	Queue, Exchange, RoutingKey string
	Arguments                   core.Table
}

func (*QueueUnbind) ID() uint32 { return mid(50, 50) }
func (m *QueueUnbind) read(r *Buf) {
	r.Short()
	m.Queue, m.Exchange, m.RoutingKey = r.Shortstr(), r.Shortstr(), r.Shortstr()
	m.Arguments = r.Table()
}
func (m *QueueUnbind) write(w *Writer) {
	w.Short(0)
	w.Shortstr(m.Queue)
	w.Shortstr(m.Exchange)
	w.Shortstr(m.RoutingKey)
	w.Table(m.Arguments)
}

// QueueUnbindOk confirms queue.unbind.
type QueueUnbindOk struct{}

func (*QueueUnbindOk) ID() uint32    { return mid(50, 51) }
func (*QueueUnbindOk) read(*Buf)     {}
func (*QueueUnbindOk) write(*Writer) {}

// ---- confirm (class 85, RabbitMQ extension) ----

// ConfirmSelect puts a channel in publisher-confirm mode.
type ConfirmSelect struct{ NoWait bool }

func (*ConfirmSelect) ID() uint32        { return mid(85, 10) }
func (m *ConfirmSelect) read(r *Buf)     { m.NoWait = bit(r.Octet(), 0) }
func (m *ConfirmSelect) write(w *Writer) { w.Bits(m.NoWait) }

// ConfirmSelectOk confirms confirm.select.
type ConfirmSelectOk struct{}

func (*ConfirmSelectOk) ID() uint32    { return mid(85, 11) }
func (*ConfirmSelectOk) read(*Buf)     {}
func (*ConfirmSelectOk) write(*Writer) {}

// ---- tx (class 90) ----

// TxSelect starts transactional mode.
type TxSelect struct{}

// TxSelectOk confirms tx.select.
type TxSelectOk struct{}

// TxCommit commits the current transaction.
type TxCommit struct{}

// TxCommitOk confirms tx.commit.
type TxCommitOk struct{}

// TxRollback abandons the current transaction.
type TxRollback struct{}

// TxRollbackOk confirms tx.rollback.
type TxRollbackOk struct{}

func (*TxSelect) ID() uint32        { return mid(90, 10) }
func (*TxSelectOk) ID() uint32      { return mid(90, 11) }
func (*TxCommit) ID() uint32        { return mid(90, 20) }
func (*TxCommitOk) ID() uint32      { return mid(90, 21) }
func (*TxRollback) ID() uint32      { return mid(90, 30) }
func (*TxRollbackOk) ID() uint32    { return mid(90, 31) }
func (*TxSelect) read(*Buf)         {}
func (*TxSelectOk) read(*Buf)       {}
func (*TxCommit) read(*Buf)         {}
func (*TxCommitOk) read(*Buf)       {}
func (*TxRollback) read(*Buf)       {}
func (*TxRollbackOk) read(*Buf)     {}
func (*TxSelect) write(*Writer)     {}
func (*TxSelectOk) write(*Writer)   {}
func (*TxCommit) write(*Writer)     {}
func (*TxCommitOk) write(*Writer)   {}
func (*TxRollback) write(*Writer)   {}
func (*TxRollbackOk) write(*Writer) {}
