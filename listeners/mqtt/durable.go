package mqtt

import (
	"strconv"
	"strings"
)

// State of persistent sessions that must survive a crash of the broker
// (kill -9), written to core.Meta when it changes rather than when the
// connection ends:
//   - QoS 2 exchanges in flight, one key each in qos2NS: "i/<id>/<client>"
//     (inbound id awaiting PUBREL, written before PUBREC is sent), and
//     "o/<id>/<client>" = relKey of the message (outbound id awaiting
//     PUBCOMP, written when PUBREC arrives);
//   - wills in willsNS, key = client id (wills.go).
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
