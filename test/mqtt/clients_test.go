package mqtt_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/omnibroker/broker/test"
)

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// python3-paho-mqtt (Debian, 1.6) as MQTT 3.1.1 and 5.0 client.
func TestPythonPaho(t *testing.T) {
	b := test.StartBroker(t)
	host, port := hostPort(t, b.MQTT)
	script := `
import sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
host, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
v5 = proto == "5"
got = []
done = threading.Event()
subscribed = threading.Event()
def on_message(c, u, m):
    extra = ""
    if v5 and hasattr(m, "properties") and getattr(m.properties, "UserProperty", None):
        extra = ":" + ",".join(k + "=" + v for k, v in m.properties.UserProperty)
    got.append("%s=%s@%d%s" % (m.topic, m.payload.decode(), m.qos, extra))
    if len(got) == 3:
        done.set()
def on_subscribe(*a):
    subscribed.set()
kw = {"protocol": mqtt.MQTTv5} if v5 else {"protocol": mqtt.MQTTv311, "clean_session": True}
sub = mqtt.Client(client_id="py-sub-" + proto, **kw)
sub.username_pw_set("guest", "guest")
sub.on_message = on_message
sub.on_subscribe = on_subscribe
sub.connect(host, port, 30)
sub.loop_start()
sub.subscribe("py/#", qos=2)
if not subscribed.wait(5):
    print("no suback"); sys.exit(1)
pub = mqtt.Client(client_id="py-pub-" + proto, **kw)
pub.username_pw_set("guest", "guest")
pub.connect(host, port, 30)
pub.loop_start()
for q in range(3):
    props = None
    if v5:
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = ("q", str(q))
    info = pub.publish("py/q%d" % q, "m%d" % q, qos=q, properties=props) if v5 else pub.publish("py/q%d" % q, "m%d" % q, qos=q)
    info.wait_for_publish(5)
if not done.wait(5):
    print("timeout", got); sys.exit(1)
print(" ".join(sorted(got)))
sub.disconnect(); pub.disconnect()
`
	for _, proto := range []string{"4", "5"} {
		out, err := test.Python(t, 30*time.Second, script, host, port, proto)
		if err != nil {
			t.Fatalf("python v%s: %v\n%s", proto, err, out)
		}
		want := "py/q0=m0@0 py/q1=m1@1 py/q2=m2@2"
		if proto == "5" {
			want = "py/q0=m0@0:q=0 py/q1=m1@1:q=1 py/q2=m2@2:q=2"
		}
		if strings.TrimSpace(out) != want {
			t.Fatalf("python v%s: got %q want %q", proto, out, want)
		}
	}
}

// mosquitto_pub / mosquitto_sub over TCP, MQTT 3.1.1 and 5, retained.
func TestMosquittoClients(t *testing.T) {
	b := test.StartBroker(t)
	host, port := hostPort(t, b.MQTT)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, v := range []string{"mqttv31", "mqttv311", "mqttv5"} {
		topic := "mosq/" + v
		// retained first, so mosquitto_sub -C 1 gets it at once
		if out, err := test.Run(ctx, "mosquitto_pub", "-h", host, "-p", port, "-u", "guest", "-P", "guest", "-V", v,
			"-q", "1", "-r", "-t", topic, "-m", "hello-"+v); err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
		out, err := test.Run(ctx, "mosquitto_sub", "-h", host, "-p", port, "-u", "guest", "-P", "guest", "-V", v,
			"-q", "2", "-t", "mosq/#", "-C", "1", "-W", "10", "-v")
		if err != nil {
			t.Fatalf("mosquitto_sub: %v %s", err, out)
		}
		if strings.TrimSpace(out) != topic+" hello-"+v {
			t.Fatalf("mosquitto_sub got %q", out)
		}
		// clear it
		test.Run(ctx, "mosquitto_pub", "-h", host, "-p", port, "-u", "guest", "-P", "guest", "-V", v, "-r", "-n", "-t", topic)
	}
	// Bad password: mosquitto_pub fails.
	if _, err := test.Run(ctx, "mosquitto_pub", "-h", host, "-p", port, "-u", "guest", "-P", "bad", "-t", "x", "-m", "y"); err == nil {
		t.Fatal("mosquitto_pub with a bad password succeeded")
	}
}

