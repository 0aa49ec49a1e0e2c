package mqtt

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners"
)

// conn is one MQTT network connection: the reader runs in serve (read ->
// parse -> core); whoever holds the writer role (c.writing) drains control
// packets and deliveries: the writer goroutine (writeLoop) or an inline
// flush (writeInline) on the goroutine that produced them. Lock order:
// conn.mu, then session.mu; Handler.mu is never held while taking either.
// The core consumers are Inline: onDelivery and flushDelivered of any
// connection may run inside a core call (Publish, Ack, Resume, Consume,
// Close) made by any goroutine: no such call is made while holding conn.mu
// or session.mu, which onDelivery takes.
type conn struct {
	h   *Handler
	nc  net.Conn
	br  *bufio.Reader
	dst io.Writer // the writer goroutine's sink: nc, or raw writes on plain TCP (rawio.go)
	log *slog.Logger
	id  string

	// Set during CONNECT, then read-only.
	version      byte
	clientID     string
	sess         *session
	keepalive    time.Duration
	clientRecv   int    // client's Receive Maximum
	clientMaxPkt int    // client's Maximum Packet Size (0 = none)
	clientAlias  uint16 // client's Topic Alias Maximum

	// Reader-only state.
	aliases    map[uint16]string // inbound topic aliases [MQTT-3.3.2-12]
	sharedCons map[string]*core.Consumer
	ackBuf     []ackGroup // PUBACKed leases not yet settled in the core
	ackN       int
	cons       *core.Consumer
	will       *will
	willDelay  uint32
	deferring  bool // readerDefer is set (deferWrites .. flushDeferred)
	debug      bool // per-packet debug logging (the level is fixed at start)
	disconnect bool // the client sent DISCONNECT (normal)
	keepWill   bool // DISCONNECT 0x04

	// Guarded by mu.
	mu          sync.Mutex
	cond        *sync.Cond        // finish waits on it for the writer to end
	writing     bool              // the writer role is held: a writer goroutine or an inline flush
	flushWanted bool              // deliveries or packets wait for an inline flush (flushDelivered, flushDeferred)
	readerDefer bool              // the reader writes what it produces before it next blocks
	partial     []byte            // the unwritten rest of an inline write, first for the writer goroutine
	lastFlush   time.Time         // last flushDelivered that took the writer role
	direct      *directWriter     // non-blocking socket writes for inline flushes; nil: not plain TCP
	finished    bool              // the socket is closed: nothing more is queued
	outAliases  map[string]uint16 // topic aliases towards the client (writer only)
	lastKey     string            // last routing key mapped by topicOfLocked
	lastTopic   string            // its topic
	ctrl        [][]byte          // encoded control packets, in order
	pending     []*outMsg
	inflight    window // outbound QoS 1/2 awaiting PUBACK/PUBREC
	nextID      uint16
	acks        []*pubAck           // inbound QoS 1/2 publishes, acknowledged in order [MQTT-4.6.0-2]
	ackOut      []*pubAck           // settled, waiting for storeAndAck
	ackWriting  bool                // storeAndAck is running
	inflightIn  int                 // inbound QoS 1/2 not yet completed (Receive Maximum)
	localIDs    map[string]struct{} // ids this connection published (No Local)
	flowHeld    []heldAck           // acknowledgements held for busy queues (flow.go)
	flowRunning bool                // flowLoop is running
	paused      []*consumerRef
	stopping    bool
	reason      listeners.CloseReason
	kicked      bool
	shutdown    bool

	done     chan struct{}
	kickedCh chan struct{} // closed by kick
	ackSpace chan struct{} // signalled when an inbound acknowledgement is sent
}

type consumerRef struct{ c *core.Consumer }

// outMsg is one delivery on its way to the client.
type outMsg struct {
	d      *core.Delivery // nil for retained messages sent on subscribe
	ref    *consumerRef
	msg    *core.Message
	topic  string
	qos    byte
	retain bool
	subIDs []int
	id     uint16
}

// pubAck is an inbound QoS 1/2 PUBLISH waiting for its store confirmation
// (ready) and, when a destination was busy, for flow control (held).
type pubAck struct {
	id    uint16
	qos   byte
	ready bool
	held  bool
	rc    byte
}

