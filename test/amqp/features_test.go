package amqp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

func TestDeadLetterWithXDeath(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	must(t, ch.ExchangeDeclare("dlx", "direct", false, false, false, false, nil))
	_, err := ch.QueueDeclare("dead", false, false, false, false, nil)
	must(t, err)
	must(t, ch.QueueBind("dead", "dl", "dlx", false, nil))
	_, err = ch.QueueDeclare("work", false, false, false, false, amqp.Table{
		"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dl", "x-message-ttl": int32(60000)})
	must(t, err)
	must(t, ch.Publish("", "work", false, false, amqp.Publishing{Body: []byte("rejected")}))
	must(t, ch.Publish("", "work", false, false, amqp.Publishing{Body: []byte("expired"), Expiration: "1"}))
	d, ok, err := ch.Get("work", false)
	must(t, err)
	if !ok || string(d.Body) != "rejected" {
		t.Fatalf("get %v %q", ok, d.Body)
	}
	must(t, d.Reject(false))
	dl, err := ch.Consume("dead", "", true, false, false, false, nil)
	must(t, err)
	got := map[string]amqp.Table{}
	for len(got) < 2 {
		m := recv(t, dl) // the queue's expiry timer dead-letters the second
		got[string(m.Body)] = m.Headers
	}
	for body, reason := range map[string]string{"rejected": "rejected", "expired": "expired"} {
		h := got[body]
		deaths, _ := h["x-death"].([]any)
		if len(deaths) != 1 {
			t.Fatalf("%s: x-death %#v", body, h)
		}
		xd := deaths[0].(amqp.Table)
		if xd["reason"] != reason || xd["queue"] != "work" || xd["count"] != int64(1) || xd["exchange"] != "" {
			t.Fatalf("%s: x-death record %#v", body, xd)
		}
		if keys, _ := xd["routing-keys"].([]any); len(keys) != 1 || keys[0] != "work" {
			t.Fatalf("%s: routing-keys %#v", body, xd["routing-keys"])
		}
		if h["x-first-death-reason"] != reason {
			t.Fatalf("%s: first death %#v", body, h)
		}
	}
}

func TestTransactions(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	_, err := ch.QueueDeclare("txq", false, false, false, false, nil)
	must(t, err)
	must(t, ch.Tx())
	must(t, ch.Publish("", "txq", false, false, amqp.Publishing{Body: []byte("a")}))
	must(t, ch.TxRollback())
	must(t, ch.Publish("", "txq", false, false, amqp.Publishing{Body: []byte("b")}))
	if i, _ := b.Core().Queue("txq", ""); i.Ready != 0 {
		t.Fatalf("uncommitted publish visible: %d", i.Ready)
	}
	must(t, ch.TxCommit())
	if i, _ := b.Core().Queue("txq", ""); i.Ready != 1 {
		t.Fatalf("after commit: %d ready", i.Ready)
	}
	d, ok, err := ch.Get("txq", false)
	must(t, err)
	if !ok || string(d.Body) != "b" {
		t.Fatalf("got %q", d.Body)
	}
	must(t, d.Ack(false))
	if i, _ := b.Core().Queue("txq", ""); i.Unacked != 1 {
		t.Fatalf("ack applied before commit: %+v", i)
	}
	must(t, ch.TxCommit())
	if i, _ := b.Core().Queue("txq", ""); i.Unacked != 0 {
		t.Fatalf("ack not applied by commit: %+v", i)
	}
}

func TestDirectReplyTo(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	server := channel(t, c)
	_, err := server.QueueDeclare("rpc", false, false, true, false, nil)
	must(t, err)
	reqs, err := server.Consume("rpc", "", true, false, false, false, nil)
	must(t, err)
	go func() {
		for r := range reqs {
			server.Publish("", r.ReplyTo, false, false, amqp.Publishing{CorrelationId: r.CorrelationId, Body: append([]byte("re:"), r.Body...)})
		}
	}()
	client := channel(t, dial(t, b))
	replies, err := client.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
	must(t, err)
	must(t, client.Publish("", "rpc", false, false, amqp.Publishing{ReplyTo: "amq.rabbitmq.reply-to", CorrelationId: "42", Body: []byte("ping")}))
	r := recv(t, replies)
	if string(r.Body) != "re:ping" || r.CorrelationId != "42" {
		t.Fatalf("reply %q %q", r.Body, r.CorrelationId)
	}
	// Without a reply consumer, publishing with the pseudo-queue is 406.
	other := channel(t, dial(t, b))
	wantCode(t, asyncErr(other, func() {
		other.Publish("", "rpc", false, false, amqp.Publishing{ReplyTo: "amq.rabbitmq.reply-to"})
	}), 406)
}

