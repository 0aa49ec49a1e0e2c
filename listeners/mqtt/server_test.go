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
	"github.com/omnibroker/broker/listeners"
)

func newTestHandler(t *testing.T) (*Handler, *core.Broker) {
	t.Helper()
	b, err := core.Open(core.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.SetUsers([]core.User{{Name: "u", Password: "p"}}); err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Broker: b, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return h, b
}

// pipeClient runs ServeConn on one end of a pipe and returns the other.
func pipeClient(t *testing.T, h *Handler) (net.Conn, *bufio.Reader, chan struct{}) {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); h.ServeConn(context.Background(), server) }()
	t.Cleanup(func() { client.Close(); <-done })
	return client, bufio.NewReader(client), done
}

func writePk(t *testing.T, c net.Conn, pk *packets.Packet) {
	t.Helper()
	var buf bytesBuffer
	if err := encodePacket(&buf.Buffer, pk); err != nil {
		t.Fatal(err)
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// readConnack reads a server CONNACK (readPacket refuses server packets).
func readConnack(br *bufio.Reader) (packets.Packet, error) {
	var pk packets.Packet
	hb, err := br.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(br)
	if err != nil {
		return pk, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = 5
	return pk, pk.ConnackDecode(body)
}

func connectPk(id, user, pass string) *packets.Packet {
	return &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pass)}}
}

func TestStatsAndCloseReasons(t *testing.T) {
	h, _ := newTestHandler(t)
	c, br, done := pipeClient(t, h)
	writePk(t, c, connectPk("a", "u", "p"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack, err := readConnack(br)
	if err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("connack %+v %v", ack, err)
	}
	if n := h.Stats().Connections.Load(); n != 1 {
		t.Fatalf("connections %d", n)
	}
	writePk(t, c, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 5, TopicName: "s/t", Payload: []byte("x")})
	writePk(t, c, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5})
	<-done
	st := h.Stats()
	if st.Connections.Load() != 0 || st.PublishIn.Load() != 1 || st.Closes()[listeners.ReasonClientClosed] != 1 {
		t.Fatalf("connections %d publishes %d closes %v", st.Connections.Load(), st.PublishIn.Load(), st.Closes())
	}

	c2, br2, done2 := pipeClient(t, h)
	writePk(t, c2, connectPk("b", "u", "wrong"))
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if ack, err := readConnack(br2); err != nil || ack.ReasonCode != rcBadUserOrPassword {
		t.Fatalf("connack %+v %v", ack, err)
	}
	<-done2
	if st.Closes()[listeners.ReasonAuthFailed] != 1 {
		t.Fatalf("closes %v", st.Closes())
	}
}

// Sessions and their subscriptions survive a handler restart on the same
// core (the stored record is what New reads back).
func TestSessionRecordRestore(t *testing.T) {
	h, b := newTestHandler(t)
	s := newSession("dev", 600, true)
	s.subs["a/+"] = &subscription{Filter: "a/+", QoS: 1, ID: 4}
	s.subs["$share/g/b/#"] = &subscription{Filter: "b/#", Group: "g", QoS: 2}
	if err := h.persist(s, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	h.storeInQoS2(s, 7)
	h.storeOutRel(s, 9, relKey(s.queue, "msg-9"))
	gone := newSession("a/b/gone", 600, true) // QoS 2 state of a session that no longer exists
	h.storeInQoS2(gone, 3)
	w := &will{topic: "w/t", qos: 1, msg: &core.Message{Body: []byte("bye")}}
	if err := h.armWill("dev", w, 3600); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.pendWill("dev", w, time.Now().Add(time.Hour)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	h2, err := New(Options{Broker: b, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close(context.Background())
	r := h2.sessions["dev"]
	if r == nil || r.expiry != 600 || !r.durable || len(r.subs) != 2 || r.subs["a/+"].ID != 4 || !r.inQoS2[7] || r.expireTimer == nil {
		t.Fatalf("restored %+v", r)
	}
	if !r.outRel[9] || r.relMsgs[relKey(s.queue, "msg-9")] != 9 || len(r.inQoS2) != 1 || len(r.outRel) != 1 {
		t.Fatalf("restored QoS 2 state: in %v out %v msgs %v", r.inQoS2, r.outRel, r.relMsgs)
	}
	if keys := b.Meta(qos2NS).List(); len(keys) != 2 {
		t.Fatalf("orphan QoS 2 state kept: %v", keys)
	}
	h2.mu.Lock()
	pending := r.willFire != nil && r.willPending != nil && r.willTimer != nil
	h2.mu.Unlock()
	if !pending {
		t.Fatal("stored delayed will not re-armed")
	}
	if h2.shared[sharedQueue("g", "b/#")] != 1 {
		t.Fatalf("shared membership %v", h2.shared)
	}
	// Long client ids give valid queue names.
	long := string(make([]byte, 300))
	if q := sessionQueue(long); len(q) > 255 {
		t.Fatalf("queue name of %d bytes", len(q))
	}
}

func TestQoS2Keys(t *testing.T) {
	for _, c := range []struct {
		dir    byte
		id     uint16
		client string
	}{{'i', 1, "a"}, {'o', 65535, "x/y/z"}, {'i', 7, "/"}, {'o', 2, ""}} {
		dir, id, client, ok := parseQoS2Key(qos2Key(c.dir, c.id, c.client))
		if !ok || dir != c.dir || id != c.id || client != c.client {
			t.Fatalf("%c %d %q: got %c %d %q %v", c.dir, c.id, c.client, dir, id, client, ok)
		}
	}
	for _, k := range []string{"", "i/", "x/1/a", "i/0/a", "i/70000/a", "i/a/b", "i1/a", "o//a"} {
		if _, _, _, ok := parseQoS2Key(k); ok {
			t.Fatalf("%q accepted", k)
		}
	}
}
