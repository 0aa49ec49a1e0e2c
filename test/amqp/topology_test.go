package amqp_test

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

func TestExchangesAndBindings(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	ch := channel(t, c)
	must(t, ch.ExchangeDeclare("logs", "topic", true, false, false, false, nil))
	must(t, ch.ExchangeDeclare("logs", "topic", true, false, false, false, nil)) // equivalent redeclare
	must(t, ch.ExchangeDeclarePassive("logs", "topic", true, false, false, false, nil))
	must(t, ch.ExchangeDeclare("fan", "fanout", false, false, false, false, nil))
	must(t, ch.ExchangeBind("fan", "app.#", "logs", false, nil)) // e2e: logs -> fan
	for _, q := range []string{"errors", "all", "fan1", "fan2"} {
		_, err := ch.QueueDeclare(q, false, false, false, false, nil)
		must(t, err)
	}
	must(t, ch.QueueBind("errors", "*.error", "logs", false, nil))
	must(t, ch.QueueBind("all", "#", "logs", false, nil))
	must(t, ch.QueueBind("fan1", "", "fan", false, nil))
	must(t, ch.QueueBind("fan2", "ignored", "fan", false, nil))
	pub := func(key string) { must(t, ch.Publish("logs", key, false, false, amqp.Publishing{Body: []byte(key)})) }
	pub("db.error")
	pub("app.info")
	pub("app.x.error")
	want := map[string]int{"errors": 1, "all": 3, "fan1": 2, "fan2": 2}
	test.WaitFor(t, 5*time.Second, "routing", func() bool {
		for q, n := range want {
			if i, _ := b.Core().Queue(q, ""); i.Ready != n {
				return false
			}
		}
		return true
	})
	must(t, ch.QueueUnbind("all", "#", "logs", nil))
	must(t, ch.ExchangeUnbind("fan", "app.#", "logs", false, nil))
	pub("app.error")
	test.WaitFor(t, 5*time.Second, "after unbind", func() bool {
		e, _ := b.Core().Queue("errors", "")
		a, _ := b.Core().Queue("all", "")
		f, _ := b.Core().Queue("fan1", "")
		return e.Ready == 2 && a.Ready == 3 && f.Ready == 2
	})
	// headers exchange with x-match any.
	_, err := ch.QueueDeclare("hq", false, false, false, false, nil)
	must(t, err)
	must(t, ch.QueueBind("hq", "", "amq.headers", false, amqp.Table{"x-match": "any", "kind": "a", "n": int32(1)}))
	must(t, ch.Publish("amq.headers", "", false, false, amqp.Publishing{Headers: amqp.Table{"kind": "b", "n": int32(1)}}))
	must(t, ch.Publish("amq.headers", "", false, false, amqp.Publishing{Headers: amqp.Table{"kind": "b"}}))
	test.WaitFor(t, 5*time.Second, "headers", func() bool { i, _ := b.Core().Queue("hq", ""); return i.Ready == 1 })
	// if-unused delete of a bound exchange: 406.
	err = ch.ExchangeDelete("logs", true, false)
	wantCode(t, err, 406)
	ch = channel(t, c)
	must(t, ch.ExchangeDelete("logs", false, false))
	must(t, ch.ExchangeDelete("logs", false, false)) // RabbitMQ: deleting a missing exchange is ok
	err = ch.ExchangeDeclarePassive("logs", "topic", true, false, false, false, nil)
	wantCode(t, err, 404)
}

func TestAlternateExchangeAndInternal(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	must(t, ch.ExchangeDeclare("ae", "fanout", false, false, false, false, nil))
	must(t, ch.ExchangeDeclare("main", "direct", false, false, false, false, amqp.Table{"alternate-exchange": "ae"}))
	_, err := ch.QueueDeclare("unrouted", false, false, false, false, nil)
	must(t, err)
	must(t, ch.QueueBind("unrouted", "", "ae", false, nil))
	must(t, ch.Publish("main", "no-binding", false, false, amqp.Publishing{Body: []byte("x")}))
	test.WaitFor(t, 5*time.Second, "alternate exchange", func() bool { i, _ := b.Core().Queue("unrouted", ""); return i.Ready == 1 })
	must(t, ch.ExchangeDeclare("int", "direct", false, false, true, false, nil))
	wantCode(t, asyncErr(ch, func() { ch.Publish("int", "k", false, false, amqp.Publishing{Body: []byte("x")}) }), 403)
}

