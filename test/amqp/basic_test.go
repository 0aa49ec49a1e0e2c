package amqp_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

func TestPublishConsumeAck(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	props := c.Properties
	caps, _ := props["capabilities"].(amqp.Table)
	for _, k := range []string{"publisher_confirms", "basic.nack", "consumer_cancel_notify", "exchange_exchange_bindings",
		"connection.blocked", "authentication_failure_close", "per_consumer_qos", "direct_reply_to"} {
		if caps[k] != true {
			t.Errorf("capability %s missing: %v", k, caps)
		}
	}
	ch := channel(t, c)
	q, err := ch.QueueDeclare("", false, false, true, false, nil)
	must(t, err)
	if len(q.Name) < 10 || q.Name[:8] != "amq.gen-" {
		t.Fatalf("server-named queue %q", q.Name)
	}
	must(t, ch.Qos(5, 0, false))
	ctx := context.Background()
	ts := time.Unix(1700000000, 0)
	headers := amqp.Table{"s": "str", "i": int32(-5), "l": int64(1 << 40), "f": 1.5, "b": true, "bytes": []byte{1, 2},
		"nested": amqp.Table{"a": "b"}, "arr": []any{"x", int32(1)}, "ts": ts, "dec": amqp.Decimal{Scale: 2, Value: 314}}
	pub := amqp.Publishing{ContentType: "text/plain", ContentEncoding: "utf-8", DeliveryMode: 2, Priority: 3,
		CorrelationId: "corr", ReplyTo: "rt", Expiration: "60000", MessageId: "mid", Timestamp: ts, Type: "typ",
		UserId: "guest", AppId: "app", Headers: headers, Body: []byte("hello")}
	must(t, ch.PublishWithContext(ctx, "", q.Name, false, false, pub))
	dl, err := ch.Consume(q.Name, "ctag-1", false, false, false, false, nil)
	must(t, err)
	d := recv(t, dl)
	if string(d.Body) != "hello" || d.ConsumerTag != "ctag-1" || d.Redelivered || d.RoutingKey != q.Name || d.Exchange != "" {
		t.Fatalf("delivery %+v", d)
	}
	if d.ContentType != "text/plain" || d.ContentEncoding != "utf-8" || d.DeliveryMode != 2 || d.Priority != 3 ||
		d.CorrelationId != "corr" || d.ReplyTo != "rt" || d.Expiration != "60000" || d.MessageId != "mid" ||
		!d.Timestamp.Equal(ts) || d.Type != "typ" || d.UserId != "guest" || d.AppId != "app" {
		t.Fatalf("properties %+v", d)
	}
	d.Headers["ts"] = d.Headers["ts"].(time.Time).Local()
	headers["ts"] = ts.Local()
	if !reflect.DeepEqual(d.Headers, headers) {
		t.Fatalf("headers\n got %#v\nwant %#v", d.Headers, headers)
	}
	must(t, d.Ack(false))
	test.WaitFor(t, 5*time.Second, "ack settles", func() bool {
		info, err := b.Core().Queue(q.Name, "")
		return err == nil && info.Unacked == 0 && info.Ready == 0
	})
}

func TestPrefetchAndMultipleAck(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	ch := channel(t, c)
	q, err := ch.QueueDeclare("pf", false, false, false, false, nil)
	must(t, err)
	for i := 0; i < 20; i++ {
		must(t, ch.Publish("", q.Name, false, false, amqp.Publishing{Body: []byte(fmt.Sprint(i))}))
	}
	must(t, ch.Qos(3, 0, false))
	dl, err := ch.Consume(q.Name, "", false, false, false, false, nil)
	must(t, err)
	var last amqp.Delivery
	for i := 0; i < 3; i++ {
		last = recv(t, dl)
		if string(last.Body) != fmt.Sprint(i) {
			t.Fatalf("order: got %q want %d", last.Body, i)
		}
	}
	noDelivery(t, dl, 200*time.Millisecond)
	must(t, last.Ack(true)) // acks tags 1..3
	for i := 3; i < 6; i++ {
		if d := recv(t, dl); string(d.Body) != fmt.Sprint(i) {
			t.Fatalf("got %q want %d", d.Body, i)
		} else {
			last = d
		}
	}
	// nack multiple with requeue: 3,4,5 come back redelivered, in order.
	must(t, last.Nack(true, true))
	for i := 3; i < 6; i++ {
		d := recv(t, dl)
		if string(d.Body) != fmt.Sprint(i) || !d.Redelivered {
			t.Fatalf("redelivery: got %q redelivered=%v want %d", d.Body, d.Redelivered, i)
		}
		if i == 5 {
			must(t, d.Ack(true))
		}
	}
	// Unknown delivery tag: channel closed with 406.
	wantCode(t, asyncErr(ch, func() { ch.Ack(9999, false) }), 406)
}

