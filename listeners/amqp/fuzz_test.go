package amqp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners/amqp/frame"
)

// handshakeBytes is a complete client handshake (PLAIN guest/guest,
// frame_max 4096, no heartbeats) and a channel.open on channel 1.
func handshakeBytes() []byte {
	b := append([]byte(nil), frame.ProtocolHeader...)
	b = frame.AppendMethod(b, 0, &frame.ConnectionStartOk{Mechanism: "PLAIN", Response: "\x00guest\x00guest", Locale: "en_US"})
	b = frame.AppendMethod(b, 0, &frame.ConnectionTuneOk{ChannelMax: 16, FrameMax: 4096})
	b = frame.AppendMethod(b, 0, &frame.ConnectionOpen{VirtualHost: "/"})
	return frame.AppendMethod(b, 1, &frame.ChannelOpen{})
}

// FuzzSession drives the whole session state machine with arbitrary frames
// after a valid handshake: it must never panic or hang, whatever arrives.
func FuzzSession(f *testing.F) {
	seq := func(ms ...frame.Method) []byte {
		var b []byte
		for _, m := range ms {
			b = frame.AppendMethod(b, 1, m)
		}
		return b
	}
	f.Add(seq(&frame.QueueDeclare{Queue: "q"}, &frame.BasicConsume{Queue: "q"}, &frame.BasicAck{DeliveryTag: 1, Multiple: true}))
	pub := seq(&frame.ConfirmSelect{}, &frame.BasicPublish{RoutingKey: "q", Mandatory: true})
	pub = frame.AppendContent(pub, 1, frame.ClassBasic, &frame.Properties{Flags: frame.FlagHeaders | frame.FlagExpiration,
		Headers: core.Table{"a": int32(1)}, Expiration: "5"}, []byte("hello world"), 4096)
	f.Add(pub)
	f.Add(seq(&frame.TxSelect{}, &frame.BasicPublish{RoutingKey: "q"}, &frame.TxCommit{}, &frame.BasicRecover{Requeue: true}))
	f.Add(seq(&frame.BasicConsume{Queue: "amq.rabbitmq.reply-to", NoAck: true}, &frame.BasicQos{PrefetchCount: 1, Global: true},
		&frame.ChannelFlow{}, &frame.BasicGet{Queue: "q"}, &frame.ChannelClose{}, &frame.ChannelOpen{}))
	f.Add([]byte{frame.TypeBody, 0, 1, 0, 0, 0, 1, 'x', frame.End})
	b, err := core.Open(core.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	s := New(Options{Broker: b, Logger: slog.New(slog.DiscardHandler), Heartbeat: -1, HandshakeTimeout: 2 * time.Second})
	hs := handshakeBytes()
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.ServeConn(context.Background(), server)
		}()
		go io.Copy(io.Discard, client)
		client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		client.Write(hs)
		client.Write(data)
		client.Write(frame.AppendMethod(nil, 0, &frame.ConnectionClose{ReplyCode: 200}))
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("session did not end after the client went away")
		}
	})
}
