package mqtt_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/test"
)

// dialSmall dials addr with a 64 KiB receive buffer (set before connect,
// so the kernel does not grow it): a slow reader's backlog stays in the
// broker instead of in loopback buffers of many megabytes.
func dialSmall(t *testing.T, addr string) *raw {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
		return err
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc, br: bufio.NewReader(nc), v: 5}
}

// rawPublisher connects as id and publishes n messages of size bytes to
// topic at qos, keeping up to 256 QoS 1 publishes unacknowledged (as
// cmd/loadgen does); it checks the PUBACKs come in order. It returns
// when every message is sent (and, at QoS 1, acknowledged).
func rawPublisher(addr, id, topic string, qos byte, n, size int) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	enc := func(pk *packets.Packet) []byte {
		pk.ProtocolVersion = 5
		var buf bytes.Buffer
		if pk.FixedHeader.Type == packets.Connect {
			pk.ConnectEncode(&buf)
		} else {
			pk.PublishEncode(&buf)
		}
		return buf.Bytes()
	}
	if _, err := nc.Write(enc(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, Connect: packets.ConnectParams{
		ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: id,
		UsernameFlag: true, Username: []byte("guest"), PasswordFlag: true, Password: []byte("guest")}})); err != nil {
		return err
	}
	br := bufio.NewReader(nc)
	next := func() (byte, []byte, error) {
		nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		hb, err := br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		l, _, err := packets.DecodeLength(br)
		if err != nil {
			return 0, nil, err
		}
		body := make([]byte, l)
		_, err = io.ReadFull(br, body)
		return hb >> 4, body, err
	}
	if typ, _, err := next(); err != nil || typ != packets.Connack {
		return fmt.Errorf("connack: %d %v", typ, err)
	}
	credit := make(chan struct{}, 256)
	acked := make(chan error, 1)
	if qos > 0 {
		go func() {
			for i := 0; i < n; i++ {
				typ, body, err := next()
				if err != nil {
					acked <- fmt.Errorf("PUBACK %d of %d: %w", i, n, err)
					return
				}
				if want := uint16(i%60000 + 1); typ != packets.Puback || binary.BigEndian.Uint16(body) != want {
					acked <- fmt.Errorf("PUBACK %d: type %d id %d", i, typ, binary.BigEndian.Uint16(body))
					return
				}
				<-credit
			}
			acked <- nil
		}()
	}
	body := make([]byte, size)
	w := bufio.NewWriterSize(nc, 64<<10)
	for i := 0; i < n; i++ {
		if qos > 0 {
			select {
			case credit <- struct{}{}:
			default:
				w.Flush()
				select {
				case credit <- struct{}{}:
				case err := <-acked:
					return fmt.Errorf("publisher stopped at %d: %v", i, err)
				}
			}
		}
		binary.BigEndian.PutUint32(body, uint32(i))
		nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
		if _, err := w.Write(enc(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
			PacketID: uint16(i%60000 + 1), TopicName: topic, Payload: body})); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if qos == 0 {
		return nil
	}
	return <-acked
}

// watchBacklog samples the ready count of queue until stop and returns
// the largest one seen.
func watchBacklog(b *test.Broker, queue string, stop <-chan struct{}) <-chan int {
	out := make(chan int, 1)
	go func() {
		most := 0
		for {
			if qi, err := b.Core().Queue(queue, ""); err == nil {
				most = max(most, qi.Ready)
			}
			select {
			case <-stop:
				out <- most
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return out
}

// slowSubscriber reads n messages in order from sub, acknowledging QoS 1
// ones, at about 5,000 messages/s (a pause every 5 messages).
func slowSubscriber(t *testing.T, sub *raw, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		pk := sub.read(20 * time.Second)
		if pk == nil || pk.FixedHeader.Type != packets.Publish {
			t.Fatalf("message %d of %d: got %+v", i, n, pk)
		}
		if got := binary.BigEndian.Uint32(pk.Payload); got != uint32(i) {
			t.Fatalf("message %d: sequence %d (lost or reordered)", i, got)
		}
		if pk.FixedHeader.Qos == 1 {
			sub.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
		}
		if i%5 == 4 {
			time.Sleep(time.Millisecond)
		}
	}
}

// backlogSlack bounds how far past core.FlowHigh a queue may grow: the
// publishes already in flight when it went over (256 QoS 1, or what the
// publisher's socket buffers hold at QoS 0) and a dispatch batch.
const backlogSlack = 1000

// A slow but live subscriber slows a QoS 1 publisher down to its pace:
// the backlog of its queue stays near core.FlowHigh instead of growing
// with the publisher's lead (it grew to several thousand before flow
// control), and every message arrives in order.
func TestFlowSlowSubscriberBoundsBacklogQoS1(t *testing.T) {
	testFlowSlowSubscriber(t, 1, 12000, 256)
}

// The same at QoS 0: the publisher's reader stops instead of the clean
// session's queue growing (and, past its limit, dropping the oldest):
// nothing is lost while the subscriber keeps reading.
func TestFlowSlowSubscriberBoundsBacklogQoS0(t *testing.T) {
	testFlowSlowSubscriber(t, 0, 12000, 2048)
}

func testFlowSlowSubscriber(t *testing.T, qos byte, n, size int) {
	b := test.StartBroker(t)
	sub := dialSmall(t, b.MQTT)
	sub.connect("slow", packets.Properties{})
	sub.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "flow/t", Qos: qos}}})
	sub.expect(packets.Suback)

	stop := make(chan struct{})
	most := watchBacklog(b, "mqtt-subscription-slow", stop)
	published := make(chan error, 1)
	go func() { published <- rawPublisher(b.MQTT, "fast", "flow/t", qos, n, size) }()
	slowSubscriber(t, sub, n)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	close(stop)
	if m := <-most; m > core.FlowHigh+backlogSlack {
		t.Fatalf("backlog reached %d ready messages (high-water mark %d)", m, core.FlowHigh)
	}
}

