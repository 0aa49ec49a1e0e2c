package mqtt

import (
	"time"

	"github.com/omnibroker/broker/core"
)

// Publisher flow control (core/flow.go): when core.Publish reports that a
// queue the message went to has a backlog over its high-water mark while
// its consumer is making progress (PublishResult.Busy), the publisher is
// slowed down to that consumer's pace:
//
//   - QoS 1/2: the PUBACK/PUBREC is held (and, keeping their order
//     [MQTT-4.6.0-2], every acknowledgement behind it) until the backlog
//     drains, the consumer stalls, or maxFlowWait passes. A well-behaved
//     client then stops at its in-flight limit (Receive Maximum
//     [MQTT-3.3.4-7]). The reader never waits for this: it keeps reading
//     the PUBACKs of its own deliveries, so two clients feeding each
//     other's subscriptions cannot hold each other up.
//   - QoS 0 has no acknowledgement to hold: the reader stops reading the
//     socket for as long (TCP back-pressure), after writing what it
//     deferred and settling the acks it buffered.
//
// A stalled consumer (no progress for core.FlowStall) releases every
// waiting publisher and is not waited for again until it makes progress:
// a subscriber that stops reading never holds up its publishers for more
// than core.FlowStall. Publishes to the connection's own session queues
// are never held (the client would throttle itself on its own reading).

// maxFlowWait bounds one flow-control wait, whatever the consumer does.
const maxFlowWait = time.Second

// heldAck is an acknowledgement held for a busy queue.
type heldAck struct {
	slot *pubAck
	f    *core.Flow
}

// flowTarget returns busy unless it is nil or one of this connection's
// own queues. Reader only.
func (c *conn) flowTarget(busy *core.Flow) *core.Flow {
	if busy == nil {
		return nil
	}
	q := busy.Queue()
	if c.sess != nil && q == c.sess.queue {
		return nil
	}
	for _, sc := range c.sharedCons {
		if sc.Queue() == q {
			return nil
		}
	}
	return busy
}

// releaseAck ends the hold onPublish put on slot until core.Publish
// returned: with busy set, the hold passes to flow control (flowLoop).
func (c *conn) releaseAck(slot *pubAck, busy *core.Flow) {
	c.mu.Lock()
	if busy != nil && !c.finished {
		c.flowHeld = append(c.flowHeld, heldAck{slot: slot, f: busy})
		if !c.flowRunning {
			c.flowRunning = true
			go c.flowLoop()
		}
		c.mu.Unlock()
		return
	}
	slot.held = false
	c.sendAcksLocked()
}

// flowLoop waits for the busy queues of the held acknowledgements, one
// queue at a time, releasing each queue's holds when its wait ends; it
// returns when nothing is held.
func (c *conn) flowLoop() {
	for {
		c.mu.Lock()
		if len(c.flowHeld) == 0 {
			c.flowRunning = false
			c.mu.Unlock()
			return
		}
		f := c.flowHeld[0].f
		c.mu.Unlock()
		f.Wait(c.done, maxFlowWait)
		c.mu.Lock()
		n := 0
		for _, h := range c.flowHeld {
			if h.f == f {
				h.slot.held = false
				continue
			}
			c.flowHeld[n] = h
			n++
		}
		clear(c.flowHeld[n:])
		c.flowHeld = c.flowHeld[:n]
		c.sendAcksLocked()
	}
}

// throttleReader stops reading a QoS 0 publisher while busy's backlog is
// high (bounded as flowLoop's waits are). Reader only.
func (c *conn) throttleReader(busy *core.Flow) {
	c.flushAcks()
	c.flushDeferred()
	busy.Wait(c.kickedCh, maxFlowWait)
}
