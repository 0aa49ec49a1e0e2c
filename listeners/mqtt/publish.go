package mqtt

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners"
)

// onPublish hands an inbound PUBLISH to the core. QoS 1/2 are acknowledged
// once core.Publish reports the message stored (the done callback), in the
// order they were received [MQTT-4.6.0-2].
func (c *conn) onPublish(pk *packets.Packet) error {
	if code := pk.PublishValidate(c.h.o.TopicAliasMaximum); code != packets.CodeSuccess {
		return code
	}
	qos := pk.FixedHeader.Qos
	topic := pk.TopicName
	if c.v5() && pk.Properties.TopicAlias > 0 {
		// [MQTT-3.3.2-12] an alias with a topic (re)defines it; without one it is looked up.
		if topic != "" {
			c.aliases[pk.Properties.TopicAlias] = topic
		} else if topic = c.aliases[pk.Properties.TopicAlias]; topic == "" {
			return packets.ErrProtocolViolationNoTopic // [MQTT-3.3.4-?] unknown alias
		}
	}
	if !validTopicName(topic) {
		return packets.ErrTopicNameInvalid // [MQTT-3.3.2-2]
	}
	for qos > 0 {
		c.mu.Lock()
		over := c.inflightIn >= int(c.h.o.ReceiveMaximum)
		unconfirmed := len(c.acks) + len(c.ackOut)
		c.mu.Unlock()
		if !over {
			break
		}
		if c.v5() {
			return packets.ErrReceiveMaximum // [MQTT-3.3.4-9]
		}
		// MQTT 3.1.1 has no Receive Maximum: stop reading until the store
		// confirms earlier publishes (TCP backpressure). QoS 2 exchanges
		// past PUBREC wait for the client's PUBREL, which only this
		// reader can take: they do not hold it up.
		if unconfirmed < int(c.h.o.ReceiveMaximum) {
			break
		}
		c.flushDeferred() // the acknowledgements waited for may be among them
		select {
		case <-c.ackSpace:
		case <-c.kickedCh:
			return errClientGone
		}
	}
	s := c.sess
	if qos == 2 {
		s.mu.Lock()
		dup := s.inQoS2[pk.PacketID]
		s.mu.Unlock()
		if dup {
			// [MQTT-4.3.3-9] already accepted: acknowledge again, do not
			// republish. While the first PUBREC is still waiting for the
			// store, that one answers both.
			if !c.pubrecPending(pk.PacketID) {
				c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: pk.PacketID})
			}
			return nil
		}
	}
	rc := rcSuccess
	switch {
	case c.h.o.MaxMessageSize > 0 && len(pk.Payload) > c.h.o.MaxMessageSize:
		rc = rcPacketTooLarge
	case c.v5() && pk.Properties.PayloadFormatFlag && pk.Properties.PayloadFormat == 1 && !utf8.Valid(pk.Payload):
		rc = rcPayloadFormat // [MQTT-3.3.2-4] MAY refuse
	}
	if rc != rcSuccess {
		if !c.v5() {
			return packets.ErrPacketTooLarge // MQTT 3.1.1 has no negative acknowledgement
		}
		if qos == 0 {
			return packets.Code{Code: rc, Reason: "refused"}
		}
		c.ackNow(pk.PacketID, qos, rc)
		return nil
	}

	c.h.stats.PublishIn.Add(1)
	key := topicToKey(topic)
	m := toMessage(pk, topic, c.v5())
	m.ID = core.NewID()
	m.SentAt = time.Now()
	if pk.FixedHeader.Retain {
		c.flushDeferred() // a store write follows
		// [MQTT-3.3.1-5] store (or with an empty payload, [MQTT-3.3.1-6], clear) the retained message.
		c.h.storeRetained(topic, key, m, qos)
	}
	c.mu.Lock()
	if c.localIDs != nil {
		if len(c.localIDs) > 65536 {
			clear(c.localIDs)
		}
		c.localIDs[m.ID] = struct{}{}
	}
	var slot *pubAck
	if qos > 0 {
		// Held until Publish has said whether a destination is busy
		// (flow.go): its done callback may run before Publish returns.
		slot = &pubAck{id: pk.PacketID, qos: qos, held: true}
		c.acks = append(c.acks, slot)
		c.inflightIn++
	}
	c.mu.Unlock()
	if qos == 2 {
		s.mu.Lock()
		s.inQoS2[pk.PacketID] = true
		s.mu.Unlock()
	}
	var done func(error)
	if slot != nil {
		done = func(err error) { c.published(slot, err) }
	}
	res, err := c.h.b.Publish(topicExch, key, m, done)
	if err != nil {
		if slot != nil {
			c.releaseAck(slot, nil)
			c.published(slot, err)
		}
		return nil
	}
	busy := c.flowTarget(res.Busy)
	if slot != nil {
		c.releaseAck(slot, busy)
	} else if busy != nil {
		c.throttleReader(busy)
	}
	return nil
}

