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