func TestChannelExceptions(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	cases := []struct {
		name string
		code int
		text string
		do   func(ch *amqp.Channel) error
	}{
		{"queue not found", 404, "NOT_FOUND - no queue 'missing' in vhost '/'", func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclarePassive("missing", false, false, false, false, nil)
			return err
		}},
		{"consume missing queue", 404, "NOT_FOUND", func(ch *amqp.Channel) error {
			_, err := ch.Consume("missing", "", false, false, false, false, nil)
			return err
		}},
		{"publish to missing exchange", 404, "NOT_FOUND - no exchange 'nox' in vhost '/'", func(ch *amqp.Channel) error {
			return asyncErr(ch, func() { ch.Publish("nox", "k", false, false, amqp.Publishing{}) })
		}},
		{"reserved exchange name", 403, "ACCESS_REFUSED", func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare("amq.mine", "direct", false, false, false, false, nil)
		}},
		{"reserved queue name", 403, "ACCESS_REFUSED", func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("amq.mine", false, false, false, false, nil)
			return err
		}},
		{"inequivalent queue", 406, "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'eq' in vhost '/': received 'true' but current is 'false'", func(ch *amqp.Channel) error {
			if _, err := ch.QueueDeclare("eq", false, false, false, false, nil); err != nil {
				return err
			}
			_, err := ch.QueueDeclare("eq", true, false, false, false, nil)
			return err
		}},
		{"inequivalent exchange", 406, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'amq.topic' in vhost '/': received 'direct' but current is 'topic'", func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare("amq.topic", "direct", true, false, false, false, nil)
		}},
		{"inequivalent queue argument", 406, "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'eqa' in vhost '/': received '5' but current is 'none'", func(ch *amqp.Channel) error {
			if _, err := ch.QueueDeclare("eqa", false, false, false, false, nil); err != nil {
				return err
			}
			_, err := ch.QueueDeclare("eqa", false, false, false, false, amqp.Table{"x-max-length": int32(5)})
			return err
		}},
		{"bad queue argument", 406, "PRECONDITION_FAILED - invalid arg 'x-max-length'", func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("badarg", false, false, false, false, amqp.Table{"x-max-length": int32(-1)})
			return err
		}},
		{"bad overflow", 406, "PRECONDITION_FAILED", func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("badov", false, false, false, false, amqp.Table{"x-overflow": "explode"})
			return err
		}},
		{"quorum must be durable", 406, "PRECONDITION_FAILED", func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("qq", false, false, false, false, amqp.Table{"x-queue-type": "quorum"})
			return err
		}},
		{"bad expiration", 406, "PRECONDITION_FAILED - invalid expiration", func(ch *amqp.Channel) error {
			return asyncErr(ch, func() { ch.Publish("", "x", false, false, amqp.Publishing{Expiration: "soon"}) })
		}},
		{"wrong user-id", 406, "PRECONDITION_FAILED - user_id property set to 'bob'", func(ch *amqp.Channel) error {
			return asyncErr(ch, func() { ch.Publish("", "x", false, false, amqp.Publishing{UserId: "bob"}) })
		}},
		{"bind to default exchange", 403, "ACCESS_REFUSED", func(ch *amqp.Channel) error {
			if _, err := ch.QueueDeclare("bd", false, false, false, false, nil); err != nil {
				return err
			}
			return ch.QueueBind("bd", "k", "", false, nil)
		}},
		{"tx after confirm", 406, "PRECONDITION_FAILED", func(ch *amqp.Channel) error {
			if err := ch.Confirm(false); err != nil {
				return err
			}
			return ch.Tx()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := channel(t, c)
			ae := wantCode(t, tc.do(ch), tc.code)
			if !strings.HasPrefix(ae.Reason, tc.text) {
				t.Fatalf("reply text %q, want prefix %q", ae.Reason, tc.text)
			}
			if ae.Server != true {
				t.Fatalf("not a server error: %+v", ae)
			}
		})
	}
	// Soft errors only closed channels: the connection still works.
	ch := channel(t, c)
	_, err := ch.QueueDeclare("still-fine", false, false, true, false, nil)
	must(t, err)
}

