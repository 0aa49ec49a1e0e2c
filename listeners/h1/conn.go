package h1

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one client connection served by the fast path.
type conn struct {
	s      *Server
	nc     net.Conn
	buf    []byte // unread input is buf[r:]
	r      int
	idle   atomic.Bool // waiting for a request with nothing buffered
	out    []byte      // response head being written
	hdr    http.Header // reused response header map
	w      response    // reused response
	remote string      // RemoteAddr of every request

	// bodyDone: the current request's body has been read (a watch read
	// must not race the handler's body reads).
	bodyDone atomic.Bool

	// watch: a read started on nc while a handler runs long, to notice the
	// client going away (as net/http's background read).
	watchMu  sync.Mutex
	watchOn  bool
	watchEnd chan struct{}
	watchB   [1]byte
	watchN   int
	watchErr error
	cancel   context.CancelFunc
	timer    *time.Timer

	ctx       context.Context // parent of the requests' contexts
	ctxCancel context.CancelFunc
}

func (c *conn) serve() {
	handedOff := false
	defer func() {
		if p := recover(); p != nil {
			c.s.Logger.Error("http handler panic", "panic", p, "remote", c.nc.RemoteAddr().String())
		}
		if !handedOff {
			c.nc.Close()
		}
		if c.timer != nil {
			c.timer.Stop()
		}
		if c.ctxCancel != nil {
			c.ctxCancel()
		}
		c.s.forget(c)
	}()
	for {
		head, ok, err := c.readHead()
		if err != nil {
			return
		}
		if !ok {
			handedOff = true
			c.handOff()
			return
		}
		var req http.Request // WithContext in serveOne copies it: it stays on the stack
		keep, simple := c.parse(head, &req)
		if !simple {
			handedOff = true
			c.handOff()
			return
		}
		if !c.serveOne(&req, keep) || !keep || c.s.closing.Load() {
			return
		}
	}
}

// readHead returns the request head (through the blank line) at c.buf[c.r:]
// without consuming it. ok is false when the head is too large to buffer
// (the fallback answers 431).
func (c *conn) readHead() (head []byte, ok bool, err error) {
	deadline := false
	defer func() {
		if deadline {
			c.nc.SetReadDeadline(time.Time{})
		}
	}()
	for {
		if c.r < len(c.buf) {
			c.idle.Store(false)
			if i := bytes.Index(c.buf[c.r:], crlfcrlf); i >= 0 {
				return c.buf[c.r : c.r+i+4], true, nil
			}
			if len(c.buf)-c.r > maxHeaderBytes {
				return nil, false, nil
			}
			if !deadline && c.s.ReadHeaderTimeout > 0 {
				c.nc.SetReadDeadline(time.Now().Add(c.s.ReadHeaderTimeout))
				deadline = true
			}
		} else {
			if cap(c.buf) > keepBufSize {
				c.buf = make([]byte, 0, readBufSize)
			}
			c.buf, c.r = c.buf[:0], 0
			c.idle.Store(true)
			if c.s.closing.Load() {
				return nil, true, io.EOF
			}
		}
		if err := c.fill(); err != nil {
			return nil, true, err
		}
	}
}

var crlfcrlf = []byte("\r\n\r\n")

