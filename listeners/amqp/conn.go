package amqp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners"
	"github.com/omnibroker/broker/listeners/amqp/frame"
)

// conn is one AMQP connection.
type conn struct {
	s   *Server
	b   *core.Broker
	nc  net.Conn
	log *slog.Logger
	id  string // owner identity for exclusive queues

	br  *bufio.Reader
	fr  *frame.Reader
	out *outbox

	user       string
	caps       core.Table // client capabilities
	frameMax   int
	channelMax int
	heartbeat  time.Duration

	chans map[uint16]*channel // reader goroutine only

	closing    atomic.Bool // connection.close sent, waiting for close-ok
	blockMu    sync.Mutex
	blockCond  *sync.Cond
	blocked    bool // memory alarm: publishes wait
	writerDone chan struct{}
	writeErr   atomic.Pointer[error]
	why        atomic.Pointer[listeners.CloseReason] // set once by closeConnection
}

// setReason records why the connection is closing; the first reason wins.
func (c *conn) setReason(r listeners.CloseReason) { c.why.CompareAndSwap(nil, &r) }

// reasonOr returns the recorded reason, or r.
func (c *conn) reasonOr(r listeners.CloseReason) listeners.CloseReason {
	if p := c.why.Load(); p != nil {
		return *p
	}
	return r
}

func newConn(s *Server, nc net.Conn) *conn {
	id := fmt.Sprintf("amqp-%d-%s", s.seq.Add(1), randomName("")[:8])
	c := &conn{s: s, b: s.b, nc: nc, id: id, chans: map[uint16]*channel{},
		log:        s.log.With("conn", id, "remote", nc.RemoteAddr().String()),
		out:        newOutbox(s.o.WriteSoftLimit, s.o.WriteHardLimit),
		writerDone: make(chan struct{}), frameMax: frame.MinSize, channelMax: s.o.ChannelMax}
	c.blockCond = sync.NewCond(&c.blockMu)
	c.br = bufio.NewReaderSize(nc, 8<<10) // reads of larger frames bypass it
	c.fr = frame.NewReader(c.br)
	return c
}

// errClose ends the read loop with a close reason.
type errClose struct{ reason listeners.CloseReason }

func (e errClose) Error() string { return string(e.reason) }

func (c *conn) serve(ctx context.Context) {
	defer c.nc.Close()
	started := false
	var reason listeners.CloseReason
	defer func() {
		c.teardown(started)
		if p := c.writeErr.Load(); p != nil && errors.Is(*p, os.ErrDeadlineExceeded) {
			// The peer stopped reading: a slow consumer, not a clean EOF.
			reason = listeners.ReasonSlowConsumer
		}
		c.s.closes.Add(reason)
		c.log.Info("connection closed", "reason", reason, "user", c.user)
	}()
	if err := c.handshake(); err != nil {
		reason = closeReason(err)
		return
	}
	started = true
	go c.writeLoop()
	stop := context.AfterFunc(ctx, func() {
		// Broker shutdown: say goodbye (RabbitMQ's text) and give the
		// client a moment to answer close-ok.
		c.closeConnection(newErr(ReplyConnectionForced, "broker forced connection closure with reason 'shutdown'"), 2*time.Second)
	})
	defer stop()
	unsub := c.b.OnMemoryAlarm(c.setBlocked)
	defer unsub()
	c.log.Debug("connection open", "user", c.user, "frame_max", c.frameMax, "heartbeat", c.heartbeat)
	reason = c.reasonOr(closeReason(c.readLoop(ctx)))
}

func closeReason(err error) listeners.CloseReason {
	var ec errClose
	switch {
	case errors.As(err, &ec):
		return ec.reason
	case errors.Is(err, os.ErrDeadlineExceeded):
		return listeners.ReasonTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return listeners.ReasonEOF
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return listeners.ReasonTimeout
	}
	return listeners.ReasonEOF
}

// teardown releases everything the connection holds in the core:
// consumers are closed (unacked deliveries requeued), leases from
// basic.get are returned and exclusive queues deleted.
func (c *conn) teardown(started bool) {
	for _, ch := range c.chans {
		ch.shutdown()
	}
	c.b.ReleaseOwner(c.id)
	if started {
		c.out.close()
		select {
		case <-c.writerDone:
		case <-time.After(5 * time.Second):
			c.nc.Close()
			<-c.writerDone
		}
	}
}

