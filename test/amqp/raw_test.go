package amqp_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/listeners/amqp/frame"
	"github.com/omnibroker/broker/test"
)

// rawConn is a hand-driven AMQP client for feeding malformed frames.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	fr *frame.Reader
}

func rawDial(t *testing.T, addr string, heartbeat uint16) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	must(t, err)
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(15 * time.Second))
	r := &rawConn{t: t, nc: nc, fr: frame.NewReader(bufio.NewReader(nc))}
	r.fr.Max = 1 << 20
	r.write(frame.ProtocolHeader)
	if _, ok := r.method().(*frame.ConnectionStart); !ok {
		t.Fatal("no connection.start")
	}
	r.send(0, &frame.ConnectionStartOk{Mechanism: "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US"})
	tune, ok := r.method().(*frame.ConnectionTune)
	if !ok {
		t.Fatal("no connection.tune")
	}
	r.send(0, &frame.ConnectionTuneOk{ChannelMax: tune.ChannelMax, FrameMax: tune.FrameMax, Heartbeat: heartbeat})
	r.send(0, &frame.ConnectionOpen{VirtualHost: "/"})
	if _, ok := r.method().(*frame.ConnectionOpenOk); !ok {
		t.Fatal("no connection.open-ok")
	}
	return r
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawConn) send(ch uint16, m frame.Method) { r.write(frame.AppendMethod(nil, ch, m)) }

// method reads the next method frame, skipping heartbeats.
func (r *rawConn) method() frame.Method {
	r.t.Helper()
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.t.Fatalf("read: %v", err)
		}
		if f.Type == frame.TypeHeartbeat {
			continue
		}
		if f.Type != frame.TypeMethod {
			r.t.Fatalf("unexpected frame type %d", f.Type)
		}
		m, err := frame.ReadMethod(f.Payload)
		if err != nil {
			r.t.Fatalf("decode: %v", err)
		}
		return m
	}
}

// expectConnClose reads until connection.close with code, answers
// close-ok and checks that the server then closes the socket.
func (r *rawConn) expectConnClose(code uint16) {
	r.t.Helper()
	for {
		m := r.method()
		if cl, ok := m.(*frame.ConnectionClose); ok {
			if cl.ReplyCode != code {
				r.t.Fatalf("connection.close %d %q, want %d", cl.ReplyCode, cl.ReplyText, code)
			}
			r.send(0, &frame.ConnectionCloseOk{})
			if _, err := io.ReadAll(r.nc); err != nil {
				r.t.Fatalf("socket not closed after close-ok: %v", err)
			}
			return
		}
	}
}

func TestRawMalformedFrames(t *testing.T) {
	b := test.StartBroker(t)
	// A well-behaved connection that must keep working throughout.
	good := channel(t, dial(t, b))
	_, err := good.QueueDeclare("survivor", false, false, false, false, nil)
	must(t, err)

	openCh := func(r *rawConn, id uint16) {
		r.send(id, &frame.ChannelOpen{})
		if _, ok := r.method().(*frame.ChannelOpenOk); !ok {
			t.Fatal("no channel.open-ok")
		}
	}
	cases := []struct {
		name string
		code uint16
		feed func(r *rawConn)
	}{
		{"wrong frame end", 501, func(r *rawConn) {
			f := frame.AppendMethod(nil, 0, &frame.ChannelOpen{})
			f[len(f)-1] = 0x00
			r.write(f)
		}},
		{"frame over frame_max", 501, func(r *rawConn) {
			hdr := []byte{frame.TypeBody, 0, 1, 0x10, 0, 0, 0} // 256 MiB body frame
			r.write(hdr)
		}},
		{"unknown frame type", 501, func(r *rawConn) { r.write([]byte{7, 0, 0, 0, 0, 0, 0, frame.End}) }},
		{"unknown class and method", 540, func(r *rawConn) {
			openCh(r, 1)
			r.write([]byte{frame.TypeMethod, 0, 1, 0, 0, 0, 4, 0, 99, 0, 7, frame.End})
		}},
		{"truncated arguments", 502, func(r *rawConn) {
			openCh(r, 1)
			r.write([]byte{frame.TypeMethod, 0, 1, 0, 0, 0, 6, 0, 50, 0, 10, 0, 0, frame.End}) // queue.declare cut short
		}},
		{"method on a channel never opened", 504, func(r *rawConn) {
			r.send(5, &frame.QueueDeclare{Queue: "x"})
		}},
		{"body without header", 505, func(r *rawConn) {
			openCh(r, 1)
			r.send(1, &frame.BasicPublish{RoutingKey: "survivor"})
			r.write([]byte{frame.TypeBody, 0, 1, 0, 0, 0, 2, 'h', 'i', frame.End})
		}},
		{"content with no publish", 505, func(r *rawConn) {
			openCh(r, 1)
			r.write(frame.AppendContent(nil, 1, frame.ClassBasic, &frame.Properties{}, []byte("x"), 4096))
		}},
		{"method between header and body", 505, func(r *rawConn) {
			openCh(r, 1)
			r.send(1, &frame.BasicPublish{RoutingKey: "survivor"})
			f := frame.AppendContent(nil, 1, frame.ClassBasic, &frame.Properties{}, []byte("xyz"), 4096)
			r.write(f[:len(f)-11]) // the header only (the body frame is 7+3+1 bytes)
			r.send(1, &frame.QueueDeclare{Queue: "y"})
		}},
		{"second channel.open", 504, func(r *rawConn) {
			openCh(r, 1)
			r.send(1, &frame.ChannelOpen{})
		}},
		{"connection.start from the client", 503, func(r *rawConn) {
			r.send(0, &frame.ConnectionStart{})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rawDial(t, b.AMQP, 0)
			tc.feed(r)
			r.expectConnClose(tc.code)
			must(t, good.Publish("", "survivor", false, false, amqp.Publishing{Body: []byte("still here")}))
		})
	}
	test.WaitFor(t, 5*time.Second, "survivor got every publish", func() bool {
		i, _ := b.Core().Queue("survivor", "")
		return i.Ready == len(cases)
	})
}

