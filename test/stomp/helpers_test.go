package stomp_test

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/gorilla/websocket"

	"github.com/omnibroker/broker/test"
)

// transport dials a broker one way.
type transport struct {
	name string
	opts func(t *testing.T) []test.Option
	dial func(t *testing.T, b *test.Broker) io.ReadWriteCloser
}

var transports = []transport{
	{name: "tcp", dial: func(t *testing.T, b *test.Broker) io.ReadWriteCloser {
		c, err := net.Dial("tcp", b.STOMP)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}},
	{name: "tls", opts: func(t *testing.T) []test.Option {
		return []test.Option{test.WithTLS(test.NewCert(t), "stomp")}
	}, dial: func(t *testing.T, b *test.Broker) io.ReadWriteCloser {
		c, err := tls.Dial("tcp", b.STOMP, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}},
	{name: "ws", dial: func(t *testing.T, b *test.Broker) io.ReadWriteCloser {
		return dialWS(t, "ws://"+b.WS+"/stomp", "v12.stomp")
	}},
}

var versions = []stomp.Version{stomp.V10, stomp.V11, stomp.V12}

// wsStream adapts a client WebSocket to the byte stream go-stomp reads.
type wsStream struct {
	c *websocket.Conn
	r io.Reader
}

func dialWS(t testing.TB, url, proto string) *wsStream {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if proto != "" {
		d.Subprotocols = []string{proto}
	}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, resp)
	}
	return &wsStream{c: c}
}

func (w *wsStream) Read(p []byte) (int, error) {
	for {
		if w.r == nil {
			_, r, err := w.c.NextReader()
			if err != nil {
				return 0, err
			}
			w.r = r
		}
		n, err := w.r.Read(p)
		if err == io.EOF {
			w.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (w *wsStream) Write(p []byte) (int, error) {
	if err := w.c.WriteMessage(websocket.TextMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *wsStream) Close() error { return w.c.Close() }

func connect(t *testing.T, rw io.ReadWriteCloser, v stomp.Version, opts ...func(*stomp.Conn) error) *stomp.Conn {
	t.Helper()
	opts = append([]func(*stomp.Conn) error{stomp.ConnOpt.Login("guest", "guest"), stomp.ConnOpt.AcceptVersion(v),
		stomp.ConnOpt.Host("/"),
		// go-stomp's Unsubscribe can miss its own wake-up (a sync.Cond waited
		// on from another goroutine) and then sits out this timeout.
		stomp.ConnOpt.UnsubscribeReceiptTimeout(2 * time.Second)}, opts...)
	c, err := stomp.Connect(rw, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", v, err)
	}
	t.Cleanup(func() { c.MustDisconnect() })
	return c
}

func recv(t *testing.T, s *stomp.Subscription) *stomp.Message {
	t.Helper()
	select {
	case m, ok := <-s.C:
		if !ok {
			t.Fatal("subscription closed")
		}
		if m.Err != nil {
			t.Fatalf("subscription error: %v", m.Err)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return nil
}

func noMessage(t *testing.T, s *stomp.Subscription, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.C:
		t.Fatalf("unexpected message %v", m)
	case <-time.After(d):
	}
}

// synced waits until the broker has processed every frame c sent so far
// (go-stomp's Subscribe does not wait for a receipt): frames on one
// connection are served in order, so a SEND receipt proves it.
func synced(t *testing.T, c *stomp.Conn) {
	t.Helper()
	if err := c.Send("/queue/stomp-test-sync", "", nil, stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
}
