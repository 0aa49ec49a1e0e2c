package core

import (
	"context"
	"strings"
	"testing"
)

// A durable message above the store's 1 MB default payload (a 1 MiB body
// plus its record header) is stored, confirmed and recovered.
func TestLargeDurableMessage(t *testing.T) {
	dir := t.TempDir()
	b := newTestBroker(t, dir)
	mustQueue(t, b, QueueConfig{Name: "big", Durable: true})
	body := strings.Repeat("x", 4<<20)
	done := make(chan error, 1)
	m := &Message{Body: []byte(body), Props: Properties{Persistent: true, Headers: Table{"h": "v"}}}
	if _, err := b.Publish("", "big", m, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("store refused a 4 MiB message: %v", err)
	}
	b.Close()
	b2 := newTestBroker(t, dir)
	ds, err := b2.Get(context.Background(), "big", GetOptions{NoAck: true})
	if err != nil || len(ds) != 1 || string(ds[0].Message.Body) != body {
		t.Fatalf("recovered %d messages, err %v", len(ds), err)
	}
}
