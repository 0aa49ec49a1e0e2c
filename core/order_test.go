package core

import (
	"fmt"
	"testing"
	"time"
)

// Persistent messages wait for the store before they enter a durable
// queue; transient ones published after them on the same queue must not
// overtake them (publish order is delivery order, as in RabbitMQ).
func TestDurableQueueKeepsPublishOrderAcrossPersistence(t *testing.T) {
	b := newTestBroker(t, t.TempDir())
	mustQueue(t, b, QueueConfig{Name: "ord", Durable: true})
	const n = 200
	done := make(chan error, n)
	for i := 0; i < n; i++ {
		m := &Message{Body: []byte(fmt.Sprint(i))}
		m.Props.Persistent = i%3 != 1
		if _, err := b.Publish("", "ord", m, func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("publish not confirmed")
		}
	}
	got := getBodies(t, b, "ord", n)
	if len(got) != n {
		t.Fatalf("got %d messages", len(got))
	}
	for i, s := range got {
		if s != fmt.Sprint(i) {
			t.Fatalf("position %d holds message %s: order lost (%v)", i, s, got[:min(len(got), 20)])
		}
	}
}
