package amqp_test

import (
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

func TestRestartKeepsDurableAndPersistent(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	ch := channel(t, c)
	_, err := ch.QueueDeclare("durable-q", true, false, false, false, nil)
	must(t, err)
	_, err = ch.QueueDeclare("transient-q", false, false, false, false, nil)
	must(t, err)
	_, err = ch.QueueDeclare("unacked-q", true, false, false, false, nil)
	must(t, err)
	must(t, ch.ExchangeDeclare("durable-x", "direct", true, false, false, false, nil))
	must(t, ch.QueueBind("durable-q", "k", "durable-x", false, nil))
	must(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 64))
	for i := 0; i < 10; i++ {
		must(t, ch.Publish("durable-x", "k", false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(fmt.Sprint("p", i))}))
		must(t, ch.Publish("durable-x", "k", false, false, amqp.Publishing{DeliveryMode: amqp.Transient, Body: []byte(fmt.Sprint("t", i))}))
		must(t, ch.Publish("", "transient-q", false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("x")}))
	}
	must(t, ch.Publish("", "unacked-q", false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("u")}))
	for i := 0; i < 31; i++ {
		select {
		case cf := <-confirms:
			if !cf.Ack {
				t.Fatalf("nack %d", cf.DeliveryTag)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("missing confirm")
		}
	}
	// Leave a persistent message delivered but unacked.
	d, ok, err := ch.Get("unacked-q", false)
	must(t, err)
	if !ok || string(d.Body) != "u" {
		t.Fatalf("get %q", d.Body)
	}
	c.Close()
	b.Stop(t)

	b2 := test.StartBroker(t, test.WithDataDir(b.DataDir))
	ch2 := channel(t, dial(t, b2))
	if _, err := ch2.QueueDeclarePassive("transient-q", false, false, false, false, nil); err == nil {
		t.Fatal("transient queue survived a restart")
	}
	ch2 = channel(t, dial(t, b2))
	q, err := ch2.QueueDeclarePassive("durable-q", true, false, false, false, nil)
	must(t, err)
	if q.Messages != 10 {
		t.Fatalf("durable queue has %d messages after restart, want the 10 persistent ones", q.Messages)
	}
	dl, err := ch2.Consume("durable-q", "", true, false, false, false, nil)
	must(t, err)
	for i := 0; i < 10; i++ {
		m := recv(t, dl)
		if string(m.Body) != fmt.Sprint("p", i) || m.DeliveryMode != amqp.Persistent {
			t.Fatalf("message %d: %q mode %d", i, m.Body, m.DeliveryMode)
		}
	}
	u, ok, err := ch2.Get("unacked-q", true)
	must(t, err)
	if !ok || string(u.Body) != "u" || !u.Redelivered {
		t.Fatalf("unacked persistent message after restart: ok=%v %q redelivered=%v", ok, u.Body, u.Redelivered)
	}
	// The durable binding survived too.
	must(t, ch2.Publish("durable-x", "k", false, false, amqp.Publishing{Body: []byte("after")}))
	if m := recv(t, dl); string(m.Body) != "after" {
		t.Fatalf("got %q", m.Body)
	}
}
