package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-stomp/stomp/v3"

	"github.com/omnibroker/broker/listeners/stomp/frame"
)

// STOMP scenarios (STOMP 1.2 over TCP; the same commands run against
// ActiveMQ Classic or RabbitMQ's STOMP plugin on port 61613):
//
//	loadgen -scenario stomp-queue -addr 127.0.0.1:61613 -duration 10s -size 256
//	loadgen -scenario stomp-fanout -addr 127.0.0.1:61613 -fanout 10 -size 256
//
// stomp-queue: -producers pipelined publishers send persistent:true SENDs,
// each with a receipt (a window of -extra window=N outstanding receipts,
// default 256; a receipt means stored), to one queue; -consumers
// go-stomp consumers in client-individual mode ACK every message.
// Latency is send -> receive. stomp-fanout: one publisher sends to
// /topic/K, -fanout auto-ack subscribers each receive every message.
func init() {
	register(Scenario{Name: "stomp-queue", About: "STOMP persistent SEND with receipts -> client-individual consumers on /queue/Q", Run: stompQueue})
	register(Scenario{Name: "stomp-fanout", About: "STOMP 1 publisher -> -fanout subscribers on /topic/K", Run: stompFanout})
}

func stompWindow(p Params) int {
	var n int
	if _, err := fmt.Sscanf(p.Extra, "window=%d", &n); err == nil && n > 0 {
		return n
	}
	return 256
}

func stompDial(p Params) (*stomp.Conn, error) {
	return stomp.Dial("tcp", p.Addr, stomp.ConnOpt.Login(p.User, p.Pass), stomp.ConnOpt.AcceptVersion(stomp.V12),
		stomp.ConnOpt.Host("/"), stomp.ConnOpt.HeartBeat(0, 0), stomp.ConnOpt.ReadChannelCapacity(4096),
		// Above the prefetch window: go-stomp deadlocks when ACKs fill its write
		// channel while its reader waits for the application.
		stomp.ConnOpt.WriteChannelCapacity(4096))
}

// stompBody is size bytes starting with the send time in nanoseconds.
func stompBody(size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, uint64(time.Now().UnixNano()))
	return b
}

func stompLatency(b []byte) time.Duration {
	if len(b) < 8 {
		return 0
	}
	return time.Duration(time.Now().UnixNano() - int64(binary.BigEndian.Uint64(b)))
}

// stompProducer pipelines SENDs with receipts over a raw connection (the
// go-stomp client waits for each receipt in turn), keeping up to window
// receipts outstanding.
func stompProducer(ctx context.Context, p Params, dest string, persistent bool, window int, sent *atomic.Int64) error {
	nc, err := net.Dial("tcp", p.Addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	bw := bufio.NewWriterSize(nc, 64<<10)
	r := frame.NewReader(bufio.NewReaderSize(nc, 64<<10), frame.Limits{})
	bw.Write(frame.Append(nil, frame.New(frame.CONNECT, "accept-version", "1.2", "host", "/", "login", p.User, "passcode", p.Pass, "heart-beat", "0,0"), frame.V12))
	bw.Flush()
	if f, err := r.Read(); err != nil || f == nil || f.Command != frame.CONNECTED {
		return fmt.Errorf("connect: %v %v", err, f)
	}
	r.SetVersion(frame.V12)
	credit := make(chan struct{}, window)
	errc := make(chan error, 1)
	go func() {
		for {
			f, err := r.Read()
			if err != nil {
				errc <- err
				return
			}
			if f == nil {
				continue
			}
			if f.Command == frame.ERROR {
				errc <- fmt.Errorf("ERROR %s: %s", f.Get("message"), f.Body)
				return
			}
			if f.Command == frame.RECEIPT {
				sent.Add(1)
				<-credit
			}
		}
	}()
	pers := "false"
	if persistent {
		pers = "true"
	}
	var buf []byte
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case credit <- struct{}{}:
		}
		f := frame.New(frame.SEND, "destination", dest, "persistent", pers, "receipt", strconv.Itoa(i))
		f.Body = stompBody(p.Size)
		buf = frame.Append(buf[:0], f, frame.V12)
		bw.Write(buf)
		if len(credit) == cap(credit) || i%32 == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
}

func stompQueue(ctx context.Context, p Params) (*Result, error) {
	dest := fmt.Sprintf("/queue/lg-%d", time.Now().UnixNano()%1e6)
	res := &Result{Lat: &Latencies{}}
	var received, sent atomic.Int64
	var conns []*stomp.Conn
	defer func() {
		for _, c := range conns {
			c.Disconnect()
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < max(p.Consumers, 1); i++ {
		c, err := stompDial(p)
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
		sub, err := c.Subscribe(dest, stomp.AckClientIndividual, stomp.SubscribeOpt.Header("prefetch-count", "1000"),
			stomp.SubscribeOpt.Header("activemq.prefetchSize", "1000"))
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range sub.C {
				if m.Err != nil {
					return
				}
				res.Lat.Add(stompLatency(m.Body))
				received.Add(1)
				c.Ack(m)
			}
		}()
	}
	rctx, cancel := context.WithTimeout(ctx, p.Duration)
	defer cancel()
	start := time.Now()
	errs := make(chan error, max(p.Producers, 1))
	var pwg sync.WaitGroup
	for i := 0; i < max(p.Producers, 1); i++ {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			if err := stompProducer(rctx, p, dest, true, stompWindow(p), &sent); err != nil {
				errs <- err
			}
		}()
	}
	pwg.Wait()
	res.Elapsed = time.Since(start)
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	// Let consumers drain what was confirmed (bounded).
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < sent.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	res.Sent, res.Received = sent.Load(), received.Load()
	res.Notes = fmt.Sprintf("window=%d persistent=true", stompWindow(p))
	return res, nil
}

func stompFanout(ctx context.Context, p Params) (*Result, error) {
	dest := fmt.Sprintf("/topic/lg.%d", time.Now().UnixNano()%1e6)
	res := &Result{Lat: &Latencies{}}
	var received, sent atomic.Int64
	var conns []*stomp.Conn
	defer func() {
		for _, c := range conns {
			c.Disconnect()
		}
	}()
	n := max(p.Fanout, 1)
	for i := 0; i < n; i++ {
		c, err := stompDial(p)
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
		sub, err := c.Subscribe(dest, stomp.AckAuto)
		if err != nil {
			return nil, err
		}
		go func() {
			for m := range sub.C {
				if m.Err != nil {
					return
				}
				res.Lat.Add(stompLatency(m.Body))
				received.Add(1)
			}
		}()
		// A receipt on the subscriber's connection proves SUBSCRIBE was served.
		if err := c.Send("/queue/lg-sync", "", nil, stomp.SendOpt.Receipt); err != nil {
			return nil, err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, p.Duration)
	defer cancel()
	start := time.Now()
	err := stompProducer(rctx, p, dest, false, stompWindow(p), &sent)
	res.Elapsed = time.Since(start)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < sent.Load()*int64(n) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	res.Sent, res.Received = sent.Load(), received.Load()
	res.Notes = fmt.Sprintf("subscribers=%d per-subscriber=%.0f/s", n, float64(res.Received)/float64(n)/res.Elapsed.Seconds())
	return res, nil
}
