package mqtt

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/omnibroker/broker/core"
)

// Wills [MQTT-3.1.2-8..10], [MQTT-3.1.3-9]. MQTT 5 §3.1.2.5 and §3.1.3.2:
// the Will Message is stored with the session and published when the
// network connection closes without a normal DISCONNECT, a crash of the
// broker included. So every will has a durable copy in core.Meta(willsNS),
// key = client id, from before its CONNACK until it is published or
// discarded:
//   - armed (storedWill.Armed, Delay = Will Delay Interval): written while
//     the session is claimed, before CONNACK. A normal DISCONNECT deletes
//     it; any other end of the connection publishes the will and then
//     deletes the record (Will Delay 0 or the session ends with the
//     connection) or rewrites it as a pending delayed will. A record still
//     armed at start was left by a crash (kill -9): its connection closed
//     without DISCONNECT at the moment of the restart, and it is handled
//     the same way then (restoreWills).
//   - pending (Due set): a delayed will, published at Due or when its
//     session ends, cancelled (deleted) when the session is resumed.
//
// A will is published before its record is deleted: a crash in between
// publishes it again after the restart (at least once, never lost). A
// CONNECT without a will writes nothing here.
//
// Ownership: each record carries, in memory only, the token of its writer
// (a connection's armed will, a pending will). Writes and deletes of a
// client's record are serialised by a lock stripe and only the current
// owner may rewrite or delete it, so a late delete by an older connection
// or will timer never removes a newer connection's armed record.

// storedWill is a will's record in willsNS.
type storedWill struct {
	Topic  string    `json:"topic"`
	QoS    byte      `json:"qos"`
	Retain bool      `json:"retain,omitempty"`
	Msg    []byte    `json:"msg"` // core.EncodeMessage of the will message
	Due    time.Time `json:"due,omitzero"`
	Armed  bool      `json:"armed,omitempty"`
	Delay  uint32    `json:"delay,omitempty"` // Will Delay Interval (s) of an armed will
}

// will is a will message ready to publish.
type will struct {
	topic  string
	qos    byte
	retain bool
	msg    *core.Message
	tok    uint64 // owner token of its record in willsNS; 0 = never stored
}

func (w *will) record() storedWill {
	return storedWill{Topic: w.topic, QoS: w.qos, Retain: w.retain, Msg: core.EncodeMessage(nil, w.msg)}
}

const willStripes = 32

// willStripe serialises the record writes of the client ids hashed to it
// and remembers which token owns each stored record.
type willStripe struct {
	mu  sync.Mutex
	tok map[string]uint64
}

func (h *Handler) willStripe(client string) *willStripe {
	x := uint32(2166136261) // FNV-1a
	for i := 0; i < len(client); i++ {
		x ^= uint32(client[i])
		x *= 16777619
	}
	return &h.willRecs[x%willStripes]
}

// putWillLocked writes sw for client and makes tok its owner (st.mu held).
func (h *Handler) putWillLocked(st *willStripe, client string, tok uint64, sw storedWill) error {
	raw, err := json.Marshal(sw)
	if err != nil {
		return err
	}
	if err := h.b.Meta(willsNS).Put(client, raw); err != nil {
		return err
	}
	if st.tok == nil {
		st.tok = map[string]uint64{}
	}
	st.tok[client] = tok
	return nil
}

// armWill stores the will of a connection that is being accepted, before
// its CONNACK; it replaces any older record of the client (the session
// was claimed: an older connection is gone, its pending will cancelled or
// published).
func (h *Handler) armWill(client string, w *will, delay uint32) error {
	st := h.willStripe(client)
	tok := h.willSeq.Add(1)
	sw := w.record()
	sw.Armed, sw.Delay = true, delay
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := h.putWillLocked(st, client, tok, sw); err != nil {
		return err
	}
	w.tok = tok
	return nil
}

// pendWill turns w's record into a pending delayed will due at due. It
// reports false when the record no longer belongs to w (a newer
// connection of the client wrote its own): nothing is written then.
func (h *Handler) pendWill(client string, w *will, due time.Time) (bool, error) {
	st := h.willStripe(client)
	st.mu.Lock()
	defer st.mu.Unlock()
	if w.tok == 0 || st.tok[client] != w.tok {
		return false, nil
	}
	sw := w.record()
	sw.Due = due
	return true, h.putWillLocked(st, client, w.tok, sw)
}

