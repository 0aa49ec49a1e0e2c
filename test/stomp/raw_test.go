package stomp_test

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"

	"github.com/omnibroker/broker/config"
	"github.com/omnibroker/broker/listeners/stomp/frame"
	"github.com/omnibroker/broker/test"
)

// raw is a hand-driven STOMP socket for malformed input.
type raw struct {
	t  *testing.T
	c  net.Conn
	fr *frame.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := frame.NewReader(bufio.NewReader(c), frame.Limits{})
	r.SetVersion(frame.V12)
	return &raw{t: t, c: c, fr: r}
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

// next reads the next frame, skipping heart-beats.
func (r *raw) next() *frame.Frame {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := r.fr.Read()
		if err != nil {
			r.t.Fatalf("read: %v", err)
		}
		if f != nil {
			return f
		}
	}
}

// closed asserts that the server closes the socket.
func (r *raw) closed() {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := r.fr.Read()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.t.Fatal("server did not close the connection")
			}
			return
		}
		if f != nil {
			r.t.Fatalf("unexpected frame after ERROR: %s %v", f.Command, f.Headers)
		}
	}
}

func (r *raw) connect() {
	r.t.Helper()
	r.send("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00")
	if f := r.next(); f.Command != "CONNECTED" || f.Get("version") != "1.2" {
		r.t.Fatalf("got %s %v", f.Command, f.Headers)
	}
}

