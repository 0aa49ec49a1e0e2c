package frame

import (
	"fmt"

	"github.com/omnibroker/broker/core"
)

// Method is one AMQP method. ID is class-id<<16 | method-id.
type Method interface {
	ID() uint32
	read(r *Buf)
	write(w *Writer)
}

// Class ids (amqp0-9-1.xml).
const (
	ClassConnection = 10
	ClassChannel    = 20
	ClassExchange   = 40
	ClassQueue      = 50
	ClassBasic      = 60
	ClassConfirm    = 85
	ClassTx         = 90
)

func mid(class, method uint16) uint32 { return uint32(class)<<16 | uint32(method) }

// ErrUnknownMethod is returned by ReadMethod for a class/method pair the
// codec does not know (connection exception 540 NOT_IMPLEMENTED).
var ErrUnknownMethod = fmt.Errorf("unknown method")

// ReadMethod decodes a method frame payload. Trailing bytes after the last
// argument are a syntax error (§4.2.5).
func ReadMethod(payload []byte) (Method, error) {
	r := NewBuf(payload)
	class, method := r.Short(), r.Short()
	if r.Err != nil {
		return nil, r.Err
	}
	m := newMethod(mid(class, method))
	if m == nil {
		return nil, fmt.Errorf("%w %d.%d", ErrUnknownMethod, class, method)
	}
	m.read(r)
	if r.Err != nil {
		return nil, r.Err
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after method %d.%d", ErrSyntax, r.Len(), class, method)
	}
	return m, nil
}

// HasContent reports whether the method is followed by a content header and
// body (§4.2.6): basic.publish, basic.return, basic.deliver, basic.get-ok.
func HasContent(m Method) bool {
	switch m.(type) {
	case *BasicPublish, *BasicReturn, *BasicDeliver, *BasicGetOk:
		return true
	}
	return false
}

// Name returns the spec name of a method id, for logs and reply texts.
func Name(id uint32) string {
	if n, ok := names[id]; ok {
		return n
	}
	return fmt.Sprintf("%d.%d", id>>16, id&0xffff)
}

func newMethod(id uint32) Method {
	if f, ok := ctors[id]; ok {
		return f()
	}
	return nil
}

var ctors = map[uint32]func() Method{}
var names = map[uint32]string{}

func reg(name string, f func() Method) {
	id := f().ID()
	ctors[id] = f
	names[id] = name
}

