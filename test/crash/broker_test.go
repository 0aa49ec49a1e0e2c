package crash

import (
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/omnibroker/broker/test"
)

// TestKill9BrokerBinaryOverAMQP: publisher confirms over AMQP to a durable
// queue, kill -9 of the broker process mid-stream, restart: every confirmed
// message is there exactly once.
func TestKill9BrokerBinaryOverAMQP(t *testing.T) {
	bin := test.BuildBroker(t)
	data := filepath.Join(t.TempDir(), "data")
	cmd, addr := test.StartBinary(t, bin, data, "amqp")
	conn, err := amqp.Dial("amqp://guest:guest@" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := conn.Channel()
	if _, err := ch.QueueDeclare("orders", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	ch.Confirm(false)
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 100000))
	const target = 5000
	confirmed := map[int]bool{}
	sent := 0
	tag := uint64(0)
	byTag := map[uint64]int{}
	deadline := time.Now().Add(60 * time.Second)
	for len(confirmed) < target && time.Now().Before(deadline) {
		for i := 0; i < 200; i++ {
			tag++
			byTag[tag] = sent
			ch.Publish("", "orders", false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("m-" + strconv.Itoa(sent))})
			sent++
		}
	drain:
		for {
			select {
			case c := <-confirms:
				if c.Ack {
					confirmed[byTag[c.DeliveryTag]] = true
				}
			default:
				break drain
			}
		}
	}
	// Keep publishing while the broker dies.
	go func() {
		for i := sent; i < sent+100000; i++ {
			if ch.Publish("", "orders", false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("m-" + strconv.Itoa(i))}) != nil {
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	for c := range confirms { // closed when the connection drops
		if c.Ack {
			confirmed[byTag[c.DeliveryTag]] = true
		}
	}
	conn.Close()
	if len(confirmed) < target {
		t.Fatalf("only %d confirmed before the deadline", len(confirmed))
	}

	cmd2, addr2 := test.StartBinary(t, bin, data, "amqp")
	defer func() { cmd2.Process.Signal(syscall.SIGTERM); cmd2.Wait() }()
	conn2, err := amqp.Dial("amqp://guest:guest@" + addr2 + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	ch2, _ := conn2.Channel()
	seen := map[int]int{}
	for {
		d, ok, err := ch2.Get("orders", true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(string(d.Body), "m-"))
		seen[n]++
	}
	lost, dup := 0, 0
	for n := range confirmed {
		if seen[n] == 0 {
			lost++
		}
	}
	for _, c := range seen {
		if c > 1 {
			dup++
		}
	}
	t.Logf("confirmed=%d recovered=%d", len(confirmed), len(seen))
	if lost > 0 || dup > 0 {
		t.Fatalf("after kill -9 of the broker: %d confirmed messages lost, %d duplicated", lost, dup)
	}
}
