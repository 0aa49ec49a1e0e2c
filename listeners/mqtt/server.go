package mqtt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners"
)

// Metadata namespaces in core.Meta.
const (
	sessionsNS = "mqtt-sessions" // client id -> sessionRecord (persistent sessions)
	retainedNS = "mqtt-retained" // topic name -> retained message
	topicExch  = "amq.topic"
)

// Options configure the MQTT handler.
type Options struct {
	Broker *core.Broker
	Logger *slog.Logger
	// MaxPacketSize bounds inbound packets (config limits.max_frame_bytes).
	MaxPacketSize int
	// MaxMessageSize bounds PUBLISH payloads (config limits.max_message_bytes).
	MaxMessageSize int
	// ReceiveMaximum is how many inbound QoS 1/2 publishes a client may
	// have unacknowledged (sent in CONNACK). Default 256.
	ReceiveMaximum uint16
	// TopicAliasMaximum is how many inbound topic aliases a client may use.
	// Default 64.
	TopicAliasMaximum uint16
	// ConnectTimeout bounds the wait for CONNECT. Default 10s.
	ConnectTimeout time.Duration
	// MaxQueuedMessages bounds the in-memory queue of a clean session
	// (oldest dropped first, like mosquitto's max_queued_messages), so a
	// subscriber that stops reading cannot exhaust memory. Default 100000.
	MaxQueuedMessages int64
}

// Handler serves MQTT connections; it implements listeners.ConnHandler.
type Handler struct {
	o   Options
	b   *core.Broker
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session
	shared   map[string]int // shared-subscription queue -> member sessions
	closed   bool

	connSeq atomic.Uint64
	stats   Stats

	// Stored wills (wills.go): owner tokens of the records in willsNS.
	willRecs [willStripes]willStripe
	willSeq  atomic.Uint64

	// Memory alarm: while blockCh is non-nil, readers stop taking PUBLISH.
	blockMu   sync.Mutex
	blockCh   chan struct{}
	stopAlarm func()
}

func (h *Handler) onMemoryAlarm(blocked bool) {
	h.blockMu.Lock()
	defer h.blockMu.Unlock()
	switch {
	case blocked && h.blockCh == nil:
		h.blockCh = make(chan struct{})
		h.log.Warn("memory alarm: blocking MQTT publishers")
	case !blocked && h.blockCh != nil:
		close(h.blockCh)
		h.blockCh = nil
		h.log.Info("memory alarm cleared: MQTT publishers resume")
	}
}

// waitUnblocked waits while the memory alarm is on (TCP backpressure to
// the publisher) or until stop is closed; before waiting it calls
// beforeWait (the reader writes what it deferred).
func (h *Handler) waitUnblocked(stop <-chan struct{}, beforeWait func()) {
	h.blockMu.Lock()
	ch := h.blockCh
	h.blockMu.Unlock()
	if ch == nil {
		return
	}
	beforeWait()
	select {
	case <-ch:
	case <-stop:
	}
}

// New returns a handler and restores persistent sessions from core.Meta,
// scheduling the expiry of those that are disconnected.
func New(o Options) (*Handler, error) {
	if o.Broker == nil || o.Logger == nil {
		return nil, errors.New("mqtt: Broker and Logger are required")
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = 256
	}
	if o.TopicAliasMaximum == 0 {
		o.TopicAliasMaximum = 64
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.MaxQueuedMessages <= 0 {
		o.MaxQueuedMessages = 100000
	}
	if o.MaxPacketSize <= 0 {
		o.MaxPacketSize = 4 << 20
	}
	h := &Handler{o: o, b: o.Broker, log: o.Logger, sessions: map[string]*session{}, shared: map[string]int{}}
	h.stopAlarm = h.b.OnMemoryAlarm(h.onMemoryAlarm)
	now := time.Now()
	// Timers armed here (an expiry already due fires at once) wait for
	// the restore to finish.
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, raw := range h.b.Meta(sessionsNS).List() {
		var rec sessionRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			h.log.Error("dropping unreadable stored session", "client_id", id, "err", err)
			_ = h.b.Meta(sessionsNS).Delete(id)
			continue
		}
		s := newSession(id, rec.Expiry, true)
		s.version = rec.Version
		for _, sub := range rec.Subs {
			sub := sub
			s.subs[sub.key()] = &sub
			if sub.Group != "" {
				h.shared[sharedQueue(sub.Group, sub.Filter)]++
			}
		}
		for _, pid := range rec.InQoS2 { // records written before qos2NS existed
			s.inQoS2[pid] = true
		}
		for _, pid := range rec.OutRel {
			s.outRel[pid] = true
		}
		h.sessions[id] = s
		disc := rec.DisconnectedAt
		if disc.IsZero() {
			disc = now // the broker stopped while it was connected
		}
		h.scheduleExpiry(s, disc)
	}
	h.restoreQoS2()
	h.restoreWills(now)
	return h, nil
}