func TestConnectionExceptions(t *testing.T) {
	b := test.StartBroker(t)
	t.Run("immediate is 540", func(t *testing.T) {
		c := dial(t, b)
		ch := channel(t, c)
		closed := c.NotifyClose(make(chan *amqp.Error, 1))
		ch.Publish("", "q", false, true, amqp.Publishing{})
		select {
		case e := <-closed:
			if e == nil || e.Code != 540 {
				t.Fatalf("want 540, got %v", e)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("connection not closed")
		}
	})
	t.Run("consumer tag reuse is 530", func(t *testing.T) {
		c := dial(t, b)
		ch := channel(t, c)
		_, err := ch.QueueDeclare("ctq", false, false, true, false, nil)
		must(t, err)
		_, err = ch.Consume("ctq", "same", false, false, false, false, nil)
		must(t, err)
		_, err = ch.Consume("ctq", "same", false, false, false, false, nil)
		wantCode(t, err, 530)
	})
	t.Run("unknown exchange type is 503", func(t *testing.T) {
		c := dial(t, b)
		err := channel(t, c).ExchangeDeclare("weird", "x-nope", false, false, false, false, nil)
		wantCode(t, err, 503)
	})
	t.Run("bad password is 403", func(t *testing.T) {
		_, err := amqp.Dial(fmt.Sprintf("amqp://guest:wrong@%s/", b.AMQP))
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Fatalf("want 403 login refused, got %v", err)
		}
	})
	t.Run("unknown vhost is 530", func(t *testing.T) {
		_, err := amqp.Dial(fmt.Sprintf("amqp://guest:guest@%s/nope", b.AMQP))
		wantCode(t, err, 530)
	})
	t.Run("AMQPLAIN", func(t *testing.T) {
		c, err := amqp.DialConfig(url(b), amqp.Config{SASL: []amqp.Authentication{&amqp.AMQPlainAuth{Username: "guest", Password: "guest"}}})
		must(t, err)
		c.Close()
		_, err = amqp.DialConfig(url(b), amqp.Config{SASL: []amqp.Authentication{&amqp.AMQPlainAuth{Username: "guest", Password: "x"}}})
		if err == nil {
			t.Fatal("AMQPLAIN with a wrong password accepted")
		}
	})
}

func TestExclusiveQueues(t *testing.T) {
	b := test.StartBroker(t)
	c1, c2 := dial(t, b), dial(t, b)
	ch1 := channel(t, c1)
	_, err := ch1.QueueDeclare("mine", false, false, true, false, nil)
	must(t, err)
	_, err = channel(t, c2).QueueDeclarePassive("mine", false, false, true, false, nil)
	wantCode(t, err, 405)
	_, err = channel(t, c2).Consume("mine", "", false, false, false, false, nil)
	wantCode(t, err, 405)
	_, err = channel(t, c2).QueueDelete("mine", false, false, false)
	wantCode(t, err, 405)
	c1.Close()
	test.WaitFor(t, 5*time.Second, "exclusive queue deleted with its connection", func() bool {
		_, err := b.Core().Queue("mine", "")
		return err != nil
	})
}