func newConn(h *Handler, nc net.Conn) *conn {
	var src io.Reader = nc
	var dst io.Writer = nc
	var direct *directWriter
	if rc := rawConnOf(nc); rc != nil {
		src, dst, direct = rawReader{rc}, rawWriter{rc}, &directWriter{rc: rc}
	}
	c := &conn{h: h, nc: nc, br: bufio.NewReaderSize(src, 1024), dst: dst, direct: direct, id: h.nextConnID(),
		aliases: map[uint16]string{}, sharedCons: map[string]*core.Consumer{},
		outAliases: map[string]uint16{}, done: make(chan struct{}), kickedCh: make(chan struct{}), ackSpace: make(chan struct{}, 1)}
	c.cond = sync.NewCond(&c.mu)
	c.log = h.log.With("conn", c.id, "remote", nc.RemoteAddr().String())
	c.debug = c.log.Enabled(context.Background(), slog.LevelDebug)
	return c
}

func (c *conn) v5() bool { return c.version == 5 }

func (c *conn) serve(ctx context.Context) {
	defer close(c.done)
	stop := context.AfterFunc(ctx, func() { c.kick(rcServerShuttingDown, listeners.ReasonShutdown) })
	defer stop()

	err := c.readLoop()
	c.finish(err)
}

// readLoop handles CONNECT, then every other packet until an error.
func (c *conn) readLoop() error {
	c.nc.SetReadDeadline(time.Now().Add(c.h.o.ConnectTimeout))
	pk, err := readPacket(c.br, 0, c.h.o.MaxPacketSize)
	if err != nil {
		return err
	}
	if pk.FixedHeader.Type != packets.Connect {
		return errFirstNotConnect // [MQTT-3.1.0-1]
	}
	if err := c.onConnect(&pk); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Time{})
	var lastDeadline time.Time
	for {
		select {
		case <-c.kickedCh:
			// kick's deadline may have been moved by this loop: stop here.
			return os.ErrDeadlineExceeded
		default:
		}
		if !packetBuffered(c.br) {
			// The next read may block: settle the PUBACKed leases and
			// write what the packets read so far produced.
			c.flushAcks()
			c.flushDeferred()
		}
		if c.keepalive > 0 {
			// [MQTT-3.1.2-24] 1.5 times the keep alive without a packet ends
			// the connection. The deadline is moved at most every 1/8 of the
			// keep alive (setting it per packet is a measurable cost).
			if now := time.Now(); now.Sub(lastDeadline) > c.keepalive/8 {
				c.nc.SetReadDeadline(now.Add(c.keepalive * 3 / 2))
				lastDeadline = now
			}
		}
		pk, err := readPacket(c.br, c.version, c.h.o.MaxPacketSize)
		if err != nil {
			return err
		}
		if c.debug {
			c.log.Debug("packet", "type", packets.PacketNames[pk.FixedHeader.Type], "id", pk.PacketID)
		}
		switch t := pk.FixedHeader.Type; {
		case t == packets.Publish || t == packets.Puback:
			// Their acknowledgements and deliveries are written when
			// the reader next may block (flushDeferred), several in one
			// write and with no writer goroutine.
			c.deferWrites()
		case c.deferring:
			c.flushDeferred() // the others may wait for the store
		}
		switch pk.FixedHeader.Type {
		case packets.Publish:
			c.h.waitUnblocked(c.kickedCh, c.flushDeferred)
			err = c.onPublish(&pk)
		case packets.Puback:
			c.onPuback(pk.PacketID)
		case packets.Pubrec:
			c.onPubrec(&pk)
		case packets.Pubrel:
			c.onPubrel(pk.PacketID)
		case packets.Pubcomp:
			c.onPubcomp(pk.PacketID)
		case packets.Subscribe:
			err = c.onSubscribe(&pk)
		case packets.Unsubscribe:
			err = c.onUnsubscribe(&pk)
		case packets.Pingreq:
			c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingresp}})
		case packets.Disconnect:
			return c.onDisconnect(&pk)
		case packets.Connect:
			err = packets.ErrProtocolViolationSecondConnect // [MQTT-3.1.0-2]
		default:
			// AUTH (enhanced authentication is not offered in CONNACK) and
			// server-to-client packets are protocol errors.
			err = packets.ErrProtocolViolation
		}
		if err != nil {
			return err
		}
	}
}

