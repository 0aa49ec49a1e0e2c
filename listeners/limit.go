package listeners

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// LimitListener applies a listener's max_conns to an HTTP listener (aws,
// ws, admin): a connection accepted while max are open is answered with
// 503 Service Unavailable (SDKs retry it) and closed, as the TCP listeners
// refuse theirs; the server behind never sees it.
func LimitListener(ln net.Listener, max int, name string, log *slog.Logger) net.Listener {
	return &limitListener{Listener: ln, max: int64(max), log: log.With("proto", name)}
}

type limitListener struct {
	net.Listener
	max    int64
	active atomic.Int64
	log    *slog.Logger
}

// busyReply is the whole answer to a refused HTTP connection.
const busyReply = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\nconnection limit (max_conns) hit"

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) <= l.max {
			return &limitConn{Conn: c, l: l}, nil
		}
		l.active.Add(-1)
		l.log.Warn("connection refused: limit reached", "remote", c.RemoteAddr().String(), "max_conns", l.max)
		go func() {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte(busyReply))
			c.Close()
		}()
	}
}

// limitConn gives its slot back once, on its first Close.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	c.once.Do(func() { c.l.active.Add(-1) })
	return c.Conn.Close()
}
