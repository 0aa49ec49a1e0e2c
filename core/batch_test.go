package core

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func publishBatch(t *testing.T, b *Broker, ex, key string, bodies ...string) ([]PublishResult, []error) {
	t.Helper()
	ms := make([]*Message, len(bodies))
	for i, body := range bodies {
		ms[i] = &Message{Body: []byte(body), Props: Properties{Persistent: true}}
	}
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	wg.Add(len(ms))
	res, err := b.PublishBatch(ex, key, ms, func(i int, err error) { errs[i] = err; wg.Done() })
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return res, errs
}

// Messages published together to a durable queue share one store record;
// acking some of them must not lose or resurrect any across a restart, and
// they keep their publish order with the messages around them.
func TestPublishBatchStoresTogetherAndAcksApart(t *testing.T) {
	dir := t.TempDir()
	b := newTestBroker(t, dir)
	mustQueue(t, b, QueueConfig{Name: "q", Durable: true})
	publish(t, b, "", "q", "before", persistent)
	var bodies []string
	for i := 0; i < 10; i++ {
		bodies = append(bodies, fmt.Sprint(i))
	}
	res, errs := publishBatch(t, b, "", "q", bodies...)
	for i := range res {
		if res[i].Routed != 1 || errs[i] != nil {
			t.Fatalf("message %d: %+v %v", i, res[i], errs[i])
		}
	}
	publish(t, b, "", "q", "after", persistent)
	ds, _ := b.Get(context.Background(), "q", GetOptions{Max: 12})
	var got []string
	for _, d := range ds {
		got = append(got, string(d.Message.Body))
	}
	want := append(append([]string{"before"}, bodies...), "after")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	// Ack "before", 2, 5, 6 and "after"; the rest go back.
	var ack, nack []uint64
	for _, d := range ds {
		switch string(d.Message.Body) {
		case "before", "2", "5", "6", "after":
			ack = append(ack, d.ID)
		default:
			nack = append(nack, d.ID)
		}
	}
	if err := b.Ack("q", ack...); err != nil {
		t.Fatal(err)
	}
	if err := b.Nack("q", true, nack...); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b = newTestBroker(t, dir)
	got = getBodies(t, b, "q", 100)
	want = []string{"0", "1", "3", "4", "7", "8", "9"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart %v, want %v", got, want)
	}
	b.Close()
	// getBodies acked them: nothing comes back, and nothing is left stored.
	b = newTestBroker(t, dir)
	defer b.Close()
	if got := getBodies(t, b, "q", 100); len(got) != 0 {
		t.Fatalf("acked messages came back: %v", got)
	}
}

// Each message of a batch gets its own verdict: one over the queue's size
// limit fails alone, an unroutable one is reported as such.
func TestPublishBatchPerMessageVerdicts(t *testing.T) {
	b := newTestBroker(t, t.TempDir())
	defer b.Close()
	mustQueue(t, b, QueueConfig{Name: "q", Durable: true, MaxMessageSize: 3})
	res, errs := publishBatch(t, b, "", "q", "a", "toolong", "c")
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], ErrTooLarge) {
		t.Fatalf("verdicts %v", errs)
	}
	if res[1].Routed != 1 {
		t.Fatalf("results %+v", res)
	}
	if got := getBodies(t, b, "q", 10); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Fatalf("stored %v", got)
	}
	res, errs = publishBatch(t, b, "", "nowhere", "x", "y")
	if res[0].Routed != 0 || res[1].Routed != 0 || errs[0] != nil || errs[1] != nil {
		t.Fatalf("unroutable: %+v %v", res, errs)
	}
	if _, err := b.PublishBatch("no-such-exchange", "q", []*Message{{Body: []byte("x")}}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown exchange: %v", err)
	}
}

// Acked messages do not stay referenced by the lease timers until their
// old visibility deadline: the heap of a queue whose messages are received
// and deleted at a steady rate stays near the number of live leases.
func TestSettledLeasesLeaveTheTimerHeap(t *testing.T) {
	b := newTestBroker(t, "")
	defer b.Close()
	mustQueue(t, b, QueueConfig{Name: "q", VisibilityTimeout: time.Hour})
	for round := 0; round < 500; round++ {
		for i := 0; i < 10; i++ {
			publish(t, b, "", "q", "m")
		}
		ds, err := b.Get(context.Background(), "q", GetOptions{Max: 10})
		if err != nil || len(ds) != 10 {
			t.Fatalf("round %d: got %d, %v", round, len(ds), err)
		}
		ids := make([]uint64, len(ds))
		for i, d := range ds {
			ids[i] = d.ID
		}
		if err := b.Ack("q", ids...); err != nil {
			t.Fatal(err)
		}
	}
	b.mu.RLock()
	q := b.queues["q"]
	b.mu.RUnlock()
	q.mu.Lock()
	n := len(q.leases)
	q.mu.Unlock()
	if n > 2*compactMin {
		t.Fatalf("%d lease timers left for 0 live leases after 5000 acks", n)
	}
}