// dropWill deletes w's record if it still owns it; without one it writes
// nothing.
func (h *Handler) dropWill(client string, w *will) {
	if w.tok == 0 {
		return
	}
	st := h.willStripe(client)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.tok[client] != w.tok {
		return
	}
	if err := h.b.Meta(willsNS).Delete(client); err != nil {
		h.log.Warn("delete stored will", "client_id", client, "err", err)
		return
	}
	delete(st.tok, client)
}

// restoreWills handles the stored wills (during New, h.mu held):
//   - pending delayed wills: scheduled on their session when it is still
//     there (resuming it cancels the will), else published at once (the
//     session ended while the broker was down: [MQTT-3.1.3-9] the will is
//     sent at session end at the latest);
//   - armed wills, left by a crash: their connection closed without
//     DISCONNECT now [MQTT-3.1.2-8]: published at once (Will Delay 0, or
//     the session ended with the connection), else made a pending will due
//     after the Will Delay capped by the session expiry [MQTT-3.1.3-9].
func (h *Handler) restoreWills(now time.Time) {
	ms := h.b.Meta(willsNS)
	for client, raw := range ms.List() {
		var sw storedWill
		m, err := func() (*core.Message, error) {
			if err := json.Unmarshal(raw, &sw); err != nil {
				return nil, err
			}
			return core.DecodeMessage(sw.Msg)
		}()
		if err != nil {
			h.log.Error("dropping unreadable stored will", "client_id", client, "err", err)
			_ = ms.Delete(client)
			continue
		}
		w := &will{topic: sw.Topic, qos: sw.QoS, retain: sw.Retain, msg: m, tok: h.willSeq.Add(1)}
		st := h.willStripe(client)
		st.mu.Lock()
		if st.tok == nil {
			st.tok = map[string]uint64{}
		}
		st.tok[client] = w.tok
		st.mu.Unlock()
		s := h.sessions[client]
		left := max(sw.Due.Sub(now), 0)
		if sw.Armed {
			left = 0
			if s != nil && sw.Delay > 0 && s.expiry > 0 {
				left = time.Duration(min(sw.Delay, s.expiry)) * time.Second
				h.log.Info("will of a connection open at the crash: delayed", "client_id", client, "delay", left)
				if _, err := h.pendWill(client, w, now.Add(left)); err != nil {
					// Still armed in the store: handled again at the next start.
					h.log.Warn("store pending will", "client_id", client, "err", err)
				}
			} else {
				h.log.Info("will of a connection open at the crash: publishing", "client_id", client)
			}
		}
		if s == nil || (sw.Armed && left == 0) {
			client := client
			time.AfterFunc(0, h.guard(func() { h.fireWill(client, w) }))
			continue
		}
		h.armWillLocked(s, w, left)
	}
}

// armWillLocked makes w the session's pending will, published after delay
// unless the session is resumed first (h.mu held, or during New).
func (h *Handler) armWillLocked(s *session, w *will, delay time.Duration) {
	client := s.id
	s.willFire = func() { h.fireWill(client, w) }
	s.willPending = w
	s.willTimer = time.AfterFunc(delay, h.guard(func() {
		h.mu.Lock()
		f := s.willFire
		if h.closed {
			f = nil // kept stored: published after the restart
		}
		s.willFire = nil
		s.willPending = nil
		h.mu.Unlock()
		if f != nil {
			f()
		}
	}))
}

// cancelWillLocked drops the session's pending will without publishing it
// and returns what is left to do outside h.mu (delete the stored copy).
func (h *Handler) cancelWillLocked(s *session) func() {
	w := s.willPending
	s.willFire = nil
	s.willPending = nil
	if w == nil {
		return func() {}
	}
	return func() { h.dropWill(s.id, w) }
}

// fireWill publishes a will and then forgets its stored copy. When the
// publish fails the copy stays: it is published after the next start.
func (h *Handler) fireWill(client string, w *will) {
	if err := h.publishWill(w); err != nil {
		h.log.Warn("publish will", "client_id", client, "dest", w.topic, "err", err)
		return
	}
	h.dropWill(client, w)
}
