package amqp_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/go-stomp/stomp/v3"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

// AMQP <-> STOMP through amq.topic and a shared queue, properties mapped
// per ARCHITECTURE.md.
func TestCrossProtocolSTOMP(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	sc, err := stomp.Dial("tcp", b.STOMP, stomp.ConnOpt.Login("guest", "guest"), stomp.ConnOpt.Host("/"))
	must(t, err)
	defer sc.Disconnect()
	sub, err := sc.Subscribe("/topic/sensor.*", stomp.AckAuto)
	must(t, err)
	test.WaitFor(t, 5*time.Second, "STOMP subscription bound", func() bool {
		for _, bd := range b.Core().Bindings() {
			if bd.Source == "amq.topic" && bd.Key == "sensor.*" {
				return true
			}
		}
		return false
	})
	must(t, ch.Publish("amq.topic", "sensor.temp", false, false, amqp.Publishing{ContentType: "text/plain",
		CorrelationId: "c-1", ReplyTo: "replies", Priority: 4, DeliveryMode: 2, Headers: amqp.Table{"unit": "C"}, Body: []byte("21.5")}))
	select {
	case m := <-sub.C:
		if m.Err != nil || string(m.Body) != "21.5" || m.ContentType != "text/plain" || m.Header.Get("correlation-id") != "c-1" ||
			m.Header.Get("reply-to") != "replies" || m.Header.Get("unit") != "C" || m.Header.Get("persistent") != "true" {
			t.Fatalf("STOMP got %+v headers %v", m, m.Header)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("STOMP subscriber got nothing")
	}
	_, err = ch.QueueDeclare("from-stomp", false, false, false, false, nil)
	must(t, err)
	must(t, sc.Send("/queue/from-stomp", "application/json", []byte(`{"a":1}`), stomp.SendOpt.Header("correlation-id", "c-2"),
		stomp.SendOpt.Header("color", "blue"), stomp.SendOpt.Receipt))
	dl, err := ch.Consume("from-stomp", "", true, false, false, false, nil)
	must(t, err)
	d := recv(t, dl)
	if string(d.Body) != `{"a":1}` || d.ContentType != "application/json" || d.CorrelationId != "c-2" || d.Headers["color"] != "blue" {
		t.Fatalf("AMQP got %+v", d)
	}
}

// AMQP <-> MQTT 3.1.1: amq.topic keys are MQTT topics with '.' for '/'.
func TestCrossProtocolMQTT(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	got := make(chan paho.Message, 4)
	o := paho.NewClientOptions().AddBroker("tcp://" + b.MQTT).SetClientID("amqp-cross").SetUsername("guest").SetPassword("guest")
	mc := paho.NewClient(o)
	if tk := mc.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("mqtt connect: %v", tk.Error())
	}
	defer mc.Disconnect(100)
	if tk := mc.Subscribe("dev/+", 1, func(_ paho.Client, m paho.Message) { got <- m }); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("subscribe: %v", tk.Error())
	}
	must(t, ch.Publish("amq.topic", "dev.1", false, false, amqp.Publishing{Body: []byte("from amqp")}))
	select {
	case m := <-got:
		if m.Topic() != "dev/1" || string(m.Payload()) != "from amqp" {
			t.Fatalf("MQTT got %s %q", m.Topic(), m.Payload())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("MQTT subscriber got nothing")
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	must(t, err)
	must(t, ch.QueueBind(q.Name, "dev.*", "amq.topic", false, nil))
	dl, err := ch.Consume(q.Name, "", true, false, false, false, nil)
	must(t, err)
	if tk := mc.Publish("dev/2", 1, false, "from mqtt"); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("publish: %v", tk.Error())
	}
	for {
		d := recv(t, dl)
		if d.RoutingKey == "dev.1" {
			continue // our own publish, also bound
		}
		if d.RoutingKey != "dev.2" || d.Exchange != "amq.topic" || string(d.Body) != "from mqtt" || d.DeliveryMode != 2 {
			t.Fatalf("AMQP got key %q exchange %q body %q mode %d", d.RoutingKey, d.Exchange, d.Body, d.DeliveryMode)
		}
		break
	}
}
