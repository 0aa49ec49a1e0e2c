package mqtt_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/omnibroker/broker/test"
)

type v5client struct {
	*paho.Client
	msgs chan *paho.Publish
	disc chan *paho.Disconnect
	conn net.Conn
	ack  *paho.Connack
}

func u32(v uint32) *uint32 { return &v }
func u16(v uint16) *uint16 { return &v }

// dial5 connects a paho.golang MQTT 5 client; mod adjusts CONNECT.
func dial5(t *testing.T, addr, id string, mod func(*paho.Connect)) (*v5client, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	v := &v5client{msgs: make(chan *paho.Publish, 1000), disc: make(chan *paho.Disconnect, 1), conn: nc}
	v.Client = paho.NewClient(paho.ClientConfig{
		ClientID: id, Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(p paho.PublishReceived) (bool, error) {
			v.msgs <- p.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { v.disc <- d },
	})
	cp := &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true, Username: "guest", UsernameFlag: true,
		Password: []byte("guest"), PasswordFlag: true}
	if mod != nil {
		mod(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := v.Connect(ctx, cp)
	v.ack = ack
	if err != nil {
		nc.Close()
		return v, err
	}
	t.Cleanup(func() { v.Disconnect(&paho.Disconnect{}) })
	return v, nil
}

func mustDial5(t *testing.T, addr, id string, mod func(*paho.Connect)) *v5client {
	t.Helper()
	v, err := dial5(t, addr, id, mod)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return v
}

func (v *v5client) sub(t *testing.T, opts ...paho.SubscribeOptions) *paho.Suback {
	t.Helper()
	return v.subProps(t, nil, opts...)
}

func (v *v5client) subProps(t *testing.T, p *paho.SubscribeProperties, opts ...paho.SubscribeOptions) *paho.Suback {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := v.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts, Properties: p})
	if err != nil && sa == nil {
		t.Fatalf("subscribe: %v", err)
	}
	return sa
}

func (v *v5client) pub(t *testing.T, p *paho.Publish) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := v.Publish(ctx, p)
	if err != nil && r == nil {
		t.Fatalf("publish: %v", err)
	}
	return r
}

func (v *v5client) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-v.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return nil
}

// none asserts that nothing arrives within d.
func (v *v5client) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-v.msgs:
		t.Fatalf("unexpected message on %q: %q", m.Topic, m.Payload)
	case <-time.After(d):
	}
}

func TestV5PropertiesAndSubscriptionIDs(t *testing.T) {
	b := test.StartBroker(t)
	sub := mustDial5(t, b.MQTT, "sub5", nil)
	pub := mustDial5(t, b.MQTT, "pub5", nil)
	id := 7
	sa := sub.subProps(t, &paho.SubscribeProperties{SubscriptionIdentifier: &id}, paho.SubscribeOptions{Topic: "req/+", QoS: 1})
	if sa.Reasons[0] != 1 {
		t.Fatalf("suback %v", sa.Reasons)
	}
	pf := byte(1)
	r := pub.pub(t, &paho.Publish{Topic: "req/a", QoS: 1, Payload: []byte("ping"), Properties: &paho.PublishProperties{
		ContentType: "text/plain", ResponseTopic: "resp/client.1", CorrelationData: []byte{0, 1, 2, 0xff},
		MessageExpiry: u32(60), PayloadFormat: &pf, User: paho.UserProperties{{Key: "tenant", Value: "acme"}},
	}})
	if r.ReasonCode != 0 {
		t.Fatalf("puback %#x", r.ReasonCode)
	}
	m := sub.next(t)
	p := m.Properties
	if string(m.Payload) != "ping" || m.QoS != 1 || p == nil || p.ContentType != "text/plain" || p.ResponseTopic != "resp/client.1" ||
		string(p.CorrelationData) != "\x00\x01\x02\xff" || p.User.Get("tenant") != "acme" || p.MessageExpiry == nil || *p.MessageExpiry > 60 ||
		p.SubscriptionIdentifier == nil || *p.SubscriptionIdentifier != 7 || p.PayloadFormat == nil || *p.PayloadFormat != 1 {
		t.Fatalf("got %+v props %+v", m, p)
	}
}

