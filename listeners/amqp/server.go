package amqp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners"
)

// Options configure the AMQP front door. Zero values take the defaults
// noted on each field.
type Options struct {
	Broker *core.Broker
	Logger *slog.Logger
	// Version is reported in the server properties.
	Version string
	// FrameMax is the largest frame the server proposes (default 131072,
	// RabbitMQ's; at least 4096).
	FrameMax int
	// ChannelMax is the highest channel number (default 2047).
	ChannelMax int
	// Heartbeat is the proposed heartbeat interval (default 60s; negative
	// proposes none).
	Heartbeat time.Duration
	// MaxMessageBytes bounds a message body (default 128 MiB, RabbitMQ's).
	MaxMessageBytes int
	// HandshakeTimeout bounds the time from accept to connection.open (default 10s).
	HandshakeTimeout time.Duration
	// WriteSoftLimit pauses deliveries when this many bytes wait to be
	// written (default 1 MiB); WriteHardLimit stops reading the socket
	// (default 8 MiB).
	WriteSoftLimit, WriteHardLimit int
	// WriteTimeout closes a peer that does not read for this long, as a
	// slow consumer (default 30s, and at least two heartbeat intervals).
	WriteTimeout time.Duration
}

// Server is the AMQP 0-9-1 listeners.ConnHandler.
type Server struct {
	o     Options
	b     *core.Broker
	log   *slog.Logger
	conns atomic.Int64
	seq   atomic.Uint64

	closes listeners.CloseCounts
}

// ClosedCount is how many connections ended with reason.
func (s *Server) ClosedCount(reason listeners.CloseReason) uint64 { return s.closes.Closes()[reason] }

// CloseCounts returns how many connections ended for each reason.
func (s *Server) CloseCounts() map[listeners.CloseReason]uint64 { return s.closes.Closes() }

var _ listeners.ConnHandler = (*Server)(nil)

// New returns a Server.
func New(o Options) *Server {
	if o.FrameMax <= 0 {
		o.FrameMax = 131072
	}
	o.FrameMax = max(o.FrameMax, 4096)
	if o.ChannelMax <= 0 || o.ChannelMax > 65535 {
		o.ChannelMax = 2047
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 60 * time.Second
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 128 << 20
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.WriteSoftLimit <= 0 {
		o.WriteSoftLimit = 1 << 20
	}
	if o.WriteHardLimit <= o.WriteSoftLimit {
		o.WriteHardLimit = 8 * o.WriteSoftLimit
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.Version == "" {
		o.Version = "0.0.0"
	}
	return &Server{o: o, b: o.Broker, log: o.Logger}
}

// Connections is the number of open AMQP connections.
func (s *Server) Connections() int64 { return s.conns.Load() }

// ServeConn runs one connection until it ends; see listeners.ConnHandler.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	s.conns.Add(1)
	defer s.conns.Add(-1)
	c := newConn(s, nc)
	c.serve(ctx)
}

// randomName returns prefix + 22 url-safe random characters, as RabbitMQ
// does for amq.gen-* queues and amq.ctag-* consumer tags.
func randomName(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}