// readLoop reads and runs frames until the connection ends. The read
// deadline is two heartbeat intervals (§4.2.7: a peer that sends nothing
// for two intervals is dead), refreshed at most every quarter interval.
func (c *conn) readLoop(ctx context.Context) error {
	var lastDeadline time.Time
	for {
		c.out.waitSpace()
		if !c.closing.Load() && c.heartbeat > 0 {
			if now := time.Now(); now.Sub(lastDeadline) > c.heartbeat/4 {
				c.nc.SetReadDeadline(now.Add(2 * c.heartbeat))
				lastDeadline = now
			}
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			if c.closing.Load() {
				return errClose{c.reasonOr(listeners.ReasonProtocolError)}
			}
			switch {
			case errors.Is(err, frame.ErrFrameSize), errors.Is(err, frame.ErrBadFrameEnd), errors.Is(err, frame.ErrBadType):
				c.log.Warn("bad frame", "err", err)
				if errors.Is(err, frame.ErrFrameSize) {
					c.setReason(listeners.ReasonTooLarge)
				}
				c.closeConnection(newErr(ReplyFrameError, "%s", err.Error()), 2*time.Second)
				c.drainUntilClosed()
				return errClose{c.reasonOr(listeners.ReasonProtocolError)}
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.log.Warn("missed heartbeats; closing", "heartbeat", c.heartbeat)
			}
			return err
		}
		if c.closing.Load() {
			if f.Type == frame.TypeMethod && f.Channel == 0 {
				if m, err := frame.ReadMethod(f.Payload); err == nil {
					switch m.(type) {
					case *frame.ConnectionCloseOk:
						return errClose{c.reasonOr(listeners.ReasonProtocolError)}
					case *frame.ConnectionClose:
						c.out.method(0, &frame.ConnectionCloseOk{})
						return errClose{c.reasonOr(listeners.ReasonProtocolError)}
					}
				}
			}
			continue // §1.4.2.5: after close, discard everything but close/close-ok
		}
		if err := c.handleFrame(ctx, f); err != nil {
			var ec errClose
			if errors.As(err, &ec) {
				return err
			}
			ae := reasonFor(err)
			if ae.Code == ReplyInternalError {
				c.log.Error("internal error", "err", err)
			} else {
				c.log.Warn("connection exception", "code", ae.Code, "text", ae.Text)
			}
			c.closeConnection(ae, 2*time.Second)
			c.drainUntilClosed()
			return errClose{listeners.ReasonProtocolError}
		}
	}
}

// drainUntilClosed waits (bounded by the close deadline) for close-ok.
func (c *conn) drainUntilClosed() {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return
		}
		if f.Type == frame.TypeMethod && f.Channel == 0 {
			if m, err := frame.ReadMethod(f.Payload); err == nil {
				switch m.(type) {
				case *frame.ConnectionCloseOk:
					return
				case *frame.ConnectionClose:
					c.out.method(0, &frame.ConnectionCloseOk{})
					return
				}
			}
		}
	}
}

// setBlocked follows the core's memory alarm (RabbitMQ's
// connection.blocked extension): while it is on, the reader stops before
// each basic.publish, so publishers feel TCP backpressure, and clients that
// announced the capability are told why.
func (c *conn) setBlocked(on bool) {
	c.blockMu.Lock()
	changed := c.blocked != on
	c.blocked = on
	c.blockCond.Broadcast()
	c.blockMu.Unlock()
	if !changed || !c.capability("connection.blocked") {
		return
	}
	if on {
		c.out.method(0, &frame.ConnectionBlocked{Reason: "low on memory"})
	} else {
		c.out.method(0, &frame.ConnectionUnblocked{})
	}
}

// waitUnblocked holds a publish while the memory alarm is on.
func (c *conn) waitUnblocked() {
	c.blockMu.Lock()
	for c.blocked && !c.closing.Load() {
		c.blockCond.Wait()
	}
	c.blockMu.Unlock()
}

