// Package admin tests the operator endpoints: /healthz, /api/queues and
// /metrics (core counters, queue depths, connections and close reasons).
package admin

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func TestAdminEndpoints(t *testing.T) {
	b := test.StartBroker(t)
	if got := get(t, "http://"+b.Admin+"/healthz"); got != "ok\n" {
		t.Fatalf("healthz %q", got)
	}
	c, err := amqp.Dial("amqp://guest:guest@" + b.AMQP + "/")
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := c.Channel()
	ch.QueueDeclare("metered", true, false, false, false, nil)
	ch.Publish("", "metered", false, false, amqp.Publishing{Body: []byte("x")})
	test.WaitFor(t, 5*time.Second, "queue depth", func() bool {
		return strings.Contains(get(t, "http://"+b.Admin+"/metrics"), `broker_queue_messages_ready{queue="metered"} 1`)
	})
	m := get(t, "http://"+b.Admin+"/metrics")
	for _, want := range []string{`broker_connections_open{proto="amqp"} 1`, "broker_messages_published_total 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	c.Close()
	test.WaitFor(t, 5*time.Second, "close reason counted", func() bool {
		return strings.Contains(get(t, "http://"+b.Admin+"/metrics"), `broker_connections_closed_total{proto="amqp",reason="client_closed"} 1`)
	})
	if q := get(t, "http://"+b.Admin+"/api/queues"); !strings.Contains(q, `"name":"metered"`) {
		t.Fatalf("api/queues %s", q)
	}
}
