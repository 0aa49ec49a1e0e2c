package mqtt

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/omnibroker/broker/core"
)

var fuzzConnect = []byte{0x10, 0x12, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x05, 'f', 'u', 'z', 'z', '1'}

// FuzzServeConn drives a whole connection (an MQTT 5 CONNECT followed by
// arbitrary bytes) through the adapter and an in-memory core: it must
// neither panic nor hang, whatever the client sends.
func FuzzServeConn(f *testing.F) {
	for _, g := range golden {
		if g.version == 5 {
			f.Add(g.wire)
		}
	}
	f.Add([]byte{0x82, 0x09, 0x00, 0x01, 0x00, 0x00, 0x03, 'a', '/', '#', 0x02, 0x32, 0x06, 0x00, 0x01, 'a', 0x00, 0x01, 0x00})
	f.Add([]byte{0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x09})
	f.Add([]byte{0x62, 0x02, 0x00, 0x07, 0xE0, 0x00})
	b, err := core.Open(core.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	h, err := New(Options{Broker: b, Logger: slog.New(slog.DiscardHandler), MaxPacketSize: 1 << 16, ConnectTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeConn(context.Background(), server)
		}()
		go io.Copy(io.Discard, client)
		client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		client.Write(fuzzConnect)
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("ServeConn did not return after the client went away")
		}
	})
}