// closeConnection sends connection.close once and bounds the wait for
// close-ok. Safe from any goroutine.
func (c *conn) closeConnection(e *amqpError, wait time.Duration) {
	if c.closing.Swap(true) {
		return
	}
	if e.Code == ReplyConnectionForced {
		c.setReason(listeners.ReasonShutdown)
	} else {
		c.setReason(listeners.ReasonProtocolError)
	}
	c.out.method(0, &frame.ConnectionClose{ReplyCode: e.Code, ReplyText: e.Text,
		ClassID: uint16(e.MethodID >> 16), MethodID: uint16(e.MethodID)})
	c.nc.SetReadDeadline(time.Now().Add(wait))
	c.blockMu.Lock()
	c.blockCond.Broadcast()
	c.blockMu.Unlock()
}

// handleFrame dispatches one frame after the handshake.
func (c *conn) handleFrame(ctx context.Context, f frame.Frame) error {
	switch f.Type {
	case frame.TypeHeartbeat:
		if f.Channel != 0 {
			return newErr(ReplyFrameError, "heartbeat frame on channel %d", f.Channel)
		}
		return nil
	case frame.TypeMethod:
		m, err := frame.ReadMethod(f.Payload)
		if err != nil {
			if errors.Is(err, frame.ErrUnknownMethod) {
				return newErr(ReplyNotImplemented, "%s", err.Error())
			}
			return newErr(ReplySyntaxError, "%s", err.Error())
		}
		if c.s.log.Enabled(ctx, slog.LevelDebug) {
			c.log.Debug("frame in", "channel", f.Channel, "method", frame.Name(m.ID()))
		}
		if f.Channel == 0 {
			return c.handleConnectionMethod(m)
		}
		if _, ok := m.(*frame.BasicPublish); ok {
			c.waitUnblocked()
		}
		return c.handleChannelMethod(ctx, f.Channel, m)
	case frame.TypeHeader, frame.TypeBody:
		ch := c.chans[f.Channel]
		if ch == nil || f.Channel == 0 {
			return newErr(ReplyUnexpectedFrame, "content frame on channel %d without basic.publish", f.Channel)
		}
		if ch.closing {
			return nil
		}
		err := ch.content(f)
		return c.channelResult(ch, err, frame.ClassBasic<<16|40)
	}
	return newErr(ReplyFrameError, "unknown frame type %d", f.Type)
}

func (c *conn) handleConnectionMethod(m frame.Method) error {
	switch m := m.(type) {
	case *frame.ConnectionClose:
		// Client-initiated close: answer close-ok and end (§1.4.2.5).
		c.log.Debug("client closed connection", "code", m.ReplyCode, "text", m.ReplyText)
		c.out.method(0, &frame.ConnectionCloseOk{})
		return errClose{listeners.ReasonClientClosed}
	case *frame.ConnectionCloseOk:
		return errClose{listeners.ReasonClientClosed}
	case *frame.ConnectionUpdateSecret:
		c.out.method(0, &frame.ConnectionUpdateSecretOk{})
		return nil
	case *frame.ConnectionBlocked, *frame.ConnectionUnblocked:
		return nil
	}
	e := newErr(ReplyCommandInvalid, "%s not allowed on channel 0 after the handshake", frame.Name(m.ID()))
	e.MethodID = m.ID()
	return e
}

// handleChannelMethod runs a method on a channel and turns soft errors into
// channel.close, hard ones into connection.close.
func (c *conn) handleChannelMethod(ctx context.Context, id uint16, m frame.Method) error {
	ch := c.chans[id]
	if ch == nil {
		if _, ok := m.(*frame.ChannelOpen); !ok {
			e := newErr(ReplyChannelError, "expected 'channel.open' on channel %d, got '%s'", id, frame.Name(m.ID()))
			e.MethodID = m.ID()
			return e
		}
		if int(id) > c.channelMax || len(c.chans) >= c.channelMax {
			// RabbitMQ: 530 NOT_ALLOWED when channel_max is reached.
			e := newErr(ReplyNotAllowed, "number of channels opened (%d) has reached the negotiated channel_max (%d)", len(c.chans), c.channelMax)
			e.MethodID = m.ID()
			return e
		}
		c.chans[id] = newChannel(c, id)
		c.out.method(id, &frame.ChannelOpenOk{})
		return nil
	}
	if ch.closing {
		// §2.2.4 / channel.close: after sending close, discard all but
		// close and close-ok.
		switch m.(type) {
		case *frame.ChannelCloseOk:
			delete(c.chans, id)
		case *frame.ChannelClose:
			// Both sides closed at once: each answers close-ok and the
			// channel is gone (§1.5.2.5).
			c.out.method(id, &frame.ChannelCloseOk{})
			delete(c.chans, id)
		}
		return nil
	}
	return c.channelResult(ch, ch.handle(ctx, m), m.ID())
}

