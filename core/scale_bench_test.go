package core

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// BenchmarkTenThousandDurableQueues declares 10,000 durable queues with one
// persistent message each, then restarts, and reports what they cost:
// open files, goroutines, heap, and the restart (recovery) time. Run with
// -benchtime 1x.
func BenchmarkTenThousandDurableQueues(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		fds0, gor0 := countFDs(), runtime.NumGoroutine()
		br, err := Open(Options{DataDir: dir, Logger: discardLog()})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for q := 0; q < n; q++ {
			name := fmt.Sprintf("mqtt-subscription-device-%05d", q)
			if _, err := br.DeclareQueue(QueueConfig{Name: name, Durable: true}); err != nil {
				b.Fatal(err)
			}
		}
		declare := time.Since(start)
		done := make(chan error, n)
		for q := 0; q < n; q++ {
			br.Publish("", fmt.Sprintf("mqtt-subscription-device-%05d", q), &Message{Body: body256, Props: Properties{Persistent: true}}, func(err error) { done <- err })
		}
		for q := 0; q < n; q++ {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(countFDs()-fds0), "fds")
		b.ReportMetric(float64(runtime.NumGoroutine()-gor0), "goroutines")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMB")
		b.ReportMetric(declare.Seconds(), "declare-s")
		br.Close()
		start = time.Now()
		br2, err := Open(Options{DataDir: dir, Logger: discardLog()})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "restart-s")
		if got := len(br2.Queues()); got != n {
			b.Fatalf("recovered %d queues", got)
		}
		info, _ := br2.Queue("mqtt-subscription-device-04242", "")
		if info.Ready != 1 {
			b.Fatalf("recovered message count %d", info.Ready)
		}
		br2.Close()
	}
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}
