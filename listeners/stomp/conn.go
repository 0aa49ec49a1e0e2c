package stomp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnibroker/broker/listeners"
	"github.com/omnibroker/broker/listeners/stomp/frame"
)

const (
	maxInflightPublishes = 4096 // stored-but-unconfirmed persistent SENDs per connection
	maxTxFrames          = 10000
	maxSubscriptions     = 4096
	maxTransactions      = 1000 // open at once per connection
	maxTempQueues        = 1000 // per connection
)

// conn is one client connection.
type conn struct {
	s   *Server
	nc  net.Conn
	log *slog.Logger
	id  string // session id, also the owner of exclusive queues
	r   *frame.Reader
	out *outq

	version   frame.Version
	connected bool
	user      string
	clientID  string

	// heart-beats, milliseconds; set once by CONNECT
	sendHBms, recvHBms atomic.Int64
	hbSet              chan struct{}
	writerDone         chan struct{}

	inflight chan struct{} // semaphore of unconfirmed persistent publishes
	pubs     sync.WaitGroup
	commitWG *sync.WaitGroup // publishes of the COMMIT being replayed (reader only)

	mu      sync.Mutex // guards the ack state below, and subs' pending lists
	acks    map[string]*pending
	ackSeq  uint64
	subs    map[string]*subscription // reader goroutine writes, handlers do not read
	txs     map[string][]*frame.Frame
	temps   map[string]string // temp-queue name N -> core queue
	queues  map[string]bool   // queues known to exist (publish fast path)
	closing atomic.Bool
	reason  atomic.Value // listeners.CloseReason set by a path other than the read loop's return
}

func (s *Server) newConn(nc net.Conn) *conn {
	id := fmt.Sprintf("stomp-%s-%d", s.boot, s.nextID.Add(1))
	lim := frame.Limits{MaxHeaderBytes: s.o.MaxFrameBytes, MaxBody: min(s.o.MaxFrameBytes, s.o.MaxMessageBytes)}
	return &conn{s: s, nc: nc, id: id, log: s.log.With("conn", id, "remote", nc.RemoteAddr().String()),
		r: frame.NewReader(nc, lim), out: newOutq(s.o.WriteQueueBytes), version: frame.V10,
		hbSet: make(chan struct{}, 1), writerDone: make(chan struct{}),
		inflight: make(chan struct{}, maxInflightPublishes),
		acks:     map[string]*pending{}, subs: map[string]*subscription{}, txs: map[string][]*frame.Frame{},
		temps: map[string]string{}, queues: map[string]bool{}}
}

func (c *conn) sendHB() time.Duration { return time.Duration(c.sendHBms.Load()) * time.Millisecond }

// shutdown is the broker's goodbye: STOMP has none but ERROR.
func (c *conn) shutdown() {
	if c.closing.Swap(true) {
		return
	}
	c.reason.CompareAndSwap(nil, listeners.ReasonShutdown)
	c.out.closeAfter(c.encode(frame.New(frame.ERROR, "message", "server shutting down")))
	c.nc.SetReadDeadline(time.Now())
}

func (c *conn) serve() {
	c.log.Debug("connection open")
	c.s.stats.Accepted.Add(1)
	c.s.stats.Active.Add(1)
	defer c.s.stats.Active.Add(-1)
	go c.writeLoop()
	reason := c.readLoop()
	if r, ok := c.reason.Load().(listeners.CloseReason); ok {
		reason = r
	}
	// Let the writer flush the goodbye (ERROR, RECEIPT), bounded.
	c.out.closeAfter(nil)
	select {
	case <-c.writerDone:
	case <-time.After(5 * time.Second):
		c.nc.Close()
		<-c.writerDone
	}
	c.cleanup()
	c.s.stats.Add(reason)
	level := slog.LevelInfo
	if reason == listeners.ReasonProtocolError || reason == listeners.ReasonTooLarge || reason == listeners.ReasonAuthFailed {
		level = slog.LevelWarn
	}
	c.log.Log(context.Background(), level, "connection closed", "reason", string(reason), "client_id", c.clientID)
}

