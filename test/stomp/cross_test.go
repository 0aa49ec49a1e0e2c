package stomp_test

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/go-stomp/stomp/v3"
	"github.com/gorilla/websocket"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

func mqttClient(t *testing.T, url, id string, tlsCfg *tls.Config) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername("guest").SetPassword("guest").
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestCrossMQTT: STOMP /topic/K <-> MQTT topics (ARCHITECTURE.md: MQTT a/b
// is amq.topic key a.b), with MQTT over TCP and over WebSocket (/mqtt and
// /ws with subprotocol mqtt).
func TestCrossMQTT(t *testing.T) {
	b := test.StartBroker(t)
	s := dial12(t, b)
	sub, _ := s.Subscribe("/topic/telemetry.*", stomp.AckAuto)
	synced(t, s)
	for i, url := range []string{"tcp://" + b.MQTT, "ws://" + b.WS + "/mqtt", "ws://" + b.WS + "/ws"} {
		m := mqttClient(t, url, "dev"+strconv.Itoa(i), nil)
		if tok := m.Publish("telemetry/dev42", 1, false, []byte("t="+strconv.Itoa(i))); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("%s publish: %v", url, tok.Error())
		}
		msg := recv(t, sub)
		if string(msg.Body) != "t="+strconv.Itoa(i) || msg.Destination != "/topic/telemetry.dev42" {
			t.Fatalf("%s: STOMP got %q at %s", url, msg.Body, msg.Destination)
		}
		got := make(chan string, 1)
		if tok := m.Subscribe("alerts/+", 1, func(_ paho.Client, pm paho.Message) { got <- pm.Topic() + " " + string(pm.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("%s subscribe: %v", url, tok.Error())
		}
		if err := s.Send("/topic/alerts.fire", "text/plain", []byte("hot"), stomp.SendOpt.Receipt); err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-got:
			if g != "alerts/fire hot" {
				t.Fatalf("%s: MQTT got %q", url, g)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: MQTT subscriber got nothing", url)
		}
		m.Unsubscribe("alerts/+").WaitTimeout(time.Second)
	}
}

// TestCrossAMQP: /queue/Q <-> AMQP queue Q with the property mapping both ways.
func TestCrossAMQP(t *testing.T) {
	b := test.StartBroker(t)
	ac, err := amqp.Dial("amqp://guest:guest@" + b.AMQP + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	ch, err := ac.Channel()
	if err != nil {
		t.Fatal(err)
	}
	s := dial12(t, b)
	exp := time.Now().Add(time.Hour).UnixMilli()
	err = s.Send("/queue/xq", "application/json", []byte(`{"a":1}`), stomp.SendOpt.Receipt,
		stomp.SendOpt.Header("persistent", "true"), stomp.SendOpt.Header("correlation-id", "corr-1"),
		stomp.SendOpt.Header("reply-to", "/queue/answers"), stomp.SendOpt.Header("priority", "5"),
		stomp.SendOpt.Header("expires", strconv.FormatInt(exp, 10)), stomp.SendOpt.Header("tenant", "acme"))
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err := ch.Get("xq", true)
	if err != nil || !ok {
		t.Fatalf("amqp get: %v %v", ok, err)
	}
	if string(d.Body) != `{"a":1}` || d.ContentType != "application/json" || d.CorrelationId != "corr-1" ||
		d.ReplyTo != "/queue/answers" || d.Priority != 5 || d.DeliveryMode != amqp.Persistent || d.Headers["tenant"] != "acme" {
		t.Fatalf("amqp saw %+v", d)
	}
	if ms, _ := strconv.Atoi(d.Expiration); ms < 3500000 || ms > 3600000 {
		t.Fatalf("expiration %q", d.Expiration)
	}
	// AMQP -> STOMP, typed headers printed as text.
	sub, _ := s.Subscribe("/queue/xq", stomp.AckClientIndividual)
	synced(t, s)
	err = ch.Publish("", "xq", false, false, amqp.Publishing{Body: []byte("from amqp"), ContentType: "text/plain",
		CorrelationId: "c2", ReplyTo: "rq", Priority: 2, DeliveryMode: amqp.Persistent,
		Headers: amqp.Table{"n": int32(42), "f": true, "s": "str"}})
	if err != nil {
		t.Fatal(err)
	}
	m := recv(t, sub)
	h := m.Header
	if string(m.Body) != "from amqp" || m.ContentType != "text/plain" || h.Get("correlation-id") != "c2" ||
		h.Get("reply-to") != "rq" || h.Get("priority") != "2" || h.Get("persistent") != "true" ||
		h.Get("n") != "42" || h.Get("f") != "true" || h.Get("s") != "str" || m.Destination != "/queue/xq" {
		t.Fatalf("stomp saw %q %v", m.Body, h)
	}
	s.Ack(m)
	// /topic/K <-> amq.topic: an AMQP queue bound with a.# sees STOMP
	// topic sends, a STOMP /topic/a.* subscriber sees AMQP publishes.
	if _, err := ch.QueueDeclare("amqp-topic-q", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind("amqp-topic-q", "a.#", "amq.topic", false, nil); err != nil {
		t.Fatal(err)
	}
	tsub, _ := s.Subscribe("/topic/a.*", stomp.AckAuto)
	synced(t, s)
	s.Send("/topic/a.b.c", "", []byte("stomp->amqp"), stomp.SendOpt.Receipt)
	if d, ok, err := ch.Get("amqp-topic-q", true); err != nil || !ok || string(d.Body) != "stomp->amqp" || d.RoutingKey != "a.b.c" {
		t.Fatalf("amqp topic get: %v %v %q", ok, err, d.Body)
	}
	if err := ch.Publish("amq.topic", "a.x", false, false, amqp.Publishing{Body: []byte("amqp->stomp")}); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, tsub); string(m.Body) != "amqp->stomp" || m.Destination != "/topic/a.x" {
		t.Fatalf("stomp topic got %q at %s", m.Body, m.Destination)
	}
	// An AMQP responder answers a STOMP requester's temp queue by its reply-to.
	if _, err := ch.QueueDeclare("rpc", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	reqs, err := ch.Consume("rpc", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	replies, _ := s.Subscribe("/temp-queue/answers", stomp.AckAuto)
	s.Send("/queue/rpc", "", []byte("ping"), stomp.SendOpt.Receipt, stomp.SendOpt.Header("reply-to", "/temp-queue/answers"))
	select {
	case req := <-reqs:
		if err := ch.Publish("", req.ReplyTo, false, false, amqp.Publishing{Body: []byte("pong"), CorrelationId: "x"}); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("AMQP responder got no request")
	}
	if m := recv(t, replies); string(m.Body) != "pong" || m.Destination != "/temp-queue/answers" {
		t.Fatalf("reply %q at %s", m.Body, m.Destination)
	}
}

// TestWSSubprotocols: STOMP over WebSocket through /ws for every version's
// subprotocol, and over TLS (wss).
func TestWSSubprotocols(t *testing.T) {
	cert := test.NewCert(t)
	b := test.StartBroker(t, test.WithTLS(cert, "ws"))
	for i, v := range versions {
		proto := fmt.Sprintf("v1%d.stomp", i)
		d := websocket.Dialer{Subprotocols: []string{proto}, TLSClientConfig: &tls.Config{RootCAs: cert.Pool}, HandshakeTimeout: 5 * time.Second}
		wc, _, err := d.Dial("wss://"+b.WS+"/ws", nil)
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		if wc.Subprotocol() != proto {
			t.Fatalf("subprotocol %q", wc.Subprotocol())
		}
		c := connect(t, &wsStream{c: wc}, v)
		q := "/queue/wss-" + proto
		c.Send(q, "text/plain", []byte("over wss"), stomp.SendOpt.Receipt)
		sub, _ := c.Subscribe(q, stomp.AckClient)
		if m := recv(t, sub); string(m.Body) != "over wss" {
			t.Fatalf("%s: got %q", proto, m.Body)
		}
	}
	// MQTT over wss on /ws.
	m := mqttClient(t, "wss://"+b.WS+"/ws", "wss-client", &tls.Config{RootCAs: cert.Pool})
	if tok := m.Publish("x/y", 1, false, []byte("z")); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt over wss: %v", tok.Error())
	}
}
