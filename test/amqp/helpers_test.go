package amqp_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

func url(b *test.Broker) string { return fmt.Sprintf("amqp://guest:guest@%s/", b.AMQP) }

func dial(t testing.TB, b *test.Broker) *amqp.Connection {
	t.Helper()
	c, err := amqp.Dial(url(b))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func channel(t testing.TB, c *amqp.Connection) *amqp.Channel {
	t.Helper()
	ch, err := c.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	return ch
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode asserts err is an *amqp.Error with code.
func wantCode(t testing.TB, err error, code int) *amqp.Error {
	t.Helper()
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		t.Fatalf("want AMQP error %d, got %v", code, err)
	}
	if ae.Code != code {
		t.Fatalf("want code %d, got %d (%s)", code, ae.Code, ae.Reason)
	}
	return ae
}

func recv(t testing.TB, ch <-chan amqp.Delivery) amqp.Delivery {
	t.Helper()
	select {
	case d, ok := <-ch:
		if !ok {
			t.Fatal("delivery channel closed")
		}
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
	}
	return amqp.Delivery{}
}

func noDelivery(t testing.TB, ch <-chan amqp.Delivery, d time.Duration) {
	t.Helper()
	select {
	case m, ok := <-ch:
		if ok {
			t.Fatalf("unexpected delivery %q", m.Body)
		}
	case <-time.After(d):
	}
}