var (
	errFirstNotConnect = errors.New("first packet is not CONNECT")
	errClientGone      = errors.New("client disconnected")
	errRefused         = errors.New("connection refused")
)

// finish tells the client why (MQTT 5 DISCONNECT), stops delivery, waits
// for the writer, closes the socket and settles the session.
func (c *conn) finish(err error) {
	reason := c.closeReason(err)
	if c.sess != nil && c.v5() && err != nil && !errors.Is(err, errClientGone) && !errors.Is(err, errRefused) {
		c.mu.Lock()
		kicked := c.kicked
		c.mu.Unlock()
		if !kicked && !isNetErr(err) {
			// [MQTT-4.13.1-1] a malformed packet or protocol error: DISCONNECT with the reason.
			c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: reasonFor(err)})
		} else if !kicked && errors.Is(err, os.ErrDeadlineExceeded) {
			c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: rcKeepAliveTimeout})
		}
	}
	c.flushAcks()
	if c.cons != nil {
		c.cons.Close() // unacked deliveries go back to the queue: redelivered with DUP
	}
	for _, sc := range c.sharedCons {
		sc.Close()
	}
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.mu.Lock()
	c.stopping = true
	c.readerDefer = false
	c.wakeLocked() // flush what is queued (a DISCONNECT), then the writer ends
	for c.writing || c.ackWriting {
		c.cond.Wait()
	}
	c.finished = true // late callbacks (store confirmations) write nothing
	c.mu.Unlock()
	c.nc.Close()
	if c.sess != nil {
		c.releaseSession()
	}
	c.h.stats.Add(reason)
	if c.sess != nil {
		c.h.stats.Connections.Add(-1)
	}
	lvl := slog.LevelInfo
	if reason == listeners.ReasonProtocolError || reason == listeners.ReasonTooLarge {
		lvl = slog.LevelWarn
	}
	c.log.Log(context.Background(), lvl, "connection closed", "reason", string(reason), "err", errText(err))
}

func errText(err error) string {
	if err == nil || errors.Is(err, errClientGone) {
		return ""
	}
	return err.Error()
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

func (c *conn) closeReason(err error) listeners.CloseReason {
	c.mu.Lock()
	r := c.reason
	c.mu.Unlock()
	var code packets.Code
	switch {
	case r != "":
		return r
	case errors.Is(err, errClientGone):
		return listeners.ReasonClientClosed
	case errors.Is(err, errRefused):
		return listeners.ReasonAuthFailed
	case errors.Is(err, errPacketTooLarge):
		return listeners.ReasonTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		return listeners.ReasonTimeout
	case errors.As(err, &code), errors.Is(err, errFirstNotConnect):
		return listeners.ReasonProtocolError
	case isNetErr(err):
		return listeners.ReasonEOF
	}
	return listeners.ReasonServerError
}

// kick ends the connection from outside the reader (takeover, shutdown):
// MQTT 5 clients get DISCONNECT with rc first [MQTT-3.1.4-3].
func (c *conn) kick(rc byte, reason listeners.CloseReason) {
	c.mu.Lock()
	if c.kicked {
		c.mu.Unlock()
		return
	}
	c.kicked = true
	close(c.kickedCh)
	c.reason = reason
	c.shutdown = reason == listeners.ReasonShutdown
	connected := c.sess != nil
	c.mu.Unlock()
	if connected && c.v5() {
		c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: rc})
	}
	// Unblock the reader; the writer still flushes the DISCONNECT.
	c.nc.SetReadDeadline(time.Now())
}

// onDisconnect handles a client DISCONNECT [MQTT-3.14.4-3].
func (c *conn) onDisconnect(pk *packets.Packet) error {
	if c.v5() {
		if pk.ReasonCode == rcDisconnectWithWill {
			c.keepWill = true
		}
		if pk.Properties.SessionExpiryIntervalFlag {
			c.h.mu.Lock()
			zero := c.sess.expiry == 0
			if !zero {
				c.sess.expiry = pk.Properties.SessionExpiryInterval
			}
			c.h.mu.Unlock()
			if zero && pk.Properties.SessionExpiryInterval != 0 {
				return packets.ErrProtocolViolationZeroNonZeroExpiry // [MQTT-3.14.2-2]
			}
		}
	}
	c.disconnect = true
	return errClientGone
}