// pubrecPending reports whether the PUBREC of inbound QoS 2 id is not
// sent yet.
func (c *conn) pubrecPending(id uint16) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range [][]*pubAck{c.acks, c.ackOut} {
		for _, a := range q {
			if a.id == id && a.qos == 2 {
				return true
			}
		}
	}
	return false
}

// ackNow sends a negative PUBACK/PUBREC for a refused publish, keeping
// the acknowledgement order.
func (c *conn) ackNow(id uint16, qos byte, rc byte) {
	c.mu.Lock()
	slot := &pubAck{id: id, qos: qos}
	c.acks = append(c.acks, slot)
	c.inflightIn++
	c.mu.Unlock()
	c.published(slot, packets.Code{Code: rc})
}

// published records a store confirmation and sends every acknowledgement
// that is now at the head of the queue.
func (c *conn) published(slot *pubAck, err error) {
	if err != nil && !c.v5() {
		// MQTT 3.1.1 cannot refuse a PUBLISH: close so the client retries.
		c.log.Warn("publish failed; closing", "err", err)
		c.kick(rcImplementation, listeners.ReasonServerError)
		return
	}
	c.mu.Lock()
	slot.ready = true
	slot.rc = reasonFor(err)
	c.sendAcksLocked()
}

// sendAcksLocked sends every acknowledgement now at the head of the queue:
// confirmed by the store and not held by flow control (flow.go). It
// unlocks c.mu.
func (c *conn) sendAcksLocked() {
	var ready []*pubAck
	store := false // a QoS 2 id to write durably before its PUBREC
	for len(c.acks) > 0 && c.acks[0].ready && !c.acks[0].held {
		a := c.acks[0]
		c.acks[0] = nil
		c.acks = c.acks[1:]
		ready = append(ready, a)
		if a.qos == 1 || a.rc >= 0x80 {
			c.inflightIn--
		}
		if a.qos == 2 && a.rc < 0x80 && c.sess.durable {
			store = true
		}
	}
	popped := len(ready) > 0
	if c.finished {
		store = false // nothing more is sent; the id stays in memory
	}
	if popped && (store || c.ackWriting) {
		// The store write must not run on the core's callback goroutine;
		// acknowledgements keep their order behind it [MQTT-4.6.0-2].
		c.ackOut = append(c.ackOut, ready...)
		ready = nil
		if !c.ackWriting {
			c.ackWriting = true
			go c.storeAndAck()
		}
	}
	// Queued under c.mu: published, releaseAck and flowLoop pop
	// acknowledgements on different goroutines, and they must reach the
	// wire in the order popped [MQTT-4.6.0-2].
	slow := false
	for _, a := range ready {
		if b := c.encode(c.ackPacket(a)); b != nil {
			slow = c.queueCtrlLocked(b) || slow
		}
	}
	c.mu.Unlock()
	if slow {
		c.nc.Close()
	}
	if popped {
		select {
		case c.ackSpace <- struct{}{}:
		default:
		}
	}
}

