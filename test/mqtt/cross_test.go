package mqtt_test

import (
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/go-stomp/stomp/v3"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

// watchTopic binds an AMQP queue to amq.topic with amqpKey and subscribes
// STOMP to stompDest (waiting until the core has its binding stompKey).
// It returns the AMQP channel, its deliveries and the STOMP subscription.
func watchTopic(t *testing.T, b *test.Broker, queue, amqpKey, stompDest, stompKey string) (*amqp.Channel, <-chan amqp.Delivery, *stomp.Conn, *stomp.Subscription) {
	t.Helper()
	ac, err := amqp.Dial("amqp://guest:guest@" + b.AMQP + "/")
	if err != nil {
		t.Fatalf("amqp: %v", err)
	}
	t.Cleanup(func() { ac.Close() })
	ch, err := ac.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare(queue, false, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, amqpKey, "amq.topic", false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := stomp.Dial("tcp", b.STOMP, stomp.ConnOpt.Login("guest", "guest"))
	if err != nil {
		t.Fatalf("stomp: %v", err)
	}
	t.Cleanup(func() { sc.Disconnect() })
	ssub, err := sc.Subscribe(stompDest, stomp.AckAuto)
	if err != nil {
		t.Fatal(err)
	}
	// go-stomp does not wait for SUBSCRIBE to be processed: wait for its binding.
	test.WaitFor(t, 5*time.Second, "STOMP subscription bound", func() bool {
		for _, bd := range b.Core().Bindings() {
			if bd.Source == "amq.topic" && bd.Key == stompKey {
				return true
			}
		}
		return false
	})
	return ch, deliveries, sc, ssub
}

// Real clients on every side: an MQTT device publishes telemetry/dev42;
// an AMQP queue bound to amq.topic telemetry.# and a STOMP subscriber of
// /topic/telemetry.* receive it; AMQP and STOMP publishes reach MQTT 5
// subscribers with their properties mapped.
func TestCrossProtocolRealClients(t *testing.T) {
	b := test.StartBroker(t)
	ch, deliveries, sc, ssub := watchTopic(t, b, "telemetry-all", "telemetry.#", "/topic/telemetry.*", "telemetry.*")
	sub := mustDial5(t, b.MQTT, "cross-sub", nil)
	sub.sub(t, subOpt("replies/#", 1))

	dev := mustDial5(t, b.MQTT, "dev42", nil)
	dev.pub(t, &paho.Publish{Topic: "telemetry/dev42", QoS: 1, Payload: []byte("21.5"), Properties: &paho.PublishProperties{
		ContentType: "text/plain", CorrelationData: []byte("req-7"), ResponseTopic: "replies/dev42",
		User: paho.UserProperties{{Key: "unit", Value: "C"}}}})

	select {
	case d := <-deliveries:
		if string(d.Body) != "21.5" || d.RoutingKey != "telemetry.dev42" || d.ContentType != "text/plain" ||
			d.CorrelationId != "req-7" || d.ReplyTo != "replies.dev42" || d.Headers["unit"] != "C" || d.DeliveryMode != 2 {
			t.Fatalf("amqp got %+v", d)
		}
		// The AMQP consumer replies through amq.topic to the reply-to key.
		if err := ch.Publish("amq.topic", d.ReplyTo, false, false, amqp.Publishing{Body: []byte("ack-from-amqp"),
			CorrelationId: d.CorrelationId, ContentType: "text/plain", DeliveryMode: 2, Headers: amqp.Table{"n": int32(1)}}); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("AMQP consumer got nothing")
	}
	select {
	case f := <-ssub.C:
		if f.Err != nil || string(f.Body) != "21.5" || f.Header.Get("content-type") != "text/plain" || f.Header.Get("unit") != "C" {
			t.Fatalf("stomp got %+v", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("STOMP subscriber got nothing")
	}
	m := sub.next(t)
	if m.Topic != "replies/dev42" || string(m.Payload) != "ack-from-amqp" || string(m.Properties.CorrelationData) != "req-7" ||
		m.Properties.ContentType != "text/plain" || m.Properties.User.Get("n") != "1" || m.QoS != 1 {
		t.Fatalf("MQTT requester got %+v %+v", m, m.Properties)
	}
	if err := sc.Send("/topic/replies.stomp", "text/plain", []byte("from-stomp"), stomp.SendOpt.Header("correlation-id", "s-1")); err != nil {
		t.Fatal(err)
	}
	m = sub.next(t)
	if m.Topic != "replies/stomp" || string(m.Payload) != "from-stomp" || string(m.Properties.CorrelationData) != "s-1" {
		t.Fatalf("from STOMP: %+v %+v", m, m.Properties)
	}
}

// The MQTT delivery flags the core carries for MQTT subscribers (QoS 2,
// RETAIN) are not shown to AMQP or STOMP consumers: they see the user
// properties only. MQTT 5 subscribers still get QoS 2 and, with Retain As
// Published, the RETAIN flag.
func TestMQTTFlagsHiddenFromOtherProtocols(t *testing.T) {
	b := test.StartBroker(t)
	_, deliveries, _, ssub := watchTopic(t, b, "flags-all", "flags.#", "/topic/flags.*", "flags.*")
	m5 := mustDial5(t, b.MQTT, "flags-sub", nil)
	m5.sub(t, paho.SubscribeOptions{Topic: "flags/#", QoS: 2, RetainAsPublished: true})

	dev := mustDial5(t, b.MQTT, "flags-dev", nil)
	for i, p := range []*paho.Publish{
		{Topic: "flags/q2", QoS: 2, Payload: []byte("two")},
		{Topic: "flags/ret", QoS: 1, Retain: true, Payload: []byte("kept")},
	} {
		p.Properties = &paho.PublishProperties{User: paho.UserProperties{{Key: "unit", Value: "C"}}}
		dev.pub(t, p)
		select {
		case d := <-deliveries:
			if string(d.Body) != string(p.Payload) || d.Headers["unit"] != "C" || len(d.Headers) != 1 {
				t.Fatalf("publish %d: AMQP headers %v (want only the user property)", i, d.Headers)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("publish %d: AMQP consumer got nothing", i)
		}
		select {
		case f := <-ssub.C:
			if f.Err != nil || string(f.Body) != string(p.Payload) || f.Header.Get("unit") != "C" {
				t.Fatalf("publish %d: STOMP got %+v", i, f)
			}
			for j := 0; j < f.Header.Len(); j++ {
				if k, _ := f.Header.GetAt(j); strings.Contains(k, "qos") || strings.Contains(k, "retain") {
					t.Fatalf("publish %d: STOMP header %q leaked", i, k)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("publish %d: STOMP subscriber got nothing", i)
		}
		got := m5.next(t)
		if got.QoS != p.QoS || got.Retain != p.Retain || got.Properties.User.Get("unit") != "C" || len(got.Properties.User) != 1 {
			t.Fatalf("publish %d: MQTT got qos %d retain %v user %v", i, got.QoS, got.Retain, got.Properties.User)
		}
	}
	// A retained message fetched from the retained store after a restart
	// still carries its QoS for a new MQTT subscriber.
	b.Stop(t)
	b2 := test.StartBroker(t, test.WithDataDir(b.DataDir))
	late := mustDial5(t, b2.MQTT, "flags-late", nil)
	late.sub(t, subOpt("flags/ret", 2))
	if got := late.next(t); string(got.Payload) != "kept" || !got.Retain || got.QoS != 1 || len(got.Properties.User) != 1 {
		t.Fatalf("retained after restart: %+v %+v", got, got.Properties)
	}
}