// releaseSession detaches the session, handles the will and the session's
// end or expiry.
func (c *conn) releaseSession() {
	h, s := c.h, c.sess
	c.mu.Lock()
	shutdown := c.shutdown
	c.mu.Unlock()
	// [MQTT-3.1.2-8] the will is published when the connection ends
	// without a normal DISCONNECT, a shutdown of the broker included.
	w := c.will
	if w != nil && c.disconnect && !c.keepWill {
		h.dropWill(s.id, w) // [MQTT-3.1.2-10] discarded by a normal DISCONNECT
		w = nil
	}
	h.mu.Lock()
	if s.owner != c {
		h.mu.Unlock()
		if w != nil {
			h.fireWill(s.id, w)
		}
		return
	}
	s.owner = nil
	ends := s.expiry == 0
	now := time.Now()
	var delay time.Duration
	if w != nil && !ends && c.willDelay > 0 {
		// [MQTT-3.1.3-9] published after the Will Delay Interval or when
		// the session ends, whichever comes first.
		delay = time.Duration(min(c.willDelay, s.expiry)) * time.Second
	}
	if ends {
		delete(h.sessions, s.id)
	} else if !h.closed && !shutdown {
		h.scheduleExpiry(s, now)
	}
	h.mu.Unlock()
	if delay > 0 {
		// The armed record becomes the pending will first: neither a
		// restart nor a crash loses it.
		owned, err := h.pendWill(s.id, w, now.Add(delay))
		if err != nil {
			c.log.Warn("store pending will", "err", err) // the armed record stays
		}
		h.mu.Lock()
		ended := h.sessions[s.id] != s // a clean start ended it meanwhile
		resumed := !ended && s.owner != nil
		arm := !ended && !resumed && owned && !h.closed && !shutdown
		if arm {
			h.armWillLocked(s, w, delay)
		}
		h.mu.Unlock()
		switch {
		case ended:
			h.fireWill(s.id, w) // [MQTT-3.1.3-9] at session end at the latest
		case resumed || !owned:
			h.dropWill(s.id, w) // [MQTT-3.1.3-9] cancelled by the resumed session
		} // else armed, or at shutdown: stored, armed again by New after the restart
		w = nil
	}
	if w != nil {
		// Before the session's end and, at shutdown, before the core closes.
		h.fireWill(s.id, w)
	}
	if ends {
		h.destroy(s)
		return
	}
	if err := h.persist(s, now); err != nil {
		c.log.Warn("store session", "client_id", s.id, "err", err)
	}
}

// send encodes pk and queues it for the writer. Past a hard limit the
// client is not reading: it is closed as a slow consumer.
func (c *conn) send(pk *packets.Packet) {
	b := c.encode(pk)
	if b == nil {
		return
	}
	c.mu.Lock()
	slow := c.queueCtrlLocked(b)
	c.mu.Unlock()
	if slow {
		c.nc.Close()
	}
}

// encode encodes pk for this connection (nil on failure, logged).
func (c *conn) encode(pk *packets.Packet) []byte {
	pk.ProtocolVersion = c.version
	var buf bytesBuffer
	if err := encodePacket(&buf.Buffer, pk); err != nil {
		c.log.Error("encode packet", "type", packets.PacketNames[pk.FixedHeader.Type], "err", err)
		return nil
	}
	return buf.Bytes()
}

// queueCtrlLocked queues an encoded control packet for the writer (c.mu
// held); it reports a client past the hard limit, to be closed (after
// unlocking) as a slow consumer.
func (c *conn) queueCtrlLocked(b []byte) bool {
	if c.finished {
		return false
	}
	c.ctrl = append(c.ctrl, b)
	slow := len(c.ctrl) > maxCtrlQueue
	if slow && c.reason == "" {
		c.reason = listeners.ReasonSlowConsumer
	}
	c.wakeLocked()
	return slow
}

const maxCtrlQueue = 16384
