package mqtt_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/config"
	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/test"
)

// raw is a byte-level MQTT client for malformed and edge-case packets.
type raw struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	v  byte
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc, br: bufio.NewReader(nc), v: 5}
}

func (r *raw) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *raw) send(pk *packets.Packet) {
	r.t.Helper()
	pk.ProtocolVersion = r.v
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(buf.Bytes())
}

// read returns the next packet, or nil when none arrives within d or the
// connection closed.
func (r *raw) read(d time.Duration) *packets.Packet {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(d))
	hb, err := r.br.ReadByte()
	if err != nil {
		return nil
	}
	var pk packets.Packet
	if err := pk.FixedHeader.Decode(hb); err != nil {
		r.t.Fatalf("bad header from server: %v", err)
	}
	n, _, err := packets.DecodeLength(r.br)
	if err != nil {
		r.t.Fatalf("bad length from server: %v", err)
	}
	pk.FixedHeader.Remaining = n
	pk.ProtocolVersion = r.v
	body := make([]byte, n)
	if _, err := io.ReadFull(r.br, body); err != nil {
		r.t.Fatalf("short packet from server: %v", err)
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	if err != nil {
		r.t.Fatalf("decode %d: %v", pk.FixedHeader.Type, err)
	}
	return &pk
}

func (r *raw) expect(typ byte) *packets.Packet {
	r.t.Helper()
	pk := r.read(5 * time.Second)
	if pk == nil || pk.FixedHeader.Type != typ {
		r.t.Fatalf("want packet type %d, got %+v", typ, pk)
	}
	return pk
}

// closed asserts the server closed the connection.
func (r *raw) closed() {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := r.br.ReadByte(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.t.Fatal("connection still open")
			}
			return
		}
	}
}

func (r *raw) connect(id string, props packets.Properties) *packets.Packet {
	r.t.Helper()
	r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, Connect: packets.ConnectParams{
		ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id,
		UsernameFlag: true, Username: []byte("guest"), PasswordFlag: true, Password: []byte("guest")}, Properties: props})
	ack := r.expect(packets.Connack)
	if ack.ReasonCode != 0 {
		r.t.Fatalf("connack %#x", ack.ReasonCode)
	}
	return ack
}

