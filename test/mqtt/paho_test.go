package mqtt_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/omnibroker/broker/config"
	"github.com/omnibroker/broker/test"
)

func pahoOpts(addr, id string) *paho.ClientOptions {
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetUsername("guest").SetPassword("guest").SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second).SetProtocolVersion(4)
	return o
}

func connect(t *testing.T, o *paho.ClientOptions) paho.Client {
	t.Helper()
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func wait(t *testing.T, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("token: %v", tok.Error())
	}
}

type inbox struct {
	mu   sync.Mutex
	msgs []paho.Message
}

func (b *inbox) handler(_ paho.Client, m paho.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
}

func (b *inbox) len() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.msgs) }
func (b *inbox) get(i int) paho.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.msgs[i]
}

func TestPaho311PubSubQoS(t *testing.T) {
	b := test.StartBroker(t)
	sub := connect(t, pahoOpts(b.MQTT, "sub"))
	pub := connect(t, pahoOpts(b.MQTT, "pub"))
	for qos := byte(0); qos <= 2; qos++ {
		var in inbox
		topic := fmt.Sprintf("sensors/q%d/+", qos)
		wait(t, sub.Subscribe(topic, qos, in.handler))
		for i := 0; i < 20; i++ {
			wait(t, pub.Publish(fmt.Sprintf("sensors/q%d/dev.1", qos), qos, false, fmt.Sprintf("m%d", i)))
		}
		test.WaitFor(t, 5*time.Second, "20 messages", func() bool { return in.len() >= 20 })
		for i := 0; i < 20; i++ {
			m := in.get(i)
			if string(m.Payload()) != fmt.Sprintf("m%d", i) || m.Topic() != fmt.Sprintf("sensors/q%d/dev.1", qos) || m.Qos() != qos {
				t.Fatalf("qos %d msg %d: %q on %q at qos %d", qos, i, m.Payload(), m.Topic(), m.Qos())
			}
		}
		wait(t, sub.Unsubscribe(topic))
	}
}

func TestPaho311QoSDowngrade(t *testing.T) {
	b := test.StartBroker(t)
	sub := connect(t, pahoOpts(b.MQTT, "sub"))
	pub := connect(t, pahoOpts(b.MQTT, "pub"))
	var in inbox
	wait(t, sub.Subscribe("d/#", 1, in.handler))
	wait(t, pub.Publish("d/x", 2, false, "two"))
	wait(t, pub.Publish("d/y", 0, false, "zero"))
	test.WaitFor(t, 5*time.Second, "2 messages", func() bool { return in.len() >= 2 })
	if in.get(0).Qos() != 1 || in.get(1).Qos() != 0 {
		t.Fatalf("qos %d %d, want 1 0", in.get(0).Qos(), in.get(1).Qos())
	}
}

func TestPaho311BadAuth(t *testing.T) {
	b := test.StartBroker(t, test.WithUsers(config.User{Name: "alice", Password: "secret"}))
	o := pahoOpts(b.MQTT, "x").SetUsername("alice").SetPassword("wrong")
	c := paho.NewClient(o)
	tok := c.Connect()
	tok.WaitTimeout(5 * time.Second)
	if tok.Error() == nil || tok.(*paho.ConnectToken).ReturnCode() != 4 {
		t.Fatalf("want return code 4, got %v %d", tok.Error(), tok.(*paho.ConnectToken).ReturnCode())
	}
	o = pahoOpts(b.MQTT, "y").SetUsername("").SetPassword("")
	c = paho.NewClient(o)
	tok = c.Connect()
	tok.WaitTimeout(5 * time.Second)
	if tok.(*paho.ConnectToken).ReturnCode() != 5 {
		t.Fatalf("anonymous: want return code 5, got %d", tok.(*paho.ConnectToken).ReturnCode())
	}
	o = pahoOpts(b.MQTT, "z").SetUsername("alice").SetPassword("secret")
	connect(t, o)
}

// An MQTT 3.1.1 publisher with more QoS 2 publishes in flight than the
// broker's Receive Maximum (3.1.1 has none to announce): every exchange
// completes and every message arrives once. The reader keeps taking
// PUBREL while QoS 2 messages await it, and resumes once the store has
// confirmed earlier publishes.
func TestPaho311QoS2ManyInFlight(t *testing.T) {
	b := test.StartBroker(t)
	var box inbox
	sub := connect(t, pahoOpts(b.MQTT, "q2many-sub").SetDefaultPublishHandler(box.handler))
	wait(t, sub.Subscribe("q2many/#", 2, nil))
	// A persistent session: each QoS 2 id is stored before its PUBREC.
	pub := connect(t, pahoOpts(b.MQTT, "q2many-pub").SetCleanSession(false))
	const n = 600
	toks := make([]paho.Token, n)
	for i := range toks {
		toks[i] = pub.Publish("q2many/x", 2, false, fmt.Sprint(i))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d of %d did not complete: %v", i, n, tok.Error())
		}
	}
	test.WaitFor(t, 10*time.Second, "every message delivered", func() bool { return box.len() >= n })
	seen := map[string]bool{}
	for i := 0; i < box.len(); i++ {
		p := string(box.get(i).Payload())
		if seen[p] {
			t.Fatalf("%s delivered twice", p)
		}
		seen[p] = true
	}
}
