package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTTLDeadLetterWithXDeath(t *testing.T) {
	b := newTestBroker(t, "")
	b.DeclareExchange(ExchangeConfig{Name: "dlx", Kind: KindFanout})
	mustQueue(t, b, QueueConfig{Name: "dead"})
	b.Bind(Binding{Source: "dlx", Destination: "dead"})
	mustQueue(t, b, QueueConfig{Name: "src", MessageTTL: 30 * time.Millisecond, HasDeadLetter: true, DeadLetterExchange: "dlx"})
	publish(t, b, "", "src", "old")
	c := newCollector()
	if _, err := b.Consume("dead", ConsumeOptions{NoAck: true}, c.handle); err != nil {
		t.Fatal(err)
	}
	d := c.next(t)
	deaths, _ := d.Message.Props.Headers["x-death"].([]any)
	if string(d.Message.Body) != "old" || len(deaths) != 1 {
		t.Fatalf("dead letter %q with x-death %v", d.Message.Body, d.Message.Props.Headers)
	}
	rec := deaths[0].(Table)
	if rec["reason"] != "expired" || rec["queue"] != "src" || rec["count"] != int64(1) {
		t.Fatalf("x-death record %v", rec)
	}
	if info, _ := b.Queue("src", ""); info.Ready != 0 {
		t.Fatalf("src still holds %d", info.Ready)
	}
}

func TestPerMessageExpirationAndRetention(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	publish(t, b, "", "q", "short", func(m *Message) { m.Props.Expiration = 20 * time.Millisecond })
	publish(t, b, "", "q", "long")
	time.Sleep(60 * time.Millisecond)
	if got := getBodies(t, b, "q", 10); strings.Join(got, ",") != "long" {
		t.Fatalf("got %v", got)
	}
	mustQueue(t, b, QueueConfig{Name: "r", Retention: 20 * time.Millisecond, HasDeadLetter: true, DeadLetterRoutingKey: "rdl"})
	mustQueue(t, b, QueueConfig{Name: "rdl"})
	publish(t, b, "", "r", "x")
	waitUntil(t, "retention drop", func() bool { i, _ := b.Queue("r", ""); return i.Ready == 0 })
	if got := getBodies(t, b, "rdl", 10); len(got) != 0 {
		t.Fatalf("retention must drop silently, dead-lettered %v", got)
	}
}

func TestMaxLengthDropHeadAndRejectPublish(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "dh", MaxLength: 2})
	for i := 0; i < 4; i++ {
		publish(t, b, "", "dh", fmt.Sprint(i))
	}
	if got := getBodies(t, b, "dh", 10); strings.Join(got, ",") != "2,3" {
		t.Fatalf("drop-head kept %v", got)
	}
	mustQueue(t, b, QueueConfig{Name: "rp", MaxLength: 2, Overflow: OverflowRejectPublish})
	publish(t, b, "", "rp", "a")
	publish(t, b, "", "rp", "b")
	done := make(chan error, 1)
	if _, err := b.Publish("", "rp", &Message{Body: []byte("c")}, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("reject-publish: %v", err)
	}
	mustQueue(t, b, QueueConfig{Name: "mb", MaxBytes: 10})
	publish(t, b, "", "mb", "12345")
	publish(t, b, "", "mb", "67890")
	publish(t, b, "", "mb", "abc")
	if got := getBodies(t, b, "mb", 10); strings.Join(got, ",") != "67890,abc" {
		t.Fatalf("max-bytes kept %v", got)
	}
}

func TestDeliveryDelay(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q", DeliveryDelay: 80 * time.Millisecond})
	publish(t, b, "", "q", "later")
	publish(t, b, "", "q", "sooner", func(m *Message) { m.Delay = 10 * time.Millisecond })
	if got := getBodies(t, b, "q", 10); len(got) != 0 {
		t.Fatalf("delayed visible at once: %v", got)
	}
	info, _ := b.Queue("q", "")
	if info.Delayed != 2 {
		t.Fatalf("delayed count %d", info.Delayed)
	}
	ds, err := b.Get(context.Background(), "q", GetOptions{Max: 1, Wait: 2 * time.Second, NoAck: true})
	if err != nil || len(ds) != 1 || string(ds[0].Message.Body) != "sooner" {
		t.Fatalf("long poll: %v %v", ds, err)
	}
	ds, _ = b.Get(context.Background(), "q", GetOptions{Max: 1, Wait: 2 * time.Second, NoAck: true})
	if len(ds) != 1 || string(ds[0].Message.Body) != "later" {
		t.Fatalf("second: %v", ds)
	}
}