func TestRawMalformed(t *testing.T) {
	b := test.StartBroker(t, test.WithConfig(func(c *config.Config) { c.Limits.MaxFrameBytes = 64 << 10; c.Limits.MaxMessageBytes = 1000 }))
	cases := []struct {
		name, frames string
		connect      bool
		msg          string // expected message header (prefix)
		receipt      string
	}{
		{"not connected", "SEND\ndestination:/queue/a\n\nx\x00", false, "not connected", ""},
		{"bad command", "HELLO\n\n\x00", true, "malformed frame", ""},
		{"bad header", "SEND\ndestination\n\n\x00", true, "malformed frame", ""},
		{"bad escape", "SEND\ndestination:/queue/a\nk:\\t\n\n\x00", true, "malformed frame", ""},
		{"bad content-length", "SEND\ndestination:/queue/a\ncontent-length:zz\n\n\x00", true, "malformed frame", ""},
		{"no destination", "SEND\nreceipt:r1\n\nx\x00", true, "malformed frame", "r1"},
		{"unknown destination kind", "SEND\ndestination:/nowhere/x\nreceipt:r2\n\nx\x00", true, "invalid destination", "r2"},
		{"unknown exchange", "SUBSCRIBE\nid:1\ndestination:/exchange/nope/k\nreceipt:r3\n\n\x00", true, "not_found", "r3"},
		{"missing amq queue", "SEND\ndestination:/amq/queue/nope\nreceipt:r4\n\nx\x00", true, "not_found", "r4"},
		{"message too large", "SEND\ndestination:/queue/a\nreceipt:r5\n\n" + strings.Repeat("x", 1001) + "\x00", true, "frame too large", ""},
		{"headers too large", "SEND\n" + strings.Repeat("k:"+strings.Repeat("v", 1000)+"\n", 70) + "\n\x00", true, "frame too large", ""},
		{"bad selector", "SUBSCRIBE\nid:1\ndestination:/queue/a\nselector:a = \nreceipt:r6\n\n\x00", true, "invalid selector", "r6"},
		{"bad ack mode", "SUBSCRIBE\nid:1\ndestination:/queue/a\nack:sometimes\n\n\x00", true, "malformed frame", ""},
		{"no id in 1.2", "SUBSCRIBE\ndestination:/queue/a\n\n\x00", true, "malformed frame", ""},
		{"duplicate id", "SUBSCRIBE\nid:1\ndestination:/queue/a\n\n\x00SUBSCRIBE\nid:1\ndestination:/queue/b\n\n\x00", true, "duplicate subscription", ""},
		{"unknown tx", "COMMIT\ntransaction:t9\n\n\x00", true, "no such transaction", ""},
		{"connect twice", "CONNECT\naccept-version:1.2\n\n\x00", true, "already connected", ""},
		{"bad heart-beat", "CONNECT\naccept-version:1.2\nheart-beat:x\nlogin:guest\npasscode:guest\n\n\x00", false, "malformed frame", ""},
		{"bad login", "CONNECT\naccept-version:1.2\nlogin:guest\npasscode:nope\n\n\x00", false, "access_refused", ""},
		{"unsupported version", "CONNECT\naccept-version:2.0\n\n\x00", false, "Supported protocol versions", ""},
		{"reserved queue name", "SEND\ndestination:/queue/amq.x\nreceipt:r7\n\nx\x00", true, "access_refused", "r7"},
		{"too many transactions", manyBegins(1001), true, "too many transactions", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dialRaw(t, b.STOMP)
			if c.connect {
				r.connect()
			}
			r.send(c.frames)
			f := r.next()
			if f.Command != "ERROR" || !strings.HasPrefix(f.Get("message"), c.msg) {
				t.Fatalf("got %s %v %q", f.Command, f.Headers, f.Body)
			}
			if f.Get("receipt-id") != c.receipt {
				t.Fatalf("receipt-id %q, want %q", f.Get("receipt-id"), c.receipt)
			}
			if strings.Contains(string(f.Body), "%!") || strings.Contains(string(f.Body), "goroutine") {
				t.Fatalf("Go text leaked: %q", f.Body)
			}
			r.close()
		})
	}
	// The broker still serves others.
	c := connect(t, dialTCP(t, b), stomp.V12)
	if err := c.Send("/queue/after", "", []byte("ok"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
}

func (r *raw) close() { r.closed() }

func dialTCP(t *testing.T, b *test.Broker) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", b.STOMP)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRawProtocolDetails: 1.0 CONNECT without accept-version, escaping per
// version, content-length bodies with NUL, repeated headers, receipts on
// DISCONNECT, heart-beats both ways.
func TestRawProtocolDetails(t *testing.T) {
	b := test.StartBroker(t)
	// STOMP 1.0: no accept-version, no escaping on the way out.
	r := dialRaw(t, b.STOMP)
	r.send("CONNECT\nlogin:guest\npasscode:guest\n\n\x00")
	if f := r.next(); f.Command != "CONNECTED" || f.Get("version") != "1.0" {
		t.Fatalf("1.0 connect: %v", f.Headers)
	}
	r.fr.SetVersion(frame.V10)
	r.send("SUBSCRIBE\ndestination:/queue/raw10\n\n\x00")
	r.send("SEND\ndestination:/queue/raw10\nk:a\\cb\nk:second\ncontent-length:3\n\na\x00b\x00")
	f := r.next()
	if f.Command != "MESSAGE" || f.Get("k") != "a\\cb" || string(f.Body) != "a\x00b" || f.Get("subscription") != "/queue/raw10" {
		t.Fatalf("1.0 message: %v %q", f.Headers, f.Body)
	}
	r.send("DISCONNECT\nreceipt:bye\n\n\x00")
	if f := r.next(); f.Command != "RECEIPT" || f.Get("receipt-id") != "bye" {
		t.Fatalf("disconnect receipt: %v", f.Headers)
	}
	r.closed()

	// STOMP 1.2: \r escaping, ack header, heart-beats.
	r = dialRaw(t, b.STOMP)
	r.send("CONNECT\naccept-version:1.1,1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:0,200\n\n\x00")
	f = r.next()
	if f.Get("heart-beat") != "1000,0" {
		t.Fatalf("heart-beat negotiated %q", f.Get("heart-beat"))
	}
	r.send("SUBSCRIBE\nid:s1\ndestination:/queue/raw12\nack:client-individual\n\n\x00")
	r.send("SEND\ndestination:/queue/raw12\nk:a\\rb\\nc\\cd\\\\e\n\n\x00")
	f = r.next()
	if f.Get("k") != "a\rb\nc:d\\e" || f.Get("ack") == "" || f.Get("subscription") != "s1" {
		t.Fatalf("1.2 message: %v", f.Headers)
	}
	r.send("ACK\nid:" + f.Get("ack") + "\nreceipt:a1\n\n\x00")
	if f := r.next(); f.Command != "RECEIPT" {
		t.Fatalf("ack receipt: %v", f.Headers)
	}
	// Server heart-beats arrive as EOLs while idle.
	r.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1)
	if _, err := r.c.Read(buf); err != nil || buf[0] != '\n' {
		t.Fatalf("no server heart-beat: %v %q", err, buf)
	}

	// A client that promised heart-beats and goes silent is closed.
	r = dialRaw(t, b.STOMP)
	r.send("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:1000,0\n\n\x00")
	if f := r.next(); f.Get("heart-beat") != "0,1000" {
		t.Fatalf("heart-beat negotiated %q", f.Get("heart-beat"))
	}
	start := time.Now()
	r.closed()
	if time.Since(start) > 4*time.Second {
		t.Fatalf("silent client closed after %v", time.Since(start))
	}
}