// Close ends the connections still open (those the listener does not
// track, such as WebSocket ones) like a shutdown of the listener: MQTT 5
// clients get DISCONNECT 0x8B and wills are handled, while the core is
// still open. Then it stops session timers; sessions and pending wills
// stay stored. It is idempotent.
func (h *Handler) Close(ctx context.Context) error {
	if h.stopAlarm != nil {
		h.stopAlarm()
	}
	h.mu.Lock()
	h.closed = true
	var open []*conn
	for _, s := range h.sessions {
		if s.owner != nil {
			open = append(open, s.owner)
		}
	}
	h.mu.Unlock()
	for _, c := range open {
		c.kick(rcServerShuttingDown, listeners.ReasonShutdown)
	}
	for _, c := range open {
		select {
		case <-c.done:
		case <-ctx.Done():
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sessions {
		s.stopTimers()
	}
	return nil
}

// ServeConn serves one MQTT connection on any net.Conn (TCP, TLS or a
// WebSocket adapter) until it ends, then closes it.
func (h *Handler) ServeConn(ctx context.Context, nc net.Conn) {
	c := newConn(h, nc)
	c.serve(ctx)
}

// sessionRecord is what a persistent session stores in core.Meta.
type sessionRecord struct {
	Version        byte           `json:"v"`
	Expiry         uint32         `json:"expiry"`
	Subs           []subscription `json:"subs"`
	DisconnectedAt time.Time      `json:"disconnected_at,omitzero"`
	// QoS 2 exchanges in flight, as written by earlier versions (read
	// only: they are kept in qos2NS now, written as they change).
	InQoS2 []uint16 `json:"in_qos2,omitempty"`
	OutRel []uint16 `json:"out_rel,omitempty"`
}

// subscription is one topic filter of a session (MQTT 5 §3.8.3.1 options).
type subscription struct {
	Filter         string `json:"f"`
	Group          string `json:"g,omitempty"` // $share group
	QoS            byte   `json:"q"`
	NoLocal        bool   `json:"nl,omitempty"`
	RAP            bool   `json:"rap,omitempty"`
	RetainHandling byte   `json:"rh,omitempty"`
	ID             int    `json:"id,omitempty"`
}

func (s *subscription) key() string {
	if s.Group != "" {
		return "$share/" + s.Group + "/" + s.Filter
	}
	return s.Filter
}

// sharedQueue names the core queue of a shared subscription; every member
// session consumes from it, so the core spreads messages over members.
func sharedQueue(group, filter string) string {
	return "mqtt-shared-" + group + "-" + filterToKey(filter)
}

// session is the server-side MQTT session; it outlives connections when
// its expiry interval is non-zero.
type session struct {
	id      string
	queue   string
	durable bool // the queue is durable (persistent session)

	// Guarded by Handler.mu.
	owner       *conn
	expiry      uint32
	version     byte
	expireTimer *time.Timer
	willTimer   *time.Timer
	willFire    func() // publishes the pending delayed will; nil when none
	willPending *will  // that will (its record in willsNS is deleted when cancelled)

	persistMu sync.Mutex // serialises writes of the stored record
	qos2Mu    sync.Mutex // orders the store write and delete of one inbound QoS 2 id

	// Guarded by mu; touched by the owning connection and, for subs, by
	// the delivery path.
	mu     sync.Mutex
	subs   map[string]*subscription
	inQoS2 map[uint16]bool // inbound QoS 2 ids awaiting PUBREL [MQTT-4.3.3-9]
	outRel map[uint16]bool // outbound ids awaiting PUBCOMP [MQTT-4.3.3-5]
	// Messages (relKey) of restored outRel entries (a crash may have lost
	// the core ack of the message the client already has): a redelivery
	// of one of them, before or after the PUBCOMP, is settled without
	// sending it again. An entry goes when its redelivery does; at most
	// the few in flight at the crash stay for the process's life.
	relMsgs map[string]uint16
}

// sessionQueue names a session's queue; client ids too long for a queue
// name (255 bytes) are hashed.
func sessionQueue(id string) string {
	if len(id) > 200 {
		sum := sha256.Sum256([]byte(id))
		return "mqtt-subscription-" + id[:64] + "-" + hex.EncodeToString(sum[:16])
	}
	return "mqtt-subscription-" + id
}

func newSession(id string, expiry uint32, durable bool) *session {
	return &session{id: id, queue: sessionQueue(id), durable: durable, expiry: expiry,
		subs: map[string]*subscription{}, inQoS2: map[uint16]bool{}, outRel: map[uint16]bool{}}
}

func (s *session) stopTimers() {
	if s.expireTimer != nil {
		s.expireTimer.Stop()
		s.expireTimer = nil
	}
	if s.willTimer != nil {
		s.willTimer.Stop()
		s.willTimer = nil
	}
}

// record returns the stored form of s.
func (s *session) record(version byte, expiry uint32, disconnected time.Time) sessionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := sessionRecord{Version: version, Expiry: expiry, DisconnectedAt: disconnected}
	for _, sub := range s.subs {
		rec.Subs = append(rec.Subs, *sub)
	}
	return rec
}

// persist stores a persistent session's state. A disconnected record is
// not written once another connection owns the session again.
func (h *Handler) persist(s *session, disconnected time.Time) error {
	if !s.durable {
		return nil
	}
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	h.mu.Lock()
	version, expiry, owned := s.version, s.expiry, s.owner != nil
	h.mu.Unlock()
	if !disconnected.IsZero() && owned {
		return nil
	}
	raw, err := json.Marshal(s.record(version, expiry, disconnected))
	if err != nil {
		return err
	}
	return h.b.Meta(sessionsNS).Put(s.id, raw)
}

// scheduleExpiry arms the expiry of a disconnected session (h.mu held or
// during New). [MQTT-3.1.2-23] the session ends after its expiry interval.
func (h *Handler) scheduleExpiry(s *session, disconnected time.Time) {
	if s.expiry == expiryInfinite {
		return
	}
	left := time.Until(disconnected.Add(time.Duration(s.expiry) * time.Second))
	if left < 0 {
		left = 0
	}
	s.expireTimer = time.AfterFunc(left, h.guard(func() { h.expire(s) }))
}

// expire ends a disconnected session whose interval ran out.
func (h *Handler) expire(s *session) {
	h.mu.Lock()
	if h.sessions[s.id] != s || s.owner != nil || h.closed {
		h.mu.Unlock()
		return
	}
	delete(h.sessions, s.id)
	fire := s.willFire
	s.stopTimers()
	s.willFire, s.willPending = nil, nil
	h.mu.Unlock()
	if fire != nil {
		fire() // [MQTT-3.1.3-9] the will is sent at session end at the latest
	}
	h.destroy(s)
}

// destroy deletes a session's queue, shared memberships and stored state.
// The session must no longer be registered.
func (h *Handler) destroy(s *session) {
	if _, err := h.b.DeleteQueue(s.queue, false, false); err != nil && !errors.Is(err, core.ErrNotFound) {
		h.log.Warn("delete session queue", "client_id", s.id, "err", err)
	}
	s.mu.Lock()
	var groups []*subscription
	for _, sub := range s.subs {
		if sub.Group != "" {
			groups = append(groups, sub)
		}
	}
	s.subs = map[string]*subscription{}
	s.mu.Unlock()
	for _, sub := range groups {
		h.leaveShared(sub)
	}
	if s.durable {
		h.dropSessionQoS2(s)
		if err := h.b.Meta(sessionsNS).Delete(s.id); err != nil {
			h.log.Warn("delete stored session", "client_id", s.id, "err", err)
		}
	}
}

// joinShared declares and binds a shared subscription's queue; first tells
// whether this session is a new member.
func (h *Handler) joinShared(sub *subscription, first bool) error {
	q := sharedQueue(sub.Group, sub.Filter)
	if _, err := h.b.DeclareQueue(core.QueueConfig{Name: q, MaxLength: h.o.MaxQueuedMessages}); err != nil {
		return err
	}
	if err := h.b.Bind(core.Binding{Source: topicExch, Destination: q, Key: filterToKey(sub.Filter)}); err != nil {
		return err
	}
	if first {
		h.mu.Lock()
		h.shared[q]++
		h.mu.Unlock()
	}
	return nil
}

// leaveShared drops one member; the last one deletes the queue.
func (h *Handler) leaveShared(sub *subscription) {
	q := sharedQueue(sub.Group, sub.Filter)
	h.mu.Lock()
	h.shared[q]--
	last := h.shared[q] <= 0
	if last {
		delete(h.shared, q)
	}
	h.mu.Unlock()
	if last {
		if _, err := h.b.DeleteQueue(q, false, false); err != nil && !errors.Is(err, core.ErrNotFound) {
			h.log.Warn("delete shared queue", "queue", q, "err", err)
		}
	}
}

// guard runs fn on a timer goroutine, turning a panic into a log line.
func (h *Handler) guard(fn func()) func() {
	return func() {
		defer func() {
			if r := recover(); r != nil {
				h.log.Error("session timer panicked", "reason", "server_error", "err", fmt.Sprint(r))
			}
		}()
		fn()
	}
}

func (h *Handler) nextConnID() string { return fmt.Sprintf("mqtt-%d", h.connSeq.Add(1)) }
