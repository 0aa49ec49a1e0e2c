package core

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func newTestBroker(t testing.TB, dir string) *Broker {
	t.Helper()
	b, err := Open(Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func mustQueue(t testing.TB, b *Broker, cfg QueueConfig) {
	t.Helper()
	if _, err := b.DeclareQueue(cfg); err != nil {
		t.Fatal(err)
	}
}

func publish(t testing.TB, b *Broker, ex, key string, body string, mod ...func(*Message)) PublishResult {
	t.Helper()
	m := &Message{Body: []byte(body)}
	for _, f := range mod {
		f(m)
	}
	done := make(chan error, 1)
	r, err := b.Publish(ex, key, m, func(err error) { done <- err })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publish not confirmed")
	}
	return r
}

func persistent(m *Message) { m.Props.Persistent = true }

func getBodies(t testing.TB, b *Broker, q string, max int) []string {
	t.Helper()
	ds, err := b.Get(context.Background(), q, GetOptions{Max: max, NoAck: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, string(d.Message.Body))
	}
	return out
}

// collector is a consumer handler that records deliveries.
type collector struct {
	mu sync.Mutex
	ds []*Delivery
	ch chan *Delivery
}

func newCollector() *collector { return &collector{ch: make(chan *Delivery, 10000)} }

func (c *collector) handle(d *Delivery) bool {
	c.mu.Lock()
	c.ds = append(c.ds, d)
	c.mu.Unlock()
	c.ch <- d
	return true
}

func (c *collector) next(t testing.TB) *Delivery {
	t.Helper()
	select {
	case d := <-c.ch:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
		return nil
	}
}

func (c *collector) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case x := <-c.ch:
		t.Fatalf("unexpected delivery %q", x.Message.Body)
	case <-time.After(d):
	}
}

func waitUntil(t testing.TB, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type slogLogger = slog.Logger

func newDiscard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
