package core

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// An Inline consumer of an idle queue gets a message on the publisher's
// goroutine, before Publish returns, and its Flush hook runs after the
// handler; an Ack that frees credit delivers the next message on the
// acker's goroutine.
func TestInlineConsumerRunsOnCaller(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	var events []string // only ever touched by the goroutine calling the core below
	var ids []uint64
	c, err := b.Consume("q", ConsumeOptions{Prefetch: 1, Inline: true,
		Flush: func() { events = append(events, "flush") }},
		func(d *Delivery) bool {
			events = append(events, string(d.Message.Body))
			ids = append(ids, d.ID)
			return true
		})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, "", "q", "a")
	publish(t, b, "", "q", "b") // no credit left: stays in the queue
	if got := fmt.Sprint(events); got != "[a flush]" {
		t.Fatalf("after two publishes: %s", got)
	}
	if err := c.Ack(ids[0]); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(events); got != "[a flush b flush]" {
		t.Fatalf("after the ack: %s", got)
	}
}

// A queue with one consumer that is not Inline is dispatched by the
// worker pool as before; every message still arrives.
func TestInlineNeedsEveryConsumer(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	var n atomic.Int32
	for _, inline := range []bool{true, false} {
		if _, err := b.Consume("q", ConsumeOptions{NoAck: true, Inline: inline}, func(*Delivery) bool { n.Add(1); return true }); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		publish(t, b, "", "q", "x")
	}
	deadline := time.Now().Add(10 * time.Second)
	for n.Load() < 100 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n.Load() != 100 {
		t.Fatalf("%d of 100 delivered", n.Load())
	}
}

// Concurrent publishers to one Inline queue: its handler never runs twice
// at a time and each publisher's messages arrive in the order published.
func TestInlineKeepsOrderUnderConcurrentPublishers(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	const pubs, each = 4, 2000
	var busy atomic.Int32
	var mu sync.Mutex
	last := map[byte]int{}
	var bad []string
	got := 0
	var c *Consumer
	c, err := b.Consume("q", ConsumeOptions{Prefetch: 64, Inline: true}, func(d *Delivery) bool {
		concurrent := busy.Add(1) != 1
		p, seq := d.Message.Body[0], 0
		fmt.Sscan(string(d.Message.Body[1:]), &seq)
		mu.Lock()
		if concurrent {
			bad = append(bad, "handler ran concurrently")
		}
		if prev, ok := last[p]; ok && seq != prev+1 {
			bad = append(bad, fmt.Sprintf("publisher %c: %d after %d", p, seq, prev))
		}
		last[p] = seq
		got++
		mu.Unlock()
		busy.Add(-1)
		go c.Ack(d.ID) // from elsewhere, as an adapter's reader would
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := 0; p < pubs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := b.Publish("", "q", &Message{Body: []byte(fmt.Sprintf("%c%d", 'a'+p, i))}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := got
		mu.Unlock()
		if n == pubs*each || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if got != pubs*each || len(bad) > 0 {
		t.Fatalf("%d of %d delivered; %d faults, first: %v", got, pubs*each, len(bad), bad[:min(len(bad), 3)])
	}
}