func TestRawMalformedPackets(t *testing.T) {
	b := test.StartBroker(t)
	good := mustDial5(t, b.MQTT, "bystander", nil)
	good.sub(t, subOpt("still/alive", 1))
	cases := map[string][]byte{
		"first packet not CONNECT":   {0xC0, 0x00},
		"reserved packet type 0":     {0x00, 0x00},
		"length over 4 bytes":        {0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F},
		"truncated CONNECT then EOF": {0x10, 0x10, 0x00, 0x04, 'M', 'Q'},
		"bad protocol name":          []byte{0x10, 0x0C, 0x00, 0x04, 'X', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00},
		"CONNECT reserved flag set":  {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x03, 0x00, 0x3C, 0x00, 0x01, 'a'},
		"invalid UTF-8 client id":    {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0xC0},
	}
	for name, bytes := range cases {
		t.Run(name, func(t *testing.T) {
			r := dialRaw(t, b.MQTT)
			r.v = 4
			r.write(bytes)
			if name == "truncated CONNECT then EOF" {
				r.nc.(*net.TCPConn).CloseWrite()
			}
			for pk := r.read(5 * time.Second); pk != nil; pk = r.read(5 * time.Second) {
				if pk.FixedHeader.Type == packets.Connack && pk.ReasonCode == 0 {
					t.Fatal("malformed CONNECT accepted")
				}
			}
			r.closed()
		})
	}
	// After CONNECT: malformed packets close only that connection, with a
	// v5 DISCONNECT carrying the reason [MQTT-4.13.1-1].
	after := map[string]struct {
		b  []byte
		rc byte
	}{
		"PUBLISH qos 3":               {[]byte{0x36, 0x03, 0x00, 0x01, 'a'}, 0x81},
		"PUBLISH wildcard topic":      {[]byte{0x30, 0x04, 0x00, 0x01, '#', 0x00}, 0x82},
		"SUBSCRIBE bad flags":         {[]byte{0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'}, 0x81},
		"SUBSCRIBE truncated options": {[]byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'}, 0x81},
		"SUBSCRIBE no filters":        {[]byte{0x82, 0x03, 0x00, 0x01, 0x00}, 0x82},
		"server-only CONNACK":         {[]byte{0x20, 0x03, 0x00, 0x00, 0x00}, 0x82},
		"second CONNECT":              {[]byte{0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x00}, 0x82},
		"unknown topic alias":         {[]byte{0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x09}, 0x82},
		"PINGREQ with body":           {[]byte{0xC0, 0x01, 0x00}, 0x81},
	}
	for name, c := range after {
		t.Run(name, func(t *testing.T) {
			r := dialRaw(t, b.MQTT)
			r.connect("raw-"+name, packets.Properties{})
			r.write(c.b)
			pk := r.read(5 * time.Second)
			if pk == nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != c.rc {
				t.Fatalf("want DISCONNECT %#x, got %+v", c.rc, pk)
			}
			r.closed()
		})
	}
	// The bystander is unaffected.
	p := mustDial5(t, b.MQTT, "checker", nil)
	p.pub(t, pub5("still/alive", 1, "yes"))
	if m := good.next(t); string(m.Payload) != "yes" {
		t.Fatal("bystander lost")
	}
}

func TestRawUnsupportedVersion(t *testing.T) {
	b := test.StartBroker(t)
	r := dialRaw(t, b.MQTT)
	r.v = 4
	r.write([]byte{0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x07, 0x02, 0x00, 0x3C, 0x00, 0x00})
	ack := r.expect(packets.Connack)
	if ack.ReasonCode != 1 { // [MQTT-3.1.2-2] 0x01 unacceptable protocol version
		t.Fatalf("connack %#x", ack.ReasonCode)
	}
	r.closed()
}

func TestRawPacketTooLargeAndQuota(t *testing.T) {
	b := test.StartBroker(t, test.WithConfig(func(c *config.Config) { c.Limits.MaxFrameBytes = 4096 }))
	r := dialRaw(t, b.MQTT)
	ack := r.connect("big", packets.Properties{})
	if ack.Properties.MaximumPacketSize != 4096 {
		t.Fatalf("CONNACK maximum packet size %d", ack.Properties.MaximumPacketSize)
	}
	r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1, TopicName: "big", Payload: make([]byte, 5000)})
	if pk := r.read(5 * time.Second); pk == nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != 0x95 {
		t.Fatalf("want DISCONNECT 0x95, got %+v", pk)
	}
	r.closed()

	// A full reject-publish queue refuses with 0x97 quota exceeded.
	br := b.Core()
	if _, err := br.DeclareQueue(core.QueueConfig{Name: "tiny", MaxLength: 1, Overflow: core.OverflowRejectPublish}); err != nil {
		t.Fatal(err)
	}
	if err := br.Bind(core.Binding{Source: "amq.topic", Destination: "tiny", Key: "quota.#"}); err != nil {
		t.Fatal(err)
	}
	r = dialRaw(t, b.MQTT)
	r.connect("quota", packets.Properties{})
	for i, want := range []byte{0x00, 0x97} {
		r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: uint16(i + 1), TopicName: "quota/x", Payload: []byte("x")})
		if pk := r.expect(packets.Puback); pk.ReasonCode != want || pk.PacketID != uint16(i+1) {
			t.Fatalf("puback %d: %#x", i, pk.ReasonCode)
		}
	}
}

