package mqtt

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
)

// willQueue binds a queue to the will topics "w/#" and returns a function
// that takes the wills published so far (payloads).
func willQueue(t *testing.T, b *core.Broker) func(wait time.Duration) []string {
	t.Helper()
	if _, err := b.DeclareQueue(core.QueueConfig{Name: "wq"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Bind(core.Binding{Source: topicExch, Destination: "wq", Key: "w.#"}); err != nil {
		t.Fatal(err)
	}
	return func(wait time.Duration) []string {
		t.Helper()
		ds, err := b.Get(context.Background(), "wq", core.GetOptions{Max: 100, NoAck: true, Wait: wait})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range ds {
			out = append(out, string(d.Message.Body))
		}
		return out
	}
}

func storedWillOf(t *testing.T, b *core.Broker, client string) (storedWill, bool) {
	t.Helper()
	raw, err := b.Meta(willsNS).Get(client)
	if err != nil {
		return storedWill{}, false
	}
	var sw storedWill
	if err := json.Unmarshal(raw, &sw); err != nil {
		t.Fatal(err)
	}
	return sw, true
}

// willConnect connects client over a pipe; a non-empty payload adds a
// will on "w/<client>" with the given Will Delay.
func willConnect(t *testing.T, h *Handler, client, payload string, delay, expiry uint32, clean bool) (net.Conn, chan struct{}) {
	t.Helper()
	c, br, done := pipeClient(t, h)
	cp := connectPk(client, "u", "p")
	cp.Connect.Clean = clean
	cp.Properties.SessionExpiryInterval, cp.Properties.SessionExpiryIntervalFlag = expiry, expiry > 0
	if payload != "" {
		cp.Connect.WillFlag, cp.Connect.WillQos = true, 1
		cp.Connect.WillTopic, cp.Connect.WillPayload = "w/"+client, []byte(payload)
		cp.Connect.WillProperties.WillDelayInterval = delay
	}
	writePk(t, c, cp)
	if ack := readServer(t, c, br); ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("connack %+v", ack)
	}
	return c, done
}

// The armed will record: written before CONNACK, deleted by a normal
// DISCONNECT (will discarded), published then deleted at an abnormal
// close, turned into the pending delayed will (same key) when the will
// has a delay, and that one deleted when the session is resumed. A
// CONNECT without a will leaves nothing in willsNS.
func TestArmedWillRecord(t *testing.T) {
	h, b := newTestHandler(t)
	wills := willQueue(t, b)

	c, br, done := pipeClient(t, h)
	cp := connectPk("bye", "u", "p")
	cp.Connect.WillFlag, cp.Connect.WillTopic, cp.Connect.WillPayload = true, "w/bye", []byte("bye")
	writePk(t, c, cp)
	if ack := readServer(t, c, br); ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("connack %+v", ack)
	}
	if sw, ok := storedWillOf(t, b, "bye"); !ok || !sw.Armed || sw.Topic != "w/bye" || !sw.Due.IsZero() {
		t.Fatalf("armed record at CONNACK: %+v %v", sw, ok)
	}
	writePk(t, c, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5})
	<-done
	if _, ok := storedWillOf(t, b, "bye"); ok {
		t.Fatal("record kept after a normal DISCONNECT")
	}

	quiet, _ := willConnect(t, h, "quiet", "", 0, 600, true)
	if keys := b.Meta(willsNS).Keys(); len(keys) != 0 {
		t.Fatalf("CONNECT without a will stored %v", keys)
	}
	quiet.Close()

	now, doneNow := willConnect(t, h, "now", "now", 0, 600, true)
	now.Close() // abnormal close
	<-doneNow
	if got := wills(5 * time.Second); len(got) != 1 || got[0] != "now" {
		t.Fatalf("wills %v", got)
	}
	if _, ok := storedWillOf(t, b, "now"); ok {
		t.Fatal("record kept after the will was published")
	}

	later, doneLater := willConnect(t, h, "later", "later", 60, 600, true)
	if sw, _ := storedWillOf(t, b, "later"); !sw.Armed || sw.Delay != 60 {
		t.Fatalf("armed record %+v", sw)
	}
	later.Close()
	<-doneLater
	sw, ok := storedWillOf(t, b, "later")
	if d := time.Until(sw.Due); !ok || sw.Armed || d < 55*time.Second || d > 60*time.Second {
		t.Fatalf("pending record %+v (due in %v)", sw, d)
	}
	back, _ := willConnect(t, h, "later", "", 0, 600, false) // resumes: cancelled [MQTT-3.1.3-9]
	if _, ok := storedWillOf(t, b, "later"); ok {
		t.Fatal("pending will kept after the session was resumed")
	}
	back.Close()
	if got := wills(0); len(got) != 0 {
		t.Fatalf("wills %v", got)
	}
}

// Armed records left by a crash (no handler closed them) are handled at
// the next start like an abnormal close at that moment [MQTT-3.1.2-8]:
// published at once for Will Delay 0 or when the session is gone,
// otherwise made pending, due after the delay capped by the session
// expiry [MQTT-3.1.3-9], and cancelled when the session is resumed.
func TestArmedWillsRestoredAfterCrash(t *testing.T) {
	h, b := newTestHandler(t)
	wills := willQueue(t, b)
	for _, c := range []struct {
		client string
		delay  uint32
		expiry uint32 // 0: no stored session
	}{{"now", 0, 600}, {"gone", 30, 0}, {"later", 30, 600}, {"cap", 30, 2}} {
		if c.expiry > 0 {
			if err := h.persist(newSession(c.client, c.expiry, true), time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		w := &will{topic: "w/" + c.client, qos: 1, msg: &core.Message{Body: []byte(c.client), Props: core.Properties{Persistent: true}}}
		if err := h.armWill(c.client, w, c.delay); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	h2, err := New(Options{Broker: b, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close(context.Background())

	got := map[string]int{}
	for deadline := time.Now().Add(5 * time.Second); len(got) < 2 && time.Now().Before(deadline); {
		for _, p := range wills(time.Second) {
			got[p]++
		}
	}
	if got["now"] != 1 || got["gone"] != 1 || len(got) != 2 {
		t.Fatalf("published at the restart: %v", got)
	}
	if sw, ok := storedWillOf(t, b, "later"); !ok || sw.Armed || sw.Due.Sub(start) < 30*time.Second {
		t.Fatalf("later: %+v %v", sw, ok)
	}
	if sw, ok := storedWillOf(t, b, "cap"); !ok || sw.Armed || sw.Due.Sub(start) < 2*time.Second || sw.Due.Sub(start) > 3*time.Second {
		t.Fatalf("cap: %+v %v", sw, ok)
	}
	back, _ := willConnect(t, h2, "later", "", 0, 600, false)
	if _, ok := storedWillOf(t, b, "later"); ok {
		t.Fatal("pending will kept after the session was resumed")
	}
	if p := wills(5 * time.Second); len(p) != 1 || p[0] != "cap" || time.Since(start) < 2*time.Second {
		t.Fatalf("after the capped delay: %v at %v", p, time.Since(start))
	}
	// The record is deleted once the will is stored, just after it can be
	// received: wait for that.
	keys := b.Meta(willsNS).Keys()
	for deadline := time.Now().Add(5 * time.Second); len(keys) != 0 && time.Now().Before(deadline); keys = b.Meta(willsNS).Keys() {
		time.Sleep(10 * time.Millisecond)
	}
	if len(keys) != 0 {
		t.Fatalf("records left: %v", keys)
	}
	if p := wills(0); len(p) != 0 {
		t.Fatalf("duplicates: %v", p)
	}
	back.Close()
}
