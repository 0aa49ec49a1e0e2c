package mqtt_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/omnibroker/broker/test"
)

// proc is a broker binary with only the MQTT listener, whose log lines
// are kept so a test can wait for one.
type proc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  []string
}

func startProc(t *testing.T, bin, data string) *proc {
	t.Helper()
	var sb strings.Builder
	fmt.Fprintf(&sb, "node: { data_dir: %q }\nlisteners:\n", data)
	for _, n := range []string{"amqp", "mqtt", "stomp", "ws", "aws", "admin"} {
		addr := ""
		if n == "mqtt" {
			addr = "127.0.0.1:0"
		}
		fmt.Fprintf(&sb, "  %s: { addr: %q }\n", n, addr)
	}
	cfg := filepath.Join(t.TempDir(), "broker.yaml")
	if err := os.WriteFile(cfg, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(bin, "--config", cfg)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	started := make(chan string, 1)
	go func() {
		started := started
		re := regexp.MustCompile(`listener up.*proto=mqtt addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		addr := ""
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log = append(p.log, line)
			p.mu.Unlock()
			if m := re.FindStringSubmatch(line); m != nil {
				addr = m[1]
			}
			if started != nil && strings.Contains(line, "broker started") {
				started <- addr
				started = nil
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case p.addr = <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("broker binary did not start")
	}
	if p.addr == "" {
		t.Fatal("broker did not report its mqtt address")
	}
	return p
}

// waitLog waits for a log line holding every one of parts.
func (p *proc) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	test.WaitFor(t, 10*time.Second, "log line "+strings.Join(parts, " "), func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
	lines:
		for _, l := range p.log {
			for _, s := range parts {
				if !strings.Contains(l, s) {
					continue lines
				}
			}
			return true
		}
		return false
	})
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

// sniffConn is the client side of a connection that sees every packet the
// broker sends: it records (type, packet id) and, while drop is set to a
// packet type, swallows packets of that type, as if lost with a crash.
type sniffConn struct {
	net.Conn
	br      *bufio.Reader
	pending []byte
	s       *sniffer
}

type sniffer struct {
	addr atomic.Value // broker address to dial
	drop atomic.Int32 // packet type to swallow; 0 = none
	mu   sync.Mutex
	seen []sniffed
}

type sniffed struct {
	typ     byte
	id      uint16
	dropped bool
}

func (s *sniffer) dial(*url.URL, paho3.ClientOptions) (net.Conn, error) {
	nc, err := net.Dial("tcp", s.addr.Load().(string))
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: nc, br: bufio.NewReader(nc), s: s}, nil
}

// count returns how many packets of typ with id arrived (dropped or not).
func (s *sniffer) count(typ byte, id uint16, dropped bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.seen {
		if p.typ == typ && p.id == id && p.dropped == dropped {
			n++
		}
	}
	return n
}

// mark returns a position in the record for countSince.
func (s *sniffer) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// countSince counts the packets of typ recorded after mark.
func (s *sniffer) countSince(mark int, typ byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.seen[mark:] {
		if p.typ == typ {
			n++
		}
	}
	return n
}

// since lists the packets recorded after mark.
func (s *sniffer) since(mark int) []sniffed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sniffed(nil), s.seen[mark:]...)
}

// firstDropped returns the packet id of the first swallowed packet of typ.
func (s *sniffer) firstDropped(typ byte) (uint16, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.seen {
		if p.typ == typ && p.dropped {
			return p.id, true
		}
	}
	return 0, false
}

func (c *sniffConn) Read(b []byte) (int, error) {
	for len(c.pending) == 0 {
		pk, err := readFrame(c.br)
		if err != nil {
			return 0, err
		}
		typ, id := pk.typ, pk.id
		drop := int32(typ) == c.s.drop.Load()
		c.s.mu.Lock()
		c.s.seen = append(c.s.seen, sniffed{typ: typ, id: id, dropped: drop})
		c.s.mu.Unlock()
		if !drop {
			c.pending = pk.raw
		}
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

type frame struct {
	typ byte
	id  uint16
	raw []byte
}

// readFrame reads one whole MQTT packet: fixed header, Remaining Length
// (Variable Byte Integer), body; id is the packet identifier of PUBLISH
// QoS > 0 and PUBACK..PUBCOMP (3.1.1 encoding).
func readFrame(br *bufio.Reader) (frame, error) {
	h, err := br.ReadByte()
	if err != nil {
		return frame{}, err
	}
	raw := []byte{h}
	n, mul := 0, 1
	for i := 0; i < 4; i++ {
		b, err := br.ReadByte()
		if err != nil {
			return frame{}, err
		}
		raw = append(raw, b)
		n += int(b&0x7f) * mul
		mul *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return frame{}, err
	}
	f := frame{typ: h >> 4, raw: append(raw, body...)}
	switch {
	case f.typ == 3 && (h>>1)&3 > 0 && len(body) >= 2:
		tl := int(body[0])<<8 | int(body[1])
		if len(body) >= 4+tl {
			f.id = uint16(body[2+tl])<<8 | uint16(body[3+tl])
		}
	case f.typ >= 4 && f.typ <= 7 && len(body) >= 2:
		f.id = uint16(body[0])<<8 | uint16(body[1])
	}
	return f, nil
}

// resumingClient is a paho.mqtt.golang 3.1.1 persistent session that
// reconnects by itself (to s's current address) and resumes its in-flight
// QoS 2 exchanges from its store.
func resumingClient(t *testing.T, s *sniffer, id string, onMsg paho3.MessageHandler) paho3.Client {
	t.Helper()
	o := paho3.NewClientOptions().AddBroker("tcp://placeholder:1883").SetClientID(id).
		SetUsername("guest").SetPassword("guest").SetProtocolVersion(4).SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).SetConnectTimeout(5 * time.Second).
		SetCustomOpenConnectionFn(s.dial)
	if onMsg != nil {
		o.SetDefaultPublishHandler(onMsg)
	}
	c := paho3.NewClient(o)
	wait(t, c.Connect())
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// kill -9 of the broker in the middle of QoS 2 exchanges and after a
// delayed will was scheduled; after the restart:
//   - inbound: the publisher got no PUBREC before the crash and resends
//     the PUBLISH with DUP: it is acknowledged, not routed a second time
//     [MQTT-4.3.3-9];
//   - outbound: the subscriber got the message and answered PUBREC, the
//     broker's PUBREL was lost: PUBREL is sent again, the message is not
//     [MQTT-4.4.0-1];
//   - the delayed will of a client whose connection had dropped is
//     published when its delay elapses [MQTT-3.1.3-9].
func TestKill9QoS2AndDelayedWill(t *testing.T) {
	bin := test.BuildBroker(t)
	data := filepath.Join(t.TempDir(), "data")
	p1 := startProc(t, bin, data)

	// Persistent subscribers, offline while the exchanges happen.
	sub := connect(t, pahoOpts(p1.addr, "k9-sub").SetCleanSession(false))
	wait(t, sub.Subscribe("k9in/#", 2, nil))
	sub.Disconnect(100)
	watch := mustDial5(t, p1.addr, "k9-watch", func(c *paho.Connect) { persistent(c); c.CleanStart = true })
	watch.sub(t, subOpt("k9will/#", 1))
	watch.Disconnect(&paho.Disconnect{})

	// Delayed will: the device's connection drops; 3 s later its will is due.
	dev := mustDial5(t, p1.addr, "k9-dev", func(c *paho.Connect) {
		c.Properties = &paho.ConnectProperties{SessionExpiryInterval: u32(60)}
		c.WillMessage = &paho.WillMessage{Topic: "k9will/dev", QoS: 1, Payload: []byte("gone")}
		c.WillProperties = &paho.WillProperties{WillDelayInterval: u32(3)}
	})
	dev.conn.Close()
	p1.waitLog(t, "connection closed", "client_id=k9-dev")
	droppedAt := time.Now()

	// Outbound QoS 2: PUBREL from the broker swallowed.
	var outMu sync.Mutex
	outGot := map[string]int{}
	outS := &sniffer{}
	outS.addr.Store(p1.addr)
	outS.drop.Store(6) // PUBREL
	out := resumingClient(t, outS, "k9-out", func(_ paho3.Client, m paho3.Message) {
		outMu.Lock()
		outGot[string(m.Payload())]++
		outMu.Unlock()
	})
	wait(t, out.Subscribe("k9out/#", 2, nil))
	pub := connect(t, pahoOpts(p1.addr, "k9-outpub"))
	wait(t, pub.Publish("k9out/x", 2, false, "hand-over"))
	test.WaitFor(t, 10*time.Second, "PUBREL swallowed", func() bool { _, ok := outS.firstDropped(6); return ok })
	relID, _ := outS.firstDropped(6)

	// Inbound QoS 2: PUBREC to the publisher swallowed.
	inS := &sniffer{}
	inS.addr.Store(p1.addr)
	inS.drop.Store(5) // PUBREC
	in := resumingClient(t, inS, "k9-in", nil)
	inTok := in.Publish("k9in/x", 2, false, "exactly-once")
	test.WaitFor(t, 10*time.Second, "PUBREC swallowed", func() bool { _, ok := inS.firstDropped(5); return ok })

	p1.kill()
	mark := outS.mark()
	if time.Since(droppedAt) > 3*time.Second {
		t.Log("the will delay elapsed before the kill: its timer may have fired already")
	}

	p2 := startProc(t, bin, data)
	inS.drop.Store(0)
	outS.drop.Store(0)
	inS.addr.Store(p2.addr)
	outS.addr.Store(p2.addr)

	// Inbound: the resumed PUBLISH (DUP) completes with PUBREC/PUBCOMP.
	if !inTok.WaitTimeout(20*time.Second) || inTok.Error() != nil {
		t.Fatalf("resumed QoS 2 publish: %v", inTok.Error())
	}
	var inMu sync.Mutex
	inGot := 0
	o := pahoOpts(p2.addr, "k9-sub").SetCleanSession(false)
	o.SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
		inMu.Lock()
		inGot++
		inMu.Unlock()
	})
	connect(t, o)

	// Outbound: PUBREL comes again for the same packet id.
	test.WaitFor(t, 20*time.Second, "PUBREL resent after the restart", func() bool { return outS.count(6, relID, false) > 0 })
	if outS.countSince(mark, 3) > 0 {
		t.Fatalf("the subscriber got the QoS 2 message again after the restart instead of PUBREL (PUBREL id %d); packets since the kill: %v",
			relID, outS.since(mark))
	}

	test.WaitFor(t, 10*time.Second, "inbound QoS 2 message delivered", func() bool {
		inMu.Lock()
		defer inMu.Unlock()
		return inGot > 0
	})
	time.Sleep(500 * time.Millisecond) // a duplicate would be queued right behind it: give it time to show
	inMu.Lock()
	defer inMu.Unlock()
	if inGot != 1 {
		t.Fatalf("inbound QoS 2 message delivered %d times, want exactly once", inGot)
	}
	outMu.Lock()
	defer outMu.Unlock()
	if outGot["hand-over"] != 1 {
		t.Fatalf("outbound QoS 2 message delivered %d times, want exactly once", outGot["hand-over"])
	}
	if n := outS.countSince(mark, 3); n > 0 {
		t.Fatalf("%d PUBLISH sent to the subscriber after the restart, want only PUBREL: %v", n, outS.since(mark))
	}

	// The will: published after its delay, into the watcher's session.
	w2 := mustDial5(t, p2.addr, "k9-watch", persistent)
	if m := w2.next(t); m.Topic != "k9will/dev" || string(m.Payload) != "gone" {
		t.Fatalf("will: %q %q", m.Topic, m.Payload)
	}
	t.Logf("will arrived %v after the connection dropped", time.Since(droppedAt).Round(time.Millisecond))
	w2.none(t, 100*time.Millisecond)
}
