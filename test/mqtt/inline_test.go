package mqtt_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/test"
)

// Deliveries are written inline on the publisher's goroutine when the
// subscriber's socket takes them at once: a subscriber that stops reading
// must not hold up the publisher (its PUBACKs keep coming while the
// subscriber's socket is full), and once it reads again it gets every
// message, in order, with the rest of a partial write first.
func TestRawStalledSubscriberDoesNotHoldPublisher(t *testing.T) {
	b := test.StartBroker(t)
	sub := dialRaw(t, b.MQTT)
	sub.connect("stalled", packets.Properties{})
	sub.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "stall/t", Qos: 0}}})
	sub.expect(packets.Suback)

	pub := dialRaw(t, b.MQTT)
	pub.connect("busy", packets.Properties{})
	const n, size = 400, 64 << 10 // 25 MiB: more than the loopback socket buffers hold
	body := make([]byte, size)
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(body, uint32(i))
		pub.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: uint16(i%60000 + 1),
			TopicName: "stall/t", Payload: body})
		if ack := pub.expect(packets.Puback); ack.PacketID != uint16(i%60000+1) || ack.ReasonCode != 0 {
			t.Fatalf("PUBACK %d: id %d rc %#x", i, ack.PacketID, ack.ReasonCode)
		}
	}
	for i := 0; i < n; i++ {
		pk := sub.read(10 * time.Second)
		if pk == nil || pk.FixedHeader.Type != packets.Publish {
			t.Fatalf("message %d of %d: got %+v", i, n, pk)
		}
		if len(pk.Payload) != size || binary.BigEndian.Uint32(pk.Payload) != uint32(i) {
			t.Fatalf("message %d: %d bytes, sequence %d", i, len(pk.Payload), binary.BigEndian.Uint32(pk.Payload))
		}
	}
}
