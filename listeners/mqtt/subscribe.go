package mqtt

import (
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
)

// onSubscribe binds the session's queue for each filter (or joins a
// shared subscription's queue), answers SUBACK, then sends retained
// messages per Retain Handling [MQTT-3.3.1-9].
func (c *conn) onSubscribe(pk *packets.Packet) error {
	if code := pk.SubscribeValidate(); code != packets.CodeSuccess {
		return code // [MQTT-3.8.3-3] no filters: protocol error
	}
	s := c.sess
	subID := 0
	if len(pk.Properties.SubscriptionIdentifier) > 0 {
		subID = pk.Properties.SubscriptionIdentifier[0]
		if subID == 0 {
			return packets.ErrProtocolViolation // [MQTT-3.8.2-?] 0 is not a valid identifier
		}
	}
	codes := make([]byte, 0, len(pk.Filters))
	var rets []retained
	var retSubs []*subscription
	changed := false
	for _, f := range pk.Filters {
		group, filter, shared, ok := parseShared(f.Filter)
		if !ok || !validFilter(filter) {
			codes = append(codes, c.subCode(rcTopicFilterInvalid)) // [MQTT-3.8.3-?] 0x8F
			continue
		}
		if shared && f.NoLocal {
			return packets.ErrProtocolViolationInvalidSharedNoLocal // [MQTT-3.8.3-4]
		}
		if f.RetainHandling > 2 {
			return packets.ErrProtocolViolation
		}
		sub := &subscription{Filter: filter, Group: group, QoS: f.Qos, ID: subID}
		if c.v5() {
			sub.NoLocal, sub.RAP, sub.RetainHandling = f.NoLocal, f.RetainAsPublished, f.RetainHandling
		}
		s.mu.Lock()
		old := s.subs[sub.key()]
		s.mu.Unlock()
		var err error
		if shared {
			if old == nil {
				if err = c.h.joinShared(sub, true); err == nil {
					err = c.consumeShared(sub)
				}
			}
		} else if err = c.ensureConsumer(); err == nil {
			err = c.h.b.Bind(core.Binding{Source: topicExch, Destination: s.queue, Key: filterToKey(filter)})
		}
		if err != nil {
			c.log.Warn("subscribe failed", "dest", f.Filter, "err", err)
			codes = append(codes, c.subCode(reasonFor(err)))
			continue
		}
		s.mu.Lock()
		if old != nil {
			*old = *sub // [MQTT-3.8.4-3] replace the options of the existing subscription
			sub = old
		} else {
			s.subs[sub.key()] = sub
		}
		noLocal := sub.NoLocal
		s.mu.Unlock()
		if noLocal {
			c.mu.Lock() // lock order: conn.mu before session.mu, never inside it
			if c.localIDs == nil {
				c.localIDs = map[string]struct{}{}
			}
			c.mu.Unlock()
		}
		changed = true
		codes = append(codes, sub.QoS) // granted QoS = requested (all levels supported)
		// [MQTT-3.3.1-9..11] Retain Handling 0: always; 1: only for a new
		// subscription; 2: never. Shared subscriptions get none [MQTT-3.8.4-?].
		if !shared && (sub.RetainHandling == 0 || (sub.RetainHandling == 1 && old == nil)) {
			for _, r := range c.h.retainedFor(filter) {
				rets = append(rets, r)
				retSubs = append(retSubs, sub)
			}
		}
	}
	if changed {
		if err := c.h.persist(s, noTime); err != nil {
			c.log.Warn("store session", "err", err)
		}
	}
	c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Suback}, PacketID: pk.PacketID, ReasonCodes: codes})
	if len(rets) > 0 {
		out := make([]*outMsg, 0, len(rets))
		for i, r := range rets {
			o := &outMsg{msg: r.msg, topic: r.topic, qos: min(r.qos, retSubs[i].QoS), retain: true} // [MQTT-3.3.1-8]
			if retSubs[i].ID > 0 {
				o.subIDs = []int{retSubs[i].ID}
			}
			out = append(out, o)
		}
		c.enqueue(out...)
	}
	return nil
}

func (c *conn) subCode(rc byte) byte {
	if c.v5() {
		return rc
	}
	return subackV3(rc)
}

// onUnsubscribe removes bindings / shared memberships [MQTT-3.10.4-1].
func (c *conn) onUnsubscribe(pk *packets.Packet) error {
	if code := pk.UnsubscribeValidate(); code != packets.CodeSuccess {
		return code
	}
	s := c.sess
	codes := make([]byte, 0, len(pk.Filters))
	changed := false
	for _, f := range pk.Filters {
		group, filter, _, ok := parseShared(f.Filter)
		if !ok {
			codes = append(codes, rcTopicFilterInvalid)
			continue
		}
		key := (&subscription{Filter: filter, Group: group}).key()
		s.mu.Lock()
		sub := s.subs[key]
		delete(s.subs, key)
		s.mu.Unlock()
		if sub == nil {
			codes = append(codes, rcNoSubscriptionFound)
			continue
		}
		changed = true
		if sub.Group != "" {
			if sc := c.sharedCons[key]; sc != nil {
				c.flushAcks() // settle before Close requeues what is unacked
				sc.Close()
				delete(c.sharedCons, key)
			}
			c.h.leaveShared(sub)
		} else if err := c.h.b.Unbind(core.Binding{Source: topicExch, Destination: s.queue, Key: filterToKey(filter)}); err != nil {
			c.log.Warn("unbind", "dest", filter, "err", err)
		}
		codes = append(codes, rcSuccess)
	}
	if changed {
		if err := c.h.persist(s, noTime); err != nil {
			c.log.Warn("store session", "err", err)
		}
	}
	c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsuback}, PacketID: pk.PacketID, ReasonCodes: codes})
	return nil
}
