package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/omnibroker/broker/listeners"
)

// Options configure a Handler.
type Options struct {
	MQTT, STOMP listeners.ConnHandler // either may be nil (that path answers 503)
	Logger      *slog.Logger
	// MaxMessageBytes bounds one WebSocket message (0 = 64 MiB).
	MaxMessageBytes int64
}

// Handler is the WebSocket front door (an http.Handler).
type Handler struct {
	o      Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a Handler.
func New(o Options) *Handler {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 64 << 20
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Handler{o: o, log: o.Logger, ctx: ctx, cancel: cancel}
}

// Close cancels the context handed to every connection's handler, so that
// each says its protocol's goodbye (hijacked connections outlive
// http.Server.Shutdown).
func (h *Handler) Close() { h.cancel() }

type proto int

const (
	protoNone proto = iota
	protoMQTT
	protoSTOMP
)

// pick chooses the protocol and the subprotocol to answer with.
func pick(path string, offered []string) (proto, string, int) {
	isMQTT := func(s string) bool { return s == "mqtt" || s == "mqttv3.1" }
	isSTOMP := func(s string) bool { return s == "v10.stomp" || s == "v11.stomp" || s == "v12.stomp" || s == "stomp" }
	switch path {
	case "/mqtt":
		for _, s := range offered {
			if isMQTT(s) {
				return protoMQTT, s, 0
			}
		}
		return protoMQTT, "", 0
	case "/stomp":
		// Prefer the newest version the client offers.
		best := ""
		for _, s := range offered {
			if isSTOMP(s) && (best == "" || s > best && s != "stomp") {
				best = s
			}
		}
		return protoSTOMP, best, 0
	case "/ws", "/":
		for _, s := range offered {
			if isMQTT(s) {
				return protoMQTT, s, 0
			}
		}
		best := ""
		for _, s := range offered {
			if isSTOMP(s) && (best == "" || s > best && s != "stomp") {
				best = s
			}
		}
		if best != "" {
			return protoSTOMP, best, 0
		}
		return protoNone, "", http.StatusBadRequest
	}
	return protoNone, "", http.StatusNotFound
}

// ServeHTTP upgrades and serves one connection.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, sub, status := pick(r.URL.Path, websocket.Subprotocols(r))
	if status != 0 {
		msg := "unknown path: use /mqtt, /stomp or /ws"
		if status == http.StatusBadRequest {
			msg = "Sec-WebSocket-Protocol must offer mqtt, v10.stomp, v11.stomp or v12.stomp"
		}
		http.Error(w, msg, status)
		return
	}
	handler := h.o.STOMP
	name := "stomp"
	if p == protoMQTT {
		handler, name = h.o.MQTT, "mqtt"
	}
	if handler == nil {
		http.Error(w, name+" over WebSocket is not available", http.StatusServiceUnavailable)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "WebSocket upgrade required", http.StatusUpgradeRequired)
		return
	}
	up := websocket.Upgrader{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10,
		CheckOrigin: func(*http.Request) bool { return true }}
	if sub != "" {
		up.Subprotocols = []string{sub}
	}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		h.log.Debug("upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // Upgrade has answered
	}
	c.SetReadLimit(h.o.MaxMessageBytes)
	mt := websocket.BinaryMessage
	if p == protoSTOMP {
		mt = websocket.TextMessage
	}
	conn := &Conn{ws: c, nc: c.NetConn(), mt: mt}
	defer func() {
		if rec := recover(); rec != nil {
			h.log.Error("connection handler panicked; connection closed", "proto", name, "remote", r.RemoteAddr,
				"reason", string(listeners.ReasonServerError), "err", fmt.Sprint(rec), "stack", string(debug.Stack()))
			conn.Close()
		}
	}()
	h.log.Debug("websocket open", "proto", name, "remote", r.RemoteAddr, "subprotocol", sub)
	handler.ServeConn(h.ctx, conn)
}

// Conn is a WebSocket seen as a byte stream (net.Conn): reads concatenate
// the payloads of incoming messages; each Write sends one message.
type Conn struct {
	ws *websocket.Conn
	nc net.Conn
	mt int // message type for writes

	r    io.Reader // current incoming message
	wmu  sync.Mutex
	once sync.Once
}

// MessageOriented tells the STOMP writer to send one frame per Write
// (STOMP over WebSocket clients parse frames per message).
func (c *Conn) MessageOriented() bool { return c.mt == websocket.TextMessage }

// Read reads message payloads as one stream.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			_, r, err := c.ws.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return 0, io.EOF
				}
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// Write sends p as one message.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(c.mt, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame (best effort) and closes the socket.
func (c *Conn) Close() error {
	var err error
	c.once.Do(func() {
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
			time.Now().Add(time.Second))
		err = c.nc.Close()
	})
	return err
}

// LocalAddr is the socket's local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.ws.SetReadDeadline(t)
	return c.ws.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }
