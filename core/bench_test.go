package core

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var body256 = make([]byte, 256)

// BenchmarkPublishDurableConfirmed: persistent 256 B messages into a durable
// queue, each confirmed by the store (pipelined, as AMQP confirms are).
func BenchmarkPublishDurableConfirmed(b *testing.B) {
	for _, syncAlways := range []bool{false, true} {
		name := "sync=interval"
		if syncAlways {
			name = "sync=always"
		}
		b.Run(name, func(b *testing.B) {
			br, err := Open(Options{DataDir: b.TempDir(), SyncAlways: syncAlways, Logger: discardLog()})
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			mustQueue(b, br, QueueConfig{Name: "q", Durable: true})
			var wg sync.WaitGroup
			window := make(chan struct{}, 4096)
			b.SetBytes(256)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				window <- struct{}{}
				wg.Add(1)
				br.Publish("", "q", &Message{Body: body256, Props: Properties{Persistent: true}}, func(err error) {
					if err != nil {
						b.Error(err)
					}
					<-window
					wg.Done()
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

// BenchmarkPublishTransient: non-persistent messages into a transient queue
// (memory only), no consumer.
func BenchmarkPublishTransient(b *testing.B) {
	br := newTestBroker(b, "")
	mustQueue(b, br, QueueConfig{Name: "q", MaxLength: 100000})
	b.SetBytes(256)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		br.Publish("", "q", &Message{Body: body256}, nil)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkRoundTrip: publish + consume + ack through one transient queue
// (and a durable one with persistent messages), one publisher and one
// consumer with prefetch 1000.
func BenchmarkRoundTrip(b *testing.B) {
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("durable=%v", durable), func(b *testing.B) {
			dir := ""
			if durable {
				dir = b.TempDir()
			}
			br := newTestBroker(b, dir)
			mustQueue(b, br, QueueConfig{Name: "q", Durable: durable})
			var got atomic.Int64
			done := make(chan struct{})
			// The handler runs on the queue's single dispatcher, so it may
			// batch acks itself, as AMQP's multiple-ack does.
			var c *Consumer
			pending := make([]uint64, 0, 128)
			c, _ = br.Consume("q", ConsumeOptions{Prefetch: 1000}, func(d *Delivery) bool {
				pending = append(pending, d.ID)
				n := got.Add(1)
				if len(pending) == cap(pending) || n == int64(b.N) {
					c.Ack(pending...)
					pending = pending[:0]
				}
				if n == int64(b.N) {
					close(done)
				}
				return true
			})
			window := make(chan struct{}, 2048)
			b.SetBytes(256)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := &Message{Body: body256, Props: Properties{Persistent: durable}}
				if durable {
					window <- struct{}{}
					br.Publish("", "q", m, func(error) { <-window })
				} else {
					br.Publish("", "q", m, nil)
				}
			}
			<-done
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

// BenchmarkTopicFanout: one publish to amq.topic matched by N queues, each
// drained by a no-ack consumer; reports deliveries per second.
func BenchmarkTopicFanout(b *testing.B) {
	for _, c := range []struct{ n, other int }{{10, 0}, {10, 100000}, {1000, 0}} {
		n := c.n
		b.Run(fmt.Sprintf("queues=%d/other_bindings=%d", n, c.other), func(b *testing.B) {
			br := newTestBroker(b, "")
			mustQueue(b, br, QueueConfig{Name: "other"})
			for i := 0; i < c.other; i++ {
				br.Bind(Binding{Source: "amq.topic", Destination: "other", Key: fmt.Sprintf("dev.%d.*", i)})
			}
			var delivered atomic.Int64
			for i := 0; i < n; i++ {
				name := fmt.Sprintf("q%d", i)
				mustQueue(b, br, QueueConfig{Name: name})
				br.Bind(Binding{Source: "amq.topic", Destination: name, Key: "sensors.#"})
				br.Consume(name, ConsumeOptions{NoAck: true}, func(*Delivery) bool { delivered.Add(1); return true })
			}
			want := int64(b.N) * int64(n)
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
				time.Sleep(50 * time.Microsecond)
			}
			b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkRouteMatch: topic routing with 100k bindings, of which a handful
// match; the trie keeps the cost proportional to the matches. Cache off:
// every key is distinct.
func BenchmarkRouteMatch(b *testing.B) {
	br := newTestBroker(b, "")
	mustQueue(b, br, QueueConfig{Name: "sink"})
	for i := 0; i < 100000; i++ {
		br.Bind(Binding{Source: "amq.topic", Destination: "sink", Key: fmt.Sprintf("dev.%d.*", i)})
	}
	x := br.exchanges["amq.topic"]
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("dev.%d.temp", i%100000)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := x.topic.match(topicWords(keys[i&(len(keys)-1)]), nil)
		if len(r) != 1 {
			b.Fatal(len(r))
		}
	}
}

func discardLog() *slogLogger { return newDiscard() }
