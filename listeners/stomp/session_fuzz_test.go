package stomp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners"
)

func newTestServer(t testing.TB) *Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := core.Open(core.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s, err := New(Options{Broker: b, Logger: log, MaxFrameBytes: 1 << 16, MaxMessageBytes: 1 << 12, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// session runs one connection over a pipe: writes in, then reads whatever
// the server answers until it closes or goes quiet.
func session(t testing.TB, s *Server, in []byte) []byte {
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() { s.ServeConn(context.Background(), server); close(done) }()
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		out <- b
	}()
	wrote := make(chan struct{})
	go func() { client.Write(in); close(wrote) }()
	select {
	case <-wrote:
	case <-done: // the server hung up first (ERROR)
	}
	// Let the server answer, then hang up as a client would.
	select {
	case <-done:
	case <-time.After(20 * time.Millisecond):
	}
	client.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not end after the client closed")
	}
	client.Close()
	return <-out
}

func TestSessionBasics(t *testing.T) {
	s := newTestServer(t)
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() { s.ServeConn(context.Background(), server); close(done) }()
	var got []byte
	readUntil := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		for !contains(string(got), want) {
			n, err := client.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v (have %q)", want, err, got)
			}
			got = append(got, buf[:n]...)
		}
	}
	go client.Write([]byte("CONNECT\naccept-version:1.2\n\n\x00SUBSCRIBE\nid:1\ndestination:/queue/q\n\n\x00" +
		"SEND\ndestination:/queue/q\nreceipt:r\n\nhi\x00"))
	for _, want := range []string{"CONNECTED\n", "RECEIPT\nreceipt-id:r\n", "MESSAGE\n", "\n\nhi\x00"} {
		readUntil(want)
	}
	go client.Write([]byte("DISCONNECT\nreceipt:bye\n\n\x00"))
	readUntil("RECEIPT\nreceipt-id:bye\n")
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("server did not close after DISCONNECT")
	}
	client.Close()
	// A malformed frame ends with protocol_error; both closes are counted.
	if out := string(session(t, s, []byte("CONNECT\naccept-version:1.2\n\n\x00BOGUS\n\n\x00"))); !contains(out, "ERROR\n") {
		t.Fatalf("no ERROR for a bad command: %q", out)
	}
	st := s.Stats()
	// The dispatcher counts a delivery after queuing it: the client may have
	// read it first.
	for deadline := time.Now().Add(5 * time.Second); st.Delivered.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	closes := st.Closes()
	if closes[listeners.ReasonClientClosed] != 1 || closes[listeners.ReasonProtocolError] != 1 ||
		st.Accepted.Load() != 2 || st.Active.Load() != 0 || st.Published.Load() != 1 || st.Delivered.Load() != 1 {
		t.Fatalf("stats: closes %v accepted %d active %d published %d delivered %d", closes, st.Accepted.Load(),
			st.Active.Load(), st.Published.Load(), st.Delivered.Load())
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// FuzzSession feeds arbitrary frames after a valid CONNECT: the server must
// never panic or hang, whatever the bytes.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"SUBSCRIBE\nid:1\ndestination:/queue/q\nack:client\n\n\x00SEND\ndestination:/queue/q\n\nx\x00ACK\nid:1\n\n\x00",
		"BEGIN\ntransaction:t\n\n\x00SEND\ndestination:/topic/a.b\ntransaction:t\n\n\x00COMMIT\ntransaction:t\n\n\x00",
		"SUBSCRIBE\nid:2\ndestination:/topic/a.>\nselector:x > 1 AND y LIKE 'a%'\n\n\x00SEND\ndestination:/topic/a.b\nx:5\ny:ab\n\n\x00",
		"SEND\ndestination:/temp-queue/r\nreply-to:/temp-queue/r\n\n\x00NACK\nid:3\n\n\x00UNSUBSCRIBE\nid:9\n\n\x00",
		"SEND\ndestination:/exchange/amq.fanout/k\nexpires:1\npriority:300\n\n\x00",
		"SUBSCRIBE\nid:d\ndestination:/topic/t\ndurable:true\n\n\x00UNSUBSCRIBE\nid:d\ndurable:true\n\n\x00",
	} {
		f.Add([]byte(s))
	}
	s := newTestServer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		session(t, s, append([]byte("CONNECT\naccept-version:1.0,1.1,1.2\n\n\x00"), in...))
	})
}