func TestV5Retained(t *testing.T) {
	b := test.StartBroker(t)
	pub := mustDial5(t, b.MQTT, "rpub", nil)
	pub.pub(t, &paho.Publish{Topic: "state/lamp", QoS: 1, Retain: true, Payload: []byte("on")})
	pub.pub(t, &paho.Publish{Topic: "state/door", QoS: 1, Retain: true, Payload: []byte("open")})
	s1 := mustDial5(t, b.MQTT, "r1", nil)
	s1.sub(t, paho.SubscribeOptions{Topic: "state/lamp", QoS: 1})
	m := s1.next(t)
	if string(m.Payload) != "on" || !m.Retain || m.QoS != 1 {
		t.Fatalf("retained: %+v", m)
	}
	// Retain Handling 2: never send retained.
	s2 := mustDial5(t, b.MQTT, "r2", nil)
	s2.sub(t, paho.SubscribeOptions{Topic: "state/#", QoS: 1, RetainHandling: 2})
	s2.none(t, 300*time.Millisecond)
	// Live message: retain flag cleared unless Retain As Published.
	s3 := mustDial5(t, b.MQTT, "r3", nil)
	s3.sub(t, paho.SubscribeOptions{Topic: "live/#", QoS: 1, RetainAsPublished: true})
	s1.sub(t, paho.SubscribeOptions{Topic: "live/#", QoS: 1})
	pub.pub(t, &paho.Publish{Topic: "live/x", QoS: 1, Retain: true, Payload: []byte("v")})
	if m := s3.next(t); !m.Retain {
		t.Fatal("retain-as-published subscriber must see RETAIN=1")
	}
	if m := s1.next(t); m.Retain {
		t.Fatal("plain subscriber must see RETAIN=0 [MQTT-3.3.1-12]")
	}
	// Clearing with an empty payload.
	pub.pub(t, &paho.Publish{Topic: "state/lamp", QoS: 1, Retain: true, Payload: nil})
	s4 := mustDial5(t, b.MQTT, "r4", nil)
	s4.sub(t, paho.SubscribeOptions{Topic: "state/#", QoS: 1})
	m = s4.next(t)
	if m.Topic != "state/door" || string(m.Payload) != "open" {
		t.Fatalf("got %q %q", m.Topic, m.Payload)
	}
	s4.none(t, 200*time.Millisecond)
}

func TestV5WillAndDelay(t *testing.T) {
	b := test.StartBroker(t)
	watch := mustDial5(t, b.MQTT, "watch", nil)
	watch.sub(t, paho.SubscribeOptions{Topic: "wills/#", QoS: 1})
	dev := mustDial5(t, b.MQTT, "dev", func(c *paho.Connect) {
		c.WillMessage = &paho.WillMessage{Topic: "wills/dev", QoS: 1, Payload: []byte("gone")}
	})
	dev.conn.Close() // abnormal end: the will is published
	m := watch.next(t)
	if m.Topic != "wills/dev" || string(m.Payload) != "gone" {
		t.Fatalf("will: %+v", m)
	}
	// A normal DISCONNECT discards the will [MQTT-3.1.2-10].
	dev2 := mustDial5(t, b.MQTT, "dev2", func(c *paho.Connect) {
		c.WillMessage = &paho.WillMessage{Topic: "wills/dev2", QoS: 1, Payload: []byte("x")}
	})
	dev2.Disconnect(&paho.Disconnect{})
	// Will delay: reconnecting within the delay cancels the will [MQTT-3.1.3-9].
	dev3 := mustDial5(t, b.MQTT, "dev3", func(c *paho.Connect) {
		c.CleanStart = true
		c.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(60)}
		c.WillMessage = &paho.WillMessage{Topic: "wills/dev3", QoS: 1, Payload: []byte("late")}
		c.WillProperties = &paho.WillProperties{WillDelayInterval: u32(30)}
	})
	dev3.conn.Close()
	mustDial5(t, b.MQTT, "dev3", func(c *paho.Connect) {
		c.CleanStart = false
		c.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(60)}
	})
	// Will delay elapsed: published.
	dev4 := mustDial5(t, b.MQTT, "dev4", func(c *paho.Connect) {
		c.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(60)}
		c.WillMessage = &paho.WillMessage{Topic: "wills/dev4", QoS: 1, Payload: []byte("delayed")}
		c.WillProperties = &paho.WillProperties{WillDelayInterval: u32(1)}
	})
	dev4.conn.Close()
	m = watch.next(t)
	if m.Topic != "wills/dev4" {
		t.Fatalf("got will %q (%q): only dev4's delayed will may arrive", m.Topic, m.Payload)
	}
}