func TestLeaseExpiryRedeliversAndDeadLettersAfterMax(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "dlq"})
	mustQueue(t, b, QueueConfig{Name: "q", VisibilityTimeout: 30 * time.Millisecond, MaxDeliveries: 2, HasDeadLetter: true, DeadLetterRoutingKey: "dlq"})
	publish(t, b, "", "q", "m")
	ds, _ := b.Get(context.Background(), "q", GetOptions{})
	if len(ds) != 1 || ds[0].Redelivered || ds[0].DeliveryCount != 1 {
		t.Fatalf("first: %+v", ds)
	}
	stale := ds[0].ID
	ds, _ = b.Get(context.Background(), "q", GetOptions{Wait: 2 * time.Second})
	if len(ds) != 1 || !ds[0].Redelivered || ds[0].DeliveryCount != 2 {
		t.Fatalf("second: %+v", ds)
	}
	if err := b.Ack("q", stale); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stale lease ack: %v", err)
	}
	// After the second lease expires the delivery limit sends it to dlq.
	ds, _ = b.Get(context.Background(), "dlq", GetOptions{Wait: 2 * time.Second, NoAck: true})
	if len(ds) != 1 || string(ds[0].Message.Body) != "m" {
		t.Fatalf("dlq: %+v", ds)
	}
}

func TestChangeLease(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q", VisibilityTimeout: time.Hour})
	publish(t, b, "", "q", "m")
	ds, _ := b.Get(context.Background(), "q", GetOptions{})
	if err := b.ChangeLease("q", ds[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	ds2, _ := b.Get(context.Background(), "q", GetOptions{})
	if len(ds2) != 1 || ds2[0].DeliveryCount != 2 {
		t.Fatalf("visible again: %+v", ds2)
	}
	if err := b.ChangeLease("q", ds2[0].ID, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ds3, _ := b.Get(context.Background(), "q", GetOptions{Wait: 2 * time.Second})
	if len(ds3) != 1 || ds3[0].DeliveryCount != 3 {
		t.Fatalf("after short lease: %+v", ds3)
	}
	if err := b.Ack("q", ds3[0].ID); err != nil {
		t.Fatal(err)
	}
}

func TestPrefetchAndRoundRobin(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	c1, c2 := newCollector(), newCollector()
	k1, _ := b.Consume("q", ConsumeOptions{Prefetch: 2}, c1.handle)
	if _, err := b.Consume("q", ConsumeOptions{Prefetch: 2}, c2.handle); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		publish(t, b, "", "q", fmt.Sprint(i))
	}
	waitUntil(t, "4 deliveries", func() bool { return len(c1.ch)+len(c2.ch) == 4 })
	time.Sleep(30 * time.Millisecond)
	if len(c1.ch) != 2 || len(c2.ch) != 2 {
		t.Fatalf("prefetch split %d/%d", len(c1.ch), len(c2.ch))
	}
	d := <-c1.ch
	<-c1.ch
	k1.Ack(d.ID)
	c1.next(t)
	info, _ := b.Queue("q", "")
	if info.Ready != 1 || info.Unacked != 4 || info.Consumers != 2 {
		t.Fatalf("counts %+v", info)
	}
}

func TestNackRequeueAndReject(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "dl"})
	mustQueue(t, b, QueueConfig{Name: "q", HasDeadLetter: true, DeadLetterRoutingKey: "dl"})
	publish(t, b, "", "q", "a")
	publish(t, b, "", "q", "b")
	c := newCollector()
	k, _ := b.Consume("q", ConsumeOptions{Prefetch: 1}, c.handle)
	d := c.next(t)
	k.Nack(true, d.ID)
	d2 := c.next(t)
	if string(d2.Message.Body) != "a" || !d2.Redelivered || d2.DeliveryCount != 2 {
		t.Fatalf("requeued: %q %v %d", d2.Message.Body, d2.Redelivered, d2.DeliveryCount)
	}
	k.Nack(false, d2.ID)
	d3 := c.next(t)
	if string(d3.Message.Body) != "b" {
		t.Fatalf("next %q", d3.Message.Body)
	}
	got := getBodies(t, b, "dl", 5)
	if len(got) != 1 || got[0] != "a" {
		t.Fatalf("rejected went %v", got)
	}
	k.Close() // requeues b
	if info, _ := b.Queue("q", ""); info.Ready != 1 || info.Unacked != 0 {
		t.Fatalf("after close %+v", info)
	}
}