// The server honours the client's Receive Maximum [MQTT-3.3.4-9] and uses
// topic aliases up to the client's maximum [MQTT-3.3.2-10].
func TestRawReceiveMaximumAndAliases(t *testing.T) {
	b := test.StartBroker(t)
	r := dialRaw(t, b.MQTT)
	r.connect("slow", packets.Properties{ReceiveMaximum: 2, TopicAliasMaximum: 5})
	r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "rm/#", Qos: 1}}})
	r.expect(packets.Suback)
	p := mustDial5(t, b.MQTT, "fast", nil)
	for i := 0; i < 5; i++ {
		p.pub(t, pub5("rm/t", 1, string(rune('a'+i))))
	}
	var got []*packets.Packet
	got = append(got, r.expect(packets.Publish), r.expect(packets.Publish))
	if pk := r.read(300 * time.Millisecond); pk != nil {
		t.Fatalf("third PUBLISH before any PUBACK: %+v", pk)
	}
	if got[0].TopicName != "rm/t" || got[0].Properties.TopicAlias == 0 || got[1].TopicName != "" || got[1].Properties.TopicAlias != got[0].Properties.TopicAlias {
		t.Fatalf("aliases: %q/%d then %q/%d", got[0].TopicName, got[0].Properties.TopicAlias, got[1].TopicName, got[1].Properties.TopicAlias)
	}
	for i := 0; i < 3; i++ {
		r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: got[i].PacketID})
		got = append(got, r.expect(packets.Publish))
	}
	for i, pk := range got {
		if string(pk.Payload) != string(rune('a'+i)) {
			t.Fatalf("order: %d got %q", i, pk.Payload)
		}
	}
}

func TestRawKeepAliveTimeout(t *testing.T) {
	b := test.StartBroker(t)
	r := dialRaw(t, b.MQTT)
	r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, Connect: packets.ConnectParams{
		ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 1, ClientIdentifier: "sleepy",
		UsernameFlag: true, Username: []byte("guest"), PasswordFlag: true, Password: []byte("guest")}})
	r.expect(packets.Connack)
	start := time.Now()
	pk := r.read(5 * time.Second)
	if pk == nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != 0x8D {
		t.Fatalf("want DISCONNECT 0x8D, got %+v", pk)
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("closed after %v, before 1.5 x keepalive", el)
	}
	r.closed()
}

// DISCONNECT with reason 0x04 keeps the will [MQTT-3.14.2-1] (a lone
// reason code, remaining length 1).
func TestRawDisconnectWithWill(t *testing.T) {
	b := test.StartBroker(t)
	w := mustDial5(t, b.MQTT, "watcher", nil)
	w.sub(t, subOpt("lastwill/#", 1))
	r := dialRaw(t, b.MQTT)
	r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, Connect: packets.ConnectParams{
		ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "willer",
		UsernameFlag: true, Username: []byte("guest"), PasswordFlag: true, Password: []byte("guest"),
		WillFlag: true, WillQos: 1, WillTopic: "lastwill/willer", WillPayload: []byte("bye")}})
	r.expect(packets.Connack)
	r.write([]byte{0xE0, 0x01, 0x04})
	r.closed()
	if m := w.next(t); string(m.Payload) != "bye" {
		t.Fatalf("got %q", m.Payload)
	}
}

func (r *raw) connectWith(cp packets.ConnectParams, props packets.Properties) *packets.Packet {
	r.t.Helper()
	cp.ProtocolName = []byte("MQTT")
	cp.UsernameFlag, cp.Username, cp.PasswordFlag, cp.Password = true, []byte("guest"), true, []byte("guest")
	r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, Connect: cp, Properties: props})
	return r.expect(packets.Connack)
}

func TestRawClientIdentifiers(t *testing.T) {
	b := test.StartBroker(t)
	r := dialRaw(t, b.MQTT)
	ack := r.connectWith(packets.ConnectParams{Clean: true, Keepalive: 30}, packets.Properties{})
	if ack.ReasonCode != 0 || !strings.HasPrefix(ack.Properties.AssignedClientID, "auto-") {
		t.Fatalf("v5 empty id: rc %#x assigned %q [MQTT-3.2.2-16]", ack.ReasonCode, ack.Properties.AssignedClientID)
	}
	r = dialRaw(t, b.MQTT)
	r.v = 4
	ack = r.connectWith(packets.ConnectParams{Clean: false, Keepalive: 30}, packets.Properties{})
	if ack.ReasonCode != 2 {
		t.Fatalf("3.1.1 empty id without clean session: return code %d, want 2 [MQTT-3.1.3-8]", ack.ReasonCode)
	}
	r.closed()
}