func init() {
	reg("connection.start", func() Method { return &ConnectionStart{} })
	reg("connection.start-ok", func() Method { return &ConnectionStartOk{} })
	reg("connection.secure", func() Method { return &ConnectionSecure{} })
	reg("connection.secure-ok", func() Method { return &ConnectionSecureOk{} })
	reg("connection.tune", func() Method { return &ConnectionTune{} })
	reg("connection.tune-ok", func() Method { return &ConnectionTuneOk{} })
	reg("connection.open", func() Method { return &ConnectionOpen{} })
	reg("connection.open-ok", func() Method { return &ConnectionOpenOk{} })
	reg("connection.close", func() Method { return &ConnectionClose{} })
	reg("connection.close-ok", func() Method { return &ConnectionCloseOk{} })
	reg("connection.blocked", func() Method { return &ConnectionBlocked{} })
	reg("connection.unblocked", func() Method { return &ConnectionUnblocked{} })
	reg("connection.update-secret", func() Method { return &ConnectionUpdateSecret{} })
	reg("connection.update-secret-ok", func() Method { return &ConnectionUpdateSecretOk{} })
	reg("channel.open", func() Method { return &ChannelOpen{} })
	reg("channel.open-ok", func() Method { return &ChannelOpenOk{} })
	reg("channel.flow", func() Method { return &ChannelFlow{} })
	reg("channel.flow-ok", func() Method { return &ChannelFlowOk{} })
	reg("channel.close", func() Method { return &ChannelClose{} })
	reg("channel.close-ok", func() Method { return &ChannelCloseOk{} })
	reg("exchange.declare", func() Method { return &ExchangeDeclare{} })
	reg("exchange.declare-ok", func() Method { return &ExchangeDeclareOk{} })
	reg("exchange.delete", func() Method { return &ExchangeDelete{} })
	reg("exchange.delete-ok", func() Method { return &ExchangeDeleteOk{} })
	reg("exchange.bind", func() Method { return &ExchangeBind{} })
	reg("exchange.bind-ok", func() Method { return &ExchangeBindOk{} })
	reg("exchange.unbind", func() Method { return &ExchangeUnbind{} })
	reg("exchange.unbind-ok", func() Method { return &ExchangeUnbindOk{} })
	reg("queue.declare", func() Method { return &QueueDeclare{} })
	reg("queue.declare-ok", func() Method { return &QueueDeclareOk{} })
	reg("queue.bind", func() Method { return &QueueBind{} })
	reg("queue.bind-ok", func() Method { return &QueueBindOk{} })
	reg("queue.purge", func() Method { return &QueuePurge{} })
	reg("queue.purge-ok", func() Method { return &QueuePurgeOk{} })
	reg("queue.delete", func() Method { return &QueueDelete{} })
	reg("queue.delete-ok", func() Method { return &QueueDeleteOk{} })
	reg("queue.unbind", func() Method { return &QueueUnbind{} })
	reg("queue.unbind-ok", func() Method { return &QueueUnbindOk{} })
	reg("basic.qos", func() Method { return &BasicQos{} })
	reg("basic.qos-ok", func() Method { return &BasicQosOk{} })
	reg("basic.consume", func() Method { return &BasicConsume{} })
	reg("basic.consume-ok", func() Method { return &BasicConsumeOk{} })
	reg("basic.cancel", func() Method { return &BasicCancel{} })
	reg("basic.cancel-ok", func() Method { return &BasicCancelOk{} })
	reg("basic.publish", func() Method { return &BasicPublish{} })
	reg("basic.return", func() Method { return &BasicReturn{} })
	reg("basic.deliver", func() Method { return &BasicDeliver{} })
	reg("basic.get", func() Method { return &BasicGet{} })
	reg("basic.get-ok", func() Method { return &BasicGetOk{} })
	reg("basic.get-empty", func() Method { return &BasicGetEmpty{} })
	reg("basic.ack", func() Method { return &BasicAck{} })
	reg("basic.reject", func() Method { return &BasicReject{} })
	reg("basic.recover-async", func() Method { return &BasicRecoverAsync{} })
	reg("basic.recover", func() Method { return &BasicRecover{} })
	reg("basic.recover-ok", func() Method { return &BasicRecoverOk{} })
	reg("basic.nack", func() Method { return &BasicNack{} })
	reg("confirm.select", func() Method { return &ConfirmSelect{} })
	reg("confirm.select-ok", func() Method { return &ConfirmSelectOk{} })
	reg("tx.select", func() Method { return &TxSelect{} })
	reg("tx.select-ok", func() Method { return &TxSelectOk{} })
	reg("tx.commit", func() Method { return &TxCommit{} })
	reg("tx.commit-ok", func() Method { return &TxCommitOk{} })
	reg("tx.rollback", func() Method { return &TxRollback{} })
	reg("tx.rollback-ok", func() Method { return &TxRollbackOk{} })
}

func bit(o uint8, i uint) bool { return o&(1<<i) != 0 }

// ---- connection (class 10) ----

// ConnectionStart proposes the protocol version, properties and SASL mechanisms.
type ConnectionStart struct {
	VersionMajor, VersionMinor uint8
	ServerProperties           core.Table
	Mechanisms, Locales        string
}

func (*ConnectionStart) ID() uint32 { return mid(10, 10) }
func (m *ConnectionStart) read(r *Buf) {
	m.VersionMajor, m.VersionMinor = r.Octet(), r.Octet()
	m.ServerProperties, m.Mechanisms, m.Locales = r.Table(), r.Longstr(), r.Longstr()
}
func (m *ConnectionStart) write(w *Writer) {
	w.Octet(m.VersionMajor)
	w.Octet(m.VersionMinor)
	w.Table(m.ServerProperties)
	w.Longstr(m.Mechanisms)
	w.Longstr(m.Locales)
}

// ConnectionStartOk selects a mechanism and carries the SASL response.
type ConnectionStartOk struct {
	ClientProperties core.Table
	Mechanism        string
	Response         string
	Locale           string
}