// fill reads more input into c.buf, compacting or growing it first.
func (c *conn) fill() error {
	if c.r > 0 && len(c.buf) == cap(c.buf) {
		n := copy(c.buf, c.buf[c.r:])
		c.buf, c.r = c.buf[:n], 0
	}
	if len(c.buf) == cap(c.buf) {
		c.buf = append(c.buf, make([]byte, cap(c.buf))...)[:len(c.buf)]
	}
	n, err := c.nc.Read(c.buf[len(c.buf):cap(c.buf)])
	c.buf = c.buf[:len(c.buf)+n]
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func (c *conn) remoteAddr() string {
	if c.remote == "" {
		c.remote = c.nc.RemoteAddr().String()
	}
	return c.remote
}

// serveOne runs the handler and writes its response. It reports whether
// the connection can serve another request.
func (c *conn) serveOne(req *http.Request, keep bool) bool {
	body := &bodyReader{c: c, left: req.ContentLength}
	c.bodyDone.Store(req.ContentLength == 0)
	if req.ContentLength == 0 {
		req.Body = http.NoBody
	} else {
		req.Body = body
	}
	if c.ctx == nil {
		// Requests' contexts hang off the connection's, not off the
		// server's one shared context (whose lock every request would take).
		c.ctx, c.ctxCancel = context.WithCancel(c.s.baseCtx)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel() // also when the handler panics
	req = req.WithContext(ctx)
	c.watchMu.Lock()
	c.cancel = cancel
	c.watchMu.Unlock()
	if c.timer == nil {
		c.timer = time.AfterFunc(watchAfter, c.startWatch)
	} else {
		c.timer.Reset(watchAfter)
	}
	if c.hdr == nil {
		c.hdr = make(http.Header, 8)
	}
	clear(c.hdr)
	c.w = response{c: c, hdr: c.hdr, head: req.Method == "HEAD", body: c.w.body[:0]}
	w := &c.w
	c.s.Handler.ServeHTTP(w, req)
	c.timer.Stop()
	if err := c.stopWatch(); err != nil {
		keep = false // the client went away (or half-closed): answer, then close
	}
	cancel()
	if body.left > 0 {
		// Unread body: skip it if it is buffered, else do not reuse.
		if int64(len(c.buf)-c.r) >= body.left {
			c.r += int(body.left)
			body.left = 0
		} else {
			keep = false
		}
	}
	if c.s.closing.Load() {
		keep = false
	}
	return w.finish(keep) == nil && keep
}

// startWatch (on the timer's goroutine) starts a read on the connection
// while a handler runs: a client that goes away cancels the request.
func (c *conn) startWatch() {
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	if c.watchOn || c.cancel == nil || !c.bodyDone.Load() {
		return // a handler still reading its body is not watched
	}
	c.watchOn = true
	c.watchEnd = make(chan struct{})
	cancel := c.cancel
	go func() {
		defer close(c.watchEnd)
		n, err := c.nc.Read(c.watchB[:])
		c.watchN, c.watchErr = n, err
		if n == 0 {
			cancel()
		}
	}()
}

// stopWatch ends a running watch read and keeps any byte it got. It
// returns the read's error when the connection cannot be used any more.
func (c *conn) stopWatch() error {
	c.watchMu.Lock()
	on, end := c.watchOn, c.watchEnd
	c.watchOn, c.cancel = false, nil
	c.watchMu.Unlock()
	if !on {
		return nil
	}
	c.nc.SetReadDeadline(aLongTimeAgo)
	<-end
	c.nc.SetReadDeadline(time.Time{})
	if c.watchN > 0 {
		c.buf = append(c.buf, c.watchB[0])
		return nil
	}
	var ne net.Error
	if errors.As(c.watchErr, &ne) && ne.Timeout() {
		return nil
	}
	return c.watchErr
}

var aLongTimeAgo = time.Unix(1, 0)

// handOff gives the connection, with what was read of it, to the fallback.
func (c *conn) handOff() {
	pending := append([]byte(nil), c.buf[c.r:]...)
	if err := c.s.handoff.give(&replayConn{Conn: c.nc, pending: pending}); err != nil {
		c.nc.Close()
	}
}

// bodyReader reads a Content-Length body from the buffer, then the
// connection.
type bodyReader struct {
	c    *conn
	left int64
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	c := b.c
	var n int
	if c.r < len(c.buf) {
		n = copy(p, c.buf[c.r:])
		c.r += n
	} else {
		var err error
		n, err = c.nc.Read(p)
		if n == 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
	b.left -= int64(n)
	if b.left == 0 {
		c.bodyDone.Store(true)
	}
	return n, nil
}

func (b *bodyReader) Close() error { return nil }
