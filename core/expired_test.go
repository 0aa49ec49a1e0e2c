package core

import (
	"context"
	"testing"
	"time"
)

func TestAckExpired(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	publish(t, b, "", "q", "m1")
	publish(t, b, "", "q", "m2")
	ctx := context.Background()
	ds, err := b.Get(ctx, "q", GetOptions{Max: 2, Lease: 20 * time.Millisecond})
	if err != nil || len(ds) != 2 {
		t.Fatal(ds, err)
	}
	waitUntil(t, "leases expire", func() bool { info, _ := b.Queue("q", ""); return info.Ready == 2 })
	// m1's lease ran out and nobody took it: the late ack removes it.
	if ok, err := b.AckExpired("q", ds[0].ID); !ok || err != nil {
		t.Fatalf("AckExpired: %v %v", ok, err)
	}
	if ok, _ := b.AckExpired("q", ds[0].ID); ok {
		t.Fatal("removed twice")
	}
	// m2 was delivered again: the old lease no longer settles it.
	again, _ := b.Get(ctx, "q", GetOptions{Max: 10, Lease: time.Minute})
	if len(again) != 1 || string(again[0].Message.Body) != "m2" {
		t.Fatalf("after late ack: %v", again)
	}
	if ok, _ := b.AckExpired("q", ds[1].ID); ok {
		t.Fatal("a stale lease settled a redelivered message")
	}
	if info, _ := b.Queue("q", ""); info.Unacked != 1 || info.Ready != 0 {
		t.Fatalf("queue %+v", info)
	}
}