func TestV5Takeover(t *testing.T) {
	b := test.StartBroker(t)
	first := mustDial5(t, b.MQTT, "same", nil)
	mustDial5(t, b.MQTT, "same", nil)
	select {
	case d := <-first.disc:
		if d.ReasonCode != 0x8E {
			t.Fatalf("disconnect reason %#x, want 0x8E", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("old connection not told about the takeover")
	}
}

func TestV5SharedSubscription(t *testing.T) {
	b := test.StartBroker(t)
	a := mustDial5(t, b.MQTT, "wa", nil)
	c := mustDial5(t, b.MQTT, "wb", nil)
	a.sub(t, paho.SubscribeOptions{Topic: "$share/workers/jobs/#", QoS: 1})
	c.sub(t, paho.SubscribeOptions{Topic: "$share/workers/jobs/#", QoS: 1})
	pub := mustDial5(t, b.MQTT, "jp", nil)
	for i := 0; i < 20; i++ {
		pub.pub(t, &paho.Publish{Topic: "jobs/j", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	na, nc := 0, 0
	for na+nc < 20 {
		select {
		case <-a.msgs:
			na++
		case <-c.msgs:
			nc++
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d+%d of 20", na, nc)
		}
	}
	if na == 0 || nc == 0 {
		t.Fatalf("not spread: %d/%d", na, nc)
	}
	a.none(t, 100*time.Millisecond)
	c.none(t, 100*time.Millisecond)
}

func TestV5NoLocalAndSYS(t *testing.T) {
	b := test.StartBroker(t)
	me := mustDial5(t, b.MQTT, "me", nil)
	other := mustDial5(t, b.MQTT, "other", nil)
	me.sub(t, paho.SubscribeOptions{Topic: "chat/#", QoS: 1, NoLocal: true}, paho.SubscribeOptions{Topic: "#", QoS: 0})
	me.pub(t, &paho.Publish{Topic: "chat/room", QoS: 1, Payload: []byte("mine")})
	// "#" still matches my own message at QoS 0 (no-local is per subscription).
	m := me.next(t)
	if string(m.Payload) != "mine" || m.QoS != 0 {
		t.Fatalf("got %q qos %d", m.Payload, m.QoS)
	}
	other.pub(t, &paho.Publish{Topic: "$SYS/broker/load", QoS: 1, Payload: []byte("sys")})
	other.pub(t, &paho.Publish{Topic: "chat/room", QoS: 1, Payload: []byte("theirs")})
	m = me.next(t)
	if string(m.Payload) != "theirs" || m.QoS != 1 {
		t.Fatalf("got %q on %q qos %d ($SYS must not match #)", m.Payload, m.Topic, m.QoS)
	}
	me.none(t, 200*time.Millisecond)
}

func TestV5TopicAliasInbound(t *testing.T) {
	b := test.StartBroker(t)
	sub := mustDial5(t, b.MQTT, "as", nil)
	sub.sub(t, paho.SubscribeOptions{Topic: "alias/#", QoS: 1})
	pub := mustDial5(t, b.MQTT, "ap", nil)
	if ta := pub.ack.Properties.TopicAliasMaximum; ta == nil || *ta == 0 {
		t.Fatal("CONNACK must offer topic aliases")
	}
	pub.pub(t, &paho.Publish{Topic: "alias/long/topic", QoS: 1, Payload: []byte("1"), Properties: &paho.PublishProperties{TopicAlias: u16(3)}})
	pub.pub(t, &paho.Publish{Topic: "", QoS: 1, Payload: []byte("2"), Properties: &paho.PublishProperties{TopicAlias: u16(3)}})
	for _, want := range []string{"1", "2"} {
		if m := sub.next(t); m.Topic != "alias/long/topic" || string(m.Payload) != want {
			t.Fatalf("got %q on %q", m.Payload, m.Topic)
		}
	}
}

func TestV5MaxPacketSizeToClient(t *testing.T) {
	b := test.StartBroker(t)
	sub := mustDial5(t, b.MQTT, "small", func(c *paho.Connect) {
		c.Properties = &paho.ConnectProperties{MaximumPacketSize: u32(200)}
	})
	sub.sub(t, paho.SubscribeOptions{Topic: "size/#", QoS: 1})
	pub := mustDial5(t, b.MQTT, "big", nil)
	pub.pub(t, &paho.Publish{Topic: "size/a", QoS: 1, Payload: make([]byte, 1000)})
	pub.pub(t, &paho.Publish{Topic: "size/b", QoS: 1, Payload: []byte("small")})
	if m := sub.next(t); m.Topic != "size/b" {
		t.Fatalf("oversized message must be dropped [MQTT-3.1.2-25], got %q", m.Topic)
	}
}

func TestV5ReasonCodes(t *testing.T) {
	b := test.StartBroker(t)
	_, err := dial5(t, b.MQTT, "bad", func(c *paho.Connect) { c.Password = []byte("nope") })
	if err == nil {
		t.Fatal("bad password accepted")
	}
	v, _ := dial5(t, b.MQTT, "bad2", func(c *paho.Connect) { c.Password = []byte("nope") })
	if v.ack == nil || v.ack.ReasonCode != 0x86 {
		t.Fatalf("want CONNACK 0x86, got %+v", v.ack)
	}
	v, _ = dial5(t, b.MQTT, "anon", func(c *paho.Connect) { c.UsernameFlag, c.PasswordFlag, c.Username, c.Password = false, false, "", nil })
	if v.ack == nil || v.ack.ReasonCode != 0x87 {
		t.Fatalf("want CONNACK 0x87, got %+v", v.ack)
	}
	c := mustDial5(t, b.MQTT, "rc", nil)
	sa := c.sub(t, paho.SubscribeOptions{Topic: "a/#/b", QoS: 1}, paho.SubscribeOptions{Topic: "$share/g", QoS: 1}, paho.SubscribeOptions{Topic: "ok/+", QoS: 2})
	if len(sa.Reasons) != 3 || sa.Reasons[0] != 0x8F || sa.Reasons[1] != 0x8F || sa.Reasons[2] != 2 {
		t.Fatalf("suback %x", sa.Reasons)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ua, err := c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"ok/+", "never/subscribed"}})
	if err != nil && ua == nil {
		t.Fatal(err)
	}
	if len(ua.Reasons) != 2 || ua.Reasons[0] != 0 || ua.Reasons[1] != 0x11 {
		t.Fatalf("unsuback %x", ua.Reasons)
	}
}

func subOpt(topic string, qos byte) paho.SubscribeOptions {
	return paho.SubscribeOptions{Topic: topic, QoS: qos}
}

func pub5(topic string, qos byte, payload string) *paho.Publish {
	return &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload)}
}

// Broker shutdown says goodbye: DISCONNECT 0x8B server shutting down.
func TestV5ShutdownGoodbye(t *testing.T) {
	b := test.StartBroker(t)
	c := mustDial5(t, b.MQTT, "bye", nil)
	b.Stop(t)
	select {
	case d := <-c.disc:
		if d.ReasonCode != 0x8B {
			t.Fatalf("reason %#x", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no DISCONNECT at shutdown")
	}
}