// QoS 2 exactly once inbound: a retransmitted PUBLISH before PUBREL is
// acknowledged again but not routed twice [MQTT-4.3.3-9]; more QoS 2
// publishes than the Receive Maximum give DISCONNECT 0x93 [MQTT-3.3.4-9].
func TestRawInboundQoS2(t *testing.T) {
	b := test.StartBroker(t)
	s := mustDial5(t, b.MQTT, "q2sub", nil)
	s.sub(t, subOpt("q2/#", 2))
	r := dialRaw(t, b.MQTT)
	ack := r.connectWith(packets.ConnectParams{Clean: true, Keepalive: 30, ClientIdentifier: "q2pub"}, packets.Properties{})
	pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, PacketID: 5, TopicName: "q2/x", Payload: []byte("exactly-once")}
	r.send(pk)
	if rec := r.expect(packets.Pubrec); rec.PacketID != 5 {
		t.Fatalf("pubrec id %d", rec.PacketID)
	}
	pk.FixedHeader.Dup = true
	r.send(pk)
	r.expect(packets.Pubrec)
	r.write([]byte{0x62, 0x02, 0x00, 0x05}) // PUBREL 5
	if comp := r.expect(packets.Pubcomp); comp.PacketID != 5 {
		t.Fatalf("pubcomp id %d", comp.PacketID)
	}
	if m := s.next(t); string(m.Payload) != "exactly-once" || m.QoS != 2 {
		t.Fatalf("got %q qos %d", m.Payload, m.QoS)
	}
	s.none(t, 200*time.Millisecond)

	max := int(ack.Properties.ReceiveMaximum)
	if max == 0 || max > 1000 {
		t.Fatalf("CONNACK receive maximum %d", max)
	}
	for i := 1; i <= max+1; i++ {
		r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, PacketID: uint16(100 + i), TopicName: "q2/flood", Payload: []byte("x")})
	}
	for {
		pk := r.read(5 * time.Second)
		if pk == nil {
			t.Fatal("no DISCONNECT 0x93")
		}
		if pk.FixedHeader.Type == packets.Disconnect {
			if pk.ReasonCode != 0x93 {
				t.Fatalf("disconnect %#x", pk.ReasonCode)
			}
			break
		}
	}
}

// A session that started with expiry 0 may not set one at DISCONNECT [MQTT-3.14.2-2].
func TestRawDisconnectExpiryProtocolError(t *testing.T) {
	b := test.StartBroker(t)
	r := dialRaw(t, b.MQTT)
	r.connectWith(packets.ConnectParams{Clean: true, Keepalive: 30, ClientIdentifier: "zero"}, packets.Properties{})
	r.write([]byte{0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x3C}) // DISCONNECT, SessionExpiryInterval 60
	if pk := r.read(5 * time.Second); pk == nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != 0x82 {
		t.Fatalf("want DISCONNECT 0x82, got %+v", pk)
	}
}

// A QoS 1 message delivered but not acknowledged before a broker restart
// is delivered again, with DUP, to the resumed persistent session.
func TestRawUnackedSurvivesRestart(t *testing.T) {
	b := test.StartBroker(t)
	persistent := packets.Properties{SessionExpiryInterval: 3600, SessionExpiryIntervalFlag: true}
	r := dialRaw(t, b.MQTT)
	r.connectWith(packets.ConnectParams{Clean: true, Keepalive: 30, ClientIdentifier: "unacked"}, persistent)
	r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "ua/#", Qos: 1}}})
	r.expect(packets.Suback)
	p := mustDial5(t, b.MQTT, "ua-pub", nil)
	p.pub(t, pub5("ua/1", 1, "keep-me"))
	if pk := r.expect(packets.Publish); pk.FixedHeader.Dup || string(pk.Payload) != "keep-me" {
		t.Fatalf("first delivery %+v", pk)
	}
	r.nc.Close() // no PUBACK
	p.Disconnect(&paho.Disconnect{})
	b.Stop(t)
	b2 := test.StartBroker(t, test.WithDataDir(b.DataDir))
	r2 := dialRaw(t, b2.MQTT)
	ack := r2.connectWith(packets.ConnectParams{Clean: false, Keepalive: 30, ClientIdentifier: "unacked"}, persistent)
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	pk := r2.expect(packets.Publish)
	if !pk.FixedHeader.Dup || string(pk.Payload) != "keep-me" || pk.TopicName != "ua/1" || pk.FixedHeader.Qos != 1 {
		t.Fatalf("redelivery %+v", pk)
	}
}

