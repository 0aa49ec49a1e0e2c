package mqtt

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Golden packets: the wire bytes and what they decode to.
var golden = []struct {
	name    string
	version byte
	wire    []byte
}{
	{"connect v311", 4, []byte{0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x04, 'd', 'e', 'v', '1'}},
	{"publish qos0", 4, []byte{0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'}},
	{"publish qos1 v5", 5, []byte{0x32, 0x08, 0x00, 0x01, 'a', 0x00, 0x07, 0x00, 'x', 'y'}},
	{"subscribe v5", 5, []byte{0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x01}},
	{"unsubscribe v311", 4, []byte{0xA2, 0x05, 0x00, 0x02, 0x00, 0x01, 'a'}},
	{"puback v5", 5, []byte{0x40, 0x02, 0x00, 0x09}},
	{"pubrel", 4, []byte{0x62, 0x02, 0x00, 0x09}},
	{"pingreq", 4, []byte{0xC0, 0x00}},
	{"disconnect v5", 5, []byte{0xE0, 0x01, 0x04}},
}

func TestGoldenRoundTrip(t *testing.T) {
	for _, g := range golden {
		pk, err := readPacket(bufio.NewReader(bytes.NewReader(g.wire)), g.version, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		if pk.FixedHeader.Type == packets.Pingreq {
			continue
		}
		if pk.FixedHeader.Type == packets.Disconnect {
			if pk.ReasonCode != 0x04 {
				t.Fatalf("disconnect reason %#x", pk.ReasonCode)
			}
			continue // re-encodes with an explicit empty property list
		}
		var buf bytes.Buffer
		if err := encodePacket(&buf, &pk); err != nil {
			t.Fatalf("%s: encode: %v", g.name, err)
		}
		if !bytes.Equal(buf.Bytes(), g.wire) {
			t.Fatalf("%s: round trip\n got % x\nwant % x", g.name, buf.Bytes(), g.wire)
		}
	}
}

func TestReadPacketLimits(t *testing.T) {
	// Declared 2 MiB: refused before allocation.
	_, err := readPacket(bufio.NewReader(bytes.NewReader([]byte{0x30, 0x80, 0x80, 0x80, 0x01})), 4, 1024)
	if !errors.Is(err, errPacketTooLarge) {
		t.Fatalf("want errPacketTooLarge, got %v", err)
	}
	// Truncated v5 SUBSCRIBE (options byte missing) must not panic.
	_, err = readPacket(bufio.NewReader(bytes.NewReader([]byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'})), 5, 1024)
	if reasonFor(err) != rcMalformed {
		t.Fatalf("want malformed, got %v", err)
	}
	_, err = readPacket(bufio.NewReader(bytes.NewReader([]byte{0x36, 0x00})), 5, 1024)
	if reasonFor(err) != rcMalformed {
		t.Fatalf("QoS 3: want malformed, got %v", err)
	}
}

// FuzzReadPacket: any input gives a packet or an error that maps to a
// reason code; never a panic, never an allocation over the maximum; what
// decodes re-encodes and decodes to the same packet.
func FuzzReadPacket(f *testing.F) {
	for _, g := range golden {
		f.Add(g.wire, g.version)
	}
	f.Add([]byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'}, byte(5))
	f.Add([]byte{0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, byte(4))
	f.Fuzz(func(t *testing.T, data []byte, version byte) {
		if version != 5 {
			version = 4
		}
		const max = 1 << 16
		pk, err := readPacket(bufio.NewReader(bytes.NewReader(data)), version, max)
		if err != nil {
			_ = reasonFor(err)
			return
		}
		if pk.FixedHeader.Remaining > max {
			t.Fatalf("accepted %d bytes over the maximum", pk.FixedHeader.Remaining)
		}
		switch pk.FixedHeader.Type {
		case packets.Publish, packets.Puback, packets.Pubrel, packets.Unsubscribe:
		default:
			return // CONNECT/SUBSCRIBE/... re-encode with normalised fields
		}
		if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Qos > 0 && pk.PacketID == 0 {
			return // rejected later by PublishValidate
		}
		var buf bytes.Buffer
		if err := encodePacket(&buf, &pk); err != nil {
			return
		}
		pk2, err := readPacket(bufio.NewReader(&buf), version, max)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if pk.TopicName != pk2.TopicName || pk.PacketID != pk2.PacketID || !bytes.Equal(pk.Payload, pk2.Payload) ||
			!reflect.DeepEqual(pk.Filters, pk2.Filters) && len(pk.Filters) > 0 {
			t.Fatalf("round trip changed the packet: %+v vs %+v", pk, pk2)
		}
	})
}
