package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// MQTT scenarios (MQTT 3.1.1 over TCP with eclipse/paho.mqtt.golang; run
// the same command against mosquitto for a side-by-side figure):
//
//	loadgen -scenario mqtt-qos0 -addr 127.0.0.1:1883 -duration 10s
//	loadgen -scenario mqtt-qos1 -addr 127.0.0.1:1883 -extra persistent   (durable subscriber sessions)
//	loadgen -scenario mqtt-fanin -addr 127.0.0.1:1883 -producers 1000
//	loadgen -scenario mqtt-fanout -addr 127.0.0.1:1883 -fanout 100
//	loadgen -scenario mqtt-idle -addr 127.0.0.1:1883 -conns 100000 -extra pid=1234
func init() {
	register(Scenario{Name: "mqtt-qos0", About: "MQTT QoS 0, -producers -> -consumers on one topic", Run: func(ctx context.Context, p Params) (*Result, error) {
		return mqttFlow(ctx, p, 0, max(p.Producers, 1), max(p.Consumers, 1), false)
	}})
	register(Scenario{Name: "mqtt-qos1", About: "MQTT QoS 1, -producers -> -consumers on one topic (-extra persistent: durable subscriber sessions)", Run: func(ctx context.Context, p Params) (*Result, error) {
		return mqttFlow(ctx, p, 1, max(p.Producers, 1), max(p.Consumers, 1), false)
	}})
	register(Scenario{Name: "mqtt-fanin", About: "MQTT -producers (default 1000) publishers -> 1 wildcard subscriber (QoS -extra qos=N, default 1)", Run: func(ctx context.Context, p Params) (*Result, error) {
		n := p.Producers
		if n <= 1 {
			n = 1000
		}
		return mqttFlow(ctx, p, extraQoS(p, 1), n, 1, true)
	}})
	register(Scenario{Name: "mqtt-fanout", About: "MQTT 1 publisher -> -fanout subscribers (QoS -extra qos=N, default 1)", Run: func(ctx context.Context, p Params) (*Result, error) {
		return mqttFlow(ctx, p, extraQoS(p, 1), 1, max(p.Fanout, 1), false)
	}})
	register(Scenario{Name: "mqtt-idle", About: "open -conns idle MQTT connections over 127.0.0.x sources; -extra pid=N reports that process's RSS", Run: mqttIdle})
}

func extraQoS(p Params, def byte) byte {
	for _, kv := range strings.Split(p.Extra, ",") {
		if v, ok := strings.CutPrefix(kv, "qos="); ok && len(v) == 1 && v[0] >= '0' && v[0] <= '2' {
			return v[0] - '0'
		}
	}
	return def
}

func extraFlag(p Params, name string) bool {
	for _, kv := range strings.Split(p.Extra, ",") {
		if kv == name {
			return true
		}
	}
	return false
}

func mqttClient(p Params, id string) (paho.Client, error) { return mqttClientSession(p, id, true) }

// mqttClientSession connects; clean=false gives a persistent session (a
// durable queue on omnibroker: QoS 1 messages are stored before PUBACK).
func mqttClientSession(p Params, id string, clean bool) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker("tcp://" + p.Addr).SetClientID(id).SetUsername(p.User).SetPassword(p.Pass).
		SetAutoReconnect(false).SetCleanSession(clean).SetConnectTimeout(30 * time.Second).SetKeepAlive(60 * time.Second).
		SetMaxResumePubInFlight(1000).SetWriteTimeout(30 * time.Second)
	c := paho.NewClient(o)
	t := c.Connect()
	if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("connect %s: %v", id, t.Error())
	}
	return c, nil
}