func TestConfirmsAndMandatory(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	ch := channel(t, c)
	_, err := ch.QueueDeclare("dq", true, false, false, false, nil)
	must(t, err)
	must(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 200))
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	for i := 0; i < 100; i++ {
		must(t, ch.Publish("", "dq", false, false, amqp.Publishing{DeliveryMode: 2, Body: []byte("x")}))
	}
	must(t, ch.Publish("", "nowhere", true, false, amqp.Publishing{Body: []byte("lost")}))
	for i := 1; i <= 101; i++ {
		select {
		case cf := <-confirms:
			if !cf.Ack || cf.DeliveryTag != uint64(i) {
				t.Fatalf("confirm %d: %+v", i, cf)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("confirm %d missing", i)
		}
	}
	select {
	case r := <-returns:
		if r.ReplyCode != 312 || string(r.Body) != "lost" || r.RoutingKey != "nowhere" {
			t.Fatalf("return %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no basic.return")
	}
	info, err := b.Core().Queue("dq", "")
	must(t, err)
	if info.Ready != 100 {
		t.Fatalf("ready %d", info.Ready)
	}
}

func TestGetAndPurgeAndDelete(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	ch := channel(t, c)
	_, err := ch.QueueDeclare("g", false, false, false, false, nil)
	must(t, err)
	_, ok, err := ch.Get("g", false)
	must(t, err)
	if ok {
		t.Fatal("get on empty queue")
	}
	for i := 0; i < 3; i++ {
		must(t, ch.Publish("", "g", false, false, amqp.Publishing{Body: []byte{byte('a' + i)}}))
	}
	test.WaitFor(t, 5*time.Second, "3 ready", func() bool { i, _ := b.Core().Queue("g", ""); return i.Ready == 3 })
	d, ok, err := ch.Get("g", false)
	must(t, err)
	if !ok || string(d.Body) != "a" || d.MessageCount != 2 {
		t.Fatalf("get %v %q count %d", ok, d.Body, d.MessageCount)
	}
	must(t, d.Reject(true))
	d, _, err = ch.Get("g", true)
	must(t, err)
	if string(d.Body) != "a" || !d.Redelivered {
		t.Fatalf("requeued get %q %v", d.Body, d.Redelivered)
	}
	n, err := ch.QueuePurge("g", false)
	must(t, err)
	if n != 2 {
		t.Fatalf("purged %d", n)
	}
	must(t, ch.Publish("", "g", false, false, amqp.Publishing{Body: []byte("z")}))
	test.WaitFor(t, 5*time.Second, "1 ready", func() bool { i, _ := b.Core().Queue("g", ""); return i.Ready == 1 })
	_, err = ch.QueueDelete("g", false, true, false)
	wantCode(t, err, 406)
	ch = channel(t, c)
	n, err = ch.QueueDelete("g", false, false, false)
	must(t, err)
	if n != 1 {
		t.Fatalf("deleted with %d", n)
	}
	_, err = ch.QueueDeclarePassive("g", false, false, false, false, nil)
	wantCode(t, err, 404)
}

// Publish order is delivery order on a durable queue, whatever mix of
// persistent and transient messages a channel sends (RabbitMQ's guarantee).
func TestOrderWithMixedPersistence(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	_, err := ch.QueueDeclare("mixed", true, false, false, false, nil)
	must(t, err)
	for i := 0; i < 300; i++ {
		mode := amqp.Persistent
		if i%3 == 1 {
			mode = amqp.Transient
		}
		must(t, ch.Publish("", "mixed", false, false, amqp.Publishing{DeliveryMode: mode, Body: []byte(fmt.Sprint(i))}))
	}
	dl, err := ch.Consume("mixed", "", true, false, false, false, nil)
	must(t, err)
	for i := 0; i < 300; i++ {
		if d := recv(t, dl); string(d.Body) != fmt.Sprint(i) {
			t.Fatalf("position %d: got message %s", i, d.Body)
		}
	}
}
