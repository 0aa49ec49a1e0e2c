// Command loadgen drives a running broker (or a peer such as RabbitMQ,
// mosquitto or ActiveMQ on the same ports) over real protocol clients and
// reports throughput and latency percentiles.
//
//	loadgen -list
//	loadgen -scenario amqp-confirm -addr 127.0.0.1:5672 -duration 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"sync"
	"time"
)

// Params are the common knobs of every scenario.
type Params struct {
	Addr      string
	User      string
	Pass      string
	Size      int
	Duration  time.Duration
	Producers int
	Consumers int
	Fanout    int
	Conns     int
	Rate      int // messages per second per producer; 0 = as fast as possible
	Extra     string
}

// Scenario runs one load shape and returns its result.
type Scenario struct {
	Name  string
	About string
	Run   func(ctx context.Context, p Params) (*Result, error)
}

var (
	regMu     sync.Mutex
	scenarios = map[string]Scenario{}
)

// register adds a scenario; each protocol's file calls it from init.
func register(s Scenario) {
	regMu.Lock()
	defer regMu.Unlock()
	scenarios[s.Name] = s
}

// Result is what a scenario measured.
type Result struct {
	Sent, Received int64
	Elapsed        time.Duration
	Lat            *Latencies
	Notes          string
}

// Latencies collects samples (in microseconds) safely from many goroutines.
type Latencies struct {
	mu sync.Mutex
	us []int64
}

// Add records one latency.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.us = append(l.us, d.Microseconds())
	l.mu.Unlock()
}

// Pct returns the p-th percentile (0..100).
func (l *Latencies) Pct(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.us) == 0 {
		return 0
	}
	sort.Slice(l.us, func(i, j int) bool { return l.us[i] < l.us[j] })
	i := int(float64(len(l.us)-1) * p / 100)
	return time.Duration(l.us[i]) * time.Microsecond
}

func main() {
	var p Params
	name := flag.String("scenario", "", "scenario to run (see -list)")
	list := flag.Bool("list", false, "list scenarios")
	flag.StringVar(&p.Addr, "addr", "", "broker address (host:port or URL)")
	flag.StringVar(&p.User, "user", "guest", "user name")
	flag.StringVar(&p.Pass, "pass", "guest", "password")
	flag.IntVar(&p.Size, "size", 256, "message size in bytes")
	flag.DurationVar(&p.Duration, "duration", 10*time.Second, "how long to run")
	flag.IntVar(&p.Producers, "producers", 1, "publishers")
	flag.IntVar(&p.Consumers, "consumers", 1, "consumers")
	flag.IntVar(&p.Fanout, "fanout", 10, "queues or subscribers in fan-out scenarios")
	flag.IntVar(&p.Conns, "conns", 1000, "connections in connection-scale scenarios")
	flag.IntVar(&p.Rate, "rate", 0, "messages/s per producer (0 = unthrottled)")
	flag.StringVar(&p.Extra, "extra", "", "scenario-specific option")
	cpuprofile := flag.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
	flag.Parse()
	if *list || *name == "" {
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Printf("%-28s %s\n", n, scenarios[n].About)
		}
		return
	}
	s, ok := scenarios[*name]
	if !ok {
		fmt.Fprintf(os.Stderr, "loadgen: unknown scenario %q (try -list)\n", *name)
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := s.Run(ctx, p)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %s: %v\n", *name, err)
		os.Exit(1)
	}
	secs := r.Elapsed.Seconds()
	fmt.Printf("scenario=%s size=%d elapsed=%.1fs sent=%d (%.0f/s) received=%d (%.0f/s)",
		*name, p.Size, secs, r.Sent, float64(r.Sent)/secs, r.Received, float64(r.Received)/secs)
	if r.Lat != nil {
		fmt.Printf(" p50=%v p99=%v p999=%v", r.Lat.Pct(50), r.Lat.Pct(99), r.Lat.Pct(99.9))
	}
	if r.Notes != "" {
		fmt.Printf(" %s", r.Notes)
	}
	fmt.Println()
}
