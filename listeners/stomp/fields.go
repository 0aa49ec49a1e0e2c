package stomp

import (
	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners/stomp/selector"
)

// messageFields exposes a message to selectors: its headers by name, and
// the JMS header fields (JMS 1.1 §3.8.1.1) plus the STOMP names of the
// mapped properties that are identifiers (priority, persistent, type).
func messageFields(m *core.Message) selector.Lookup {
	return func(name string) (any, bool) {
		if v, ok := m.Props.Headers[name]; ok {
			return v, v != nil
		}
		p := &m.Props
		switch name {
		case "JMSMessageID":
			return m.ID, true
		case "JMSCorrelationID":
			return p.CorrelationID, p.CorrelationID != ""
		case "JMSType", "type":
			return p.Type, p.Type != ""
		case "JMSPriority", "priority":
			if !p.HasPriority {
				return int64(4), true // JMS default priority
			}
			return int64(p.Priority), true
		case "JMSDeliveryMode":
			if p.Persistent {
				return "PERSISTENT", true
			}
			return "NON_PERSISTENT", true
		case "persistent":
			return p.Persistent, true
		case "JMSTimestamp", "timestamp":
			if m.SentAt.IsZero() {
				return nil, false
			}
			return m.SentAt.UnixMilli(), true
		case "JMSExpiration", "expires":
			if p.Expiration <= 0 {
				return int64(0), true
			}
			return m.SentAt.Add(p.Expiration).UnixMilli(), true
		}
		return nil, false
	}
}
