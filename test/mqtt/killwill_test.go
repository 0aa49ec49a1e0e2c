package mqtt_test

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/omnibroker/broker/test"
)

// kill -9 of the broker while clients with a will are connected: their
// network connections close without DISCONNECT, so their wills are
// published [MQTT-3.1.2-8] (MQTT 5 §3.1.2.5, §3.1.3.2: the will is stored
// with the session); the broker does so at its restart, the moment it
// learns of the close:
//   - kw-v5 (paho.golang, MQTT 5, Will Delay 0, session expiry 60) and
//     kw-v3 (paho.mqtt.golang, 3.1.1, clean session): published at once,
//     exactly once;
//   - kw-bye sent a normal DISCONNECT before the kill: no will
//     [MQTT-3.1.2-10];
//   - kw-late (Will Delay 30, session expiry 2): a delayed will, due when
//     its session ends 2 s after the restart [MQTT-3.1.3-9];
//   - kw-back (Will Delay 30, session expiry 4: due 4 s after the restart)
//     resumes its session right after the restart: its will is cancelled
//     [MQTT-3.1.3-9], so nothing comes for it past that due time.
//
// The watcher is a persistent session connected at the kill too: it gets
// the wills in its session's queue when it reconnects.
func TestKill9WillsOfConnectedClients(t *testing.T) {
	bin := test.BuildBroker(t)
	data := filepath.Join(t.TempDir(), "data")
	p1 := startProc(t, bin, data)

	watch := mustDial5(t, p1.addr, "kw-watch", func(c *paho.Connect) { persistent(c); c.CleanStart = true })
	watch.sub(t, subOpt("kw/#", 1))

	will5 := func(name string, delay, expiry uint32) func(*paho.Connect) {
		return func(c *paho.Connect) {
			c.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(expiry)}
			c.WillMessage = &paho.WillMessage{Topic: "kw/" + name, QoS: 1, Payload: []byte(name)}
			c.WillProperties = &paho.WillProperties{WillDelayInterval: u32(delay)}
		}
	}
	mustDial5(t, p1.addr, "kw-v5", will5("v5", 0, 60))
	connect(t, pahoOpts(p1.addr, "kw-v3").SetWill("kw/v3", "v3", 1, false))
	mustDial5(t, p1.addr, "kw-late", will5("late", 30, 2))
	mustDial5(t, p1.addr, "kw-back", will5("back", 30, 4))
	bye := mustDial5(t, p1.addr, "kw-bye", will5("bye", 0, 60))
	bye.Disconnect(&paho.Disconnect{}) // normal: no will
	p1.waitLog(t, "connection closed", "client_id=kw-bye")

	p1.kill()
	restart := time.Now() // the restore runs after this
	p2 := startProc(t, bin, data)

	// Resumed right after the restart: its delayed will is cancelled.
	back := mustDial5(t, p2.addr, "kw-back", func(c *paho.Connect) {
		c.CleanStart = false
		c.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(4)}
	})
	if !back.ack.SessionPresent {
		t.Fatal("kw-back: session not present after the restart")
	}

	w := mustDial5(t, p2.addr, "kw-watch", persistent)
	if !w.ack.SessionPresent {
		t.Fatal("watcher: session not present after the restart")
	}
	got := map[string]int{}
	var order []string
	deadline := time.After(15 * time.Second)
	for len(got) < 3 {
		select {
		case m := <-w.msgs:
			p := string(m.Payload)
			got[p]++
			order = append(order, p)
			if m.Topic != "kw/"+p {
				t.Fatalf("will %q on topic %q", p, m.Topic)
			}
			if p == "late" && time.Since(restart) < 2*time.Second {
				t.Fatalf("delayed will published %v after the restart, before its 2 s (session expiry)", time.Since(restart))
			}
		case <-deadline:
			t.Fatalf("wills after kill -9 and restart: got %v, want late,v3,v5", order)
		}
	}
	// Past kw-back's due time (restart + 4 s) plus a margin: nothing more,
	// no duplicate.
	if left := 5500*time.Millisecond - time.Since(restart); left > 0 {
		w.none(t, left)
	}
	w.none(t, 300*time.Millisecond)
	keys := make([]string, 0, len(got))
	for k, n := range got {
		if n != 1 {
			t.Fatalf("will %q published %d times, want once (%v)", k, n, order)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if s := strings.Join(keys, ","); s != "late,v3,v5" {
		t.Fatalf("wills after kill -9 and restart: %s, want late,v3,v5", s)
	}
}
