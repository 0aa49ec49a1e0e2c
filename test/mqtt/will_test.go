package mqtt_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/omnibroker/broker/test"
)

// A graceful broker shutdown ends every connection with DISCONNECT 0x8B;
// for the clients that did not send a normal DISCONNECT the will is
// published [MQTT-3.1.2-8]: at once when its Will Delay is 0 or the
// session ends with the connection (will delay capped by session expiry),
// stored before the core closes; a delayed one is kept durably and
// published after the restart when its delay elapses, unless the client
// resumes its session first [MQTT-3.1.3-9].
func TestWillsOnBrokerShutdown(t *testing.T) {
	b := test.StartBroker(t)
	watch := mustDial5(t, b.MQTT, "sw-watch", func(c *paho.Connect) { persistent(c); c.CleanStart = true })
	watch.sub(t, subOpt("swill/#", 1))
	watch.Disconnect(&paho.Disconnect{})

	will := func(topic string, delay, expiry uint32) func(*paho.Connect) {
		return func(c *paho.Connect) {
			c.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(expiry)}
			c.WillMessage = &paho.WillMessage{Topic: "swill/" + topic, QoS: 1, Payload: []byte(topic)}
			c.WillProperties = &paho.WillProperties{WillDelayInterval: u32(delay)}
		}
	}
	now := mustDial5(t, b.MQTT, "sw-now", will("now", 0, 60))
	mustDial5(t, b.MQTT, "sw-clean", will("clean", 30, 0)) // session ends with the connection
	mustDial5(t, b.MQTT, "sw-later", will("later", 2, 60))
	mustDial5(t, b.MQTT, "sw-cap", will("cap", 30, 2)) // due when the session expires, after 2 s
	mustDial5(t, b.MQTT, "sw-back", will("back", 30, 60))
	bye := mustDial5(t, b.MQTT, "sw-bye", will("bye", 0, 60))
	bye.Disconnect(&paho.Disconnect{}) // normal DISCONNECT: no will [MQTT-3.1.2-10]
	connect(t, pahoOpts(b.MQTT, "sw-v3").SetWill("swill/v3", "v3", 1, false))
	// Over WebSocket too (connections the TCP listener does not track).
	connect(t, paho3.NewClientOptions().AddBroker("ws://"+b.WS+"/mqtt").SetClientID("sw-ws").
		SetUsername("guest").SetPassword("guest").SetAutoReconnect(false).SetConnectTimeout(5*time.Second).
		SetWill("swill/ws", "ws", 1, false))

	stopping := time.Now() // before any will was due
	b.Stop(t)
	select {
	case d := <-now.disc:
		if d.ReasonCode != 0x8B {
			t.Fatalf("shutdown reason %#x", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no DISCONNECT 0x8B")
	}

	b2 := test.StartBroker(t, test.WithDataDir(b.DataDir))
	// Resuming the session cancels its pending delayed will, kept so far.
	wills := b2.Core().Meta("mqtt-wills")
	if _, err := wills.Get("sw-back"); err != nil {
		t.Fatalf("pending will not kept across the restart: %v", err)
	}
	mustDial5(t, b2.MQTT, "sw-back", func(c *paho.Connect) { persistent(c); c.Properties.SessionExpiryInterval = u32(60) })
	if _, err := wills.Get("sw-back"); err == nil {
		t.Fatal("resumed session's will still pending")
	}
	w := mustDial5(t, b2.MQTT, "sw-watch", persistent)
	var got []string
	for len(got) < 6 {
		m := w.next(t)
		got = append(got, string(m.Payload))
		if p := string(m.Payload); (p == "later" || p == "cap") && time.Since(stopping) < 2*time.Second {
			t.Fatalf("delayed will %q published %v after the shutdown began, before its 2 s delay", p, time.Since(stopping))
		}
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "cap,clean,later,now,v3,ws" {
		t.Fatalf("wills after the restart: %v", got)
	}
	w.none(t, 200*time.Millisecond)
	test.WaitFor(t, 5*time.Second, "published wills forgotten", func() bool { return len(wills.List()) == 0 })
}