func TestRecoverFlowAndGlobalQos(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	_, err := ch.QueueDeclare("rq", false, false, false, false, nil)
	must(t, err)
	for i := 0; i < 10; i++ {
		must(t, ch.Publish("", "rq", false, false, amqp.Publishing{Body: []byte(fmt.Sprint(i))}))
	}
	must(t, ch.Qos(2, 0, true)) // per channel
	d1, err := ch.Consume("rq", "a", false, false, false, false, nil)
	must(t, err)
	d2, err := ch.Consume("rq", "b", false, false, false, false, nil)
	must(t, err)
	n := 0
	timeout := time.After(500 * time.Millisecond)
loop:
	for {
		select {
		case <-d1:
			n++
		case <-d2:
			n++
		case <-timeout:
			break loop
		}
	}
	if n != 2 {
		t.Fatalf("global prefetch 2 let %d deliveries through", n)
	}
	must(t, ch.Recover(true))
	got := 0
	redelivered := 0
	for got < 2 {
		select {
		case d := <-d1:
			got++
			if d.Redelivered {
				redelivered++
			}
		case d := <-d2:
			got++
			if d.Redelivered {
				redelivered++
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no redelivery after basic.recover")
		}
	}
	if redelivered != 2 {
		t.Fatalf("redelivered %d of 2", redelivered)
	}
	must(t, ch.Flow(false))
	must(t, ch.Ack(0, true))
	noDelivery(t, d1, 200*time.Millisecond)
	must(t, ch.Flow(true))
	select {
	case <-d1:
	case <-d2:
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery after flow on")
	}
}

func TestGracefulShutdownSends320(t *testing.T) {
	b := test.StartBroker(t, test.InMemory())
	c := dial(t, b)
	closed := c.NotifyClose(make(chan *amqp.Error, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go b.App.Shutdown(ctx)
	select {
	case e := <-closed:
		if e == nil || e.Code != 320 {
			t.Fatalf("want 320 CONNECTION_FORCED, got %v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection.close on shutdown")
	}
}

func TestHeartbeats(t *testing.T) {
	b := test.StartBroker(t)
	c, err := amqp.DialConfig(url(b), amqp.Config{Heartbeat: time.Second})
	must(t, err)
	defer c.Close()
	// Idle for longer than two intervals: server heartbeats keep the
	// client happy and the client's keep the server happy.
	time.Sleep(3 * time.Second)
	if c.IsClosed() {
		t.Fatal("connection closed despite heartbeats")
	}
	_, err = channel(t, c).QueueDeclare("", false, false, true, false, nil)
	must(t, err)
}

func TestSingleActiveConsumerAndPriority(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	_, err := ch.QueueDeclare("sac", false, false, false, false, amqp.Table{"x-single-active-consumer": true})
	must(t, err)
	a, err := ch.Consume("sac", "first", true, false, false, false, nil)
	must(t, err)
	bb, err := ch.Consume("sac", "second", true, false, false, false, nil)
	must(t, err)
	for i := 0; i < 5; i++ {
		must(t, ch.Publish("", "sac", false, false, amqp.Publishing{Body: []byte("x")}))
	}
	for i := 0; i < 5; i++ {
		recv(t, a)
	}
	noDelivery(t, bb, 100*time.Millisecond)
	// Priority queue: higher priority first.
	_, err = ch.QueueDeclare("pq", false, false, false, false, amqp.Table{"x-max-priority": int32(10)})
	must(t, err)
	for _, p := range []uint8{1, 9, 5} {
		must(t, ch.Publish("", "pq", false, false, amqp.Publishing{Priority: p, Body: []byte{p}}))
	}
	test.WaitFor(t, 5*time.Second, "3 ready", func() bool { i, _ := b.Core().Queue("pq", ""); return i.Ready == 3 })
	for _, want := range []uint8{9, 5, 1} {
		d, ok, err := ch.Get("pq", true)
		must(t, err)
		if !ok || d.Priority != want {
			t.Fatalf("priority order: got %d want %d", d.Priority, want)
		}
	}
}

func TestMaxLengthRejectPublishNacks(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	_, err := ch.QueueDeclare("small", false, false, false, false, amqp.Table{"x-max-length": int64(1), "x-overflow": "reject-publish"})
	must(t, err)
	must(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 2))
	must(t, ch.Publish("", "small", false, false, amqp.Publishing{Body: []byte("1")}))
	must(t, ch.Publish("", "small", false, false, amqp.Publishing{Body: []byte("2")}))
	c1, c2 := <-confirms, <-confirms
	if !c1.Ack || c2.Ack || c2.DeliveryTag != 2 {
		t.Fatalf("confirms %+v %+v", c1, c2)
	}
}

func TestConnectionBlockedOnMemoryAlarm(t *testing.T) {
	b := test.StartBroker(t)
	c := dial(t, b)
	blocked := c.NotifyBlocked(make(chan amqp.Blocking, 2))
	ch := channel(t, c)
	_, err := ch.QueueDeclare("blk", false, false, false, false, nil)
	must(t, err)
	must(t, ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	b.Core().SetMemoryLimit(1) // any heap is over one byte
	select {
	case bl := <-blocked:
		if !bl.Active || bl.Reason != "low on memory" {
			t.Fatalf("blocked %+v", bl)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection.blocked")
	}
	must(t, ch.Publish("", "blk", false, false, amqp.Publishing{Body: []byte("held")}))
	select {
	case <-confirms:
		t.Fatal("publish went through while blocked")
	case <-time.After(300 * time.Millisecond):
	}
	b.Core().SetMemoryLimit(0)
	select {
	case bl := <-blocked:
		if bl.Active {
			t.Fatalf("unblocked %+v", bl)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection.unblocked")
	}
	select {
	case cf := <-confirms:
		if !cf.Ack {
			t.Fatal("nack after unblock")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held publish not confirmed after unblock")
	}
}

func TestLargeMessagesSplitByFrameMax(t *testing.T) {
	b := test.StartBroker(t)
	c, err := amqp.DialConfig(url(b), amqp.Config{FrameSize: 4096})
	must(t, err)
	defer c.Close()
	if c.Config.FrameSize != 4096 {
		t.Fatalf("negotiated frame_max %d", c.Config.FrameSize)
	}
	ch := channel(t, c)
	_, err = ch.QueueDeclare("big", false, false, false, false, nil)
	must(t, err)
	body := make([]byte, 1<<20+17)
	for i := range body {
		body[i] = byte(i * 7)
	}
	must(t, ch.Publish("", "big", false, false, amqp.Publishing{Body: body}))
	must(t, ch.Publish("", "big", false, false, amqp.Publishing{})) // empty body: no body frame at all
	// Read with a client on the default (larger) frame size too.
	ch2 := channel(t, dial(t, b))
	dl, err := ch2.Consume("big", "", true, false, false, false, nil)
	must(t, err)
	if d := recv(t, dl); len(d.Body) != len(body) || string(d.Body) != string(body) {
		t.Fatalf("large body corrupted: %d bytes", len(d.Body))
	}
	if d := recv(t, dl); len(d.Body) != 0 {
		t.Fatalf("empty body came back with %d bytes", len(d.Body))
	}
	// And deliveries to the small-frame connection are split to fit.
	_, err = ch.QueueDeclare("big2", false, false, false, false, nil)
	must(t, err)
	must(t, ch2.Publish("", "big2", false, false, amqp.Publishing{Body: body}))
	dl2, err := ch.Consume("big2", "", true, false, false, false, nil)
	must(t, err)
	if d := recv(t, dl2); string(d.Body) != string(body) {
		t.Fatalf("large delivery on frame_max 4096 corrupted: %d bytes", len(d.Body))
	}
}

func TestAutoDeleteAndExpires(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	_, err := ch.QueueDeclare("ad", false, true, false, false, nil)
	must(t, err)
	_, err = ch.Consume("ad", "c1", true, false, false, false, nil)
	must(t, err)
	must(t, ch.Cancel("c1", false))
	test.WaitFor(t, 5*time.Second, "auto-delete queue gone after its last consumer", func() bool {
		_, err := b.Core().Queue("ad", "")
		return err != nil
	})
	_, err = ch.QueueDeclare("exp", false, false, false, false, amqp.Table{"x-expires": int32(200)})
	must(t, err)
	test.WaitFor(t, 5*time.Second, "x-expires queue gone", func() bool {
		_, err := b.Core().Queue("exp", "")
		return err != nil
	})
	must(t, ch.ExchangeDeclare("adx", "fanout", false, true, false, false, nil))
	_, err = ch.QueueDeclare("adq", false, false, false, false, nil)
	must(t, err)
	must(t, ch.QueueBind("adq", "", "adx", false, nil))
	must(t, ch.QueueUnbind("adq", "", "adx", nil))
	test.WaitFor(t, 5*time.Second, "auto-delete exchange gone", func() bool {
		_, err := b.Core().Exchange("adx")
		return err != nil
	})
}

func TestConsumerPriority(t *testing.T) {
	b := test.StartBroker(t)
	ch := channel(t, dial(t, b))
	_, err := ch.QueueDeclare("cp", false, false, false, false, nil)
	must(t, err)
	low, err := ch.Consume("cp", "low", true, false, false, false, amqp.Table{"x-priority": int32(1)})
	must(t, err)
	high, err := ch.Consume("cp", "high", true, false, false, false, amqp.Table{"x-priority": int32(10)})
	must(t, err)
	for i := 0; i < 5; i++ {
		must(t, ch.Publish("", "cp", false, false, amqp.Publishing{Body: []byte("x")}))
	}
	for i := 0; i < 5; i++ {
		recv(t, high)
	}
	noDelivery(t, low, 100*time.Millisecond)
}
