package core

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"
)

// Message.Private survives the codec and a restart of a durable queue; a
// message without it encodes exactly as before (no trailer), so records
// written without the field still decode.
func TestMessagePrivate(t *testing.T) {
	m := &Message{Body: []byte("b"), ID: "id", Props: Properties{Headers: Table{"h": "v"}},
		Private: Table{"a.qos": int8(2), "a.flag": true}}
	got, err := DecodeMessage(EncodeMessage(nil, m))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Private, m.Private) || !reflect.DeepEqual(got.Props.Headers, m.Props.Headers) {
		t.Fatalf("round trip: private %v headers %v", got.Private, got.Props.Headers)
	}
	plain := &Message{Body: []byte("b"), ID: "id"}
	withEmpty := &Message{Body: []byte("b"), ID: "id", Private: Table{}}
	if a, b := EncodeMessage(nil, plain), EncodeMessage(nil, withEmpty); !bytes.Equal(a, b) {
		t.Fatal("an empty Private changed the record")
	}
	if got, err := DecodeMessage(EncodeMessage(nil, plain)); err != nil || got.Private != nil {
		t.Fatalf("record without trailer: %v %v", got, err)
	}
	if _, err := DecodeMessage(append(EncodeMessage(nil, plain), 0x05)); err == nil {
		t.Fatal("truncated trailer accepted")
	}

	dir := t.TempDir()
	b := newTestBroker(t, dir)
	mustQueue(t, b, QueueConfig{Name: "pq", Durable: true})
	publish(t, b, "", "pq", "kept", persistent, func(m *Message) { m.Private = Table{"a.qos": int8(2)} })
	b.Close()
	b2 := newTestBroker(t, dir)
	ds, err := b2.Get(context.Background(), "pq", GetOptions{Max: 1, Wait: time.Second})
	if err != nil || len(ds) != 1 {
		t.Fatalf("get after restart: %v %d", err, len(ds))
	}
	if v := ds[0].Message.Private["a.qos"]; v != int8(2) {
		t.Fatalf("private after restart: %v", ds[0].Message.Private)
	}
}
