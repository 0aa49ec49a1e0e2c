package core

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestRestartKeepsDurableStateOnly(t *testing.T) {
	dir := t.TempDir()
	b := newTestBroker(t, dir)
	b.DeclareExchange(ExchangeConfig{Name: "dx", Kind: KindTopic, Durable: true})
	b.DeclareExchange(ExchangeConfig{Name: "tx", Kind: KindTopic})
	mustQueue(t, b, QueueConfig{Name: "dq", Durable: true, MaxLength: 100, Args: Table{"x-max-length": int64(100)}})
	mustQueue(t, b, QueueConfig{Name: "tq"})
	b.Bind(Binding{Source: "dx", Destination: "dq", Key: "a.#"})
	b.Bind(Binding{Source: "dx", Destination: "tq", Key: "a.#"})
	b.SetUsers([]User{{Name: "u", Password: "p"}})
	for i := 0; i < 20; i++ {
		publish(t, b, "dx", "a.b", fmt.Sprint(i), persistent)
	}
	publish(t, b, "dx", "a.b", "transient-msg") // not persistent: memory only
	// Ack the first 5 in order and #10 out of order.
	ds, _ := b.Get(context.Background(), "dq", GetOptions{Max: 11})
	var ids []uint64
	for _, d := range ds[:5] {
		ids = append(ids, d.ID)
	}
	ids = append(ids, ds[10].ID)
	if err := b.Ack("dq", ids...); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b2 := newTestBroker(t, dir)
	if _, err := b2.Exchange("dx"); err != nil {
		t.Fatal("durable exchange lost")
	}
	if _, err := b2.Exchange("tx"); err == nil {
		t.Fatal("transient exchange survived")
	}
	if _, err := b2.Queue("tq", ""); err == nil {
		t.Fatal("transient queue survived")
	}
	if err := b2.Authenticate("u", "p"); err != nil {
		t.Fatal("user lost")
	}
	info, err := b2.Queue("dq", "")
	if err != nil || info.Ready != 14 || info.Config.MaxLength != 100 || info.Config.Args["x-max-length"] != int64(100) {
		t.Fatalf("dq after restart: %+v %v", info, err)
	}
	ds, _ = b2.Get(context.Background(), "dq", GetOptions{Max: 100})
	var got []string
	for _, d := range ds {
		got = append(got, string(d.Message.Body))
		if !d.Redelivered {
			t.Errorf("recovered message %s not flagged redelivered", d.Message.Body)
		}
	}
	want := []string{"5", "6", "7", "8", "9", "11", "12", "13", "14", "15", "16", "17", "18", "19"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("recovered %v\nwant %v", got, want)
	}
	// Binding survived: a new publish still routes.
	if r := publish(t, b2, "dx", "a.c", "new", persistent); r.Routed != 1 {
		t.Fatalf("binding lost: routed %d", r.Routed)
	}
}

func TestDeletedQueueMessagesDoNotComeBack(t *testing.T) {
	dir := t.TempDir()
	b := newTestBroker(t, dir)
	mustQueue(t, b, QueueConfig{Name: "q", Durable: true})
	publish(t, b, "", "q", "x", persistent)
	b.DeleteQueue("q", false, false)
	mustQueue(t, b, QueueConfig{Name: "q", Durable: true})
	b.Close()
	b2 := newTestBroker(t, dir)
	if info, _ := b2.Queue("q", ""); info.Ready != 0 {
		t.Fatalf("deleted queue's message came back: %d", info.Ready)
	}
}

func TestMetaStore(t *testing.T) {
	dir := t.TempDir()
	b := newTestBroker(t, dir)
	ms := b.Meta("sessions")
	ms.Put("client/1", []byte("a"))
	ms.Put("", []byte("empty key"))
	ms.Put("gone", []byte("x"))
	ms.Delete("gone")
	b.Close()
	b2 := newTestBroker(t, dir)
	got := b2.Meta("sessions").List()
	if len(got) != 2 || !bytes.Equal(got["client/1"], []byte("a")) || string(got[""]) != "empty key" {
		t.Fatalf("meta after restart: %q", got)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	m := &Message{
		Body: []byte("body\x00bytes"),
		Props: Properties{ContentType: "text/plain", ContentEncoding: "gzip", CorrelationID: "c", ReplyTo: "r",
			MessageID: "m", Type: "t", UserID: "u", AppID: "a", Timestamp: time.Unix(1700000000, 0), Expiration: time.Second,
			Priority: 7, HasPriority: true, Persistent: true,
			Headers: Table{"s": "v", "b": []byte{1, 2}, "t": true, "i8": int8(-1), "i16": int16(-2), "i32": int32(-3),
				"i64": int64(-4), "u8": uint8(1), "u16": uint16(2), "u32": uint32(3), "u64": uint64(4), "f32": float32(1.5),
				"f64": 2.5, "ts": time.Unix(5, 0), "dec": Decimal{Scale: 2, Value: 314}, "nil": nil,
				"tab": Table{"x": "y"}, "arr": []any{"a", int32(1), Table{}}}},
		GroupID: "g", DedupID: "d", ID: "id", Exchange: "ex", RoutingKey: "rk", SentAt: time.Unix(6, 0), Sequence: 9, Delay: time.Minute,
	}
	got, err := DecodeMessage(EncodeMessage(nil, m))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n%+v\n%+v", got, m)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(EncodeMessage(nil, &Message{Body: []byte("x"), Props: Properties{Headers: Table{"a": []any{Table{"b": int32(1)}}}}}))
	f.Add([]byte{1})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			return
		}
		again, err := DecodeMessage(EncodeMessage(nil, m))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(again.Body, m.Body) || again.ID != m.ID {
			t.Fatal("round trip changed the message")
		}
	})
}