// storeAndAck writes the inbound QoS 2 ids of a persistent session to the
// store, then sends their PUBREC (and the acknowledgements queued behind
// them), until nothing is left.
func (c *conn) storeAndAck() {
	c.mu.Lock()
	for len(c.ackOut) > 0 {
		// Entries stay in ackOut until sent: pubrecPending sees them.
		out := c.ackOut[:len(c.ackOut):len(c.ackOut)]
		c.mu.Unlock()
		s := c.sess
		for _, a := range out {
			if a.qos == 2 && a.rc < 0x80 {
				s.qos2Mu.Lock()
				s.mu.Lock()
				open := s.inQoS2[a.id] // not ended by an early PUBREL
				s.mu.Unlock()
				if open {
					c.h.storeInQoS2(s, a.id)
				}
				s.qos2Mu.Unlock()
			}
		}
		c.sendAcks(out)
		c.mu.Lock()
		clear(c.ackOut[:len(out)])
		c.ackOut = c.ackOut[len(out):]
		select { // a 3.1.1 reader may wait for these to be sent
		case c.ackSpace <- struct{}{}:
		default:
		}
	}
	c.ackOut = nil
	c.ackWriting = false
	c.cond.Broadcast() // finish waits for this goroutine
	c.mu.Unlock()
}

// sendAcks sends PUBACK/PUBREC for publishes whose fate is settled.
func (c *conn) sendAcks(ready []*pubAck) {
	for _, a := range ready {
		c.send(c.ackPacket(a))
	}
}

// ackPacket returns the PUBACK or PUBREC of a; a failed PUBREC ends the
// QoS 2 exchange (MQTT 5 section 4.3.3: the packet id is free again after a
// PUBREC with a Reason Code of 0x80 or greater).
func (c *conn) ackPacket(a *pubAck) *packets.Packet {
	t := packets.Puback
	if a.qos == 2 {
		t = packets.Pubrec
		if a.rc >= 0x80 {
			c.sess.mu.Lock()
			delete(c.sess.inQoS2, a.id)
			c.sess.mu.Unlock()
		}
	}
	return &packets.Packet{FixedHeader: packets.FixedHeader{Type: t}, PacketID: a.id, ReasonCode: a.rc}
}

// onPubrel completes an inbound QoS 2 exchange [MQTT-4.3.3-11].
func (c *conn) onPubrel(id uint16) {
	s := c.sess
	s.qos2Mu.Lock()
	s.mu.Lock()
	known := s.inQoS2[id]
	delete(s.inQoS2, id)
	s.mu.Unlock()
	if known && s.durable {
		c.h.dropQoS2(s, 'i', id)
	}
	s.qos2Mu.Unlock()
	rc := rcSuccess
	if known {
		c.mu.Lock()
		if c.inflightIn > 0 {
			c.inflightIn--
		}
		c.mu.Unlock()
	} else {
		rc = rcPacketIDNotFound
	}
	c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubcomp}, PacketID: id, ReasonCode: rc})
}

// retained messages: one per topic in core.Meta("mqtt-retained"); the value
// is the QoS byte followed by core.EncodeMessage.
func (h *Handler) storeRetained(topic, key string, m *core.Message, qos byte) {
	ms := h.b.Meta(retainedNS)
	if len(m.Body) == 0 {
		if err := ms.Delete(topic); err != nil {
			h.log.Warn("clear retained message", "dest", topic, "err", err)
		}
		return
	}
	rm := *m
	rm.RoutingKey, rm.Exchange = key, topicExch
	if rm.SentAt.IsZero() {
		rm.SentAt = time.Now()
	}
	val := append([]byte{qos}, core.EncodeMessage(nil, &rm)...)
	if err := ms.Put(topic, val); err != nil {
		h.log.Warn("store retained message", "dest", topic, "err", err)
	}
}

// retainedFor returns the retained messages matching filter, dropping
// expired ones [MQTT-3.3.2-5].
func (h *Handler) retainedFor(filter string) []retained {
	ms := h.b.Meta(retainedNS)
	var out []retained
	now := time.Now()
	var all map[string][]byte
	if strings.ContainsAny(filter, "+#") {
		all = ms.List()
	} else if v, err := ms.Get(filter); err == nil {
		all = map[string][]byte{filter: v} // no wildcard: one lookup
	}
	for topic, val := range all {
		if !matchFilter(filter, topic) || len(val) < 1 {
			continue
		}
		m, err := core.DecodeMessage(val[1:])
		if err != nil {
			h.log.Warn("unreadable retained message", "dest", topic, "err", err)
			continue
		}
		if m.Props.Expiration > 0 && now.Sub(m.SentAt) >= m.Props.Expiration {
			_ = ms.Delete(topic)
			continue
		}
		out = append(out, retained{topic: topic, qos: val[0], msg: m})
	}
	return out
}

type retained struct {
	topic string
	qos   byte
	msg   *core.Message
}
