package mqtt

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
)

// readServer reads one server packet (v5) from br.
func readServer(t *testing.T, c net.Conn, br *bufio.Reader) packets.Packet {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var pk packets.Packet
	hb, err := br.ReadByte()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		t.Fatal(err)
	}
	n, _, err := packets.DecodeLength(br)
	if err != nil {
		t.Fatal(err)
	}
	pk.FixedHeader.Remaining = n
	pk.ProtocolVersion = 5
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubrel:
		err = pk.PubrelDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	}
	if err != nil {
		t.Fatalf("decode %d: %v", pk.FixedHeader.Type, err)
	}
	return pk
}

func ctl(typ byte, id uint16) *packets.Packet {
	pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: typ}, PacketID: id, ProtocolVersion: 5}
	if typ == packets.Pubrel {
		pk.FixedHeader.Qos = 1
	}
	return pk
}

// The QoS 2 state of a persistent session is in core.Meta exactly while
// the exchange is open: inbound from before PUBREC to PUBREL (an early
// PUBREL leaves nothing behind), outbound from PUBREC (with the message
// id) to PUBCOMP. A retransmission while the first PUBREC waits is
// answered once.
func TestQoS2StateInMeta(t *testing.T) {
	h, b := newTestHandler(t)
	c, br, _ := pipeClient(t, h)
	cp := connectPk("q2", "u", "p")
	cp.Connect.Clean = true
	cp.Properties.SessionExpiryInterval, cp.Properties.SessionExpiryIntervalFlag = 600, true
	writePk(t, c, cp)
	if ack := readServer(t, c, br); ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("connack %+v", ack)
	}
	writePk(t, c, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 5,
		Filters: packets.Subscriptions{{Filter: "q2/#", Qos: 2}}})
	if sa := readServer(t, c, br); sa.FixedHeader.Type != packets.Suback {
		t.Fatalf("suback %+v", sa)
	}
	meta := b.Meta(qos2NS)
	has := func(k string) bool { _, err := meta.Get(k); return err == nil }

	// Inbound, published to our own subscription: PUBREC and the
	// delivered PUBLISH come in either order.
	writePk(t, c, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, PacketID: 5, ProtocolVersion: 5,
		TopicName: "q2/a", Payload: []byte("x")})
	var out packets.Packet
	for got := 0; got < 2; got++ {
		pk := readServer(t, c, br)
		switch pk.FixedHeader.Type {
		case packets.Pubrec:
			if pk.PacketID != 5 || !has("i/5/q2") {
				t.Fatalf("PUBREC %d, stored %v", pk.PacketID, has("i/5/q2"))
			}
		case packets.Publish:
			out = pk
		default:
			t.Fatalf("unexpected %+v", pk)
		}
	}
	writePk(t, c, ctl(packets.Pubrel, 5))
	if pk := readServer(t, c, br); pk.FixedHeader.Type != packets.Pubcomp || pk.PacketID != 5 || pk.ReasonCode != 0 || has("i/5/q2") {
		t.Fatalf("PUBCOMP %+v, stored %v", pk, has("i/5/q2"))
	}

	// Outbound.
	if out.FixedHeader.Qos != 2 || out.PacketID == 0 {
		t.Fatalf("delivery %+v", out)
	}
	okey := qos2Key('o', out.PacketID, "q2")
	writePk(t, c, ctl(packets.Pubrec, out.PacketID))
	if pk := readServer(t, c, br); pk.FixedHeader.Type != packets.Pubrel || pk.PacketID != out.PacketID {
		t.Fatalf("PUBREL %+v", pk)
	}
	for deadline := time.Now().Add(5 * time.Second); !has(okey); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("outbound state not stored after PUBREC")
		}
	}
	writePk(t, c, ctl(packets.Pubcomp, out.PacketID))

	// A retransmission while PUBREC is pending, then an early PUBREL: one
	// PUBREC, one PUBCOMP, nothing left stored.
	pub := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, PacketID: 6, ProtocolVersion: 5,
		TopicName: "other/b", Payload: []byte("y")}
	writePk(t, c, pub)
	pub.FixedHeader.Dup = true
	writePk(t, c, pub)
	writePk(t, c, ctl(packets.Pubrel, 6))
	writePk(t, c, ctl(packets.Pingreq, 0))
	// The PUBREC waits for the store off the reader: it may come after
	// PUBCOMP and PINGRESP (the client sent PUBREL too early).
	recs, comps, pong := 0, 0, false
	for !pong || recs == 0 {
		pk := readServer(t, c, br)
		switch pk.FixedHeader.Type {
		case packets.Pingresp:
			pong = true
		case packets.Pubrec:
			recs++
		case packets.Pubcomp:
			comps++
		}
	}
	if comps != 1 || recs < 1 || recs > 2 {
		t.Fatalf("%d PUBREC, %d PUBCOMP", recs, comps)
	}
	deadline := time.Now().Add(5 * time.Second)
	for (has(okey) || has("i/6/q2")) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if keys := meta.List(); len(keys) != 0 {
		t.Fatalf("QoS 2 state left: %v", keys)
	}
}

