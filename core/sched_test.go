package core

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Handlers must not block, but one that does anyway may hold a dispatch
// worker: with every worker of the pool held, the other queues are still
// served (the stall check adds a worker).
func TestBlockedHandlersDoNotStarveOtherQueues(t *testing.T) {
	b := newTestBroker(t, "")
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	held := make(chan struct{}, 64)
	n := dispatchers.max + 1
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("stuck%d", i)
		mustQueue(t, b, QueueConfig{Name: name})
		if _, err := b.Consume(name, ConsumeOptions{NoAck: true}, func(*Delivery) bool {
			held <- struct{}{}
			<-release
			return true
		}); err != nil {
			t.Fatal(err)
		}
		publish(t, b, "", name, "x")
	}
	mustQueue(t, b, QueueConfig{Name: "free"})
	got := make(chan string, 1)
	if _, err := b.Consume("free", ConsumeOptions{NoAck: true}, func(d *Delivery) bool {
		got <- string(d.Message.Body)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	publish(t, b, "", "free", "hello")
	select {
	case body := <-got:
		if body != "hello" {
			t.Fatalf("got %q", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a queue was starved by blocked handlers of other queues")
	}
	once.Do(func() { close(release) })
	for i := 0; i < n; i++ {
		select {
		case <-held:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d blocked queues delivered", i, n)
		}
	}
}

// The same when the queues arrive in one fan-out publish that wakes every
// idle worker: those still waiting are not left to workers that block.
func TestBlockedHandlersInOneFanout(t *testing.T) {
	b := newTestBroker(t, "")
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	n := dispatchers.max + 2
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("stuck%d", i)
		mustQueue(t, b, QueueConfig{Name: name})
		if err := b.Bind(Binding{Source: "amq.fanout", Destination: name}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Consume(name, ConsumeOptions{NoAck: true}, func(*Delivery) bool {
			<-release
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	mustQueue(t, b, QueueConfig{Name: "free"})
	if err := b.Bind(Binding{Source: "amq.fanout", Destination: "free"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	if _, err := b.Consume("free", ConsumeOptions{NoAck: true}, func(*Delivery) bool {
		got <- struct{}{}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if r := publish(t, b, "amq.fanout", "", "x"); r.Routed != n+1 {
		t.Fatalf("routed to %d queues", r.Routed)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("a queue of the fan-out was starved by blocked handlers of the others")
	}
}

// Many queues fed at once all drain, each in publish order, through the
// shared dispatch workers.
func TestManyQueuesDrainInOrder(t *testing.T) {
	b := newTestBroker(t, "")
	const queues, msgs = 200, 300
	type rec struct {
		mu   sync.Mutex
		next int
		bad  string
	}
	recs := make([]*rec, queues)
	var wg sync.WaitGroup
	wg.Add(queues * msgs)
	for i := 0; i < queues; i++ {
		name := fmt.Sprintf("q%d", i)
		mustQueue(t, b, QueueConfig{Name: name})
		if err := b.Bind(Binding{Source: "amq.fanout", Destination: name}); err != nil {
			t.Fatal(err)
		}
		r := &rec{}
		recs[i] = r
		var c *Consumer
		c, _ = b.Consume(name, ConsumeOptions{Prefetch: 7}, func(d *Delivery) bool {
			r.mu.Lock()
			if want := fmt.Sprint(r.next); string(d.Message.Body) != want && r.bad == "" {
				r.bad = fmt.Sprintf("got %s, want %s", d.Message.Body, want)
			}
			r.next++
			r.mu.Unlock()
			go func() { // acked later, from elsewhere, as a connection would
				if err := c.Ack(d.ID); err != nil {
					t.Error(err)
				}
				wg.Done()
			}()
			return true
		})
	}
	for m := 0; m < msgs; m++ {
		if _, err := b.Publish("amq.fanout", "", &Message{Body: []byte(fmt.Sprint(m))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("not every delivery was made")
	}
	for i, r := range recs {
		r.mu.Lock()
		if r.bad != "" || r.next != msgs {
			t.Errorf("queue %d: %d delivered, %s", i, r.next, r.bad)
		}
		r.mu.Unlock()
	}
}