// TestRawStompCommandAndNackDiscard: the STOMP command connects like
// CONNECT; NACK with requeue:false discards instead of redelivering.
func TestRawStompCommandAndNackDiscard(t *testing.T) {
	b := test.StartBroker(t)
	r := dialRaw(t, b.STOMP)
	r.send("STOMP\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00")
	if f := r.next(); f.Command != "CONNECTED" {
		t.Fatalf("STOMP frame: %s %v", f.Command, f.Headers)
	}
	r.send("SUBSCRIBE\nid:s\ndestination:/queue/nackq\nack:client-individual\n\n\x00")
	r.send("SEND\ndestination:/queue/nackq\n\none\x00SEND\ndestination:/queue/nackq\n\ntwo\x00")
	f := r.next()
	if string(f.Body) != "one" {
		t.Fatalf("got %q", f.Body)
	}
	r.send("NACK\nid:" + f.Get("ack") + "\nrequeue:false\n\n\x00")
	f = r.next()
	if string(f.Body) != "two" || f.Get("redelivered") != "" {
		t.Fatalf("after discard got %q %v", f.Body, f.Headers)
	}
	r.send("NACK\nid:" + f.Get("ack") + "\n\n\x00")
	f = r.next()
	if string(f.Body) != "two" || f.Get("redelivered") != "true" {
		t.Fatalf("requeued got %q %v", f.Body, f.Headers)
	}
	// Older stomp.js acks 1.2 messages by message-id + subscription.
	r.send("ACK\nmessage-id:" + f.Get("message-id") + "\nsubscription:s\nreceipt:k\n\n\x00")
	if f := r.next(); f.Command != "RECEIPT" {
		t.Fatalf("got %s", f.Command)
	}
	test.WaitFor(t, 5*time.Second, "ack by message-id", func() bool {
		info, _ := b.Core().Queue("nackq", "")
		return info.Ready == 0 && info.Unacked == 0
	})
	r.send("ACK\nreceipt:k2\n\n\x00")
	if f := r.next(); f.Command != "ERROR" || !strings.Contains(string(f.Body), "id header") {
		t.Fatalf("ACK without id: %s %v %q", f.Command, f.Headers, f.Body)
	}
}

// TestRawTransactionReceipts: a frame buffered in a transaction gets one
// receipt at once; the COMMIT's receipt comes after its SENDs are stored.
func TestRawTransactionReceipts(t *testing.T) {
	b := test.StartBroker(t)
	r := dialRaw(t, b.STOMP)
	r.connect()
	r.send("SUBSCRIBE\nid:s\ndestination:/queue/txr\nack:client-individual\n\n\x00" +
		"SEND\ndestination:/queue/txr\n\nfirst\x00")
	m := r.next()
	r.send("BEGIN\ntransaction:t1\n\n\x00" +
		"ACK\nid:" + m.Get("ack") + "\ntransaction:t1\nreceipt:a1\n\n\x00" +
		"SEND\ndestination:/queue/txr\npersistent:true\ntransaction:t1\nreceipt:s1\n\nsecond\x00" +
		"COMMIT\ntransaction:t1\nreceipt:c1\n\n\x00" +
		"DISCONNECT\nreceipt:bye\n\n\x00")
	var receipts []string
	for len(receipts) < 4 {
		f := r.next()
		switch f.Command {
		case "RECEIPT":
			receipts = append(receipts, f.Get("receipt-id"))
		case "MESSAGE":
			if string(f.Body) != "second" {
				t.Fatalf("unexpected message %q", f.Body)
			}
		default:
			t.Fatalf("got %s %v", f.Command, f.Headers)
		}
	}
	if strings.Join(receipts, ",") != "a1,s1,c1,bye" {
		t.Fatalf("receipts %v", receipts)
	}
	r.closed()
	if info, _ := b.Core().Queue("txr", ""); info.Ready+info.Unacked != 1 {
		t.Fatalf("after commit: %+v", info)
	}
}

func manyBegins(n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString("BEGIN\ntransaction:t" + strconv.Itoa(i) + "\n\n\x00")
	}
	return sb.String()
}