func (c *conn) channelResult(ch *channel, err error, methodID uint32) error {
	if err == nil {
		return nil
	}
	var ec errClose
	if errors.As(err, &ec) {
		return err
	}
	ae := reasonFor(err)
	if ae.MethodID == 0 {
		cp := *ae
		cp.MethodID = methodID
		ae = &cp
	}
	if isHard(ae.Code) {
		return ae
	}
	c.log.Debug("channel exception", "channel", ch.id, "code", ae.Code, "text", ae.Text)
	ch.shutdown()
	ch.closing = true
	c.out.method(ch.id, &frame.ChannelClose{ReplyCode: ae.Code, ReplyText: ae.Text,
		ClassID: uint16(ae.MethodID >> 16), MethodID: uint16(ae.MethodID)})
	return nil
}

// ---- handshake (§4.2.2 protocol header, §1.4.2 connection class) ----

func (c *conn) handshake() error {
	c.nc.SetDeadline(time.Now().Add(c.s.o.HandshakeTimeout))
	defer c.nc.SetDeadline(time.Time{})
	var hdr [8]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return err
	}
	if !bytes.Equal(hdr[:], frame.ProtocolHeader) {
		// §4.2.2: answer an unsupported header with the one we speak, then close.
		c.nc.Write(frame.ProtocolHeader)
		c.log.Warn("bad protocol header", "header", fmt.Sprintf("%q", hdr[:]))
		return errClose{listeners.ReasonProtocolError}
	}
	if err := c.writeDirect(&frame.ConnectionStart{VersionMajor: 0, VersionMinor: 9,
		ServerProperties: c.serverProperties(), Mechanisms: "PLAIN AMQPLAIN", Locales: "en_US"}); err != nil {
		return err
	}
	c.fr.Max = 1 << 20 // start-ok can carry large client properties
	m, err := c.readHandshakeMethod()
	if err != nil {
		return err
	}
	so, ok := m.(*frame.ConnectionStartOk)
	if !ok {
		return c.handshakeFail(newErr(ReplyCommandInvalid, "expected connection.start-ok"), m)
	}
	if caps, ok := so.ClientProperties["capabilities"].(core.Table); ok {
		c.caps = caps
	}
	if name, ok := strArg(so.ClientProperties["connection_name"]); ok {
		c.log = c.log.With("client_id", name)
	}
	user, pass, err := saslCredentials(so.Mechanism, so.Response)
	if err != nil {
		return c.handshakeFail(err.(*amqpError), m)
	}
	if err := c.b.Authenticate(user, pass); err != nil {
		c.log.Warn("login refused", "user", user, "mechanism", so.Mechanism, "reason", listeners.ReasonAuthFailed)
		e := newErr(ReplyAccessRefused, "Login was refused using authentication mechanism %s. For details see the broker logfile.", so.Mechanism)
		c.handshakeFail(e, m)
		return errClose{listeners.ReasonAuthFailed}
	}
	c.user = user
	hb := uint16(0)
	if c.s.o.Heartbeat > 0 {
		hb = uint16(min(c.s.o.Heartbeat/time.Second, 65535))
	}
	if err := c.writeDirect(&frame.ConnectionTune{ChannelMax: uint16(c.s.o.ChannelMax), FrameMax: uint32(c.s.o.FrameMax), Heartbeat: hb}); err != nil {
		return err
	}
	if m, err = c.readHandshakeMethod(); err != nil {
		return err
	}
	to, ok := m.(*frame.ConnectionTuneOk)
	if !ok {
		return c.handshakeFail(newErr(ReplyCommandInvalid, "expected connection.tune-ok"), m)
	}
	c.frameMax = c.s.o.FrameMax
	if to.FrameMax != 0 {
		if to.FrameMax < frame.MinSize || int(to.FrameMax) > c.s.o.FrameMax {
			return c.handshakeFail(newErr(ReplyNotAllowed, "failed to negotiate connection parameters: frame_max=%d outside [%d, %d]", to.FrameMax, frame.MinSize, c.s.o.FrameMax), m)
		}
		c.frameMax = int(to.FrameMax)
	}
	if to.ChannelMax != 0 && int(to.ChannelMax) < c.channelMax {
		c.channelMax = int(to.ChannelMax)
	}
	c.heartbeat = time.Duration(to.Heartbeat) * time.Second
	c.fr.Max = c.frameMax
	if m, err = c.readHandshakeMethod(); err != nil {
		return err
	}
	op, ok := m.(*frame.ConnectionOpen)
	if !ok {
		return c.handshakeFail(newErr(ReplyCommandInvalid, "expected connection.open"), m)
	}
	if op.VirtualHost != "/" && op.VirtualHost != "" {
		return c.handshakeFail(newErr(ReplyNotAllowed, "vhost %s not found", op.VirtualHost), m)
	}
	return c.writeDirect(&frame.ConnectionOpenOk{})
}

