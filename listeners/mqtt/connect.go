package mqtt

import (
	"bytes"
	"errors"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
)

type bytesBuffer struct{ bytes.Buffer }

// onConnect authenticates, claims (or takes over) the session, answers
// CONNACK and starts delivery.
func (c *conn) onConnect(pk *packets.Packet) error {
	v := pk.ProtocolVersion
	if v == 3 || v == 4 || v == 5 {
		c.version = v
	} else {
		c.version = 4
	}
	refuse := func(rc byte) error {
		c.refuse(rc)
		return errRefused
	}
	if code := pk.ConnectValidate(); code != packets.CodeSuccess {
		if code == packets.ErrProtocolViolationProtocolVersion {
			return refuse(rcUnsupportedVersion) // [MQTT-3.1.2-2]
		}
		if code == packets.ErrProtocolViolationProtocolName || !c.v5() {
			// [MQTT-3.1.2-1] bad protocol name; MQTT 3.1.1 [MQTT-3.1.2-3]
			// and friends: close without CONNACK.
			return code
		}
		return refuse(code.Code) // MQTT 5: CONNACK 0x81/0x82 [MQTT-3.2.2-7]
	}
	props := &pk.Properties
	if c.v5() && props.AuthenticationMethod != "" {
		return refuse(rcBadAuthMethod) // enhanced authentication is not offered
	}
	// Authentication against the configured users.
	if pk.Connect.UsernameFlag {
		if err := c.h.b.Authenticate(string(pk.Connect.Username), string(pk.Connect.Password)); err != nil {
			c.log.Warn("login refused", "user", string(pk.Connect.Username))
			return refuse(rcBadUserOrPassword)
		}
	} else if !c.h.b.AnonymousAllowed() {
		return refuse(rcNotAuthorized)
	}
	id := pk.Connect.ClientIdentifier
	assigned := ""
	if id == "" {
		if !c.v5() && !pk.Connect.Clean {
			return refuse(rcClientIDInvalid) // [MQTT-3.1.3-8]
		}
		id = "auto-" + core.NewID() // [MQTT-3.1.3-6]
		assigned = id
	}
	c.clientID = id
	c.log = c.log.With("client_id", id)

	// Session lifetime. v3.1.1: clean=0 lives forever. v5: Session Expiry Interval.
	expiry := uint32(0)
	if c.v5() {
		expiry = props.SessionExpiryInterval
	} else if !pk.Connect.Clean {
		expiry = expiryInfinite
	}
	c.keepalive = time.Duration(pk.Connect.Keepalive) * time.Second
	c.clientRecv = 65535
	if c.v5() {
		if props.ReceiveMaximum > 0 {
			c.clientRecv = int(props.ReceiveMaximum) // [MQTT-3.3.4-7]
		}
		c.clientMaxPkt = int(props.MaximumPacketSize)
		c.clientAlias = props.TopicAliasMaximum
	}
	c.inflight = newWindow(c.clientRecv)
	if pk.Connect.WillFlag {
		topic := pk.Connect.WillTopic
		if !validTopicName(topic) {
			return refuse(rcTopicNameInvalid)
		}
		w := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: pk.Connect.WillQos, Retain: pk.Connect.WillRetain},
			TopicName: topic, Payload: pk.Connect.WillPayload, Properties: pk.Connect.WillProperties, ProtocolVersion: c.version}
		c.will = &will{topic: topic, qos: w.FixedHeader.Qos, retain: w.FixedHeader.Retain, msg: toMessage(w, topic, c.v5())}
		c.willDelay = pk.Connect.WillProperties.WillDelayInterval
	}

	s, present, err := c.h.claim(c, id, pk.Connect.Clean, expiry)
	if err != nil {
		c.log.Error("claim session", "err", err)
		return refuse(rcServerUnavailable)
	}
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
	c.h.stats.Connections.Add(1)

	ack := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, SessionPresent: present}
	if c.v5() {
		ack.Properties = packets.Properties{
			ReceiveMaximum:    c.h.o.ReceiveMaximum,
			TopicAliasMaximum: c.h.o.TopicAliasMaximum,
			MaximumPacketSize: uint32(c.h.o.MaxPacketSize),
			AssignedClientID:  assigned, // [MQTT-3.2.2-16]
			RetainAvailable:   1, RetainAvailableFlag: true,
			WildcardSubAvailable: 1, WildcardSubAvailableFlag: true,
			SubIDAvailable: 1, SubIDAvailableFlag: true,
			SharedSubAvailable: 1, SharedSubAvailableFlag: true,
		}
	}
	c.send(ack)
	c.log.Info("client connected", "version", c.version, "clean", pk.Connect.Clean, "session_present", present)

	// Resume an interrupted QoS 2 hand-over [MQTT-4.4.0-1]: PUBREL again.
	s.mu.Lock()
	var rel []uint16
	for id := range s.outRel {
		rel = append(rel, id)
	}
	s.mu.Unlock()
	for _, id := range rel {
		c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: id})
	}
	return c.startDelivery()
}

// refuse answers CONNACK with a failure code (MQTT 3.1.1 return codes for
// old clients) [MQTT-3.2.2-6]; the connection then closes.
func (c *conn) refuse(rc byte) {
	ack := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: rc}
	if !c.v5() {
		ack.ReasonCode = connackV3(rc)
	}
	c.send(ack)
}

