package amqp_test

import (
	"sync/atomic"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

// BenchmarkTransientThroughput publishes b.N transient 256-byte messages
// and consumes them with autoack on another connection (in-process
// broker; use cmd/loadgen for whole-broker figures).
func BenchmarkTransientThroughput(b *testing.B) { benchFlow(b, false) }

// BenchmarkPersistentConfirmed is the same with persistent messages on a
// durable queue, publisher confirms and manual acks.
func BenchmarkPersistentConfirmed(b *testing.B) { benchFlow(b, true) }

func benchFlow(b *testing.B, durable bool) {
	br := test.StartBroker(b)
	pc, cc := dial(b, br), dial(b, br)
	pub, con := channel(b, pc), channel(b, cc)
	_, err := pub.QueueDeclare("bench", durable, false, false, false, nil)
	must(b, err)
	var confirms chan amqp.Confirmation
	if durable {
		must(b, pub.Confirm(false))
		confirms = pub.NotifyPublish(make(chan amqp.Confirmation, 1024))
	}
	must(b, con.Qos(1000, 0, false))
	dl, err := con.Consume("bench", "", !durable, false, false, false, nil)
	must(b, err)
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		n := 0
		for d := range dl {
			n++
			if durable && n%100 == 0 {
				d.Ack(true)
			}
			if int(got.Add(1)) == b.N {
				if durable {
					d.Ack(true)
				}
				close(done)
			}
		}
	}()
	body := make([]byte, 256)
	mode := amqp.Transient
	if durable {
		mode = amqp.Persistent
	}
	b.SetBytes(256)
	b.ResetTimer()
	outstanding := 0
	for i := 0; i < b.N; i++ {
		for durable && outstanding >= 512 {
			<-confirms
			outstanding--
		}
		must(b, pub.Publish("", "bench", false, false, amqp.Publishing{DeliveryMode: mode, Body: body}))
		outstanding++
	}
	<-done
	b.StopTimer()
}
