package mqtt

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
)

// writePublish311 must produce the bytes of mochi's PublishEncode for
// MQTT 3.1.1, for every flag combination and remaining-length width.
func TestWritePublish311MatchesEncoder(t *testing.T) {
	bodies := [][]byte{nil, []byte("x"), bytes.Repeat([]byte("b"), 200), bytes.Repeat([]byte("c"), 20000), bytes.Repeat([]byte("d"), 3<<20)}
	topics := []string{"a", "a/b/c", strings.Repeat("t", 300)}
	for _, body := range bodies {
		for _, topic := range topics {
			for qos := byte(0); qos <= 2; qos++ {
				for _, retain := range []bool{false, true} {
					for _, redelivered := range []bool{false, true} {
						o := &outMsg{d: &core.Delivery{Redelivered: redelivered}, msg: &core.Message{Body: body}, topic: topic, qos: qos, retain: retain}
						if qos > 0 {
							o.id = 0x1234
						}
						var got bytes.Buffer
						w := bufio.NewWriterSize(&got, 1024)
						if err := writePublish311(w, o); err != nil {
							t.Fatal(err)
						}
						if err := w.Flush(); err != nil {
							t.Fatal(err)
						}
						pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain, Dup: qos > 0 && redelivered},
							TopicName: topic, PacketID: o.id, Payload: body, ProtocolVersion: 4}
						var want bytes.Buffer
						if err := pk.PublishEncode(&want); err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got.Bytes(), want.Bytes()) {
							t.Fatalf("body %d topic %d qos %d retain %v dup %v: bytes differ (got %d, want %d)", len(body), len(topic), qos, retain, redelivered, got.Len(), want.Len())
						}
					}
				}
			}
		}
	}
}

func TestTopicOfLockedCachesLastKey(t *testing.T) {
	c := &conn{}
	a := c.topicOfLocked("x.y")
	if a != "x/y" {
		t.Fatalf("got %q", a)
	}
	if b := c.topicOfLocked("x.y"); b != "x/y" {
		t.Fatalf("got %q", b)
	}
	if b := c.topicOfLocked("p/q.r"); b != "p.q/r" {
		t.Fatalf("got %q", b)
	}
	if b := c.topicOfLocked("single"); b != "single" {
		t.Fatalf("got %q", b)
	}
}
