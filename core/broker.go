package core

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnibroker/broker/core/engine"
)

// Options configure a Broker.
type Options struct {
	// DataDir holds the store; empty keeps everything in memory.
	DataDir string
	// SyncAlways fsyncs before confirming a durable write.
	SyncAlways bool
	// Logger receives lifecycle and fault logs. Required.
	Logger *slog.Logger
	// Now overrides the clock (tests).
	Now func() time.Time
	// MemoryHighWatermark is the fraction of physical memory the heap may
	// use before publishers are blocked (0 = no alarm).
	MemoryHighWatermark float64
}

// Broker is the router and queue manager shared by every front door.
type Broker struct {
	log *slog.Logger
	eng *engine.Engine
	now func() time.Time

	mu        sync.RWMutex // topology: exchanges, queues, bindings
	exchanges map[string]*exchange
	queues    map[string]*queue

	umu   sync.RWMutex
	users map[string]User

	meta metaCache

	alarm alarm

	leaseSeq atomic.Uint64
	closed   atomic.Bool
	stats    Stats
}

// Stats are broker-wide counters.
type Stats struct {
	Published   atomic.Uint64
	Unroutable  atomic.Uint64
	Delivered   atomic.Uint64
	Acked       atomic.Uint64
	DeadLetters atomic.Uint64
	Expired     atomic.Uint64
	Dropped     atomic.Uint64
}

// Open starts a broker, opening the store in o.DataDir when set and
// recovering durable topology and messages from it.
func Open(o Options) (*Broker, error) {
	if o.Logger == nil {
		return nil, fmt.Errorf("core.Open: Logger is required")
	}
	b := &Broker{
		log:       o.Logger,
		now:       o.Now,
		exchanges: map[string]*exchange{},
		queues:    map[string]*queue{},
		users:     map[string]User{},
	}
	b.meta.m = map[string]map[string][]byte{}
	if b.now == nil {
		b.now = time.Now
	}
	if o.DataDir != "" {
		eng, err := engine.Open(engine.Options{Dir: o.DataDir, SyncAlways: o.SyncAlways, Logger: o.Logger})
		if err != nil {
			return nil, err
		}
		b.eng = eng
		all, err := eng.MetaLoad()
		if err != nil {
			eng.Close()
			return nil, fmt.Errorf("load metadata: %w", err)
		}
		b.meta.m = all
	}
	b.declareDefaults()
	b.loadUsers()
	b.startAlarm(o.MemoryHighWatermark)
	if err := b.recoverTopology(); err != nil {
		b.Close()
		return nil, err
	}
	if b.eng != nil {
		if err := b.recoverMessages(); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

// Close stops every queue and closes the store. Consumers are cancelled.
func (b *Broker) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	if b.alarm.stop != nil {
		close(b.alarm.stop)
	}
	b.mu.Lock()
	qs := make([]*queue, 0, len(b.queues))
	for _, q := range b.queues {
		qs = append(qs, q)
	}
	b.mu.Unlock()
	for _, q := range qs {
		q.stop()
	}
	if b.eng != nil {
		return b.eng.Close()
	}
	return nil
}

// Stats returns the broker's counters.
func (b *Broker) Stats() *Stats { return &b.stats }

// Durable reports whether the broker has a store.
func (b *Broker) Durable() bool { return b.eng != nil }

func (b *Broker) declareDefaults() {
	for _, e := range []ExchangeConfig{
		{Name: "", Kind: KindDirect, Durable: true},
		{Name: "amq.direct", Kind: KindDirect, Durable: true},
		{Name: "amq.fanout", Kind: KindFanout, Durable: true},
		{Name: "amq.topic", Kind: KindTopic, Durable: true},
		{Name: "amq.headers", Kind: KindHeaders, Durable: true},
		{Name: "amq.match", Kind: KindHeaders, Durable: true},
	} {
		b.exchanges[e.Name] = newExchange(e)
	}
}