// claim finds or creates the session for id, taking it over from another
// connection first [MQTT-3.1.4-3]. clean discards an existing session
// [MQTT-3.1.2-4].
func (h *Handler) claim(c *conn, id string, clean bool, expiry uint32) (*session, bool, error) {
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, false, errors.New("broker shutting down")
		}
		s := h.sessions[id]
		if s != nil && s.owner != nil {
			old := s.owner
			h.mu.Unlock()
			old.kick(rcSessionTakenOver, "session_takeover")
			<-old.done
			continue
		}
		if s != nil && clean {
			// The session ends: its pending will is published now [MQTT-3.1.3-9].
			delete(h.sessions, id)
			fire := s.willFire
			s.stopTimers()
			s.willFire, s.willPending = nil, nil
			h.mu.Unlock()
			if fire != nil {
				fire()
			}
			h.destroy(s)
			continue
		}
		present := s != nil
		cancelWill := func() {}
		if s == nil {
			s = newSession(id, expiry, expiry > 0)
			h.sessions[id] = s
		} else {
			// [MQTT-3.1.3-9] a resumed session cancels a delayed will.
			s.stopTimers()
			cancelWill = h.cancelWillLocked(s)
		}
		s.owner = c
		s.expiry = expiry
		s.version = c.version
		h.mu.Unlock()
		cancelWill()
		// The session's queue is declared on its first subscription
		// (ensureConsumer): an idle connection costs no queue.
		err := h.persist(s, time.Time{})
		if err == nil && c.will != nil {
			// The will is stored with the session (MQTT 5 §3.1.3.2) before
			// CONNACK: a crash of the broker is an abnormal close too
			// [MQTT-3.1.2-8], handled at the restart (wills.go).
			err = h.armWill(id, c.will, c.willDelay)
		}
		if err != nil {
			h.mu.Lock()
			s.owner = nil
			gone := !present && h.sessions[id] == s
			if gone {
				delete(h.sessions, id)
			} else if h.sessions[id] == s && !h.closed {
				h.scheduleExpiry(s, time.Now())
			}
			h.mu.Unlock()
			if gone {
				h.destroy(s) // its stored record, if persist wrote it
			}
			return nil, false, err
		}
		return s, present, nil
	}
}

// startDelivery attaches the session's one core consumer and one per
// shared subscription.
func (c *conn) startDelivery() error {
	s := c.sess
	if _, err := c.h.b.Queue(s.queue, ""); err == nil {
		if err := c.ensureConsumer(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	var shared []*subscription
	for _, sub := range s.subs {
		if sub.Group != "" {
			shared = append(shared, sub)
		}
	}
	s.mu.Unlock()
	for _, sub := range shared {
		if err := c.h.joinShared(sub, false); err != nil {
			return err
		}
		if err := c.consumeShared(sub); err != nil {
			return err
		}
	}
	return nil
}

// ensureConsumer declares the session's queue and attaches its one core
// consumer, once.
func (c *conn) ensureConsumer() error {
	if c.cons != nil {
		return nil
	}
	s := c.sess
	qc := core.QueueConfig{Name: s.queue, Durable: s.durable}
	if !s.durable {
		qc.MaxLength = c.h.o.MaxQueuedMessages // drop-head: QoS 0 slow consumers cannot exhaust memory
	}
	if _, err := c.h.b.DeclareQueue(qc); err != nil {
		return err
	}
	ref := &consumerRef{}
	cons, err := c.h.b.Consume(s.queue, core.ConsumeOptions{Tag: c.id, Prefetch: c.prefetch(),
		Inline: true, Flush: c.flushDelivered},
		func(d *core.Delivery) bool { return c.onDelivery(d, ref, nil) })
	if err != nil {
		return err
	}
	c.mu.Lock()
	ref.c = cons
	c.mu.Unlock()
	c.cons = cons
	return nil
}

func (c *conn) prefetch() int { return min(max(c.clientRecv, 32), maxWindow) }

func (c *conn) consumeShared(sub *subscription) error {
	ref := &consumerRef{}
	cons, err := c.h.b.Consume(sharedQueue(sub.Group, sub.Filter), core.ConsumeOptions{Tag: c.id, Prefetch: c.prefetch(),
		Inline: true, Flush: c.flushDelivered},
		func(d *core.Delivery) bool { return c.onDelivery(d, ref, sub) })
	if err != nil {
		return err
	}
	c.mu.Lock()
	ref.c = cons
	c.mu.Unlock()
	c.sharedCons[sub.key()] = cons
	return nil
}

// publishWill publishes a will message through the core like any PUBLISH
// and waits until it is stored (durable subscribers' queues).
func (h *Handler) publishWill(w *will) error {
	key := topicToKey(w.topic)
	if w.retain {
		h.storeRetained(w.topic, key, w.msg, w.qos)
	}
	done := make(chan error, 1)
	if _, err := h.b.Publish(topicExch, key, w.msg, func(err error) { done <- err }); err != nil {
		return err
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errors.New("store did not confirm the will in 10s")
	}
}
