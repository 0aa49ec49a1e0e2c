package mqtt

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

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

// FuzzServeConnPersistent is FuzzServeConn for a persistent session with a
// delayed will: QoS 2 state and the will go through core.Meta.
func FuzzServeConnPersistent(f *testing.F) {
	cp := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: false, Keepalive: 60, ClientIdentifier: "fuzz-p",
			WillFlag: true, WillTopic: "w/fuzz", WillQos: 1, WillPayload: []byte("bye"),
			WillProperties: packets.Properties{WillDelayInterval: 1}},
		Properties: packets.Properties{SessionExpiryInterval: 60, SessionExpiryIntervalFlag: true}}
	var buf bytesBuffer
	if err := encodePacket(&buf.Buffer, cp); err != nil {
		f.Fatal(err)
	}
	connect := buf.Bytes()
	f.Add([]byte{0x82, 0x08, 0x00, 0x01, 0x00, 0x00, 0x03, 'a', '/', '#', 0x02}) // SUBSCRIBE a/# QoS 2
	f.Add([]byte{0x34, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x05, 0x00,        // PUBLISH QoS 2 id 5
		0x3C, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x05, 0x00, // again, DUP
		0x62, 0x02, 0x00, 0x05}) // PUBREL 5
	f.Add([]byte{0x50, 0x02, 0x00, 0x01, 0x70, 0x02, 0x00, 0x01, 0xE0, 0x01, 0x04}) // PUBREC 1, PUBCOMP 1, DISCONNECT with will
	b, err := core.Open(core.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	h, err := New(Options{Broker: b, Logger: slog.New(slog.DiscardHandler), MaxPacketSize: 1 << 16, ConnectTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close(context.Background())
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeConn(context.Background(), server)
		}()
		go io.Copy(io.Discard, client)
		client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		client.Write(connect)
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("ServeConn did not return after the client went away")
		}
	})
}