func TestSingleActiveConsumerAndPriority(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "sac", SingleActiveConsumer: true})
	c1, c2 := newCollector(), newCollector()
	k1, _ := b.Consume("sac", ConsumeOptions{}, c1.handle)
	b.Consume("sac", ConsumeOptions{}, c2.handle)
	for i := 0; i < 3; i++ {
		publish(t, b, "", "sac", "x")
	}
	waitUntil(t, "3 to c1", func() bool { return len(c1.ch) == 3 })
	c2.none(t, 20*time.Millisecond)
	k1.Close()
	waitUntil(t, "failover to c2", func() bool { return len(c2.ch) == 3 })

	mustQueue(t, b, QueueConfig{Name: "pq", MaxPriority: 9})
	for _, p := range []uint8{1, 9, 5, 0} {
		publish(t, b, "", "pq", fmt.Sprint(p), func(m *Message) { m.Props.Priority, m.Props.HasPriority = p, true })
	}
	if got := strings.Join(getBodies(t, b, "pq", 10), ","); got != "9,5,1,0" {
		t.Fatalf("priority order %s", got)
	}
}

func TestFIFOGroupsAndDedup(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "f", FIFO: true, DedupWindow: time.Minute})
	for i, g := range []string{"A", "A", "B", "A"} {
		publish(t, b, "", "f", fmt.Sprint(g, i), func(m *Message) { m.GroupID = g; m.DedupID = fmt.Sprint(i) })
	}
	publish(t, b, "", "f", "dup", func(m *Message) { m.GroupID = "A"; m.DedupID = "0" })
	if info, _ := b.Queue("f", ""); info.Ready != 4 {
		t.Fatalf("dedup: %d ready", info.Ready)
	}
	// A0 leased: the rest of group A is locked, B is free.
	ds, _ := b.Get(context.Background(), "f", GetOptions{Max: 10})
	var got []string
	for _, d := range ds {
		got = append(got, string(d.Message.Body))
	}
	if strings.Join(got, ",") != "A0,B2" {
		t.Fatalf("first receive %v", got)
	}
	if ds[0].Message.Sequence == 0 || ds[1].Message.Sequence <= ds[0].Message.Sequence {
		t.Fatalf("sequence numbers %d %d", ds[0].Message.Sequence, ds[1].Message.Sequence)
	}
	b.Ack("f", ds[0].ID)
	ds2, _ := b.Get(context.Background(), "f", GetOptions{Max: 10})
	if len(ds2) != 1 || string(ds2[0].Message.Body) != "A1" {
		t.Fatalf("after ack: %v", ds2)
	}
}

func TestPurgeDeleteAndAutoDelete(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	publish(t, b, "", "q", "1")
	publish(t, b, "", "q", "2")
	if n, err := b.PurgeQueue("q", ""); err != nil || n != 2 {
		t.Fatalf("purge %d %v", n, err)
	}
	publish(t, b, "", "q", "3")
	if _, err := b.DeleteQueue("q", false, true); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("if-empty: %v", err)
	}
	cancelled := make(chan struct{})
	c := newCollector()
	b.Consume("q", ConsumeOptions{OnCancel: func() { close(cancelled) }}, c.handle)
	c.next(t)
	if _, err := b.DeleteQueue("q", true, false); !errors.Is(err, ErrInUse) {
		t.Fatalf("if-unused: %v", err)
	}
	if _, err := b.DeleteQueue("q", false, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancelled:
	case <-time.After(time.Second):
		t.Fatal("consumer not cancelled on delete")
	}
	mustQueue(t, b, QueueConfig{Name: "ad", AutoDelete: true})
	k, _ := b.Consume("ad", ConsumeOptions{}, newCollector().handle)
	k.Cancel()
	if _, err := b.Queue("ad", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("auto-delete: %v", err)
	}
	mustQueue(t, b, QueueConfig{Name: "exp", Expires: 30 * time.Millisecond})
	waitUntil(t, "queue expiry", func() bool { _, err := b.Queue("exp", ""); return errors.Is(err, ErrNotFound) })
}

