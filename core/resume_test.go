package core

import (
	"testing"
	"time"
)

// TestResumeDuringRefusalIsNotLost: an adapter whose handler refuses and
// whose writer calls Resume before the dispatcher records the pause must
// still get the message.
func TestResumeDuringRefusalIsNotLost(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	got := make(chan string, 10)
	var k *Consumer
	refused := false
	k, _ = b.Consume("q", ConsumeOptions{NoAck: true}, func(d *Delivery) bool {
		if !refused {
			refused = true
			k.Resume() // the buffer drained at once: resume before returning false
			return false
		}
		got <- string(d.Message.Body)
		return true
	})
	publish(t, b, "", "q", "1")
	select {
	case s := <-got:
		if s != "1" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Resume during a refusal was lost: consumer stuck paused")
	}
}

// TestNoAckTakenBeforeRefusalIsSettled: deliveries a no-ack handler took
// before refusing a later one in the same batch are settled (not left
// counted in the queue, nor in the store).
func TestNoAckTakenBeforeRefusalIsSettled(t *testing.T) {
	b := newTestBroker(t, "")
	mustQueue(t, b, QueueConfig{Name: "q"})
	for i := 0; i < 5; i++ {
		publish(t, b, "", "q", "m")
	}
	n := 0
	got := make(chan struct{}, 10)
	var k *Consumer
	k, _ = b.Consume("q", ConsumeOptions{NoAck: true}, func(d *Delivery) bool {
		n++
		if n == 3 {
			return false // buffer full after two
		}
		got <- struct{}{}
		return true
	})
	for i := 0; i < 2; i++ {
		<-got
	}
	waitUntil(t, "refusal recorded", func() bool { info, _ := b.Queue("q", ""); return info.Ready == 3 })
	k.Resume()
	for i := 0; i < 3; i++ {
		select {
		case <-got:
		case <-time.After(2 * time.Second):
			t.Fatal("not redelivered after Resume")
		}
	}
	waitUntil(t, "all settled", func() bool { info, _ := b.Queue("q", ""); return info.Ready == 0 && info.Bytes == 0 })
}
