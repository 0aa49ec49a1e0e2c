package stomp_test

import (
	"bytes"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"

	"github.com/omnibroker/broker/config"
	"github.com/omnibroker/broker/core"
	sframe "github.com/omnibroker/broker/listeners/stomp/frame"
	"github.com/omnibroker/broker/test"
)

func dial12(t *testing.T, b *test.Broker, opts ...func(*stomp.Conn) error) *stomp.Conn {
	return connect(t, dialTCP(t, b), stomp.V12, opts...)
}

func TestReceiptMeansStored(t *testing.T) {
	b := test.StartBroker(t)
	c := dial12(t, b)
	for i := 0; i < 20; i++ {
		if err := c.Send("/queue/stored", "", []byte(strconv.Itoa(i)), stomp.SendOpt.Receipt,
			stomp.SendOpt.Header("persistent", "true")); err != nil {
			t.Fatal(err)
		}
	}
	c.Disconnect()
	b.Stop(t)
	b = test.StartBroker(t, test.WithDataDir(b.DataDir))
	c = dial12(t, b)
	sub, _ := c.Subscribe("/queue/stored", stomp.AckClientIndividual)
	for i := 0; i < 20; i++ {
		m := recv(t, sub)
		if string(m.Body) != strconv.Itoa(i) {
			t.Fatalf("after restart got %q want %d", m.Body, i)
		}
		c.Ack(m)
	}
}

func TestPropertiesMapping(t *testing.T) {
	b := test.StartBroker(t)
	c := dial12(t, b)
	sub, _ := c.Subscribe("/queue/props", stomp.AckAuto)
	exp := time.Now().Add(time.Hour).UnixMilli()
	err := c.Send("/queue/props", "application/json", []byte("{}"), stomp.SendOpt.Receipt,
		stomp.SendOpt.Header("correlation-id", "c-1"), stomp.SendOpt.Header("reply-to", "/queue/replies"),
		stomp.SendOpt.Header("priority", "7"), stomp.SendOpt.Header("expires", strconv.FormatInt(exp, 10)),
		stomp.SendOpt.Header("persistent", "true"), stomp.SendOpt.Header("custom", "x"))
	if err != nil {
		t.Fatal(err)
	}
	m := recv(t, sub)
	h := m.Header
	if h.Get("correlation-id") != "c-1" || h.Get("reply-to") != "/queue/replies" || h.Get("priority") != "7" ||
		h.Get("persistent") != "true" || h.Get("custom") != "x" || m.ContentType != "application/json" {
		t.Fatalf("headers %v", h)
	}
	if got, _ := strconv.ParseInt(h.Get("expires"), 10, 64); got < exp-2000 || got > exp+2000 {
		t.Fatalf("expires %s want ~%d", h.Get("expires"), exp)
	}
	// An already expired message is never delivered.
	c.Send("/queue/props", "", []byte("old"), stomp.SendOpt.Receipt, stomp.SendOpt.Header("expires", "1"))
	c.Send("/queue/props", "", []byte("new"), stomp.SendOpt.Receipt)
	if m := recv(t, sub); string(m.Body) != "new" {
		t.Fatalf("expired message delivered: %q", m.Body)
	}
	// The core sees the mapped properties.
	c.Send("/queue/core-view", "text/x", []byte("v"), stomp.SendOpt.Receipt, stomp.SendOpt.Header("priority", "3"), stomp.SendOpt.Header("k", "v"))
	ds, err := b.Core().Get(t.Context(), "core-view", core.GetOptions{Max: 1, NoAck: true})
	if err != nil || len(ds) != 1 {
		t.Fatalf("core get: %v %d", err, len(ds))
	}
	p := ds[0].Message.Props
	if p.ContentType != "text/x" || !p.HasPriority || p.Priority != 3 || p.Headers["k"] != "v" {
		t.Fatalf("core props %+v", p)
	}
}