func (c *conn) serverProperties() core.Table {
	return core.Table{
		"product": "OmniBroker", "version": c.s.o.Version, "platform": "Go",
		"copyright": "OmniBroker authors", "information": "Licensed under the Apache License 2.0",
		"cluster_name": "omnibroker",
		"capabilities": core.Table{
			"publisher_confirms": true, "exchange_exchange_bindings": true, "basic.nack": true,
			"consumer_cancel_notify": true, "connection.blocked": true, "consumer_priorities": true,
			"authentication_failure_close": true, "per_consumer_qos": true, "direct_reply_to": true,
		},
	}
}

func (c *conn) writeDirect(m frame.Method) error {
	_, err := c.nc.Write(frame.AppendMethod(nil, 0, m))
	return err
}

// readHandshakeMethod reads the next method on channel 0, skipping heartbeats.
func (c *conn) readHandshakeMethod() (frame.Method, error) {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			if errors.Is(err, frame.ErrFrameSize) || errors.Is(err, frame.ErrBadFrameEnd) || errors.Is(err, frame.ErrBadType) {
				c.handshakeFail(newErr(ReplyFrameError, "%s", err.Error()), nil)
				return nil, errClose{listeners.ReasonProtocolError}
			}
			return nil, err
		}
		if f.Type == frame.TypeHeartbeat {
			continue
		}
		if f.Type != frame.TypeMethod || f.Channel != 0 {
			c.handshakeFail(newErr(ReplyCommandInvalid, "unexpected frame during the handshake"), nil)
			return nil, errClose{listeners.ReasonProtocolError}
		}
		m, err := frame.ReadMethod(f.Payload)
		if err != nil {
			c.handshakeFail(newErr(ReplySyntaxError, "%s", err.Error()), nil)
			return nil, errClose{listeners.ReasonProtocolError}
		}
		return m, nil
	}
}

// handshakeFail sends connection.close and waits briefly for close-ok.
func (c *conn) handshakeFail(e *amqpError, m frame.Method) error {
	cl := &frame.ConnectionClose{ReplyCode: e.Code, ReplyText: e.Text}
	if m != nil {
		cl.ClassID, cl.MethodID = uint16(m.ID()>>16), uint16(m.ID())
	}
	c.log.Warn("handshake failed", "code", e.Code, "text", e.Text)
	if c.writeDirect(cl) == nil {
		c.nc.SetReadDeadline(time.Now().Add(time.Second))
		c.fr.ReadFrame()
	}
	return errClose{listeners.ReasonProtocolError}
}

// saslCredentials decodes a PLAIN ("\0user\0pass", RFC 4616) or AMQPLAIN
// (a field table without its length: LOGIN, PASSWORD) response.
func saslCredentials(mech, resp string) (string, string, error) {
	switch mech {
	case "PLAIN":
		parts := strings.SplitN(resp, "\x00", 3)
		if len(parts) != 3 {
			return "", "", newErr(ReplyAccessRefused, "malformed PLAIN response")
		}
		return parts[1], parts[2], nil
	case "AMQPLAIN":
		t, err := frame.DecodeTableBody([]byte(resp))
		if err != nil {
			return "", "", newErr(ReplyAccessRefused, "malformed AMQPLAIN response")
		}
		u, _ := strArg(t["LOGIN"])
		p, _ := strArg(t["PASSWORD"])
		return u, p, nil
	}
	return "", "", newErr(ReplyCommandInvalid, "unknown authentication mechanism '%s'", mech)
}

func (c *conn) capability(name string) bool {
	v, _ := c.caps[name].(bool)
	return v
}
