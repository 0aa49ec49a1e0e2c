package core

import (
	"context"
	"strings"
	"testing"
	"time"
)

// With GroupBatch one Get on a FIFO queue returns several messages of a
// group in order; the group stays locked until all of them are settled.
func TestFIFOGetGroupBatch(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "f", FIFO: true})
	for _, m := range []struct{ g, body string }{{"a", "a1"}, {"b", "b1"}, {"a", "a2"}, {"a", "a3"}, {"b", "b2"}} {
		g := m.g
		publish(t, b, "", "f", m.body, func(m *Message) { m.GroupID = g })
	}
	ctx := context.Background()
	ds, err := b.Get(ctx, "f", GetOptions{Max: 3, Lease: time.Minute, GroupBatch: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, string(d.Message.Body))
	}
	if strings.Join(got, ",") != "a1,b1,a2" {
		t.Fatalf("first batch %v", got)
	}
	if more, _ := b.Get(ctx, "f", GetOptions{Max: 10, Lease: time.Minute, GroupBatch: true}); len(more) != 0 {
		t.Fatalf("locked groups delivered: %d", len(more))
	}
	if err := b.Ack("f", ds[0].ID); err != nil {
		t.Fatal(err)
	}
	if more, _ := b.Get(ctx, "f", GetOptions{Max: 10, Lease: time.Minute, GroupBatch: true}); len(more) != 0 {
		t.Fatalf("group a delivered while a2 is in flight: %d", len(more))
	}
	if err := b.Ack("f", ds[1].ID, ds[2].ID); err != nil {
		t.Fatal(err)
	}
	more, _ := b.Get(ctx, "f", GetOptions{Max: 10, Lease: time.Minute, GroupBatch: true})
	got = got[:0]
	for _, d := range more {
		got = append(got, string(d.Message.Body))
	}
	if strings.Join(got, ",") != "a3,b2" {
		t.Fatalf("after settling: %v", got)
	}
}
