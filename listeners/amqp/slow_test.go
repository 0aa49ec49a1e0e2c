package amqp

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners"
	"github.com/omnibroker/broker/listeners/amqp/frame"
)

// TestSlowConsumerNeverBlocksTheCore: a consumer whose client stops
// reading is paused by its full write queue (the core's dispatcher is never
// blocked: a second consumer on the queue keeps receiving), and once the
// write timeout passes the connection is closed and its deliveries requeued.
func TestSlowConsumerNeverBlocksTheCore(t *testing.T) {
	b, err := core.Open(core.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := New(Options{Broker: b, Logger: slog.New(slog.DiscardHandler), Heartbeat: -1,
		WriteSoftLimit: 64 << 10, WriteHardLimit: 256 << 10, WriteTimeout: 500 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go s.ServeConn(context.Background(), nc)
		}
	}()
	if _, err := b.DeclareQueue(core.QueueConfig{Name: "slow"}); err != nil {
		t.Fatal(err)
	}
	// The slow client: handshake, consume without prefetch, never read again.
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	hs := handshakeBytes()
	hs = frame.AppendMethod(hs, 1, &frame.BasicConsume{Queue: "slow", ConsumerTag: "slow"})
	nc.Write(hs)
	fr := frame.NewReader(bufio.NewReaderSize(nc, 512))
	fr.Max = 1 << 20
	for { // read until consume-ok, then stop reading
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := frame.ReadMethod(f.Payload); m != nil {
			if _, ok := m.(*frame.BasicConsumeOk); ok {
				break
			}
		}
	}
	// A healthy in-process consumer on the same queue.
	got := make(chan struct{}, 1<<20)
	fast, err := b.Consume("slow", core.ConsumeOptions{Tag: "fast", NoAck: true}, func(d *core.Delivery) bool {
		got <- struct{}{}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	body := make([]byte, 4096)
	start := time.Now()
	for i := 0; i < 2000; i++ {
		if _, err := b.Publish("", "slow", &core.Message{Body: body}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("publishing took %v: something blocked", el)
	}
	waitFor(t, 10*time.Second, "the fast consumer to get most messages", func() bool { return len(got) > 1000 })
	// Keep traffic flowing until the slow peer's socket buffers are full
	// and a write times out.
	waitFor(t, 20*time.Second, "the slow connection to be closed", func() bool {
		for i := 0; i < 50; i++ {
			b.Publish("", "slow", &core.Message{Body: body}, nil)
		}
		return s.Connections() == 0
	})
	if n := s.ClosedCount(listeners.ReasonSlowConsumer); n != 1 {
		t.Fatalf("slow_consumer closes: %d", n)
	}
	waitFor(t, 10*time.Second, "every message delivered to the fast consumer after requeue", func() bool {
		info, _ := b.Queue("slow", "")
		return info.Ready == 0 && info.Consumers == 1 && info.Unacked == 0
	})
}

func waitFor(t *testing.T, d time.Duration, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprintf("timed out waiting for %s", what))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
