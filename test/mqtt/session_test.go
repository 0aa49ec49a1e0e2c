package mqtt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/test"
)

func persistent(c *paho.Connect) {
	c.CleanStart = false
	c.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(3600)}
}

// A persistent session keeps its subscriptions and queued QoS 1/2
// messages while offline and across a broker restart; retained messages
// survive the restart too.
func TestPersistentSessionSurvivesRestart(t *testing.T) {
	b := test.StartBroker(t)
	s := mustDial5(t, b.MQTT, "keeper", func(c *paho.Connect) { persistent(c); c.CleanStart = true })
	s.sub(t, paho.SubscribeOptions{Topic: "fleet/+/status", QoS: 2})
	s.Disconnect(&paho.Disconnect{})
	p := mustDial5(t, b.MQTT, "sender", nil)
	for i := 0; i < 5; i++ {
		p.pub(t, &paho.Publish{Topic: fmt.Sprintf("fleet/t%d/status", i), QoS: byte(1 + i%2), Payload: []byte(fmt.Sprint(i))})
	}
	p.pub(t, &paho.Publish{Topic: "fleet/config", QoS: 1, Retain: true, Payload: []byte("cfg-v1")})
	p.Disconnect(&paho.Disconnect{})
	b.Stop(t)

	b2 := test.StartBroker(t, test.WithDataDir(b.DataDir))
	s2 := mustDial5(t, b2.MQTT, "keeper", persistent)
	if !s2.ack.SessionPresent {
		t.Fatal("session not present after restart")
	}
	for i := 0; i < 5; i++ {
		m := s2.next(t)
		if string(m.Payload) != fmt.Sprint(i) || m.QoS != byte(1+i%2) {
			t.Fatalf("message %d: %q qos %d", i, m.Payload, m.QoS)
		}
	}
	// The subscription itself survived: new messages still arrive.
	p2 := mustDial5(t, b2.MQTT, "sender", nil)
	p2.pub(t, &paho.Publish{Topic: "fleet/t9/status", QoS: 1, Payload: []byte("after")})
	if m := s2.next(t); string(m.Payload) != "after" {
		t.Fatalf("got %q", m.Payload)
	}
	r := mustDial5(t, b2.MQTT, "reader", nil)
	r.sub(t, paho.SubscribeOptions{Topic: "fleet/config", QoS: 1})
	if m := r.next(t); string(m.Payload) != "cfg-v1" || !m.Retain {
		t.Fatalf("retained after restart: %q retain=%v", m.Payload, m.Retain)
	}
}

// Unacknowledged QoS 1 deliveries come back with DUP after a reconnect.
func TestRedeliveryWithDup311(t *testing.T) {
	b := test.StartBroker(t)
	got := make(chan paho3.Message, 10)
	o := pahoOpts(b.MQTT, "dupper").SetCleanSession(false).SetAutoAckDisabled(true)
	o.SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) { got <- m })
	c := connect(t, o)
	wait(t, c.Subscribe("dup/t", 1, nil))
	pub := connect(t, pahoOpts(b.MQTT, "duppub"))
	wait(t, pub.Publish("dup/t", 1, false, "once"))
	m := <-got
	if m.Duplicate() {
		t.Fatal("first delivery flagged DUP")
	}
	c.Disconnect(0) // without acking
	o2 := pahoOpts(b.MQTT, "dupper").SetCleanSession(false)
	got2 := make(chan paho3.Message, 10)
	o2.SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) { got2 <- m })
	connect(t, o2)
	select {
	case m := <-got2:
		if string(m.Payload()) != "once" || !m.Duplicate() {
			t.Fatalf("redelivery %q dup=%v", m.Payload(), m.Duplicate())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no redelivery")
	}
}

// Session expiry: a v5 session with a 1 s interval is gone after it.
func TestSessionExpiry(t *testing.T) {
	b := test.StartBroker(t)
	s := mustDial5(t, b.MQTT, "brief", func(c *paho.Connect) {
		c.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(1)}
	})
	s.sub(t, paho.SubscribeOptions{Topic: "x/y", QoS: 1})
	s.Disconnect(&paho.Disconnect{})
	test.WaitFor(t, 5*time.Second, "session queue deleted", func() bool {
		_, err := b.Core().Queue("mqtt-subscription-brief", "")
		return err != nil
	})
	s2 := mustDial5(t, b.MQTT, "brief", persistent)
	if s2.ack.SessionPresent {
		t.Fatal("expired session still present")
	}
	// Clean session (expiry 0): its transient queue goes with the connection.
	c := mustDial5(t, b.MQTT, "clean", nil)
	c.sub(t, paho.SubscribeOptions{Topic: "x/z", QoS: 1})
	if info, err := b.Core().Queue("mqtt-subscription-clean", ""); err != nil || info.Config.Durable {
		t.Fatalf("clean session queue: %+v %v", info.Config, err)
	}
	c.Disconnect(&paho.Disconnect{})
	test.WaitFor(t, 5*time.Second, "clean queue deleted", func() bool {
		_, err := b.Core().Queue("mqtt-subscription-clean", "")
		return err != nil
	})
}