func TestServerCancelOnQueueDelete(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	ch := channel(t, c)
	_, err := ch.QueueDeclare("doomed", false, false, false, false, nil)
	must(t, err)
	cancels := ch.NotifyCancel(make(chan string, 1))
	_, err = ch.Consume("doomed", "watcher", false, false, false, false, nil)
	must(t, err)
	_, err = channel(t, c).QueueDelete("doomed", false, false, false)
	must(t, err)
	select {
	case tag := <-cancels:
		if tag != "watcher" {
			t.Fatalf("cancel for %q", tag)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no server-sent basic.cancel")
	}
}

func TestTLS(t *testing.T) {
	cert := test.NewCert(t)
	b := test.StartBroker(t, test.WithTLS(cert, "amqp"))
	c, err := amqp.DialTLS(fmt.Sprintf("amqps://guest:guest@%s/", b.AMQP), &tls.Config{RootCAs: cert.Pool, ServerName: "127.0.0.1"})
	must(t, err)
	defer c.Close()
	ch := channel(t, c)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	must(t, err)
	must(t, ch.Publish("", q.Name, false, false, amqp.Publishing{Body: []byte("over tls")}))
	d, ok, err := ch.Get(q.Name, true)
	must(t, err)
	if !ok || string(d.Body) != "over tls" {
		t.Fatalf("get over TLS: %v %q", ok, d.Body)
	}
	// Plain AMQP on the TLS port fails the handshake.
	if _, err := amqp.Dial(url(b)); err == nil {
		t.Fatal("plain AMQP accepted on the TLS listener")
	}
}

func TestExclusiveConsumer(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	ch := channel(t, c)
	_, err := ch.QueueDeclare("exq", false, false, false, false, nil)
	must(t, err)
	_, err = ch.Consume("exq", "only", false, true, false, false, nil)
	must(t, err)
	_, err = channel(t, c).Consume("exq", "second", false, false, false, false, nil)
	ae := wantCode(t, err, 403)
	if ae.Reason != "ACCESS_REFUSED - queue 'exq' in exclusive use" {
		t.Fatalf("reply text %q", ae.Reason)
	}
}

// asyncErr runs an action whose failure arrives as an asynchronous
// channel.close (publish) and returns that close as an error.
func asyncErr(ch *amqp.Channel, do func()) error {
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	do()
	select {
	case e := <-closed:
		if e == nil {
			return fmt.Errorf("channel closed without an error")
		}
		return e
	case <-time.After(5 * time.Second):
		return fmt.Errorf("channel not closed")
	}
}

func TestChannelMax(t *testing.T) {
	b := test.StartBroker(t)
	c, err := amqp.DialConfig(url(b), amqp.Config{ChannelMax: 2})
	must(t, err)
	defer c.Close()
	channel(t, c)
	channel(t, c)
	// amqp091-go refuses a third channel itself; the server's check is
	// exercised by the raw test below.
	if _, err := c.Channel(); err == nil {
		t.Fatal("third channel opened with channel_max 2")
	}
}

// A queue declared by pika (integers as 'l') can be redeclared by Go code
// sending the same argument as int32, and the reverse.
func TestRedeclareWithOtherIntegerWidths(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	_, err := ch.QueueDeclare("widths", true, false, false, false, amqp.Table{"x-max-length": int64(10), "x-dead-letter-exchange": "dlx"})
	must(t, err)
	_, err = ch.QueueDeclare("widths", true, false, false, false, amqp.Table{"x-max-length": int32(10), "x-dead-letter-exchange": "dlx"})
	must(t, err)
	_, err = ch.QueueDeclare("widths", true, false, false, false, amqp.Table{"x-max-length": int16(11), "x-dead-letter-exchange": "dlx"})
	wantCode(t, err, 406)
}

// A client may not declare amq.* queues (403), as in RabbitMQ; other
// protocols' names are not reserved by the core.
func TestReservedQueuePrefix(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	ch := channel(t, c)
	_, err := ch.QueueDeclare("amq.mine", false, false, false, false, nil)
	if ae := wantCode(t, err, 403); !strings.Contains(ae.Reason, "reserved prefix") {
		t.Fatalf("reason %q", ae.Reason)
	}
	ch = channel(t, c)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	must(t, err)
	if !strings.HasPrefix(q.Name, "amq.gen-") {
		t.Fatalf("server-named queue %q", q.Name)
	}
}