// MQTT 3.1.1 has no negative PUBACK: a refused publish closes the
// connection without acknowledging it, so the client publishes it again.
func TestRaw311RefusedPublishCloses(t *testing.T) {
	b := test.StartBroker(t)
	br := b.Core()
	if _, err := br.DeclareQueue(core.QueueConfig{Name: "tiny311", MaxLength: 1, Overflow: core.OverflowRejectPublish}); err != nil {
		t.Fatal(err)
	}
	if err := br.Bind(core.Binding{Source: "amq.topic", Destination: "tiny311", Key: "full.#"}); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, b.MQTT)
	r.v = 4
	r.connectWith(packets.ConnectParams{Clean: true, Keepalive: 30, ClientIdentifier: "v3quota"}, packets.Properties{})
	r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1, TopicName: "full/x", Payload: []byte("1")})
	r.expect(packets.Puback)
	r.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 2, TopicName: "full/x", Payload: []byte("2")})
	if pk := r.read(5 * time.Second); pk != nil {
		t.Fatalf("refused publish answered with %+v", pk)
	}
	r.closed()
}

// An inbound QoS 2 exchange interrupted by a broker restart completes
// without a duplicate: the retransmitted PUBLISH is not routed again.
func TestRawQoS2AcrossRestart(t *testing.T) {
	b := test.StartBroker(t)
	persistent := packets.Properties{SessionExpiryInterval: 3600, SessionExpiryIntervalFlag: true}
	s := mustDial5(t, b.MQTT, "q2r-sub", func(c *paho.Connect) {
		c.CleanStart = true
		c.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}
	})
	s.sub(t, subOpt("q2r/#", 2))
	s.Disconnect(&paho.Disconnect{})
	r := dialRaw(t, b.MQTT)
	r.connectWith(packets.ConnectParams{Clean: true, Keepalive: 30, ClientIdentifier: "q2r"}, persistent)
	pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, PacketID: 9, TopicName: "q2r/x", Payload: []byte("once")}
	r.send(pk)
	r.expect(packets.Pubrec)
	r.nc.Close() // before PUBREL
	test.WaitFor(t, 5*time.Second, "session released", func() bool {
		_, err := b.Core().Meta("mqtt-sessions").Get("q2r")
		return err == nil
	})
	b.Stop(t)
	b2 := test.StartBroker(t, test.WithDataDir(b.DataDir))
	r2 := dialRaw(t, b2.MQTT)
	r2.connectWith(packets.ConnectParams{Clean: false, Keepalive: 30, ClientIdentifier: "q2r"}, persistent)
	pk.FixedHeader.Dup = true
	r2.send(pk) // [MQTT-4.3.3-9] the client may resend the PUBLISH
	r2.expect(packets.Pubrec)
	r2.write([]byte{0x62, 0x02, 0x00, 0x09})
	r2.expect(packets.Pubcomp)
	s2 := mustDial5(t, b2.MQTT, "q2r-sub", func(c *paho.Connect) {
		c.CleanStart = false
		c.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}
	})
	if m := s2.next(t); string(m.Payload) != "once" {
		t.Fatalf("got %q", m.Payload)
	}
	s2.none(t, 300*time.Millisecond)
}
