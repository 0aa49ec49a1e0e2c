package mqtt

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/omnibroker/broker/core"
)

// State of persistent sessions that must survive a crash of the broker
// (kill -9), written to core.Meta when it changes rather than when the
// connection ends:
//   - QoS 2 exchanges in flight, one key each in qos2NS: "i/<id>/<client>"
//     (inbound id awaiting PUBREL, written before PUBREC is sent), and
//     "o/<id>/<client>" = relKey of the message (outbound id awaiting
//     PUBCOMP, written when PUBREC arrives);
//   - pending delayed wills in willsNS, key = client id.
//
// QoS 0/1 traffic writes nothing here.
const (
	qos2NS  = "mqtt-qos2"
	willsNS = "mqtt-wills"
)

func qos2Key(dir byte, id uint16, client string) string {
	return string(dir) + "/" + strconv.Itoa(int(id)) + "/" + client
}

// parseQoS2Key splits a qos2NS key; the client id comes last because it
// may itself contain '/'.
func parseQoS2Key(k string) (dir byte, id uint16, client string, ok bool) {
	if len(k) < 4 || (k[0] != 'i' && k[0] != 'o') || k[1] != '/' {
		return 0, 0, "", false
	}
	rest := k[2:]
	i := strings.IndexByte(rest, '/')
	if i <= 0 {
		return 0, 0, "", false
	}
	n, err := strconv.ParseUint(rest[:i], 10, 16)
	if err != nil || n == 0 {
		return 0, 0, "", false
	}
	return k[0], uint16(n), rest[i+1:], true
}

// storeInQoS2 records an accepted inbound QoS 2 packet id of a persistent
// session before its PUBREC is sent [MQTT-4.3.3-9]: a PUBLISH the client
// retransmits after a crash is then acknowledged, not routed again.
func (h *Handler) storeInQoS2(s *session, id uint16) {
	if err := h.b.Meta(qos2NS).Put(qos2Key('i', id, s.id), nil); err != nil {
		h.log.Warn("store inbound QoS 2 state", "client_id", s.id, "err", err)
	}
}

// relKey names one message in one queue (the same publish reaches a
// session's queue and its shared subscriptions' queues).
func relKey(queue, msgID string) string { return queue + "\x00" + msgID }

// storeOutRel records that the client has the QoS 2 message rel (relKey)
// under packet id (PUBREC received): after a crash PUBREL is sent again,
// and the message itself, should the core redeliver it, is not
// [MQTT-4.4.0-1].
func (h *Handler) storeOutRel(s *session, id uint16, rel string) {
	if err := h.b.Meta(qos2NS).Put(qos2Key('o', id, s.id), []byte(rel)); err != nil {
		h.log.Warn("store outbound QoS 2 state", "client_id", s.id, "err", err)
	}
}

func (h *Handler) dropQoS2(s *session, dir byte, id uint16) {
	if err := h.b.Meta(qos2NS).Delete(qos2Key(dir, id, s.id)); err != nil {
		h.log.Warn("delete QoS 2 state", "client_id", s.id, "err", err)
	}
}

// restoreQoS2 attaches stored QoS 2 state to the restored sessions (during
// New); keys of sessions that no longer exist are deleted.
func (h *Handler) restoreQoS2() {
	ms := h.b.Meta(qos2NS)
	for k, v := range ms.List() {
		dir, id, client, ok := parseQoS2Key(k)
		s := h.sessions[client]
		if !ok || s == nil {
			_ = ms.Delete(k)
			continue
		}
		if dir == 'i' {
			s.inQoS2[id] = true
			continue
		}
		s.outRel[id] = true
		if len(v) > 0 {
			if s.relMsgs == nil {
				s.relMsgs = map[string]uint16{}
			}
			s.relMsgs[string(v)] = id
		}
	}
}

// dropSessionQoS2 deletes the stored QoS 2 state of an ended session.
func (h *Handler) dropSessionQoS2(s *session) {
	s.mu.Lock()
	var in, out []uint16
	for id := range s.inQoS2 {
		in = append(in, id)
	}
	for id := range s.outRel {
		out = append(out, id)
	}
	s.mu.Unlock()
	for _, id := range in {
		h.dropQoS2(s, 'i', id)
	}
	for _, id := range out {
		h.dropQoS2(s, 'o', id)
	}
}

// storedWill is a pending delayed will in willsNS.
type storedWill struct {
	Topic  string    `json:"topic"`
	QoS    byte      `json:"qos"`
	Retain bool      `json:"retain,omitempty"`
	Msg    []byte    `json:"msg"` // core.EncodeMessage of the will message
	Due    time.Time `json:"due"`
}

// will is a will message ready to publish.
type will struct {
	topic  string
	qos    byte
	retain bool
	msg    *core.Message
}

// storeWill keeps a delayed will durably until it is published or
// cancelled, so that neither a restart nor a crash loses it.
func (h *Handler) storeWill(client string, w *will, due time.Time) error {
	raw, err := json.Marshal(storedWill{Topic: w.topic, QoS: w.qos, Retain: w.retain, Msg: core.EncodeMessage(nil, w.msg), Due: due})
	if err != nil {
		return err
	}
	return h.b.Meta(willsNS).Put(client, raw)
}

func (h *Handler) dropWill(client string) {
	if err := h.b.Meta(willsNS).Delete(client); err != nil {
		h.log.Warn("delete pending will", "client_id", client, "err", err)
	}
}

// restoreWills schedules the stored delayed wills (during New): on their
// session when it is still there (resuming it cancels the will), else at
// once (the session ended while the broker was down: [MQTT-3.1.3-9] the
// will is sent at session end at the latest).
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
			h.log.Error("dropping unreadable pending will", "client_id", client, "err", err)
			_ = ms.Delete(client)
			continue
		}
		w := &will{topic: sw.Topic, qos: sw.QoS, retain: sw.Retain, msg: m}
		left := max(sw.Due.Sub(now), 0)
		s := h.sessions[client]
		if s == nil {
			client := client
			time.AfterFunc(0, h.guard(func() { h.fireWill(client, w, true) }))
			continue
		}
		h.armWillLocked(s, w, left, true)
	}
}

// armWillLocked makes w the session's pending will, published after delay
// unless the session is resumed first (h.mu held, or during New).
func (h *Handler) armWillLocked(s *session, w *will, delay time.Duration, stored bool) {
	client := s.id
	s.willFire = func() { h.fireWill(client, w, stored) }
	s.willStored = stored
	s.willTimer = time.AfterFunc(delay, h.guard(func() {
		h.mu.Lock()
		f := s.willFire
		if h.closed {
			f = nil // kept stored: published after the restart
		}
		s.willFire = nil
		h.mu.Unlock()
		if f != nil {
			f()
		}
	}))
}

// cancelWillLocked drops the session's pending will without publishing it
// and returns what is left to do outside h.mu (delete the stored copy).
func (h *Handler) cancelWillLocked(s *session) func() {
	stored := s.willStored && s.willFire != nil
	s.willFire = nil
	s.willStored = false
	if !stored {
		return func() {}
	}
	return func() { h.dropWill(s.id) }
}

// fireWill publishes a will and then forgets its stored copy.
func (h *Handler) fireWill(client string, w *will, stored bool) {
	if err := h.publishWill(w); err != nil {
		h.log.Warn("publish will", "client_id", client, "dest", w.topic, "err", err)
		return
	}
	if stored {
		h.dropWill(client)
	}
}