func TestClientAckCumulativeAndPrefetch(t *testing.T) {
	b := test.StartBroker(t)
	c := dial12(t, b)
	for i := 0; i < 10; i++ {
		c.Send("/queue/cum", "", []byte(strconv.Itoa(i)), stomp.SendOpt.Receipt)
	}
	sub, _ := c.Subscribe("/queue/cum", stomp.AckClient, stomp.SubscribeOpt.Header("prefetch-count", "3"))
	var last *stomp.Message
	for i := 0; i < 3; i++ {
		last = recv(t, sub)
	}
	noMessage(t, sub, 200*time.Millisecond) // window of 3 is full
	if err := c.Ack(last); err != nil {     // cumulative: settles all three
		t.Fatal(err)
	}
	test.WaitFor(t, 5*time.Second, "cumulative ack", func() bool {
		info, _ := b.Core().Queue("cum", "")
		return info.Ready+info.Unacked == 7
	})
	for i := 3; i < 6; i++ {
		if m := recv(t, sub); string(m.Body) != strconv.Itoa(i) {
			t.Fatalf("got %q want %d", m.Body, i)
		}
	}
	// Disconnecting returns unacked messages to the queue.
	sub.Unsubscribe()
	test.WaitFor(t, 5*time.Second, "requeue on unsubscribe", func() bool {
		info, _ := b.Core().Queue("cum", "")
		return info.Ready == 7 && info.Unacked == 0
	})
}

func TestTransactionsCoverAck(t *testing.T) {
	b := test.StartBroker(t)
	c := dial12(t, b)
	c.Send("/queue/txa", "", []byte("a"), stomp.SendOpt.Receipt)
	sub, _ := c.Subscribe("/queue/txa", stomp.AckClientIndividual)
	m := recv(t, sub)
	tx, _ := c.BeginWithError()
	tx.Ack(m)
	tx.Send("/queue/txa", "", []byte("aborted"))
	tx.Abort()
	info, _ := b.Core().Queue("txa", "")
	if info.Unacked != 1 {
		t.Fatalf("ACK in an aborted transaction settled: %+v", info)
	}
	tx, _ = c.BeginWithError()
	tx.Ack(m)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 5*time.Second, "committed ack", func() bool {
		info, _ := b.Core().Queue("txa", "")
		return info.Unacked == 0 && info.Ready == 0
	})
	noMessage(t, sub, 100*time.Millisecond)
}

func TestDurableTopicSubscriptions(t *testing.T) {
	b := test.StartBroker(t)
	for _, style := range []struct {
		name string
		conn []func(*stomp.Conn) error
		sub  []func(*frame.Frame) error
		uns  []func(*frame.Frame) error
	}{
		{"rabbitmq", nil,
			[]func(*frame.Frame) error{stomp.SubscribeOpt.Id("d1"), stomp.SubscribeOpt.Header("durable", "true"), stomp.SubscribeOpt.Header("auto-delete", "false")},
			[]func(*frame.Frame) error{stomp.SubscribeOpt.Header("durable", "true")}},
		{"activemq", []func(*stomp.Conn) error{stomp.ConnOpt.Header("client-id", "app-1")},
			[]func(*frame.Frame) error{stomp.SubscribeOpt.Id("x"), stomp.SubscribeOpt.Header("activemq.subscriptionName", "sub-a")},
			[]func(*frame.Frame) error{stomp.SubscribeOpt.Header("activemq.subscriptionName", "sub-a")}},
	} {
		t.Run(style.name, func(t *testing.T) {
			topic := "/topic/durable." + style.name
			c := dial12(t, b, style.conn...)
			sub, err := c.Subscribe(topic, stomp.AckClientIndividual, style.sub...)
			if err != nil {
				t.Fatal(err)
			}
			c.Disconnect()
			p := dial12(t, b)
			p.Send(topic, "", []byte("while away"), stomp.SendOpt.Receipt, stomp.SendOpt.Header("persistent", "true"))
			c = dial12(t, b, style.conn...)
			sub, _ = c.Subscribe(topic, stomp.AckClientIndividual, style.sub...)
			m := recv(t, sub)
			if string(m.Body) != "while away" {
				t.Fatalf("got %q", m.Body)
			}
			c.Ack(m)
			n := len(b.Core().Queues())
			if err := sub.Unsubscribe(style.uns...); err != nil && !errors.Is(err, &stomp.ErrUnsubscribeReceiptTimeout) {
				t.Fatal(err)
			}
			test.WaitFor(t, 5*time.Second, "durable queue deleted", func() bool { return len(b.Core().Queues()) == n-1 })
		})
	}
}