// mqttFlow runs producers publishing to topic(s) and consumers counting
// and timing what arrives. Each payload starts with its send time.
func mqttFlow(ctx context.Context, p Params, qos byte, producers, consumers int, fanin bool) (*Result, error) {
	size := max(p.Size, 8)
	run := fmt.Sprintf("lg%d", time.Now().UnixNano()%1e6)
	topic := run + "/t"
	filter := topic
	if fanin {
		filter = run + "/+"
	}
	res := &Result{Lat: &Latencies{}}
	var received atomic.Int64
	var subs []paho.Client
	defer func() {
		for _, c := range subs {
			c.Disconnect(100)
		}
	}()
	persistent := extraFlag(p, "persistent")
	for i := 0; i < consumers; i++ {
		id := fmt.Sprintf("%s-sub-%d", run, i)
		c, err := mqttClientSession(p, id, !persistent)
		if err != nil {
			return nil, err
		}
		if persistent {
			// End the persistent session afterwards: reconnect clean.
			defer func() {
				if c, err := mqttClientSession(p, id, true); err == nil {
					c.Disconnect(100)
				}
			}()
		}
		subs = append(subs, c)
		t := c.Subscribe(filter, qos, func(_ paho.Client, m paho.Message) {
			b := m.Payload()
			if len(b) >= 8 {
				sent := int64(binary.BigEndian.Uint64(b))
				res.Lat.Add(time.Duration(time.Now().UnixNano() - sent))
			}
			received.Add(1)
		})
		if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
			return nil, fmt.Errorf("subscribe: %v", t.Error())
		}
	}
	pubs := make([]paho.Client, producers)
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for i := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := mqttClient(p, fmt.Sprintf("%s-pub-%d", run, i))
			if err != nil {
				errs <- err
				return
			}
			pubs[i] = c
		}()
		if i%200 == 199 {
			wg.Wait()
		}
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	defer func() {
		for _, c := range pubs {
			c.Disconnect(100)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, p.Duration)
	defer cancel()
	var sent atomic.Int64
	start := time.Now()
	for i, c := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := topic
			if fanin {
				t = fmt.Sprintf("%s/%d", run, i)
			}
			window := make(chan paho.Token, 256) // QoS 1 publishes in flight
			done := make(chan struct{})
			go func() {
				for tok := range window {
					tok.Wait()
				}
				close(done)
			}()
			var tick *time.Ticker
			if p.Rate > 0 {
				tick = time.NewTicker(time.Second / time.Duration(p.Rate))
				defer tick.Stop()
			}
			for ctx.Err() == nil {
				if tick != nil {
					select {
					case <-tick.C:
					case <-ctx.Done():
					}
				}
				body := make([]byte, size)
				binary.BigEndian.PutUint64(body, uint64(time.Now().UnixNano()))
				tok := c.Publish(t, qos, false, body)
				sent.Add(1)
				if qos > 0 {
					window <- tok
				} else if sent.Load()%1000 == 0 {
					tok.Wait()
				}
			}
			close(window)
			<-done
		}()
	}
	wg.Wait()
	want := sent.Load() * int64(consumers)
	drain := time.Now().Add(10 * time.Second)
	for received.Load() < want && time.Now().Before(drain) {
		time.Sleep(10 * time.Millisecond)
	}
	res.Elapsed = time.Since(start)
	res.Sent, res.Received = sent.Load(), received.Load()
	res.Notes = fmt.Sprintf("qos=%d producers=%d consumers=%d persistent=%v expected=%d", qos, producers, consumers, persistent, want)
	return res, nil
}

// mqttIdle opens p.Conns raw MQTT 3.1.1 connections (keep-alive 0, so
// they stay silent) spread over 127.0.0.1-127.0.0.250 source addresses.
func mqttIdle(ctx context.Context, p Params) (*Result, error) {
	host, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		return nil, err
	}
	_ = host
	start := time.Now()
	conns := make([]net.Conn, 0, p.Conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, 64)
	for i := 0; i < p.Conns && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%250))}
			d := net.Dialer{LocalAddr: src, Timeout: 30 * time.Second}
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
			if err != nil {
				failed.Add(1)
				return
			}
			if err := rawConnect(c, fmt.Sprintf("idle-%d", i), p.User, p.Pass); err != nil {
				c.Close()
				failed.Add(1)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	opened := time.Since(start)
	rss := ""
	for _, kv := range strings.Split(p.Extra, ",") {
		if pid, ok := strings.CutPrefix(kv, "pid="); ok {
			if kb := procRSSKB(pid); kb > 0 && len(conns) > 0 {
				rss = fmt.Sprintf(" broker_rss=%.0fMiB rss_per_conn=%.1fKiB", float64(kb)/1024, float64(kb)/float64(len(conns)))
			}
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(p.Duration):
	}
	return &Result{Sent: int64(len(conns)), Elapsed: opened,
		Notes: fmt.Sprintf("open=%d failed=%d open_time=%v%s", len(conns), failed.Load(), opened.Round(time.Millisecond), rss)}, nil
}

func rawConnect(c net.Conn, id, user, pass string) error {
	var vh []byte
	vh = append(vh, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xC2, 0, 0) // clean, user, password, keep-alive 0
	str := func(s string) { vh = append(vh, byte(len(s)>>8), byte(len(s))); vh = append(vh, s...) }
	str(id)
	str(user)
	str(pass)
	pkt := []byte{0x10}
	n := len(vh)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if n == 0 {
			break
		}
	}
	pkt = append(pkt, vh...)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(pkt); err != nil {
		return err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil {
		return err
	}
	c.SetDeadline(time.Time{})
	if ack[0] != 0x20 || ack[3] != 0 {
		return fmt.Errorf("connack % x", ack)
	}
	return nil
}

func procRSSKB(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb
		}
	}
	return 0
}