// After a crash that lost the core ack of a QoS 2 message the client had
// already PUBRECed, the restored session resends PUBREL and settles the
// redelivered message without sending it again [MQTT-4.4.0-1], even when
// the redelivery comes after the client's PUBCOMP.
func TestRestoredOutRelSettlesRedelivery(t *testing.T) {
	h, b := newTestHandler(t)
	s := newSession("dev", 600, true)
	s.subs["r/#"] = &subscription{Filter: "r/#", QoS: 2}
	if err := h.persist(s, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.DeclareQueue(core.QueueConfig{Name: s.queue, Durable: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Bind(core.Binding{Source: topicExch, Destination: s.queue, Key: "r.#"}); err != nil {
		t.Fatal(err)
	}
	publish := func(ids ...string) {
		for _, id := range ids {
			m := &core.Message{ID: id, Body: []byte(id), Props: core.Properties{Persistent: true}, Private: core.Table{privQoS: int8(2)}}
			if _, err := b.Publish(topicExch, "r.x", m, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish("had", "new")
	h.storeOutRel(s, 9, relKey(s.queue, "had"))
	h.storeOutRel(s, 10, relKey(s.queue, "late"))
	h2, err := New(Options{Broker: b, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close(context.Background())
	c, br, _ := pipeClient(t, h2)
	cp := connectPk("dev", "u", "p")
	cp.Connect.Clean = false
	cp.Properties.SessionExpiryInterval, cp.Properties.SessionExpiryIntervalFlag = 600, true
	writePk(t, c, cp)
	if ack := readServer(t, c, br); ack.FixedHeader.Type != packets.Connack || !ack.SessionPresent {
		t.Fatalf("connack %+v", ack)
	}
	rels := map[uint16]bool{}
	for range 2 {
		if pk := readServer(t, c, br); pk.FixedHeader.Type == packets.Pubrel {
			rels[pk.PacketID] = true
		}
	}
	if !rels[9] || !rels[10] {
		t.Fatalf("PUBREL resent for %v, want 9 and 10", rels)
	}
	next := func(want string) {
		t.Helper()
		pk := readServer(t, c, br)
		if pk.FixedHeader.Type != packets.Publish || string(pk.Payload) != want || pk.FixedHeader.Qos != 2 || pk.PacketID == 9 || pk.PacketID == 10 {
			t.Fatalf("want %q only, got packet type %d id %d %q", want, pk.FixedHeader.Type, pk.PacketID, pk.Payload)
		}
	}
	next("new")
	writePk(t, c, ctl(packets.Pubcomp, 9))
	writePk(t, c, ctl(packets.Pubcomp, 10))
	writePk(t, c, ctl(packets.Pingreq, 0))
	if pk := readServer(t, c, br); pk.FixedHeader.Type != packets.Pingresp {
		t.Fatalf("got %+v", pk)
	}
	publish("late", "newer") // the lost ack's redelivery, after PUBCOMP
	next("newer")
	if info, err := b.Queue(s.queue, ""); err != nil || info.Ready != 0 || info.Unacked != 2 {
		t.Fatalf("queue %+v %v: the settled messages must be gone, the new ones in flight", info, err)
	}
	if keys := b.Meta(qos2NS).List(); len(keys) != 0 {
		t.Fatalf("outbound state kept after PUBCOMP: %v", keys)
	}
	c.Close() // before h2.Close, which would say DISCONNECT to a client no longer reading
}