func TestTempQueueReplyTo(t *testing.T) {
	b := test.StartBroker(t)
	server := dial12(t, b)
	reqs, _ := server.Subscribe("/queue/rpc", stomp.AckAuto)
	synced(t, server)
	client := dial12(t, b)
	replies, _ := client.Subscribe("/temp-queue/r1", stomp.AckAuto)
	client.Send("/queue/rpc", "", []byte("ping"), stomp.SendOpt.Receipt, stomp.SendOpt.Header("reply-to", "/temp-queue/r1"))
	req := recv(t, reqs)
	rt := req.Header.Get("reply-to")
	if rt == "" || rt == "/temp-queue/r1" {
		t.Fatalf("reply-to not rewritten: %q", rt)
	}
	if err := server.Send(rt, "", []byte("pong"), stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	m := recv(t, replies)
	if string(m.Body) != "pong" || m.Destination != "/temp-queue/r1" {
		t.Fatalf("reply %q at %s", m.Body, m.Destination)
	}
	// Reply-to before any SUBSCRIBE: an implicit subscription takes the
	// replies until an explicit SUBSCRIBE to the temp queue replaces it.
	r := dialRaw(t, b.STOMP)
	r.connect()
	r.send("SEND\ndestination:/queue/rpc\nreply-to:/temp-queue/late\nreceipt:s\n\nping2\x00")
	if f := r.next(); f.Command != "RECEIPT" {
		t.Fatalf("got %s", f.Command)
	}
	req = recv(t, reqs)
	r.send("SUBSCRIBE\nid:mine\ndestination:/temp-queue/late\nreceipt:sub\n\n\x00")
	if f := r.next(); f.Command != "RECEIPT" {
		t.Fatalf("got %s", f.Command)
	}
	server.Send(req.Header.Get("reply-to"), "", []byte("pong2"), stomp.SendOpt.Receipt)
	if f := r.next(); f.Command != "MESSAGE" || f.Get("subscription") != "mine" || string(f.Body) != "pong2" {
		t.Fatalf("late reply: %s %v %q", f.Command, f.Headers, f.Body)
	}
	// The temp queue goes with its connection.
	n := len(b.Core().Queues())
	client.Disconnect()
	test.WaitFor(t, 5*time.Second, "temp queue deleted", func() bool { return len(b.Core().Queues()) < n })
}

func TestSelectors(t *testing.T) {
	b := test.StartBroker(t)
	c := dial12(t, b)
	red, _ := c.Subscribe("/queue/sel", stomp.AckAuto, stomp.SubscribeOpt.Header("selector", "color = 'red' AND size > 5"))
	rest, _ := c.Subscribe("/queue/sel", stomp.AckAuto, stomp.SubscribeOpt.Header("selector", "color IN ('blue','green') OR color IS NULL"))
	for _, m := range []struct{ color, size string }{{"red", "10"}, {"red", "1"}, {"blue", "1"}, {"", "3"}} {
		opts := []func(*frame.Frame) error{stomp.SendOpt.Receipt, stomp.SendOpt.Header("size", m.size)}
		if m.color != "" {
			opts = append(opts, stomp.SendOpt.Header("color", m.color))
		}
		c.Send("/queue/sel", "", []byte(m.color+m.size), opts...)
	}
	if m := recv(t, red); string(m.Body) != "red10" {
		t.Fatalf("red got %q", m.Body)
	}
	got := map[string]bool{string(recv(t, rest).Body): true, string(recv(t, rest).Body): true}
	if !got["blue1"] || !got["3"] {
		t.Fatalf("rest got %v", got)
	}
	noMessage(t, red, 100*time.Millisecond)
	// red1 matches nobody and stays queued.
	if info, _ := b.Core().Queue("sel", ""); info.Ready != 1 {
		t.Fatalf("ready %d", info.Ready)
	}
}

func TestDestinations(t *testing.T) {
	b := test.StartBroker(t, test.WithConfig(func(c *config.Config) { c.STOMP.DefaultDestination = "topic" }))
	c := dial12(t, b)
	b.Core().DeclareQueue(core.QueueConfig{Name: "existing", Durable: true})
	b.Core().Bind(core.Binding{Source: "amq.direct", Destination: "existing", Key: "dk"})
	sub, _ := c.Subscribe("/amq/queue/existing", stomp.AckAuto)
	c.Send("/exchange/amq.direct/dk", "", []byte("via exchange"), stomp.SendOpt.Receipt)
	c.Send("/amq/queue/existing", "", []byte("via amq queue"), stomp.SendOpt.Receipt)
	for _, want := range []string{"via exchange", "via amq queue"} {
		if m := recv(t, sub); string(m.Body) != want {
			t.Fatalf("got %q want %q", m.Body, want)
		}
	}
	// Plain names follow stomp.default_destination (topic here).
	plain, _ := c.Subscribe("plain.name", stomp.AckAuto)
	c.Send("/topic/plain.name", "", []byte("p"), stomp.SendOpt.Receipt)
	if m := recv(t, plain); string(m.Body) != "p" {
		t.Fatalf("plain got %q", m.Body)
	}
	// /exchange/E subscriptions bind a private queue.
	ex, _ := c.Subscribe("/exchange/amq.fanout", stomp.AckAuto)
	c.Send("/exchange/amq.fanout/anything", "", []byte("f"), stomp.SendOpt.Receipt)
	if m := recv(t, ex); string(m.Body) != "f" || m.Destination != "/exchange/amq.fanout/anything" {
		t.Fatalf("fanout got %q at %s", m.Body, m.Destination)
	}
}

// TestSlowConsumerDoesNotBlockOthers: a subscriber that never reads its
// socket holds only its own deliveries; another consumer keeps receiving.
func TestSlowConsumerDoesNotBlockOthers(t *testing.T) {
	b := test.StartBroker(t)
	slow := dialRaw(t, b.STOMP)
	slow.connect()
	slow.send("SUBSCRIBE\nid:1\ndestination:/topic/flood\n\n\x00SUBSCRIBE\nid:2\ndestination:/queue/other\nreceipt:x\n\n\x00")
	slow.next()
	p := dial12(t, b)
	fast := dial12(t, b)
	fsub, _ := fast.Subscribe("/topic/flood", stomp.AckAuto)
	synced(t, fast)
	body := make([]byte, 16<<10)
	var sent atomic.Int64
	var sendErr atomic.Value
	go func() {
		for i := 0; i < 2000; i++ {
			if err := p.Send("/topic/flood", "", body); err != nil {
				sendErr.Store(err)
				return
			}
			sent.Add(1)
		}
	}()
	for i := 0; i < 2000; i++ {
		select {
		case m := <-fsub.C:
			if m.Err != nil {
				t.Fatal(m.Err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("fast consumer stalled after %d messages; sent %d err %v", i, sent.Load(), sendErr.Load())
		}
	}
}

func TestShutdownSendsError(t *testing.T) {
	b := test.StartBroker(t)
	r := dialRaw(t, b.STOMP)
	r.connect()
	// A WebSocket client is not tracked by any TCP listener: the STOMP
	// server's own Shutdown reaches it.
	w := dialWS(t, "ws://"+b.WS+"/stomp", "v12.stomp")
	wr := sframe.NewReader(w, sframe.Limits{})
	w.Write([]byte("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\x00"))
	if f, err := wr.Read(); err != nil || f.Command != "CONNECTED" {
		t.Fatalf("ws connect: %v %v", f, err)
	}
	wr.SetVersion(sframe.V12)
	stopped := make(chan struct{})
	go func() { b.Stop(t); close(stopped) }()
	defer func() { <-stopped }() // before TempDir cleanup removes the store
	f := r.next()
	if f.Command != "ERROR" || f.Get("message") != "server shutting down" {
		t.Fatalf("got %s %v", f.Command, f.Headers)
	}
	r.closed()
	w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := wr.Read()
		if err != nil {
			t.Fatalf("ws: no ERROR before close: %v", err)
		}
		if f != nil {
			if f.Command != "ERROR" || f.Get("message") != "server shutting down" {
				t.Fatalf("ws got %s %v", f.Command, f.Headers)
			}
			break
		}
	}
}

// TestLargeBodies: a 1 MiB body full of NULs crosses TCP and WebSocket
// intact (content-length framing both ways).
func TestLargeBodies(t *testing.T) {
	b := test.StartBroker(t)
	body := make([]byte, 1<<20)
	for i := range body {
		if i%3 == 0 {
			body[i] = byte(i)
		}
	}
	for _, tr := range []transport{transports[0], transports[2]} {
		c := connect(t, tr.dial(t, b), stomp.V12)
		q := "/queue/large-" + tr.name
		if err := c.Send(q, "application/octet-stream", body, stomp.SendOpt.Receipt); err != nil {
			t.Fatal(err)
		}
		sub, _ := c.Subscribe(q, stomp.AckAuto)
		if m := recv(t, sub); !bytes.Equal(m.Body, body) {
			t.Fatalf("%s: body of %d bytes differs", tr.name, len(m.Body))
		}
	}
}
