package stomp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/omnibroker/broker/core"
)

// Options configure a Server.
type Options struct {
	Broker *core.Broker
	Logger *slog.Logger
	// ServerName is sent in CONNECTED's server header.
	ServerName string
	// MaxFrameBytes bounds a frame's command and headers and, with
	// MaxMessageBytes, its body.
	MaxFrameBytes   int
	MaxMessageBytes int
	// DefaultDestination is "queue" or "topic": the kind of a destination
	// without a /queue/, /topic/... prefix (ActiveMQ: queue).
	DefaultDestination string
	// HeartBeat is the shortest heart-beat interval the server sends or
	// expects (the floor of the negotiation); default 1s.
	HeartBeat time.Duration
	// ConnectTimeout bounds the wait for CONNECT; default 10s.
	ConnectTimeout time.Duration
	// Prefetch is the unacked window of client and client-individual
	// subscriptions without a prefetch-count header; default 1000.
	Prefetch int
	// WriteQueueBytes is the soft limit of a connection's outbound queue:
	// past it deliveries pause; default 1 MiB.
	WriteQueueBytes int
}

// Server serves STOMP connections (listeners.ConnHandler).
type Server struct {
	o      Options
	log    *slog.Logger
	b      *core.Broker
	nextID atomic.Uint64
	boot   string
	stats  Stats

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a Server.
func New(o Options) (*Server, error) {
	if o.Broker == nil || o.Logger == nil {
		return nil, fmt.Errorf("stomp: Broker and Logger are required")
	}
	if o.ServerName == "" {
		o.ServerName = "omnibroker"
	}
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = 4 << 20
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 4 << 20
	}
	if o.DefaultDestination == "" {
		o.DefaultDestination = "queue"
	}
	if o.HeartBeat <= 0 {
		o.HeartBeat = time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 1000
	}
	if o.WriteQueueBytes <= 0 {
		o.WriteQueueBytes = 1 << 20
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{o: o, log: o.Logger, b: o.Broker, boot: core.NewID()[:8], conns: map[*conn]struct{}{}, ctx: ctx, cancel: cancel}, nil
}

// ServeConn serves one connection until it ends; it closes c. ctx (or
// Shutdown) ending makes the server send an ERROR frame and close.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	c := s.newConn(nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	stop1 := context.AfterFunc(ctx, c.shutdown)
	stop2 := context.AfterFunc(s.ctx, c.shutdown)
	defer stop1()
	defer stop2()
	c.serve()
}

// Shutdown asks every connection (including WebSocket ones, which no TCP
// listener tracks) to say goodbye, and waits for them until ctx ends.
// It is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	<-done
	return nil
}
