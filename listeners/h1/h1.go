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
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
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
		req, keep, simple := c.parse(head)
		if !simple {
			handedOff = true
			c.handOff()
			return
		}
		if !c.serveOne(req, keep) || !keep || c.s.closing.Load() {
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

// parse builds the request from head (not yet consumed). simple is false
// for anything the fast path leaves to the fallback.
func (c *conn) parse(head []byte) (req *http.Request, keep, simple bool) {
	// One string holds the whole head: every field below is a substring.
	h := string(head)
	line, rest, ok := cut(h, "\r\n")
	if !ok {
		return nil, false, false
	}
	method, line, ok1 := cut(line, " ")
	target, proto, ok2 := cut(line, " ")
	if !ok1 || !ok2 || method == "" || method == "CONNECT" || len(target) == 0 || target[0] != '/' {
		return nil, false, false
	}
	major, minor := 1, 1
	switch proto {
	case "HTTP/1.1":
	case "HTTP/1.0":
		minor = 0
	default:
		return nil, false, false
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, false, false
	}
	hdr := make(http.Header, 12)
	var host string
	var clen int64 = -1
	for rest != "\r\n" && rest != "" {
		var l string
		l, rest, ok = cut(rest, "\r\n")
		if !ok || l == "" {
			return nil, false, false
		}
		k, v, ok := cut(l, ":")
		if !ok || k == "" || !validKey(k) {
			return nil, false, false
		}
		v = trimOWS(v)
		ck := canonical(k)
		switch ck {
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer":
			return nil, false, false
		case "Host":
			if host != "" {
				return nil, false, false
			}
			host = v
			continue // net/http moves Host out of the header map
		case "Content-Length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || clen >= 0 {
				return nil, false, false
			}
			clen = n
		}
		hdr[ck] = append(hdr[ck], v)
	}
	if host == "" && minor == 1 {
		return nil, false, false // net/http answers 400
	}
	keep = minor == 1
	for _, v := range hdr["Connection"] {
		switch {
		case asciiEqualFold(v, "close"):
			keep = false
		case asciiEqualFold(v, "keep-alive"):
			keep = true
		}
	}
	if clen < 0 {
		clen = 0
	}
	req = &http.Request{
		Method:        method,
		URL:           u,
		Proto:         proto,
		ProtoMajor:    major,
		ProtoMinor:    minor,
		Header:        hdr,
		Host:          host,
		ContentLength: clen,
		RequestURI:    target,
		RemoteAddr:    c.remoteAddr(),
		Close:         !keep,
	}
	c.r += len(head)
	return req, keep, true
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
	ctx, cancel := context.WithCancel(c.s.baseCtx)
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

// response buffers a handler's reply.
type response struct {
	c      *conn
	hdr    http.Header
	status int
	body   []byte
	n      int  // bytes written by the handler
	head   bool // HEAD request: no body is sent
}

func (w *response) Header() http.Header { return w.hdr }

func (w *response) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	if !w.head {
		w.body = append(w.body, p...)
	}
	return len(p), nil
}

// finish writes status line, headers and body in one write.
func (w *response) finish(keep bool) error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	c := w.c
	b := c.out[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(w.status)...)
	b = append(b, "\r\n"...)
	if _, ok := w.hdr["Content-Type"]; !ok && len(w.body) > 0 {
		w.hdr["Content-Type"] = []string{http.DetectContentType(w.body)}
	}
	if _, ok := w.hdr["Date"]; !ok {
		b = append(b, "Date: "...)
		b = appendDate(b)
		b = append(b, "\r\n"...)
	}
	for k, vs := range w.hdr {
		if k == "Content-Length" || k == "Connection" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendHeaderValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	if w.status >= 200 && w.status != http.StatusNoContent && w.status != http.StatusNotModified {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(w.n), 10)
		b = append(b, "\r\n"...)
	}
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	var err error
	if len(w.body) <= 16<<10 {
		b = append(b, w.body...)
		_, err = c.nc.Write(b)
	} else {
		bufs := net.Buffers{b, w.body}
		_, err = bufs.WriteTo(c.nc)
	}
	c.out = b[:0]
	if cap(c.out) > keepBufSize {
		c.out = nil
	}
	if cap(w.body) > keepBufSize {
		w.body = nil // do not keep a large reply's buffer per connection
	}
	return err
}

// appendHeaderValue drops CR and LF (as net/http does) so a value cannot
// split the head.
func appendHeaderValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' {
			b = append(b, ' ')
		} else {
			b = append(b, c)
		}
	}
	return b
}

var dateCache struct {
	mu  sync.Mutex
	sec int64
	val []byte
}

func appendDate(b []byte) []byte {
	now := time.Now()
	dateCache.mu.Lock()
	if s := now.Unix(); s != dateCache.sec {
		dateCache.sec = s
		dateCache.val = now.UTC().AppendFormat(dateCache.val[:0], http.TimeFormat)
	}
	b = append(b, dateCache.val...)
	dateCache.mu.Unlock()
	return b
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

func cut(s, sep string) (before, after string, found bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// validKey: a header name is a token (RFC 9110 5.1).
func validKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}

// canonical returns the canonical form of a header name, without
// allocating for names already in canonical form.
func canonical(k string) string {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return textproto.CanonicalMIMEHeaderKey(k)
		}
		upper = c == '-'
	}
	return k
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
