package core

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFanoutAck: one publish to amq.topic reaches N queues, each with
// one prefetch-limited consumer that acks every delivery (the shape of a
// fan-out to N at-least-once subscribers). ns/op is per publish; allocs/op
// counts every queue's copy.
func BenchmarkFanoutAck(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("queues=%d", n), func(b *testing.B) {
			br := newTestBroker(b, "")
			var delivered atomic.Int64
			for i := 0; i < n; i++ {
				name := fmt.Sprintf("q%d", i)
				mustQueue(b, br, QueueConfig{Name: name})
				if err := br.Bind(Binding{Source: "amq.topic", Destination: name, Key: "sensors.#"}); err != nil {
					b.Fatal(err)
				}
				var c *Consumer
				c, _ = br.Consume(name, ConsumeOptions{Prefetch: 256}, func(d *Delivery) bool {
					delivered.Add(1)
					if err := c.Ack(d.ID); err != nil {
						b.Error(err)
					}
					return true
				})
			}
			want := int64(b.N) * int64(n)
			b.SetBytes(256)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				br.Publish("amq.topic", "sensors.eu.temp", &Message{Body: body256}, nil)
				if i%64 == 0 {
					for delivered.Load() < int64(i)*int64(n)-int64(64*n) {
						runtime.Gosched()
					}
				}
			}
			for delivered.Load() < want {
				runtime.Gosched()
			}
			b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkPingPong: one message at a time through an idle queue: publish,
// wait for its delivery, ack. Every message finds the queue idle, so this
// is the cost of waking its dispatch.
func BenchmarkPingPong(b *testing.B) {
	br := newTestBroker(b, "")
	mustQueue(b, br, QueueConfig{Name: "q"})
	got := make(chan uint64, 1)
	c, _ := br.Consume("q", ConsumeOptions{Prefetch: 16}, func(d *Delivery) bool {
		got <- d.ID
		return true
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		br.Publish("", "q", &Message{Body: body256}, nil)
		if err := c.Ack(<-got); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBacklogDrain: 100 queues each hold a backlog (b.N messages, too
// many for the CPU caches), then get a consumer each (prefetch 64, acking
// every delivery) and drain. ns/op is per message of every queue's
// backlog: the cost of delivering messages that have gone cold.
func BenchmarkBacklogDrain(b *testing.B) {
	const n = 100
	br := newTestBroker(b, "")
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("q%d", i)
		mustQueue(b, br, QueueConfig{Name: name})
		if err := br.Bind(Binding{Source: "amq.topic", Destination: name, Key: "sensors.#"}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < b.N; i++ {
		br.Publish("amq.topic", "sensors.eu.temp", &Message{Body: body256}, nil)
	}
	var delivered atomic.Int64
	want := int64(b.N) * n
	b.ResetTimer()
	for i := 0; i < n; i++ {
		br.Consume(fmt.Sprintf("q%d", i), ConsumeOptions{Prefetch: 64}, func(d *Delivery) bool {
			delivered.Add(1)
			if err := br.Ack(d.Queue, d.ID); err != nil {
				b.Error(err)
			}
			return true
		})
	}
	for delivered.Load() < want {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
}