func (*ConnectionStartOk) ID() uint32 { return mid(10, 11) }
func (m *ConnectionStartOk) read(r *Buf) {
	m.ClientProperties, m.Mechanism, m.Response, m.Locale = r.Table(), r.Shortstr(), r.Longstr(), r.Shortstr()
}
func (m *ConnectionStartOk) write(w *Writer) {
	w.Table(m.ClientProperties)
	w.Shortstr(m.Mechanism)
	w.Longstr(m.Response)
	w.Shortstr(m.Locale)
}

// ConnectionSecure is a SASL challenge.
type ConnectionSecure struct{ Challenge string }

func (*ConnectionSecure) ID() uint32        { return mid(10, 20) }
func (m *ConnectionSecure) read(r *Buf)     { m.Challenge = r.Longstr() }
func (m *ConnectionSecure) write(w *Writer) { w.Longstr(m.Challenge) }

// ConnectionSecureOk is a SASL response.
type ConnectionSecureOk struct{ Response string }

func (*ConnectionSecureOk) ID() uint32        { return mid(10, 21) }
func (m *ConnectionSecureOk) read(r *Buf)     { m.Response = r.Longstr() }
func (m *ConnectionSecureOk) write(w *Writer) { w.Longstr(m.Response) }

// ConnectionTune proposes limits (§4.2.3 frame_max, §4.2.7 heartbeat).
type ConnectionTune struct {
	ChannelMax uint16
	FrameMax   uint32
	Heartbeat  uint16
}

func (*ConnectionTune) ID() uint32 { return mid(10, 30) }
func (m *ConnectionTune) read(r *Buf) {
	m.ChannelMax, m.FrameMax, m.Heartbeat = r.Short(), r.Long(), r.Short()
}
func (m *ConnectionTune) write(w *Writer) {
	w.Short(m.ChannelMax)
	w.Long(m.FrameMax)
	w.Short(m.Heartbeat)
}

// ConnectionTuneOk is the client's choice of limits.
type ConnectionTuneOk ConnectionTune

func (*ConnectionTuneOk) ID() uint32 { return mid(10, 31) }
func (m *ConnectionTuneOk) read(r *Buf) {
	m.ChannelMax, m.FrameMax, m.Heartbeat = r.Short(), r.Long(), r.Short()
}
func (m *ConnectionTuneOk) write(w *Writer) {
	w.Short(m.ChannelMax)
	w.Long(m.FrameMax)
	w.Short(m.Heartbeat)
}

// ConnectionOpen opens a virtual host.
type ConnectionOpen struct {
	VirtualHost  string
	Capabilities string // reserved-1
	Insist       bool   // reserved-2
}

func (*ConnectionOpen) ID() uint32 { return mid(10, 40) }
func (m *ConnectionOpen) read(r *Buf) {
	m.VirtualHost, m.Capabilities, m.Insist = r.Shortstr(), r.Shortstr(), bit(r.Octet(), 0)
}
func (m *ConnectionOpen) write(w *Writer) {
	w.Shortstr(m.VirtualHost)
	w.Shortstr(m.Capabilities)
	w.Bits(m.Insist)
}

// ConnectionOpenOk confirms the virtual host.
type ConnectionOpenOk struct{ KnownHosts string }

func (*ConnectionOpenOk) ID() uint32        { return mid(10, 41) }
func (m *ConnectionOpenOk) read(r *Buf)     { m.KnownHosts = r.Shortstr() }
func (m *ConnectionOpenOk) write(w *Writer) { w.Shortstr(m.KnownHosts) }

// ConnectionClose closes the connection with a reply code (§1.5.2.9).
type ConnectionClose struct {
	ReplyCode         uint16
	ReplyText         string
	ClassID, MethodID uint16
}

func (*ConnectionClose) ID() uint32 { return mid(10, 50) }
func (m *ConnectionClose) read(r *Buf) {
	m.ReplyCode, m.ReplyText, m.ClassID, m.MethodID = r.Short(), r.Shortstr(), r.Short(), r.Short()
}
func (m *ConnectionClose) write(w *Writer) {
	w.Short(m.ReplyCode)
	w.Shortstr(m.ReplyText)
	w.Short(m.ClassID)
	w.Short(m.MethodID)
}

// ConnectionCloseOk confirms a close.
type ConnectionCloseOk struct{}