// TLS listener with paho (3.1.1) and mosquitto_sub/pub (v5).
func TestTLS(t *testing.T) {
	cert := test.NewCert(t)
	b := test.StartBroker(t, test.WithTLS(cert, "mqtt"))
	o := paho3.NewClientOptions().AddBroker("ssl://" + b.MQTT).SetClientID("tls1").SetUsername("guest").SetPassword("guest").
		SetTLSConfig(&tls.Config{RootCAs: cert.Pool, ServerName: "localhost"}).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	got := make(chan paho3.Message, 1)
	c := connect(t, o)
	wait(t, c.Subscribe("secure/+", 1, func(_ paho3.Client, m paho3.Message) { got <- m }))
	host, port := hostPort(t, b.MQTT)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, cert.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := test.Run(ctx, "mosquitto_pub", "-h", host, "-p", port, "--cafile", ca, "--insecure", "-u", "guest", "-P", "guest",
		"-V", "mqttv5", "-q", "1", "-t", "secure/x", "-m", "over-tls"); err != nil {
		t.Fatalf("mosquitto_pub tls: %v %s", err, out)
	}
	select {
	case m := <-got:
		if string(m.Payload()) != "over-tls" {
			t.Fatalf("got %q", m.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing over TLS")
	}
	// Plain MQTT on the TLS port does not get a CONNACK.
	nc, err := net.DialTimeout("tcp", b.MQTT, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprint(nc, "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4)
	if n, _ := nc.Read(buf); n >= 2 && buf[0] == 0x20 {
		t.Fatal("CONNACK over plaintext on a TLS port")
	}
}

// MQTT over WebSocket: paho 3.1.1 on /mqtt, paho 3.1.1 with subprotocol
// mqtt on /ws, and python paho (websockets transport) on /mqtt.
func TestWebSocket(t *testing.T) {
	b := test.StartBroker(t)
	if b.WS == "" {
		t.Fatal("no WebSocket listener")
	}
	got := make(chan paho3.Message, 4)
	sub := connect(t, paho3.NewClientOptions().AddBroker("ws://"+b.WS+"/mqtt").SetClientID("ws-sub").
		SetUsername("guest").SetPassword("guest").SetAutoReconnect(false).SetConnectTimeout(5*time.Second))
	wait(t, sub.Subscribe("web/#", 1, func(_ paho3.Client, m paho3.Message) { got <- m }))
	pub := connect(t, paho3.NewClientOptions().AddBroker("ws://"+b.WS+"/ws").SetClientID("ws-pub").
		SetUsername("guest").SetPassword("guest").SetAutoReconnect(false).SetConnectTimeout(5*time.Second))
	wait(t, pub.Publish("web/a", 1, false, "via-ws"))
	host, port := hostPort(t, b.WS)
	out, err := test.Python(t, 30*time.Second, `
import sys
import paho.mqtt.client as mqtt
c = mqtt.Client(client_id="py-ws", transport="websockets", protocol=mqtt.MQTTv5)
c.ws_set_options(path="/mqtt")
c.username_pw_set("guest", "guest")
c.connect(sys.argv[1], int(sys.argv[2]), 30)
c.loop_start()
c.publish("web/py", "via-py-ws", qos=1).wait_for_publish(5)
c.disconnect()
c.loop_stop()
print("ok")
`, host, port)
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("python ws: %v %s", err, out)
	}
	for _, want := range []string{"via-ws", "via-py-ws"} {
		select {
		case m := <-got:
			if string(m.Payload()) != want {
				t.Fatalf("got %q want %q", m.Payload(), want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q over WebSocket", want)
		}
	}
}

// MQTT over secure WebSocket (wss://) with paho 3.1.1.
func TestSecureWebSocket(t *testing.T) {
	cert := test.NewCert(t)
	b := test.StartBroker(t, test.WithTLS(cert, "ws"))
	got := make(chan paho3.Message, 1)
	c := connect(t, paho3.NewClientOptions().AddBroker("wss://"+b.WS+"/mqtt").SetClientID("wss").
		SetUsername("guest").SetPassword("guest").SetAutoReconnect(false).SetConnectTimeout(5*time.Second).
		SetTLSConfig(&tls.Config{RootCAs: cert.Pool, ServerName: "localhost"}))
	wait(t, c.Subscribe("wss/+", 1, func(_ paho3.Client, m paho3.Message) { got <- m }))
	wait(t, c.Publish("wss/x", 1, false, "secure-ws"))
	select {
	case m := <-got:
		if string(m.Payload()) != "secure-ws" {
			t.Fatalf("got %q", m.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing over wss")
	}
}
