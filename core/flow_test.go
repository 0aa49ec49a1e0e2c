package core

import (
	"context"
	"testing"
	"time"
)

// setFlowStall changes the stall threshold for the rest of the test: a
// minute makes "live" independent of the machine's speed, a few
// milliseconds makes "stalled" quick to reach.
func setFlowStall(t *testing.T, d time.Duration) {
	old := flowStall.Swap(int64(d))
	t.Cleanup(func() { flowStall.Store(old) })
}

func fillFlow(t *testing.T, b *Broker, q string, n int) PublishResult {
	t.Helper()
	var r PublishResult
	for i := 0; i < n; i++ {
		var err error
		if r, err = b.Publish("", q, &Message{Body: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func takeFlow(t *testing.T, b *Broker, q string, n int) {
	t.Helper()
	ds, err := b.Get(context.Background(), q, GetOptions{Max: n, NoAck: true})
	if err != nil || len(ds) != n {
		t.Fatalf("get %d: %d, %v", n, len(ds), err)
	}
}

// A backlog over FlowHigh reports Busy only while its consumers make
// progress; a wait ends when the backlog falls to FlowLow, or when the
// consumers stop for the stall threshold (never later: the maximum wait
// here is a minute).
func TestFlowBusyWhileLiveReleasedOnDrainOrStall(t *testing.T) {
	setFlowStall(t, time.Minute)
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "f"})
	if r := fillFlow(t, b, "f", FlowHigh+10); r.Busy != nil {
		t.Fatal("Busy reported for a queue nobody consumes")
	}
	takeFlow(t, b, "f", 1) // progress
	r := fillFlow(t, b, "f", 1)
	if r.Busy == nil || r.Busy.Queue() != "f" {
		t.Fatalf("Busy = %v after progress over the high-water mark", r.Busy)
	}
	got := make(chan bool, 1)
	go func() { got <- r.Busy.Wait(nil, time.Minute) }()
	takeFlow(t, b, "f", FlowHigh+10-FlowLow)
	if ok := <-got; !ok {
		t.Fatal("wait did not report the drain")
	}
	if r := fillFlow(t, b, "f", 1); r.Busy != nil {
		t.Fatal("Busy below the high-water mark after a drain")
	}

	// Over again, then the consumer stops: the wait ends on its own.
	fillFlow(t, b, "f", FlowHigh)
	takeFlow(t, b, "f", 1)
	r = fillFlow(t, b, "f", 1)
	if r.Busy == nil {
		t.Fatal("not Busy over the high-water mark")
	}
	stop := make(chan struct{})
	defer close(stop)
	flowStall.Store(int64(20 * time.Millisecond))
	if r.Busy.Wait(stop, time.Minute) {
		t.Fatal("a stalled queue reported drained")
	}
	if r := fillFlow(t, b, "f", 1); r.Busy != nil {
		t.Fatal("Busy reported for a stalled queue")
	}
	// Progress again: busy again; deleting the queue releases waiters.
	flowStall.Store(int64(time.Minute))
	takeFlow(t, b, "f", 1)
	r = fillFlow(t, b, "f", 1)
	if r.Busy == nil {
		t.Fatal("not Busy once the consumer is live again")
	}
	go func() { got <- r.Busy.Wait(stop, time.Minute) }()
	if _, err := b.DeleteQueue("f", false, false); err != nil {
		t.Fatal(err)
	}
	if ok := <-got; !ok {
		t.Fatal("wait not released by the queue's deletion")
	}
}

// Acks by a consumer are progress; a consumer that holds its deliveries
// without acking stalls the queue.
func TestFlowAcksAreProgress(t *testing.T) {
	setFlowStall(t, time.Minute)
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "a"})
	ids := make(chan uint64, 4*FlowHigh)
	c, err := b.Consume("a", ConsumeOptions{Prefetch: 10}, func(d *Delivery) bool { ids <- d.ID; return true })
	if err != nil {
		t.Fatal(err)
	}
	fillFlow(t, b, "a", FlowHigh+20)
	for i := 0; i < 10; i++ {
		if err := c.Ack(<-ids); err != nil {
			t.Fatal(err)
		}
	}
	if r := fillFlow(t, b, "a", 1); r.Busy == nil {
		t.Fatal("acking consumer: not Busy over the high-water mark")
	}
	flowStall.Store(int64(10 * time.Millisecond))
	time.Sleep(30 * time.Millisecond) // no acks for the stall threshold: stalled
	if r := fillFlow(t, b, "a", 1); r.Busy != nil {
		t.Fatal("Busy reported for a consumer that stopped acking")
	}
}
