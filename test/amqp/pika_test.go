package amqp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

// pikaScript exercises pika's BlockingConnection: confirms, typed headers,
// basic.get, consume with ack, a 404 channel exception and a mandatory
// return; it prints one line per check.
const pikaScript = `
import sys, pika, datetime, decimal
host, port = sys.argv[1].rsplit(":", 1)
params = pika.ConnectionParameters(host=host, port=int(port), credentials=pika.PlainCredentials("guest", "guest"), heartbeat=5)
conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.confirm_delivery()
ch.queue_declare("pika-q", durable=True)
ch.exchange_declare("pika-x", exchange_type="topic")
ch.queue_bind("pika-q", "pika-x", routing_key="a.#")
props = pika.BasicProperties(content_type="application/json", delivery_mode=2, priority=4, correlation_id="c1",
    headers={"n": 7, "s": "str", "b": True, "l": [1, "two"], "t": {"k": "v"}, "d": decimal.Decimal("3.14")})
ch.basic_publish("pika-x", "a.b", b'{"x":1}', props)
print("published")
m, p, body = ch.basic_get("pika-q", auto_ack=False)
print("get", body.decode(), p.content_type, p.delivery_mode, p.priority, p.correlation_id, m.redelivered, m.message_count)
h = p.headers
print("headers", h["n"], h["s"], h["b"], h["l"], h["t"], h["d"])
ch.basic_nack(m.delivery_tag, requeue=True)
got = []
def on_msg(c, method, properties, body):
    got.append((body, method.redelivered))
    c.basic_ack(method.delivery_tag)
    c.stop_consuming()
ch.basic_qos(prefetch_count=1)
ch.basic_consume("pika-q", on_msg)
ch.start_consuming()
print("consumed", got[0][0].decode(), got[0][1])
try:
    ch.basic_publish("", "no-such-queue", b"x", mandatory=True)
    print("return: none")
except pika.exceptions.UnroutableError as e:
    print("returned", len(e.messages))
try:
    ch.queue_declare("does-not-exist", passive=True)
except pika.exceptions.ChannelClosedByBroker as e:
    print("closed", e.reply_code, e.reply_text)
ch2 = conn.channel()
ch2.queue_delete("pika-q")
conn.close()
print("done")
`

func TestPika(t *testing.T) {
	b := test.StartBroker(t)
	out, err := test.Python(t, 60*time.Second, pikaScript, b.AMQP)
	if err != nil {
		t.Fatalf("pika: %v\n%s", err, out)
	}
	for _, want := range []string{
		"published",
		"get {\"x\":1} application/json 2 4 c1 False 0",
		"headers 7 str True [1, 'two'] {'k': 'v'} 3.14",
		"consumed {\"x\":1} True",
		"returned 1",
		"closed 404 NOT_FOUND - no queue 'does-not-exist' in vhost '/'",
		"done",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("pika output lacks %q:\n%s", want, out)
		}
	}
}

// TestPikaToGo checks that a message published by pika reads back in Go
// with its header types intact, and the reverse.
func TestPikaToGo(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	_, err := ch.QueueDeclare("x-lang", false, false, false, false, nil)
	must(t, err)
	script := `
import sys, pika
host, port = sys.argv[1].rsplit(":", 1)
conn = pika.BlockingConnection(pika.ConnectionParameters(host=host, port=int(port)))
ch = conn.channel()
ch.basic_publish("", "x-lang", b"from-pika", pika.BasicProperties(headers={"i": 1, "s": "v", "neg": -3}))
m, p, body = ch.basic_get("x-lang-back", auto_ack=True)
print("back", body.decode(), p.headers["i32"], p.headers["str"], p.headers["bool"])
conn.close()
`
	_, err = ch.QueueDeclare("x-lang-back", false, false, false, false, nil)
	must(t, err)
	must(t, ch.PublishWithContext(context.Background(), "", "x-lang-back", false, false,
		amqp.Publishing{Body: []byte("from-go"), Headers: amqp.Table{"i32": int32(5), "str": "s", "bool": false}}))
	out, err := test.Python(t, 60*time.Second, script, b.AMQP)
	if err != nil {
		t.Fatalf("pika: %v\n%s", err, out)
	}
	if !strings.Contains(out, "back from-go 5 s False") {
		t.Fatalf("pika read: %s", out)
	}
	d, ok, err := ch.Get("x-lang", true)
	must(t, err)
	if !ok || string(d.Body) != "from-pika" || d.Headers["i"] != int32(1) || d.Headers["s"] != "v" || d.Headers["neg"] != int32(-3) {
		t.Fatalf("go read %v %q %#v", ok, d.Body, d.Headers)
	}
}

// TestAMQPTools is the amqp-tools smoke test: amqp-publish then amqp-consume.
func TestAMQPTools(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	_, err := ch.QueueDeclare("tools", false, false, false, false, nil)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := "amqp://guest:guest@" + b.AMQP
	out, err := test.Run(ctx, "amqp-publish", "--url", u, "-r", "tools", "-C", "text/plain", "-p", "-b", "hello from amqp-tools")
	if err != nil {
		t.Fatalf("amqp-publish: %v\n%s", err, out)
	}
	out, err = test.Run(ctx, "amqp-consume", "--url", u, "-q", "tools", "-c", "1", "cat")
	if err != nil {
		t.Fatalf("amqp-consume: %v\n%s", err, out)
	}
	if !strings.Contains(out, "hello from amqp-tools") {
		t.Fatalf("amqp-consume printed %q", out)
	}
	test.WaitFor(t, 5*time.Second, "queue drained and acked", func() bool {
		i, _ := b.Core().Queue("tools", "")
		return i.Ready == 0 && i.Unacked == 0
	})
	// declare / get / delete with the other tools.
	out, err = test.Run(ctx, "amqp-declare-queue", "--url", u, "-d", "-q", "tools-durable")
	if err != nil || strings.TrimSpace(out) != "tools-durable" {
		t.Fatalf("amqp-declare-queue: %v %q", err, out)
	}
	if i, err := b.Core().Queue("tools-durable", ""); err != nil || !i.Config.Durable {
		t.Fatalf("declared queue: %+v %v", i, err)
	}
	if out, err := test.Run(ctx, "amqp-publish", "--url", u, "-r", "tools-durable", "-b", "for amqp-get"); err != nil {
		t.Fatalf("amqp-publish: %v %s", err, out)
	}
	out, err = test.Run(ctx, "amqp-get", "--url", u, "-q", "tools-durable")
	if err != nil || strings.TrimSpace(out) != "for amqp-get" {
		t.Fatalf("amqp-get: %v %q", err, out)
	}
	if _, err := test.Run(ctx, "amqp-get", "--url", u, "-q", "tools-durable"); err == nil {
		t.Fatal("amqp-get on an empty queue succeeded")
	}
	if out, err := test.Run(ctx, "amqp-delete-queue", "--url", u, "-q", "tools-durable"); err != nil {
		t.Fatalf("amqp-delete-queue: %v %s", err, out)
	}
	if _, err := b.Core().Queue("tools-durable", ""); err == nil {
		t.Fatal("queue still there after amqp-delete-queue")
	}
}
