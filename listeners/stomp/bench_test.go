package stomp

import (
	"bufio"
	"context"
	"net"
	"testing"

	"github.com/omnibroker/broker/listeners/stomp/frame"
)

// BenchmarkQueueRoundTrip: one connection SENDs (pipelined, no receipts) to
// a queue it consumes in client-individual mode and ACKs: the adapter's
// per-message cost on both paths, over loopback TCP, in-memory core.
func BenchmarkQueueRoundTrip(b *testing.B) {
	s := newTestServer(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.ServeConn(context.Background(), c)
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	bw := bufio.NewWriter(nc)
	r := frame.NewReader(nc, frame.Limits{})
	bw.WriteString("CONNECT\naccept-version:1.2\n\n\x00SUBSCRIBE\nid:1\ndestination:/queue/bench\nack:client-individual\nprefetch-count:1000\n\n\x00")
	bw.Flush()
	r.SetVersion(frame.V12)
	body := make([]byte, 256)
	send := frame.Append(nil, &frame.Frame{Command: frame.SEND, Headers: []frame.Header{{Name: "destination", Value: "/queue/bench"}, {Name: "x-app", Value: "1"}}, Body: body}, frame.V12)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ackBuf []byte
		for got := 0; got < b.N; {
			f, err := r.Read()
			if err != nil {
				b.Error(err)
				return
			}
			if f == nil || f.Command != frame.MESSAGE {
				continue
			}
			got++
			ackBuf = append(ackBuf, "ACK\nid:"...)
			ackBuf = append(ackBuf, f.Get("ack")...)
			ackBuf = append(ackBuf, "\n\n\x00"...)
			if got%64 == 0 || got == b.N {
				nc.Write(ackBuf)
				ackBuf = ackBuf[:0]
			}
		}
	}()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bw.Write(send)
	}
	bw.Flush()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
