package core

import (
	"context"
	"errors"
	"testing"
	"time"
)

// GetOptions.Stop ends a long poll as a cancelled context does, and a
// message that arrives first is still taken.
func TestGetStop(t *testing.T) {
	b := newTestBroker(t, "")
	if _, err := b.DeclareQueue(QueueConfig{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		ds, err := b.Get(context.Background(), "q", GetOptions{Wait: time.Minute, Stop: stop})
		if len(ds) != 0 {
			err = errors.New("got a message from an empty queue")
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(stop)
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("stopped long poll: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not end the long poll")
	}
	if _, err := b.Publish("", "q", &Message{Body: []byte("m")}, nil); err != nil {
		t.Fatal(err)
	}
	ds, err := b.Get(context.Background(), "q", GetOptions{Wait: time.Minute, Stop: make(chan struct{})})
	if err != nil || len(ds) != 1 {
		t.Fatalf("Get with a message ready: %d, %v", len(ds), err)
	}
}
