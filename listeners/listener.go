package listeners

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// ConnHandler serves one connection until it ends. ctx is cancelled when
// the listener shuts down: the handler then says its protocol's goodbye and
// returns. The handler must close c before returning.
type ConnHandler interface {
	ServeConn(ctx context.Context, c net.Conn)
}

// ConnHandlerFunc adapts a function to ConnHandler.
type ConnHandlerFunc func(ctx context.Context, c net.Conn)

// ServeConn calls f.
func (f ConnHandlerFunc) ServeConn(ctx context.Context, c net.Conn) { f(ctx, c) }

// Config configures a Listener.
type Config struct {
	Name     string // protocol name for logs ("amqp")
	Addr     string
	TLS      *tls.Config // nil = plain TCP
	MaxConns int         // 0 = unlimited
	Logger   *slog.Logger
}

// Listener accepts connections and runs a ConnHandler for each.
type Listener struct {
	cfg    Config
	ln     net.Listener
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	active  atomic.Int64
	total   atomic.Uint64
	refused atomic.Uint64
	closed  atomic.Bool
}

// Listen binds the address. The error names the listener and address.
func Listen(cfg Config) (*Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listeners.%s.addr %s: %w", cfg.Name, cfg.Addr, err)
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Listener{cfg: cfg, ln: ln, log: cfg.Logger.With("proto", cfg.Name), ctx: ctx, cancel: cancel,
		conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the bound address (useful with port 0).
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Active is the number of open connections.
func (l *Listener) Active() int64 { return l.active.Load() }

// Serve runs the accept loop until Shutdown.
func (l *Listener) Serve(h ConnHandler) error {
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				l.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("listeners.%s: accept: %w", l.cfg.Name, err)
		}
		backoff = 0
		if l.cfg.MaxConns > 0 && l.active.Load() >= int64(l.cfg.MaxConns) {
			l.refused.Add(1)
			l.log.Warn("connection refused: limit reached", "remote", c.RemoteAddr().String(), "max_conns", l.cfg.MaxConns)
			c.Close()
			continue
		}
		l.track(c, true)
		l.wg.Add(1)
		go l.serve(h, c)
	}
}

func isTemporary(err error) bool {
	// EMFILE/ENFILE and friends: the accept loop must survive running out of fds.
	type temporary interface{ Temporary() bool }
	var t temporary
	return errors.As(err, &t) && t.Temporary()
}

func (l *Listener) serve(h ConnHandler, c net.Conn) {
	defer l.wg.Done()
	defer l.track(c, false)
	defer func() {
		if r := recover(); r != nil {
			l.log.Error("connection handler panicked; connection closed", "remote", c.RemoteAddr().String(), "reason", "panic", "err", fmt.Sprint(r), "stack", string(debug.Stack()))
			c.Close()
		}
	}()
	h.ServeConn(l.ctx, c)
}

func (l *Listener) track(c net.Conn, add bool) {
	l.mu.Lock()
	if add {
		l.conns[c] = struct{}{}
		l.active.Add(1)
		l.total.Add(1)
	} else {
		delete(l.conns, c)
		l.active.Add(-1)
	}
	l.mu.Unlock()
}

// Shutdown stops accepting, asks every handler to say goodbye (ctx
// cancelled), waits for them until ctx ends, then closes what is left.
// It is idempotent.
func (l *Listener) Shutdown(ctx context.Context) error {
	if l.closed.Swap(true) {
		return nil
	}
	l.ln.Close()
	l.cancel()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	n := len(l.conns)
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.log.Warn("grace period over; closed remaining connections", "count", n)
	<-done
	return nil
}

// CloseReason is the one typed reason a connection ended, for logs and counters.
type CloseReason string

// Close reasons shared by every protocol.
const (
	ReasonClientClosed   CloseReason = "client_closed"    // orderly goodbye from the client
	ReasonEOF            CloseReason = "eof"              // socket closed without goodbye
	ReasonProtocolError  CloseReason = "protocol_error"   // malformed or illegal frame
	ReasonAuthFailed     CloseReason = "auth_failed"      // bad credentials
	ReasonTimeout        CloseReason = "timeout"          // heartbeat / keepalive / handshake timeout
	ReasonShutdown       CloseReason = "server_shutdown"  // broker stopping
	ReasonSlowConsumer   CloseReason = "slow_consumer"    // write queue over its hard limit
	ReasonTakeover       CloseReason = "session_takeover" // same client id connected elsewhere
	ReasonTooLarge       CloseReason = "too_large"        // frame over the negotiated maximum
	ReasonServerError    CloseReason = "server_error"     // internal fault
	ReasonResourceLocked CloseReason = "resource_locked"
)
