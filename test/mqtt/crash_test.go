package mqtt_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/omnibroker/broker/test"
)

// kill -9 of the broker while a QoS 1 publisher streams to a persistent
// session: after a restart every PUBACKed message reaches the session.
func TestKill9PersistentSession(t *testing.T) {
	bin := test.BuildBroker(t)
	data := filepath.Join(t.TempDir(), "data")
	cmd, addr := test.StartBinary(t, bin, data, "mqtt")
	sub := connect(t, pahoOpts(addr, "durable-sub").SetCleanSession(false))
	wait(t, sub.Subscribe("orders/#", 1, nil))
	sub.Disconnect(100)

	pub := paho3.NewClient(pahoOpts(addr, "crash-pub").SetMaxResumePubInFlight(1000))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	var mu sync.Mutex
	acked := map[int]bool{}
	var wg sync.WaitGroup
	const target = 2000
	for i := 0; ; i++ {
		tok := pub.Publish("orders/eu", 1, false, "m-"+strconv.Itoa(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
				mu.Lock()
				acked[i] = true
				mu.Unlock()
			}
		}()
		if i%100 == 99 {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= target {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL) // publishes still in flight
	cmd.Wait()
	pub.Disconnect(0)
	wg.Wait()

	cmd2, addr2 := test.StartBinary(t, bin, data, "mqtt")
	defer func() { cmd2.Process.Signal(syscall.SIGTERM); cmd2.Wait() }()
	var gmu sync.Mutex
	got := map[int]int{}
	o := pahoOpts(addr2, "durable-sub").SetCleanSession(false)
	o.SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
		n, _ := strconv.Atoi(strings.TrimPrefix(string(m.Payload()), "m-"))
		gmu.Lock()
		got[n]++
		gmu.Unlock()
	})
	connect(t, o)
	missing := func() int {
		mu.Lock()
		defer mu.Unlock()
		gmu.Lock()
		defer gmu.Unlock()
		n := 0
		for i := range acked {
			if got[i] == 0 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for missing() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := missing(); n > 0 {
		t.Fatalf("%d of %d PUBACKed messages lost after kill -9", n, len(acked))
	}
	t.Logf("%d PUBACKed before kill -9, all delivered after restart (%d distinct received)", len(acked), len(got))
}