func TestRawChannelErrorDiscardsUntilCloseOk(t *testing.T) {
	b := test.StartBroker(t)
	r := rawDial(t, b.AMQP, 0)
	r.send(1, &frame.ChannelOpen{})
	r.method()
	// A message larger than the limit: 406 on the channel; its body frames
	// (sent anyway) must be discarded, not treated as a protocol error.
	r.send(1, &frame.BasicPublish{RoutingKey: "q"})
	big := bytes.Repeat([]byte("x"), 100)
	f := frame.AppendContent(nil, 1, frame.ClassBasic, &frame.Properties{}, big, 4096)
	// Patch the announced body size to 1 GiB.
	copy(f[11:19], []byte{0, 0, 0, 0, 0x40, 0, 0, 0})
	r.write(f)
	cl, ok := r.method().(*frame.ChannelClose)
	if !ok || cl.ReplyCode != 406 || cl.ClassID != 60 || cl.MethodID != 40 {
		t.Fatalf("want channel.close 406 for basic.publish, got %#v", cl)
	}
	r.send(1, &frame.QueueDeclare{Queue: "ignored"}) // discarded while closing
	r.send(1, &frame.ChannelCloseOk{})
	r.send(1, &frame.ChannelOpen{})
	if _, ok := r.method().(*frame.ChannelOpenOk); !ok {
		t.Fatal("channel 1 not reusable after close-ok")
	}
	if _, err := b.Core().Queue("ignored", ""); err == nil {
		t.Fatal("a method sent while the channel was closing was executed")
	}
}

func TestRawWrongProtocolHeader(t *testing.T) {
	b := test.StartBroker(t)
	nc, err := net.Dial("tcp", b.AMQP)
	must(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	nc.Write([]byte("AMQP\x01\x01\x00\x0a"))
	got, _ := io.ReadAll(nc)
	if !bytes.Equal(got, frame.ProtocolHeader) {
		t.Fatalf("got %q, want the 0-9-1 header then close", got)
	}
}

func TestRawSilentPeerIsClosed(t *testing.T) {
	b := test.StartBroker(t)
	r := rawDial(t, b.AMQP, 1) // 1 s heartbeats, then silence
	start := time.Now()
	buf := make([]byte, 64)
	for {
		_, err := r.nc.Read(buf) // server heartbeats arrive, then EOF
		if err != nil {
			break
		}
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("silent peer closed only after %v", el)
	}
}

func TestRawUpdateSecretAndHeartbeatFrames(t *testing.T) {
	b := test.StartBroker(t)
	r := rawDial(t, b.AMQP, 0)
	r.write(frame.AppendHeartbeat(nil)) // a client heartbeat is always fine
	r.send(0, &frame.ConnectionUpdateSecret{NewSecret: "guest", Reason: "token refresh"})
	if _, ok := r.method().(*frame.ConnectionUpdateSecretOk); !ok {
		t.Fatal("no update-secret-ok")
	}
	// A heartbeat on a non-zero channel is a frame error (§4.2.7).
	r.write([]byte{frame.TypeHeartbeat, 0, 3, 0, 0, 0, 0, frame.End})
	r.expectConnClose(501)
}

func TestRawSimultaneousChannelClose(t *testing.T) {
	b := test.StartBroker(t)
	r := rawDial(t, b.AMQP, 0)
	r.send(1, &frame.ChannelOpen{})
	r.method()
	r.send(1, &frame.QueueDeclare{Queue: "missing", Passive: true})
	r.send(1, &frame.ChannelClose{ReplyCode: 200}) // crosses the server's close
	if cl, ok := r.method().(*frame.ChannelClose); !ok || cl.ReplyCode != 404 {
		t.Fatalf("want channel.close 404, got %#v", cl)
	}
	if _, ok := r.method().(*frame.ChannelCloseOk); !ok {
		t.Fatal("no close-ok for the client's crossing close")
	}
	r.send(1, &frame.ChannelOpen{})
	if _, ok := r.method().(*frame.ChannelOpenOk); !ok {
		t.Fatal("channel 1 not reusable after crossing closes")
	}
}

func TestRawChannelOverChannelMax(t *testing.T) {
	b := test.StartBroker(t)
	r := rawDial(t, b.AMQP, 0) // tune-ok echoes the server's channel_max (2047)
	r.send(4000, &frame.ChannelOpen{})
	r.expectConnClose(530)
}