func (c *conn) readLoop() listeners.CloseReason {
	c.nc.SetReadDeadline(time.Now().Add(c.s.o.ConnectTimeout))
	for {
		if c.closing.Load() {
			return listeners.ReasonShutdown // the writer says goodbye and closes
		}
		if ms := c.recvHBms.Load(); ms > 0 {
			// STOMP 1.2 "Heart-beating": allow for timing inaccuracies.
			c.nc.SetReadDeadline(time.Now().Add(time.Duration(ms) * time.Millisecond * 3 / 2))
		} else if c.connected {
			c.nc.SetReadDeadline(time.Time{})
		}
		f, err := c.r.Read()
		if c.closing.Load() {
			return listeners.ReasonShutdown
		}
		if err != nil {
			if reason, ok := readCloseReason(err); ok {
				if reason == listeners.ReasonTimeout && c.connected {
					c.log.Warn("no heart-beat from client; closing", "reason", "timeout")
				}
				return reason
			}
			return c.fail(nil, err)
		}
		if f == nil {
			continue // heart-beat
		}
		c.s.stats.FramesIn.Add(1)
		if c.log.Enabled(context.Background(), slog.LevelDebug) {
			c.log.Debug("frame in", "command", f.Command)
		}
		done, err := c.handle(f)
		if err != nil {
			return c.fail(f, err)
		}
		if done {
			return listeners.ReasonClientClosed
		}
	}
}

// fail sends an ERROR frame for err (with receipt-id when f asked for a
// receipt; STOMP 1.2 "ERROR") and reports the close reason.
func (c *conn) fail(f *frame.Frame, err error) listeners.CloseReason {
	msg, detail, reason := reasonFor(err)
	if reason == listeners.ReasonServerError {
		c.log.Error("frame failed", "err", err)
	} else {
		c.log.Warn("closing with ERROR", "reason", string(reason), "message", msg, "err", err)
	}
	ef := frame.New(frame.ERROR, "message", msg, "content-type", "text/plain")
	if f != nil {
		if r, ok := f.Lookup("receipt"); ok && f.Command != frame.CONNECT && f.Command != frame.STOMP {
			ef.Add("receipt-id", r)
		}
	}
	ef.Body = []byte(detail)
	c.closing.Store(true)
	c.out.closeAfter(c.encode(ef))
	return reason
}

func (c *conn) encode(f *frame.Frame) []byte { return frame.Append(nil, f, c.version) }

// handle serves one frame; done reports an orderly DISCONNECT.
func (c *conn) handle(f *frame.Frame) (done bool, err error) {
	if !c.connected {
		if f.Command != frame.CONNECT && f.Command != frame.STOMP {
			return false, errProto("not connected", "the first frame must be CONNECT or STOMP")
		}
		return false, c.onConnect(f)
	}
	switch f.Command {
	case frame.SEND:
		err = c.onSend(f, true)
		return false, err // SEND sends its own receipt
	case frame.SUBSCRIBE:
		err = c.onSubscribe(f)
	case frame.UNSUBSCRIBE:
		err = c.onUnsubscribe(f)
	case frame.ACK, frame.NACK:
		err = c.onAck(f, true)
	case frame.BEGIN, frame.COMMIT, frame.ABORT:
		err = c.onTx(f)
	case frame.DISCONNECT:
		c.onDisconnect(f)
		return true, nil
	case frame.CONNECT, frame.STOMP:
		err = errProto("already connected", "CONNECT sent twice")
	default:
		err = errProto("malformed frame", "unexpected command "+f.Command)
	}
	if err != nil {
		return false, err
	}
	c.receipt(f)
	return false, nil
}

// receipt answers a frame's receipt header (STOMP 1.2 "Header receipt").
func (c *conn) receipt(f *frame.Frame) {
	if r, ok := f.Lookup("receipt"); ok {
		c.out.push(c.encode(frame.New(frame.RECEIPT, "receipt-id", r)), true)
	}
}

