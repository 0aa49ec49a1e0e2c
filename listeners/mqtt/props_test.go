package mqtt

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
)

func TestPropertyMapping(t *testing.T) {
	pk := &packets.Packet{Payload: []byte("hi")}
	pk.FixedHeader.Qos = 2
	pk.FixedHeader.Retain = true
	pk.Properties = packets.Properties{
		ContentType: "text/plain", ResponseTopic: "reply/to.me", CorrelationData: []byte("c-1"),
		MessageExpiryInterval: 30, User: []packets.UserProperty{{Key: "k", Val: "v"}},
		PayloadFormat: 1, PayloadFormatFlag: true,
	}
	m := toMessage(pk, "a/b", true)
	if !m.Props.Persistent || m.Props.ContentType != "text/plain" || m.Props.ReplyTo != "reply.to/me" ||
		m.Props.CorrelationID != "c-1" || m.Props.Expiration != 30*time.Second || m.Props.Headers["k"] != "v" {
		t.Fatalf("bad mapping: %+v", m.Props)
	}
	if publishedQoS(m) != 2 || !publishedRetain(m) {
		t.Fatal("qos/retain lost")
	}
	m.SentAt = time.Now().Add(-10 * time.Second)
	var p packets.Properties
	if fillProperties(&p, m, time.Now()) {
		t.Fatal("not expired yet")
	}
	if p.ContentType != "text/plain" || p.ResponseTopic != "reply/to.me" || string(p.CorrelationData) != "c-1" ||
		p.MessageExpiryInterval > 20 || p.MessageExpiryInterval < 19 || len(p.User) != 1 || !p.PayloadFormatFlag {
		t.Fatalf("bad reverse mapping: %+v", p)
	}
	if fillProperties(&packets.Properties{}, m, time.Now().Add(time.Minute)) != true {
		t.Fatal("must be expired")
	}

	// binary correlation data travels in a header
	pk.Properties.CorrelationData = []byte{0xff, 0x00}
	m = toMessage(pk, "a", true)
	if m.Props.CorrelationID != "" {
		t.Fatal("binary correlation data must not be a correlation-id")
	}
	p = packets.Properties{}
	fillProperties(&p, m, time.Now())
	if string(p.CorrelationData) != "\xff\x00" {
		t.Fatalf("correlation data %q", p.CorrelationData)
	}

	// v3: body alone
	pk.Properties = packets.Properties{}
	pk.FixedHeader.Qos, pk.FixedHeader.Retain = 0, false
	m = toMessage(pk, "a", false)
	if m.Props.Persistent || m.Props.Headers != nil || publishedQoS(m) != 0 {
		t.Fatalf("v3 QoS0 publish must carry nothing: %+v", m.Props)
	}
	if publishedQoS(&core.Message{Props: core.Properties{Persistent: true}}) != 1 {
		t.Fatal("foreign persistent = QoS 1")
	}
}
