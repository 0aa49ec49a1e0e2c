// Package h1 is a lean HTTP/1.1 server for the AWS listener's hot path.
//
// net/http costs each request a header map built through textproto, a
// goroutine that watches the connection while the handler runs, a
// chunking response writer and several small allocations; at tens of
// thousands of small SQS requests a second that is a tenth of the broker's
// CPU. This server parses the request head in its own buffer, builds the
// *http.Request a handler expects with one string for every header value,
// buffers the response and writes head and body with one write.
//
// It serves only the plain shape every AWS SDK and the CLI send: HTTP/1.0
// or 1.1, origin-form target, a Content-Length body or none, no
// Transfer-Encoding, Expect or Upgrade. A connection whose request is
// anything else (or malformed) is handed, with the bytes already read, to
// Fallback, a net/http server with the same handler, which serves (or
// refuses) it from then on exactly as before. TLS listeners keep using
// net/http only.
//
// As net/http does, the request context is cancelled when the client goes
// away during a long request (a long poll): a read is started on the
// connection once a handler has run for longer than watchAfter.
package h1

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

const (
	readBufSize    = 8 << 10  // grows for a larger head; shrinks back when idle
	keepBufSize    = 64 << 10 // buffers above this are not kept between requests
	maxHeaderBytes = 1 << 20  // as net/http's DefaultMaxHeaderBytes
	watchAfter     = 50 * time.Millisecond
)

// Server is the fast path; Fallback (required) serves what it does not.
type Server struct {
	Handler           http.Handler
	Fallback          *http.Server
	ReadHeaderTimeout time.Duration // time to read a request head once its first byte arrived
	Logger            *slog.Logger

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	closing  atomic.Bool
	handoff  *chanListener
	fbDone   chan struct{}
	baseCtx  context.Context
	cancel   context.CancelFunc
	drained  chan struct{} // closed when conns empties during Shutdown
	shutdown bool
}

// Serve accepts connections on ln until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.ln = ln
	s.conns = map[*conn]struct{}{}
	s.handoff = newChanListener(ln.Addr())
	s.fbDone = make(chan struct{})
	// Handlers find "their" http.Server in the context as with net/http
	// (for RegisterOnShutdown hooks): the fallback, which Shutdown shuts
	// down first.
	s.baseCtx, s.cancel = context.WithCancel(context.WithValue(context.Background(), http.ServerContextKey, s.Fallback))
	if s.Logger == nil {
		s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.mu.Unlock()
	go func() {
		defer close(s.fbDone)
		if err := s.Fallback.Serve(s.handoff); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.Logger.Warn("http fallback server", "err", err)
		}
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := &conn{s: s, nc: nc, buf: make([]byte, 0, readBufSize)}
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.serve()
	}
}

// Shutdown stops accepting, closes idle connections, lets requests in
// progress finish (until ctx is done, then closes what is left) and shuts
// the fallback server down.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	s.closing.Store(true)
	ln := s.ln
	s.drained = make(chan struct{})
	if len(s.conns) == 0 {
		close(s.drained)
	}
	for c := range s.conns {
		if c.idle.Load() {
			c.nc.Close()
		}
	}
	drained := s.drained
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	// The fallback's shutdown runs its RegisterOnShutdown hooks at once
	// (ending long polls on every connection), then drains its own.
	fb := make(chan error, 1)
	if s.handoff != nil {
		s.handoff.Close()
		go func() { fb <- s.Fallback.Shutdown(ctx) }()
	} else {
		fb <- nil
	}
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		s.closeConns()
	}
	if ferr := <-fb; ferr != nil && err == nil {
		err = ferr
	}
	if s.fbDone != nil {
		<-s.fbDone
	}
	if s.cancel != nil {
		s.cancel()
	}
	return err
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.shutdown = true
	s.closing.Store(true)
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	s.closeConns()
	if s.handoff != nil {
		s.handoff.Close()
		s.Fallback.Close()
	}
	if s.cancel != nil {
		s.cancel()
	}
	return nil
}

func (s *Server) closeConns() {
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.shutdown && len(s.conns) == 0 && s.drained != nil {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
	s.mu.Unlock()
}

// replayConn is a connection handed to the fallback: it first returns the
// bytes the fast path had read.
type replayConn struct {
	net.Conn
	pending []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

// chanListener feeds handed-off connections to the fallback server.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) give(c net.Conn) error {
	select {
	case l.ch <- c:
		return nil
	case <-l.done:
		return net.ErrClosed
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
