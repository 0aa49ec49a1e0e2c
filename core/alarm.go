package core

import (
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory alarm: a memory high watermark. Publishers are blocked (front
// doors stop reading from publishing connections and tell clients whose
// protocol can say so) while the process's Go heap is above the limit,
// and unblocked when it falls below 90% of it.

type alarm struct {
	mu      sync.Mutex
	limit   uint64
	blocked bool
	subs    map[int]func(bool)
	next    int
	stop    chan struct{}
}

// MemoryBlocked reports whether publishers should be blocked now.
func (b *Broker) MemoryBlocked() bool {
	b.alarm.mu.Lock()
	defer b.alarm.mu.Unlock()
	return b.alarm.blocked
}

// OnMemoryAlarm calls fn(true) when the memory alarm goes off and fn(false)
// when it clears (and once at once if it is already on). It returns a
// function that unsubscribes. fn runs on the monitor goroutine and must
// not block.
func (b *Broker) OnMemoryAlarm(fn func(blocked bool)) (cancel func()) {
	a := &b.alarm
	a.mu.Lock()
	id := a.next
	a.next++
	a.subs[id] = fn
	on := a.blocked
	a.mu.Unlock()
	if on {
		fn(true)
	}
	return func() {
		a.mu.Lock()
		delete(a.subs, id)
		a.mu.Unlock()
	}
}

// SetMemoryLimit changes the heap limit in bytes (0 = off) and re-checks.
func (b *Broker) SetMemoryLimit(limit uint64) {
	b.alarm.mu.Lock()
	b.alarm.limit = limit
	b.alarm.mu.Unlock()
	b.checkMemory()
}

func (b *Broker) startAlarm(fraction float64) {
	b.alarm.subs = map[int]func(bool){}
	b.alarm.stop = make(chan struct{})
	if fraction > 0 {
		if total := PhysicalMemory(); total > 0 {
			b.alarm.limit = uint64(float64(total) * fraction)
		}
	}
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-b.alarm.stop:
				return
			case <-t.C:
				b.checkMemory()
			}
		}
	}()
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

func (b *Broker) checkMemory() {
	a := &b.alarm
	a.mu.Lock()
	limit := a.limit
	a.mu.Unlock()
	var used uint64
	if limit > 0 {
		s := make([]metrics.Sample, 1)
		s[0].Name = heapSample[0].Name
		metrics.Read(s)
		if s[0].Value.Kind() == metrics.KindUint64 {
			used = s[0].Value.Uint64()
		}
	}
	a.mu.Lock()
	was := a.blocked
	switch {
	case limit > 0 && used > limit:
		a.blocked = true
	case limit == 0 || used < limit/10*9:
		a.blocked = false
	}
	now := a.blocked
	var subs []func(bool)
	if now != was {
		for _, fn := range a.subs {
			subs = append(subs, fn)
		}
	}
	a.mu.Unlock()
	if now != was {
		b.log.Warn("memory alarm", "blocked", now, "heap_bytes", used, "limit_bytes", limit)
	}
	for _, fn := range subs {
		fn(now)
	}
}

// PhysicalMemory reads MemTotal from /proc/meminfo (0 when unknown).
func PhysicalMemory() uint64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
