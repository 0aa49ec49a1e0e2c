package stomp

import (
	"bufio"
	"sync"
	"time"

	"github.com/omnibroker/broker/listeners"
)

// MessageConn is implemented by transports that frame each Write as one
// message (WebSocket): the writer then hands them one STOMP frame per Write,
// as STOMP over WebSocket clients expect.
type MessageConn interface {
	MessageOriented() bool
}

// outq is a connection's outbound queue, bounded in bytes: deliveries stop
// at the soft limit (handlers refuse and are resumed after a drain), and the
// reader blocks on control frames at the hard limit (TCP backpressure).
type outq struct {
	mu      sync.Mutex
	space   *sync.Cond
	bufs    [][]byte
	bytes   int
	paused  []*subscription
	closing bool // flush what is queued, then close
	dead    bool // writer gone: drop everything
	wake    chan struct{}
	soft    int
	hard    int
}

func newOutq(soft int) *outq {
	q := &outq{wake: make(chan struct{}, 1), soft: soft, hard: 4 * soft}
	q.space = sync.NewCond(&q.mu)
	return q
}

func (q *outq) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// offerDelivery queues an encoded MESSAGE unless the queue is over its soft
// limit; then it records c for Resume and reports false. Never blocks.
func (q *outq) offerDelivery(b []byte, c *subscription) bool {
	q.mu.Lock()
	if q.dead || q.closing {
		q.mu.Unlock()
		return false
	}
	if q.bytes > 0 && q.bytes+len(b) > q.soft {
		q.paused = append(q.paused, c)
		q.mu.Unlock()
		return false
	}
	q.bufs = append(q.bufs, b)
	q.bytes += len(b)
	q.mu.Unlock()
	q.signal()
	return true
}

// push queues a control frame (CONNECTED, RECEIPT, ERROR). The reader calls
// it and waits while the queue is over its hard limit; callbacks from the
// core (receipts after a store) pass wait=false and never block.
func (q *outq) push(b []byte, wait bool) {
	q.mu.Lock()
	for wait && q.bytes > q.hard && !q.dead && !q.closing {
		q.space.Wait()
	}
	if !q.dead && !q.closing {
		q.bufs = append(q.bufs, b)
		q.bytes += len(b)
	}
	q.mu.Unlock()
	q.signal()
}

// closeAfter queues a last frame (may be nil) and makes the writer close
// the connection once everything before it is written.
func (q *outq) closeAfter(b []byte) {
	q.mu.Lock()
	if !q.dead && !q.closing && b != nil {
		q.bufs = append(q.bufs, b)
		q.bytes += len(b)
	}
	q.closing = true
	q.space.Broadcast()
	q.mu.Unlock()
	q.signal()
}

// writeLoop drains the queue onto the connection and sends heart-beats
// (STOMP 1.2 "Heart-beating": an EOL when nothing else was sent for the
// negotiated interval). It returns when the connection must close.
func (c *conn) writeLoop() {
	q := c.out
	defer func() {
		q.mu.Lock()
		q.dead = true
		q.bufs, q.bytes = nil, 0
		q.space.Broadcast()
		q.mu.Unlock()
		c.nc.Close()
		close(c.writerDone)
	}()
	msgConn := false
	if m, ok := c.nc.(MessageConn); ok {
		msgConn = m.MessageOriented()
	}
	bw := bufio.NewWriterSize(c.nc, 32<<10)
	var tick <-chan time.Time
	last := time.Now()
	for {
		select {
		case <-q.wake:
		case <-c.hbSet:
			if d := c.sendHB(); d > 0 {
				t := time.NewTicker(d / 2)
				defer t.Stop()
				tick = t.C
			}
			continue
		case now := <-tick:
			if now.Sub(last) >= c.sendHB()*9/10 {
				c.nc.SetWriteDeadline(now.Add(c.writeTimeout()))
				if _, err := c.nc.Write([]byte{'\n'}); err != nil {
					return
				}
				last = now
			}
			continue
		}
		q.mu.Lock()
		bufs, closing := q.bufs, q.closing
		q.bufs, q.bytes = nil, 0
		paused := q.paused
		q.paused = nil
		q.space.Broadcast()
		q.mu.Unlock()
		if len(bufs) > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout()))
			for _, b := range bufs {
				var err error
				if msgConn {
					_, err = c.nc.Write(b)
				} else {
					_, err = bw.Write(b)
				}
				if err != nil {
					c.writeFailed(err)
					return
				}
			}
			if !msgConn {
				if err := bw.Flush(); err != nil {
					c.writeFailed(err)
					return
				}
			}
			last = time.Now()
		}
		for _, k := range paused {
			k.resume()
		}
		if closing {
			q.mu.Lock()
			empty := len(q.bufs) == 0
			q.mu.Unlock()
			if empty {
				return
			}
			q.signal()
		}
	}
}

// writeTimeout bounds one write: a peer that reads nothing for this long is
// a slow consumer and is cut off.
func (c *conn) writeTimeout() time.Duration {
	return 30 * time.Second
}

// writeFailed records why the writer gave up: a peer that has not read for
// writeTimeout is a slow consumer.
func (c *conn) writeFailed(err error) {
	if reason, ok := readCloseReason(err); ok && reason == listeners.ReasonTimeout {
		c.reason.CompareAndSwap(nil, listeners.ReasonSlowConsumer)
		c.log.Warn("client not reading; closing", "reason", string(listeners.ReasonSlowConsumer))
		return
	}
	c.log.Debug("write failed", "err", err)
}