func (*ConnectionCloseOk) ID() uint32    { return mid(10, 51) }
func (*ConnectionCloseOk) read(*Buf)     {}
func (*ConnectionCloseOk) write(*Writer) {}

// ConnectionBlocked tells the client that publishing is blocked (RabbitMQ extension).
type ConnectionBlocked struct{ Reason string }

func (*ConnectionBlocked) ID() uint32        { return mid(10, 60) }
func (m *ConnectionBlocked) read(r *Buf)     { m.Reason = r.Shortstr() }
func (m *ConnectionBlocked) write(w *Writer) { w.Shortstr(m.Reason) }

// ConnectionUnblocked lifts a block.
type ConnectionUnblocked struct{}

func (*ConnectionUnblocked) ID() uint32    { return mid(10, 61) }
func (*ConnectionUnblocked) read(*Buf)     {}
func (*ConnectionUnblocked) write(*Writer) {}

// ConnectionUpdateSecret refreshes credentials (RabbitMQ extension).
type ConnectionUpdateSecret struct {
	NewSecret string
	Reason    string
}

func (*ConnectionUpdateSecret) ID() uint32 { return mid(10, 70) }
func (m *ConnectionUpdateSecret) read(r *Buf) {
	m.NewSecret, m.Reason = r.Longstr(), r.Shortstr()
}
func (m *ConnectionUpdateSecret) write(w *Writer) { w.Longstr(m.NewSecret); w.Shortstr(m.Reason) }

// ConnectionUpdateSecretOk confirms update-secret.
type ConnectionUpdateSecretOk struct{}

func (*ConnectionUpdateSecretOk) ID() uint32    { return mid(10, 71) }
func (*ConnectionUpdateSecretOk) read(*Buf)     {}
func (*ConnectionUpdateSecretOk) write(*Writer) {}

// ---- channel (class 20) ----

// ChannelOpen opens a channel.
type ChannelOpen struct{ Reserved string }

func (*ChannelOpen) ID() uint32        { return mid(20, 10) }
func (m *ChannelOpen) read(r *Buf)     { m.Reserved = r.Shortstr() }
func (m *ChannelOpen) write(w *Writer) { w.Shortstr(m.Reserved) }

// ChannelOpenOk confirms channel.open.
type ChannelOpenOk struct{ Reserved string }

func (*ChannelOpenOk) ID() uint32        { return mid(20, 11) }
func (m *ChannelOpenOk) read(r *Buf)     { m.Reserved = r.Longstr() }
func (m *ChannelOpenOk) write(w *Writer) { w.Longstr(m.Reserved) }

// ChannelFlow pauses or restarts deliveries.
type ChannelFlow struct{ Active bool }

func (*ChannelFlow) ID() uint32        { return mid(20, 20) }
func (m *ChannelFlow) read(r *Buf)     { m.Active = bit(r.Octet(), 0) }
func (m *ChannelFlow) write(w *Writer) { w.Bits(m.Active) }

// ChannelFlowOk confirms channel.flow.
type ChannelFlowOk struct{ Active bool }

func (*ChannelFlowOk) ID() uint32        { return mid(20, 21) }
func (m *ChannelFlowOk) read(r *Buf)     { m.Active = bit(r.Octet(), 0) }
func (m *ChannelFlowOk) write(w *Writer) { w.Bits(m.Active) }

// ChannelClose closes a channel with a reply code.
type ChannelClose struct {
	ReplyCode         uint16
	ReplyText         string
	ClassID, MethodID uint16
}

func (*ChannelClose) ID() uint32 { return mid(20, 40) }
func (m *ChannelClose) read(r *Buf) {
	m.ReplyCode, m.ReplyText, m.ClassID, m.MethodID = r.Short(), r.Shortstr(), r.Short(), r.Short()
}
func (m *ChannelClose) write(w *Writer) {
	w.Short(m.ReplyCode)
	w.Shortstr(m.ReplyText)
	w.Short(m.ClassID)
	w.Short(m.MethodID)
}

// ChannelCloseOk confirms channel.close.
type ChannelCloseOk struct{}

func (*ChannelCloseOk) ID() uint32    { return mid(20, 41) }
func (*ChannelCloseOk) read(*Buf)     {}
func (*ChannelCloseOk) write(*Writer) {}
