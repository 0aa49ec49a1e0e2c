package mqtt

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
)

// MQTT delivery semantics carried through the core in core.Message.Private
// (stored with the message, never shown to other protocols' consumers).
const (
	privQoS    = "mqtt.qos"    // int8 2 on QoS 2 publishes (QoS 1 is Persistent alone)
	privRetain = "mqtt.retain" // publisher's RETAIN flag, for Retain As Published
)

const (
	hdrCorrelation  = "x-correlation-id" // binary Correlation Data (ARCHITECTURE.md)
	maxCorrelation  = 255
	expiryInfinite  = ^uint32(0)
	maxSubscriberID = 268435455
)

// toMessage maps an inbound PUBLISH onto a core message (ARCHITECTURE.md
// "Message properties across protocols"). topic is the resolved topic name.
func toMessage(pk *packets.Packet, topic string, v5 bool) *core.Message {
	m := &core.Message{Body: pk.Payload}
	qos := pk.FixedHeader.Qos
	m.Props.Persistent = qos >= 1
	if qos == 2 || pk.FixedHeader.Retain {
		m.Private = make(core.Table, 2)
		if qos == 2 {
			m.Private[privQoS] = int8(2)
		}
		if pk.FixedHeader.Retain {
			m.Private[privRetain] = true
		}
	}
	var h core.Table
	set := func(k string, v any) {
		if h == nil {
			h = core.Table{}
		}
		h[k] = v
	}
	if v5 {
		p := &pk.Properties
		m.Props.ContentType = p.ContentType
		if p.ResponseTopic != "" {
			m.Props.ReplyTo = topicToKey(p.ResponseTopic)
		}
		if len(p.CorrelationData) > 0 {
			if len(p.CorrelationData) <= maxCorrelation && utf8.Valid(p.CorrelationData) {
				m.Props.CorrelationID = string(p.CorrelationData)
			} else {
				set(hdrCorrelation, append([]byte(nil), p.CorrelationData...))
			}
		}
		if p.MessageExpiryInterval > 0 {
			m.Props.Expiration = time.Duration(p.MessageExpiryInterval) * time.Second // [MQTT-3.3.2-5]
		}
		for _, u := range p.User {
			set(u.Key, u.Val) // [MQTT-3.3.2-17]
		}
		if p.PayloadFormatFlag && p.PayloadFormat == 1 && m.Props.ContentEncoding == "" {
			// Payload Format Indicator 1 = UTF-8 character data.
			m.Props.ContentEncoding = "utf-8"
		}
	}
	m.Props.Headers = h
	return m
}

// publishedQoS is the QoS the message was originally published with.
// Messages from other protocols count as QoS 1 when persistent.
func publishedQoS(m *core.Message) byte {
	if !m.Props.Persistent {
		return 0
	}
	if v, ok := m.Private[privQoS].(int8); ok && v == 2 {
		return 2
	}
	return 1
}

func publishedRetain(m *core.Message) bool {
	v, _ := m.Private[privRetain].(bool)
	return v
}

// fillProperties sets the v5 properties of an outbound PUBLISH from m.
// now is used to reduce the Message Expiry Interval by the time the
// message waited [MQTT-3.3.2-6].
func fillProperties(p *packets.Properties, m *core.Message, now time.Time) (expired bool) {
	p.ContentType = m.Props.ContentType
	if m.Props.ReplyTo != "" {
		p.ResponseTopic = keyToTopic(m.Props.ReplyTo)
	}
	if m.Props.CorrelationID != "" {
		p.CorrelationData = []byte(m.Props.CorrelationID)
	}
	if m.Props.Expiration > 0 {
		left := m.Props.Expiration
		if !m.SentAt.IsZero() {
			left -= now.Sub(m.SentAt)
		}
		if left <= 0 {
			return true
		}
		p.MessageExpiryInterval = uint32((left + time.Second - 1) / time.Second)
	}
	if m.Props.ContentEncoding == "utf-8" {
		p.PayloadFormat, p.PayloadFormatFlag = 1, true
	}
	for k, v := range m.Props.Headers {
		switch k {
		case hdrCorrelation:
			if b, ok := v.([]byte); ok && p.CorrelationData == nil {
				p.CorrelationData = b
			}
			continue
		}
		if s, ok := headerString(v); ok {
			p.User = append(p.User, packets.UserProperty{Key: k, Val: s})
		}
	}
	return false
}

// headerString renders a scalar header value as a user property value;
// tables and arrays are not representable and are skipped.
func headerString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		if utf8.Valid(x) {
			return string(x), true
		}
		return "", false
	case nil, core.Table, []any:
		return "", false
	case time.Time:
		return x.UTC().Format(time.RFC3339), true
	case core.Decimal:
		return fmt.Sprintf("%de-%d", x.Value, x.Scale), true
	}
	return fmt.Sprint(v), true
}