// onConnect negotiates the version (STOMP 1.2 "Protocol Negotiation"),
// authenticates and agrees heart-beats.
func (c *conn) onConnect(f *frame.Frame) error {
	v := frame.V10
	if av, ok := f.Lookup("accept-version"); ok {
		v = 0
		for _, s := range strings.Split(av, ",") {
			if x, ok := frame.ParseVersion(strings.TrimSpace(s)); ok && x > v {
				v = x
			}
		}
		if v == 0 {
			ef := frame.New(frame.ERROR, "version", "1.0,1.1,1.2", "content-type", "text/plain",
				"message", "Supported protocol versions are 1.0,1.1,1.2")
			ef.Body = []byte("Supported protocol versions are 1.0,1.1,1.2")
			c.closing.Store(true)
			c.reason.CompareAndSwap(nil, listeners.ReasonProtocolError)
			c.out.closeAfter(c.encode(ef))
			return nil
		}
	}
	c.version = v
	cx, cy := 0, 0
	if hb, ok := f.Lookup("heart-beat"); ok && v >= frame.V11 {
		a, b, ok := strings.Cut(hb, ",")
		x, err1 := strconv.Atoi(strings.TrimSpace(a))
		y, err2 := strconv.Atoi(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || x < 0 || y < 0 {
			return errProto("malformed frame", "invalid heart-beat header "+strconv.Quote(hb))
		}
		cx, cy = x, y
	}
	login, pass := f.Get("login"), f.Get("passcode")
	b := c.s.b
	if !(b.AnonymousAllowed() && login == "") {
		if err := b.Authenticate(login, pass); err != nil {
			c.reason.CompareAndSwap(nil, listeners.ReasonAuthFailed)
			return &protoError{msg: "access_refused", detail: "login or passcode not accepted", reason: listeners.ReasonAuthFailed}
		}
	}
	c.user = login
	c.clientID = f.Get("client-id")
	// The server sends every max(floor, cy) and expects every max(floor, cx);
	// 0 on either side turns that direction off.
	floor := int(c.s.o.HeartBeat / time.Millisecond)
	sx, sy := 0, 0
	if cy > 0 {
		sx = max(cy, floor)
	}
	if cx > 0 {
		sy = max(cx, floor)
	}
	c.r.SetVersion(v)
	cf := frame.New(frame.CONNECTED, "version", v.String(), "session", c.id, "server", c.s.o.ServerName,
		"heart-beat", strconv.Itoa(sx)+","+strconv.Itoa(sy))
	c.out.push(c.encode(cf), true)
	c.sendHBms.Store(int64(sx))
	c.recvHBms.Store(int64(sy))
	c.hbSet <- struct{}{}
	c.connected = true
	if c.clientID != "" {
		c.log = c.log.With("client_id", c.clientID)
	}
	c.log.Debug("connected", "version", v.String(), "user", login, "heart_beat", [2]int{sx, sy})
	return nil
}

func (c *conn) onDisconnect(f *frame.Frame) {
	// A DISCONNECT receipt confirms every earlier frame, stores included.
	waitTimeout(&c.pubs, 10*time.Second)
	if r, ok := f.Lookup("receipt"); ok {
		c.out.closeAfter(c.encode(frame.New(frame.RECEIPT, "receipt-id", r)))
	} else {
		c.out.closeAfter(nil)
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// onTx serves BEGIN, COMMIT and ABORT (STOMP 1.2 "BEGIN").
func (c *conn) onTx(f *frame.Frame) error {
	tx, ok := f.Lookup("transaction")
	if !ok || tx == "" {
		return errProto("malformed frame", f.Command+" needs a transaction header")
	}
	frames, open := c.txs[tx]
	switch f.Command {
	case frame.BEGIN:
		if open {
			return errProto("transaction already started", "transaction "+tx+" is already open")
		}
		if len(c.txs) >= maxTransactions {
			return errProto("too many transactions", "at most "+strconv.Itoa(maxTransactions)+" open per connection")
		}
		c.txs[tx] = []*frame.Frame{}
	case frame.ABORT:
		if !open {
			return errProto("no such transaction", "transaction "+tx+" is not open")
		}
		delete(c.txs, tx)
	case frame.COMMIT:
		if !open {
			return errProto("no such transaction", "transaction "+tx+" is not open")
		}
		delete(c.txs, tx)
		// The COMMIT's receipt (sent by handle once this returns) covers the
		// stores of the transaction's persistent SENDs.
		wg := &sync.WaitGroup{}
		c.commitWG = wg
		defer func() {
			c.commitWG = nil
			waitTimeout(wg, 30*time.Second)
		}()
		for _, g := range frames {
			var err error
			if g.Command == frame.SEND {
				err = c.onSend(g, false)
			} else {
				err = c.onAck(g, false)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// inTx buffers f when it names a transaction; it reports whether it did.
func (c *conn) inTx(f *frame.Frame) (bool, error) {
	tx, ok := f.Lookup("transaction")
	if !ok {
		return false, nil
	}
	frames, open := c.txs[tx]
	if !open {
		return false, errProto("no such transaction", "transaction "+tx+" is not open")
	}
	if len(frames) >= maxTxFrames {
		return false, errProto("transaction too large", "more than "+strconv.Itoa(maxTxFrames)+" frames")
	}
	g := *f
	g.Headers = append([]frame.Header(nil), f.Headers...)
	g.Del("transaction", 0)
	g.Del("receipt", 0)
	c.txs[tx] = append(frames, &g)
	return true, nil
}

// cleanup releases everything the connection held: consumers are closed
// (their unacked deliveries return to the queues) and exclusive queues go.
func (c *conn) cleanup() {
	c.closing.Store(true)
	for _, s := range c.subs {
		s.close()
	}
	c.s.b.ReleaseOwner(c.id)
	waitTimeout(&c.pubs, 5*time.Second)
}

var errUnknownAck = errors.New("unknown ack id")
