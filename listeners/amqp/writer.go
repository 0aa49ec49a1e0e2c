package amqp

import (
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/omnibroker/broker/listeners"
	"github.com/omnibroker/broker/listeners/amqp/frame"
)

// outbox is the connection's bounded write queue: producers (the reader,
// core dispatchers, publish callbacks) append encoded frames to buf under
// mu; the writer goroutine swaps buf out and writes it in one syscall, so
// frames queued while a write is in flight are coalesced into the next.
type outbox struct {
	mu     sync.Mutex
	buf    []byte
	closed bool
	// paused are consumers whose delivery was refused because buf was
	// over the soft limit; resumed once it drains.
	paused []*consumer
	// dirty are channels with publisher confirms ready to be sent.
	dirty []*channel
	space *sync.Cond // signalled when buf drains below the hard limit
	wake  chan struct{}

	soft, hard int
}

func newOutbox(soft, hard int) *outbox {
	o := &outbox{wake: make(chan struct{}, 1), soft: soft, hard: hard}
	o.space = sync.NewCond(&o.mu)
	return o
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// method queues one method frame. It never blocks.
func (o *outbox) method(ch uint16, m frame.Method) {
	o.mu.Lock()
	if !o.closed {
		o.buf = frame.AppendMethod(o.buf, ch, m)
	}
	o.mu.Unlock()
	o.signal()
}

// content queues a method with content (basic.return, deliver, get-ok).
func (o *outbox) content(ch uint16, m frame.Method, p *frame.Properties, body []byte, frameMax int) {
	o.mu.Lock()
	if !o.closed {
		o.buf = frame.AppendMethod(o.buf, ch, m)
		o.buf = frame.AppendContent(o.buf, ch, frame.ClassBasic, p, body, frameMax)
	}
	o.mu.Unlock()
	o.signal()
}

// tryDeliver queues a delivery unless the queue is over its soft limit, in
// which case cs is remembered for resumption and false is returned.
func (o *outbox) tryDeliver(cs *consumer, m *frame.BasicDeliver, p *frame.Properties, body []byte, frameMax int) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	if len(o.buf) > o.soft {
		if !cs.outPaused {
			cs.outPaused = true
			o.paused = append(o.paused, cs)
		}
		o.mu.Unlock()
		return false
	}
	o.buf = frame.AppendDeliver(o.buf, cs.ch.id, m)
	o.buf = frame.AppendContent(o.buf, cs.ch.id, frame.ClassBasic, p, body, frameMax)
	o.mu.Unlock()
	o.signal()
	return true
}

// waitSpace blocks the reader while more than the hard limit waits to be
// written: the client's publishes then back up in TCP.
func (o *outbox) waitSpace() {
	o.mu.Lock()
	for len(o.buf) > o.hard && !o.closed {
		o.space.Wait()
	}
	o.mu.Unlock()
}

// markDirty schedules a confirm flush of ch by the writer.
func (o *outbox) markDirty(ch *channel) {
	o.mu.Lock()
	o.dirty = append(o.dirty, ch)
	o.mu.Unlock()
	o.signal()
}

// close stops accepting frames; the writer flushes what is queued and exits.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.space.Broadcast()
	o.mu.Unlock()
	o.signal()
}

// writeLoop is the connection's writer goroutine.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	defer func() {
		// The edge of a connection goroutine: a panic closes this
		// connection only (the reader then tears it down).
		if r := recover(); r != nil {
			c.log.Error("writer panicked; connection closed", "reason", listeners.ReasonServerError, "err", fmt.Sprint(r), "stack", string(debug.Stack()))
			c.out.close()
			c.nc.Close()
		}
	}()
	o := c.out
	var tick <-chan time.Time
	if hb := c.heartbeat; hb > 0 {
		t := time.NewTicker(hb / 2)
		defer t.Stop()
		tick = t.C
	}
	var spare, scratch []byte
	wrote := false
	for {
		select {
		case <-o.wake:
		case <-tick:
			// §4.2.7: send a heartbeat when nothing else was sent for
			// half an interval.
			if !wrote {
				if !c.write(frame.AppendHeartbeat(scratch[:0])) {
					return
				}
			}
			wrote = false
			continue
		}
		for {
			o.mu.Lock()
			dirty := o.dirty
			o.dirty = nil
			o.mu.Unlock()
			if len(dirty) > 0 {
				scratch = scratch[:0]
				for _, ch := range dirty {
					scratch = ch.confirms.flush(scratch, ch.id)
				}
				if len(scratch) > 0 {
					o.mu.Lock()
					o.buf = append(o.buf, scratch...)
					o.mu.Unlock()
				}
			}
			o.mu.Lock()
			if len(o.buf) == 0 {
				closed := o.closed
				resume := o.takePausedLocked()
				o.mu.Unlock()
				resumeAll(resume)
				if closed {
					return
				}
				break
			}
			b := o.buf
			o.buf = spare[:0]
			o.mu.Unlock()
			if !c.write(b) {
				o.mu.Lock()
				o.closed = true
				o.buf = nil
				o.space.Broadcast()
				o.mu.Unlock()
				return
			}
			wrote = true
			if cap(b) <= 4<<20 {
				spare = b
			} else {
				spare = nil
			}
			o.mu.Lock()
			var resume []*consumer
			if len(o.buf) <= o.soft {
				resume = o.takePausedLocked()
			}
			if len(o.buf) <= o.hard {
				o.space.Broadcast()
			}
			o.mu.Unlock()
			resumeAll(resume)
		}
	}
}

func (o *outbox) takePausedLocked() []*consumer {
	p := o.paused
	o.paused = nil
	for _, cs := range p {
		cs.outPaused = false
	}
	return p
}

func resumeAll(cs []*consumer) {
	for _, c := range cs {
		if cc := c.core(); cc != nil {
			cc.Resume()
		}
	}
}

// write sends b with a deadline; a peer that does not read for that long
// is a slow consumer and the connection is closed.
func (c *conn) write(b []byte) bool {
	d := c.s.o.WriteTimeout
	if c.heartbeat > 0 {
		d = max(d, 2*c.heartbeat)
	}
	c.nc.SetWriteDeadline(time.Now().Add(d))
	if _, err := c.nc.Write(b); err != nil {
		c.writeErr.Store(&err)
		c.nc.Close() // unblock the reader
		return false
	}
	return true
}