// A subscriber that stops reading in the middle of a run (no more reads,
// no more PUBACKs) releases its publisher: every publish is acknowledged
// although the subscriber's queue is over its high-water mark.
func TestFlowStalledMidRunReleasesPublisher(t *testing.T) {
	b := test.StartBroker(t)
	sub := dialSmall(t, b.MQTT)
	sub.connect("stalls", packets.Properties{})
	sub.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "flow/s", Qos: 1}}})
	sub.expect(packets.Suback)
	const n = 10000
	published := make(chan error, 1)
	go func() { published <- rawPublisher(b.MQTT, "feeder", "flow/s", 1, n, 256) }()
	slowSubscriber(t, sub, 2500) // then it stalls
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	qi, err := b.Core().Queue("mqtt-subscription-stalls", "")
	if err != nil {
		t.Fatal(err)
	}
	if qi.Ready+qi.Unacked < n-2500-1024 {
		t.Fatalf("queue holds %d ready + %d unacked of the %d not read", qi.Ready, qi.Unacked, n-2500)
	}
}

// Two clients each publishing QoS 1 to the other's subscription, both
// reading slowly, do not hold each other up: each gets all the other's
// messages, in order, and every publish is acknowledged.
func TestFlowTwoClientsFeedingEachOther(t *testing.T) {
	b := test.StartBroker(t)
	const n = 6000
	type side struct {
		c    paho.Client
		got  atomic.Int64
		bad  atomic.Value
		done chan struct{}
	}
	mk := func(id, in string) *side {
		s := &side{done: make(chan struct{})}
		var once sync.Once
		o := pahoOpts(b.MQTT, id).SetOrderMatters(true)
		s.c = connect(t, o)
		wait(t, s.c.Subscribe(in, 1, func(_ paho.Client, m paho.Message) {
			i := s.got.Add(1) - 1
			if got := binary.BigEndian.Uint32(m.Payload()); got != uint32(i) {
				s.bad.CompareAndSwap(nil, fmt.Sprintf("message %d: sequence %d", i, got))
			}
			if i%5 == 4 {
				time.Sleep(time.Millisecond) // slower than the other side publishes
			}
			if i == n-1 {
				once.Do(func() { close(s.done) })
			}
		}))
		return s
	}
	a, z := mk("side-a", "flow/to-a"), mk("side-z", "flow/to-z")
	errs := make(chan error, 2)
	pub := func(s *side, topic string) {
		body := make([]byte, 256)
		toks := make(chan paho.Token, 256) // up to 256 unacknowledged
		go func() {
			for tok := range toks {
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					errs <- fmt.Errorf("publish to %s not acknowledged: %v", topic, tok.Error())
					for range toks {
					}
					return
				}
			}
			errs <- nil
		}()
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint32(body, uint32(i))
			toks <- s.c.Publish(topic, 1, false, append([]byte(nil), body...))
		}
		close(toks)
	}
	go pub(a, "flow/to-z")
	go pub(z, "flow/to-a")
	for _, s := range []*side{a, z} {
		select {
		case <-s.done:
		case <-time.After(60 * time.Second):
			t.Fatalf("received %d of %d", s.got.Load(), n)
		}
		if v := s.bad.Load(); v != nil {
			t.Fatal(v)
		}
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