// Message expiry: a message that waited longer than its interval is not delivered.
func TestMessageExpiry(t *testing.T) {
	b := test.StartBroker(t)
	s := mustDial5(t, b.MQTT, "late", func(c *paho.Connect) { persistent(c); c.CleanStart = true })
	s.sub(t, paho.SubscribeOptions{Topic: "exp/#", QoS: 1})
	s.Disconnect(&paho.Disconnect{})
	p := mustDial5(t, b.MQTT, "ep", nil)
	p.pub(t, &paho.Publish{Topic: "exp/short", QoS: 1, Payload: []byte("short"), Properties: &paho.PublishProperties{MessageExpiry: u32(1)}})
	p.pub(t, &paho.Publish{Topic: "exp/long", QoS: 1, Payload: []byte("long"), Properties: &paho.PublishProperties{MessageExpiry: u32(100)}})
	time.Sleep(1100 * time.Millisecond) // the expiry interval itself is what is tested
	s2 := mustDial5(t, b.MQTT, "late", persistent)
	m := s2.next(t)
	if string(m.Payload) != "long" || m.Properties.MessageExpiry == nil || *m.Properties.MessageExpiry > 99 {
		t.Fatalf("got %q expiry %v", m.Payload, m.Properties.MessageExpiry)
	}
}

// Cross-protocol through the core: MQTT -> a queue bound to amq.topic
// (what an AMQP client or an SNS topic's SQS subscription binds), and a
// core publish (AMQP/STOMP/SNS) -> MQTT 5 and 3.1.1 subscribers.
func TestCrossProtocolMapping(t *testing.T) {
	b := test.StartBroker(t)
	br := b.Core()
	if _, err := br.DeclareQueue(core.QueueConfig{Name: "amqp-telemetry", Durable: true}); err != nil {
		t.Fatal(err)
	}
	if err := br.Bind(core.Binding{Source: "amq.topic", Destination: "amqp-telemetry", Key: "telemetry.#"}); err != nil {
		t.Fatal(err)
	}
	p := mustDial5(t, b.MQTT, "dev42", nil)
	p.pub(t, &paho.Publish{Topic: "telemetry/dev42", QoS: 1, Payload: []byte("21.5"), Properties: &paho.PublishProperties{
		ContentType: "text/plain", CorrelationData: []byte("corr-1"), ResponseTopic: "replies/dev42",
		User: paho.UserProperties{{Key: "unit", Value: "C"}}}})
	ds, err := br.Get(t.Context(), "amqp-telemetry", core.GetOptions{Max: 1, NoAck: true, Wait: 5 * time.Second})
	if err != nil || len(ds) != 1 {
		t.Fatalf("get: %v %d", err, len(ds))
	}
	m := ds[0].Message
	if string(m.Body) != "21.5" || m.RoutingKey != "telemetry.dev42" || m.Props.ContentType != "text/plain" ||
		m.Props.CorrelationID != "corr-1" || m.Props.ReplyTo != "replies.dev42" || m.Props.Headers["unit"] != "C" || !m.Props.Persistent {
		t.Fatalf("core message: key %q props %+v", m.RoutingKey, m.Props)
	}

	s5 := mustDial5(t, b.MQTT, "s5", nil)
	s5.sub(t, paho.SubscribeOptions{Topic: "telemetry/+", QoS: 1})
	got3 := make(chan paho3.Message, 1)
	s3 := connect(t, pahoOpts(b.MQTT, "s3"))
	wait(t, s3.Subscribe("telemetry/+", 1, func(_ paho3.Client, m paho3.Message) { got3 <- m }))
	_, err = br.Publish("amq.topic", "telemetry.dev7", &core.Message{Body: []byte("from-amqp"), Props: core.Properties{
		ContentType: "application/json", CorrelationID: "c7", ReplyTo: "amq.gen-reply", Persistent: true,
		Headers: core.Table{"n": int32(5)}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m5 := s5.next(t)
	if m5.Topic != "telemetry/dev7" || string(m5.Payload) != "from-amqp" || m5.QoS != 1 || m5.Properties.ContentType != "application/json" ||
		string(m5.Properties.CorrelationData) != "c7" || m5.Properties.ResponseTopic != "amq/gen-reply" || m5.Properties.User.Get("n") != "5" {
		t.Fatalf("v5 got %+v %+v", m5, m5.Properties)
	}
	select {
	case m3 := <-got3:
		if m3.Topic() != "telemetry/dev7" || string(m3.Payload()) != "from-amqp" {
			t.Fatalf("v3 got %q %q", m3.Topic(), m3.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("3.1.1 subscriber got nothing")
	}
}

// The core's memory alarm blocks MQTT publishers (their PUBACK waits) and
// releases them when it clears; subscribers keep receiving.
func TestMemoryAlarmBlocksPublishers(t *testing.T) {
	b := test.StartBroker(t)
	p := mustDial5(t, b.MQTT, "blocked-pub", nil)
	s := mustDial5(t, b.MQTT, "alarm-sub", nil)
	s.sub(t, subOpt("alarm/#", 1))
	b.Core().SetMemoryLimit(1) // any heap is over one byte
	if !b.Core().MemoryBlocked() {
		t.Fatal("alarm did not go off")
	}
	acked := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := p.Publish(ctx, pub5("alarm/x", 1, "held"))
		acked <- err
	}()
	select {
	case err := <-acked:
		t.Fatalf("publish completed during the alarm: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	s.none(t, 10*time.Millisecond)
	b.Core().SetMemoryLimit(0)
	if err := <-acked; err != nil {
		t.Fatalf("publish after the alarm: %v", err)
	}
	if m := s.next(t); string(m.Payload) != "held" {
		t.Fatalf("got %q", m.Payload)
	}
}