func TestHandlerRefusalPausesAndResumes(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	accept := make(chan bool, 1)
	accept <- false
	got := make(chan string, 10)
	var k *Consumer
	k, _ = b.Consume("q", ConsumeOptions{NoAck: true}, func(d *Delivery) bool {
		select {
		case ok := <-accept:
			if !ok {
				return false
			}
		default:
		}
		got <- string(d.Message.Body)
		return true
	})
	publish(t, b, "", "q", "1")
	publish(t, b, "", "q", "2")
	time.Sleep(20 * time.Millisecond)
	if len(got) != 0 {
		t.Fatal("delivered while paused")
	}
	k.Resume()
	if a, c := <-got, <-got; a != "1" || c != "2" {
		t.Fatalf("order after resume %s %s", a, c)
	}
}

func TestSelectorConsumers(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	red, blue := newCollector(), newCollector()
	sel := func(color string) func(*Message) bool {
		return func(m *Message) bool { return m.Props.Headers["color"] == color }
	}
	b.Consume("q", ConsumeOptions{Selector: sel("red")}, red.handle)
	b.Consume("q", ConsumeOptions{Selector: sel("blue")}, blue.handle)
	for _, c := range []string{"blue", "red", "blue"} {
		publish(t, b, "", "q", c, func(m *Message) { m.Props.Headers = Table{"color": c} })
	}
	waitUntil(t, "selective", func() bool { return len(red.ch) == 1 && len(blue.ch) == 2 })
}

func TestCloseRequeuesInOriginalOrder(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	for i := 0; i < 50; i++ {
		publish(t, b, "", "q", fmt.Sprint(i))
	}
	c := newCollector()
	k, _ := b.Consume("q", ConsumeOptions{Prefetch: 20}, c.handle)
	waitUntil(t, "20 in flight", func() bool { return len(c.ch) == 20 })
	// ack a few in the middle, then close: the rest go back in order.
	var mid []uint64
	for i := 0; i < 20; i++ {
		d := <-c.ch
		if i%3 == 0 {
			mid = append(mid, d.ID)
		}
	}
	k.Ack(mid...)
	k.Close()
	got := getBodies(t, b, "q", 100)
	var want []string
	for i := 0; i < 50; i++ {
		if i < 20 && i%3 == 0 {
			continue
		}
		want = append(want, fmt.Sprint(i))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("order after close:\n%v\nwant\n%v", got, want)
	}
}

func TestMemoryAlarm(t *testing.T) {
	b := newTestBroker(t, "")
	got := make(chan bool, 4)
	cancel := b.OnMemoryAlarm(func(on bool) { got <- on })
	defer cancel()
	b.SetMemoryLimit(1) // any heap is above one byte
	if on := <-got; !on || !b.MemoryBlocked() {
		t.Fatal("alarm did not go off")
	}
	b.SetMemoryLimit(0)
	if on := <-got; on || b.MemoryBlocked() {
		t.Fatal("alarm did not clear")
	}
}

// A selector consumer with nothing eligible does not end the dispatch
// round: the next consumer still gets what it matches (the first consumer
// in round-robin order matches nothing here).
func TestSelectorMissDoesNotStrandOthers(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	sel := func(color string) func(*Message) bool {
		return func(m *Message) bool { return m.Props.Headers["color"] == color }
	}
	red, blue := newCollector(), newCollector()
	b.Consume("q", ConsumeOptions{Selector: sel("red")}, red.handle)
	b.Consume("q", ConsumeOptions{Selector: sel("blue")}, blue.handle)
	publish(t, b, "", "q", "b0", func(m *Message) { m.Props.Headers = Table{"color": "blue"} })
	if d := blue.next(t); string(d.Message.Body) != "b0" {
		t.Fatalf("blue got %q", d.Message.Body)
	}
}
