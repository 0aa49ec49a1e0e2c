package core_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/omnibroker/broker/core"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	b, err := core.Open(core.Options{DataDir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.DeclareQueue(core.QueueConfig{Name: "q1", Durable: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Bind(core.Binding{Source: "amq.topic", Destination: "q1", Key: "a.*"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 10)
	for i := 0; i < 10; i++ {
		r, err := b.Publish("amq.topic", "a.b", &core.Message{Body: []byte("hi"), Props: core.Properties{Persistent: true}}, func(err error) { done <- err })
		if err != nil || r.Routed != 1 {
			t.Fatal(err, r)
		}
	}
	for i := 0; i < 10; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	ds, err := b.Get(context.Background(), "q1", core.GetOptions{Max: 3})
	if err != nil || len(ds) != 3 {
		t.Fatal(err, len(ds))
	}
	if err := b.Ack("q1", ds[0].ID, ds[1].ID, ds[2].ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	b.Close()
	b, err = core.Open(core.Options{DataDir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	info, err := b.Queue("q1", "")
	if err != nil || info.Ready != 7 {
		t.Fatal(err, info.Ready)
	}
	got := make(chan *core.Delivery, 10)
	c, err := b.Consume("q1", core.ConsumeOptions{Prefetch: 2}, func(d *core.Delivery) bool { got <- d; return true })
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 7; i++ {
		d := <-got
		c.Ack(d.ID)
	}
}
