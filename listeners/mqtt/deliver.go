package mqtt

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners"
)

var noTime time.Time

const maxPending = 4096

var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// inlinePool holds the smaller buffers of inline flushes (a few packets
// each; a bigger flush is written in several calls).
var inlinePool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}

// onDelivery is the core consumer handler: it runs on a core goroutine and
// must not block. It works out the delivered QoS, subscription ids and
// retain flag from the session's matching subscriptions and queues the
// message for the writer.
func (c *conn) onDelivery(d *core.Delivery, ref *consumerRef, shared *subscription) bool {
	m := d.Message
	pubQoS := publishedQoS(m)
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return false
	}
	if len(c.pending) >= maxPending {
		c.paused = append(c.paused, ref)
		c.mu.Unlock()
		return false
	}
	topic := c.topicOfLocked(m.RoutingKey)
	o := &outMsg{d: d, ref: ref, msg: m, topic: topic}
	s := c.sess
	matched := false
	s.mu.Lock()
	if len(s.relMsgs) > 0 {
		if rk := relKey(d.Queue, m.ID); s.relMsgs[rk] != 0 {
			// The client already has it and the broker sent PUBREL before
			// a crash that lost the core ack: settle it, do not send it
			// again (its PUBCOMP may have come first).
			delete(s.relMsgs, rk)
			s.mu.Unlock()
			c.mu.Unlock()
			c.h.b.Ack(d.Queue, d.ID)
			return true
		}
	}
	if shared != nil {
		matched = matchFilter(shared.Filter, topic) // $-topics under a wildcard [MQTT-4.7.2-1]
		o.qos = min(pubQoS, shared.QoS)
		if shared.ID > 0 {
			o.subIDs = []int{shared.ID}
		}
		o.retain = shared.RAP && publishedRetain(m)
	} else {
		_, local := c.localIDs[m.ID]
		for _, sub := range s.subs {
			if sub.Group != "" || !matchFilter(sub.Filter, topic) {
				continue
			}
			if sub.NoLocal && local {
				continue // [MQTT-3.8.3-3]
			}
			matched = true
			// [MQTT-3.8.4-8] min of published and granted QoS; overlapping
			// subscriptions give one message at the highest QoS [MQTT-3.3.4-2].
			o.qos = max(o.qos, min(pubQoS, sub.QoS))
			if sub.ID > 0 {
				o.subIDs = append(o.subIDs, sub.ID) // [MQTT-3.3.4-3]
			}
			if sub.RAP && publishedRetain(m) {
				o.retain = true // [MQTT-3.3.1-13]
			}
		}
		if local {
			delete(c.localIDs, m.ID)
		}
	}
	s.mu.Unlock()
	if !matched {
		// Routed by the core but not an MQTT match ($SYS under '#', No
		// Local): settle it without sending [MQTT-4.7.2-1].
		c.mu.Unlock()
		c.h.b.Ack(d.Queue, d.ID)
		return true
	}
	c.pending = append(c.pending, o)
	if !c.writing && !c.finished {
		// The core calls flushDelivered once its batch of handler calls
		// is over, on this goroutine: the write happens there.
		c.flushWanted = true
	}
	c.mu.Unlock()
	return true
}

// topicOfLocked maps a routing key back to its topic (c.mu held). The
// last mapping is kept: a subscriber usually gets one topic many times in a
// row, and this saves an allocation per delivery.
func (c *conn) topicOfLocked(key string) string {
	if key != c.lastKey || c.lastTopic == "" {
		c.lastKey, c.lastTopic = key, keyToTopic(key)
	}
	return c.lastTopic
}

// enqueue queues messages that did not come from a core consumer
// (retained messages on subscribe).
func (c *conn) enqueue(out ...*outMsg) {
	c.mu.Lock()
	c.pending = append(c.pending, out...)
	c.wakeLocked()
	c.mu.Unlock()
}

// windowFull reports whether a QoS 1/2 delivery must wait for the
// client's Receive Maximum [MQTT-3.3.4-9] (c.mu held).
func (c *conn) windowFull() bool {
	c.sess.mu.Lock()
	n := len(c.sess.outRel)
	c.sess.mu.Unlock()
	return c.inflight.n+n >= min(c.clientRecv, c.inflight.size)
}

// allocID returns an unused outbound packet id (c.mu held) [MQTT-2.2.1-3].
func (c *conn) allocIDLocked() uint16 {
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	for {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if c.inflight.free(c.nextID) && !c.sess.outRel[c.nextID] {
			return c.nextID
		}
	}
}

// wakeLocked makes sure a writer runs (c.mu held). The writer goroutine
// exists only while there is something to write: an idle connection has
// just its reader. While the reader handles a run of buffered PUBLISH and
// PUBACK packets (readerDefer) it writes what they produced itself before
// it next blocks (flushDeferred): no writer goroutine for a PUBACK.
func (c *conn) wakeLocked() {
	if c.writing || c.finished {
		return
	}
	if c.readerDefer {
		c.flushWanted = true
		return
	}
	c.writing = true
	go c.writeLoop()
}

// writerIdleLocked reports the writer gone and wakes finish (c.mu held).
func (c *conn) writerIdleLocked() {
	c.writing = false
	c.cond.Broadcast()
}

// inlineGap: deliveries to a connection that come closer together than
// this are written by a writer goroutine, which gathers several into one
// write (and one wake-up of the client) instead of one write each.
const inlineGap = 50 * time.Microsecond

// flushDelivered is the core consumer's Flush hook: after a batch of
// onDelivery calls, on the same goroutine (the publisher's reader, a
// reader acking, or a dispatch worker), it writes what they queued when
// no writer is running: inline at low rates, by a writer goroutine when
// deliveries come in quick succession (inlineGap).
func (c *conn) flushDelivered() {
	c.mu.Lock()
	if !c.flushWanted || c.writing || c.finished {
		c.mu.Unlock()
		return
	}
	c.flushWanted = false
	c.writing = true
	now := time.Now()
	busy := now.Sub(c.lastFlush) < inlineGap
	c.lastFlush = now
	c.mu.Unlock()
	if busy {
		go c.writeLoop()
		return
	}
	c.writeInline()
}

// flushDeferred ends the reader's deferral (before it may block) and
// writes what was deferred. Reader only.
func (c *conn) flushDeferred() {
	if !c.deferring {
		return
	}
	c.deferring = false
	c.mu.Lock()
	c.readerDefer = false
	if !c.flushWanted || c.writing || c.finished {
		c.flushWanted = false
		c.mu.Unlock()
		return
	}
	c.flushWanted = false
	c.writing = true
	c.mu.Unlock()
	c.writeInline()
}

// deferWrites starts a run of reader packets whose writes wait for
// flushDeferred. Reader only.
func (c *conn) deferWrites() {
	if c.deferring {
		return
	}
	c.deferring = true
	c.mu.Lock()
	c.readerDefer = true
	c.mu.Unlock()
}

// inlinePasses and inlineMax bound the write passes one inline flush
// makes, and the deliveries it takes per pass, before it hands the rest to
// a writer goroutine.
const (
	inlinePasses = 2
	inlineMax    = 64
)

// writeInline writes the queued control packets and sendable deliveries
// on the caller's goroutine, which holds the writer role (c.writing),
// without ever blocking: the socket is written with non-blocking write(2)
// calls, and whatever does not fit (or a socket that is not plain TCP, or
// a write error) is left to a writer goroutine. One slow subscriber thus
// never holds up a publisher.
func (c *conn) writeInline() {
	dw := c.direct
	if dw == nil {
		go c.writeLoop()
		return
	}
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("inline writer panicked; connection closed", "reason", string(listeners.ReasonServerError), "err", fmt.Sprint(r), "stack", string(debug.Stack()))
			c.mu.Lock()
			c.reason = listeners.ReasonServerError
			c.mu.Unlock()
			c.writeFailed()
		}
	}()
	bw := inlinePool.Get().(*bufio.Writer)
	bw.Reset(dw)
	var buf bytes.Buffer
	var batch, settle []*outMsg
	for pass := 0; pass < inlinePasses; pass++ {
		c.mu.Lock()
		var ctrl [][]byte
		ctrl, batch = c.takeLocked(batch[:0], inlineMax)
		c.mu.Unlock()
		if len(ctrl) == 0 && len(batch) == 0 {
			break
		}
		var err error
		settle, err = c.encodeBatch(bw, &buf, ctrl, batch, settle[:0])
		if err == nil {
			err = bw.Flush()
		}
		if err != nil { // dw takes every byte: not expected
			bw.Reset(nil)
			inlinePool.Put(bw)
			c.writeFailed()
			return
		}
		settleAll(c.h.b, settle)
		if len(dw.rest) > 0 {
			break
		}
	}
	bw.Reset(nil)
	inlinePool.Put(bw)
	c.mu.Lock()
	if len(dw.rest) > 0 {
		c.partial, dw.rest = dw.rest, nil
	}
	if c.partial != nil || len(c.ctrl) > 0 || c.sendableLocked() || (len(c.paused) > 0 && len(c.pending) < maxPending/2) {
		c.mu.Unlock()
		go c.writeLoop() // still the writer
		return
	}
	c.writerIdleLocked()
	c.mu.Unlock()
}

// takeLocked takes the control packets and up to max (0: all) of the
// deliveries that may be sent now (packet ids allocated, QoS 1/2 in the
// inflight window) (c.mu held).
func (c *conn) takeLocked(batch []*outMsg, max int) ([][]byte, []*outMsg) {
	ctrl := c.ctrl
	c.ctrl = nil
	if !c.stopping {
		for len(c.pending) > 0 && (max == 0 || len(batch) < max) {
			o := c.pending[0]
			if o.qos > 0 {
				if c.windowFull() {
					break
				}
				o.id = c.allocIDLocked()
				c.inflight.put(o)
			}
			c.pending[0] = nil
			c.pending = c.pending[1:]
			batch = append(batch, o)
		}
	}
	return ctrl, batch
}

// encodeBatch writes ctrl, then the deliveries of batch, into bw; it
// returns settle with the deliveries to ack once written (QoS 0, dropped).
func (c *conn) encodeBatch(bw *bufio.Writer, buf *bytes.Buffer, ctrl [][]byte, batch, settle []*outMsg) ([]*outMsg, error) {
	for _, b := range ctrl {
		if _, err := bw.Write(b); err != nil {
			return settle, err
		}
	}
	now := time.Now()
	for _, o := range batch {
		if c.version != 5 && len(o.topic) <= 0xFFFF {
			// MQTT 3.1/3.1.1: no properties, nothing to drop: encode
			// straight into the write buffer.
			if err := writePublish311(bw, o); err != nil {
				return settle, err
			}
			c.h.stats.PublishOut.Add(1)
			if o.qos == 0 {
				settle = append(settle, o)
			}
			continue
		}
		buf.Reset()
		if !c.encodePublish(buf, o, now) {
			settle = append(settle, o)
			if o.qos > 0 {
				c.mu.Lock()
				c.inflight.del(o.id)
				c.mu.Unlock()
			}
			continue
		}
		if _, err := bw.Write(buf.Bytes()); err != nil {
			return settle, err
		}
		c.h.stats.PublishOut.Add(1)
		if o.qos == 0 {
			settle = append(settle, o)
		}
	}
	return settle, nil
}

// writerBatch bounds the deliveries the writer goroutine encodes before
// it settles the QoS 0 ones among them: the core sees the consumer's
// progress (flow control, core/flow.go) and gets its credit back every
// writerBatch messages, not once per backlog of up to 1,024 (2 MiB of
// 2 KiB messages, 200 ms on a subscriber reading 10 MB/s, looked like a
// stalled consumer). The buffer is flushed only when nothing more is
// sendable, as before.
const writerBatch = 128

// writeLoop is the connection's writer goroutine; it returns when the
// control queue is empty and no delivery may be sent.
func (c *conn) writeLoop() {
	// The write buffer is taken from a pool per batch.
	var bw *bufio.Writer
	defer func() {
		if r := recover(); r != nil {
			// The edge of this goroutine: a fault ends the connection only.
			c.log.Error("writer panicked; connection closed", "reason", string(listeners.ReasonServerError), "err", fmt.Sprint(r), "stack", string(debug.Stack()))
			c.mu.Lock()
			c.reason = listeners.ReasonServerError
			c.mu.Unlock()
			c.writeFailed()
			return
		}
		if bw != nil {
			bw.Reset(nil)
			writerPool.Put(bw)
		}
	}()
	var buf bytes.Buffer
	var batch, settle []*outMsg
	for {
		c.mu.Lock()
		part := c.partial
		c.partial = nil
		var ctrl [][]byte
		ctrl, batch = c.takeLocked(batch[:0], writerBatch)
		var resume []*consumerRef
		if len(c.paused) > 0 && len(c.pending) < maxPending/2 {
			resume, c.paused = c.paused, nil
		}
		if len(part) == 0 && len(ctrl) == 0 && len(batch) == 0 && len(resume) == 0 {
			c.writerIdleLocked()
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for _, r := range resume {
			if r.c != nil {
				r.c.Resume()
			}
		}
		if bw == nil {
			bw = writerPool.Get().(*bufio.Writer)
			bw.Reset(c.dst)
		}
		if len(part) > 0 {
			// The rest of an inline write: first on the wire.
			if _, err := bw.Write(part); err != nil {
				c.writeFailed()
				return
			}
		}
		var err error
		if settle, err = c.encodeBatch(bw, &buf, ctrl, batch, settle[:0]); err != nil {
			c.writeFailed()
			return
		}
		more := c.hasMore()
		if !more && len(batch) > 0 {
			// Let runnable publishers and a running core dispatcher add
			// to this write: one write of many PUBLISH packets instead of
			// one write (and one client wake-up) per packet.
			runtime.Gosched()
			more = c.hasMore()
		}
		if !more {
			if err := bw.Flush(); err != nil {
				c.writeFailed()
				return
			}
			bw.Reset(nil)
			writerPool.Put(bw)
			bw = nil
		}
		// QoS 0 deliveries are settled once written; dropped ones too.
		settleAll(c.h.b, settle)
	}
}

func (c *conn) hasMore() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ctrl) > 0 || c.sendableLocked()
}

// sendableLocked reports whether a pending delivery can go out now.
func (c *conn) sendableLocked() bool {
	if c.stopping || len(c.pending) == 0 {
		return false
	}
	return c.pending[0].qos == 0 || !c.windowFull()
}

func (c *conn) writeFailed() {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = listeners.ReasonEOF
	}
	c.stopping = true
	c.ctrl = nil
	c.writerIdleLocked()
	c.mu.Unlock()
	c.nc.Close()
}

// writePublish311 writes o as an MQTT 3.1/3.1.1 PUBLISH into w, the same
// bytes as packets.Packet.PublishEncode: fixed header (DUP, QoS, RETAIN)
// [MQTT-3.3.1], topic name as a UTF-8 string [MQTT-3.3.2-1], packet id
// when QoS > 0 [MQTT-2.3.1-1], then the payload.
func writePublish311(w *bufio.Writer, o *outMsg) error {
	var hdr [16]byte
	dup := o.qos > 0 && o.d != nil && o.d.Redelivered // [MQTT-3.3.1-1] [MQTT-3.3.1-2]
	b := packets.Publish<<4 | o.qos<<1
	if dup {
		b |= 1 << 3
	}
	if o.retain {
		b |= 1
	}
	hdr[0] = b
	rem := 2 + len(o.topic) + len(o.msg.Body)
	if o.qos > 0 {
		rem += 2
	}
	n := 1
	for { // Variable Byte Integer [MQTT-1.5.5-1]
		eb := byte(rem % 128)
		rem /= 128
		if rem > 0 {
			eb |= 0x80
		}
		hdr[n] = eb
		n++
		if rem == 0 {
			break
		}
	}
	hdr[n], hdr[n+1] = byte(len(o.topic)>>8), byte(len(o.topic))
	n += 2
	w.Write(hdr[:n])
	w.WriteString(o.topic)
	if o.qos > 0 {
		hdr[0], hdr[1] = byte(o.id>>8), byte(o.id)
		w.Write(hdr[:2])
	}
	_, err := w.Write(o.msg.Body)
	return err
}

// encodePublish writes o as a PUBLISH into buf. It returns false when the
// message must be dropped: expired [MQTT-3.3.2-5] or over the client's
// Maximum Packet Size [MQTT-3.1.2-25].
func (c *conn) encodePublish(buf *bytes.Buffer, o *outMsg, now time.Time) bool {
	aliases := c.outAliases
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: o.qos, Retain: o.retain,
			Dup: o.qos > 0 && o.d != nil && o.d.Redelivered}, // [MQTT-3.3.1-1] [MQTT-3.3.1-2]
		TopicName: o.topic, PacketID: o.id, Payload: o.msg.Body, ProtocolVersion: c.version,
	}
	newAlias := ""
	if c.v5() {
		if fillProperties(&pk.Properties, o.msg, now) {
			return false
		}
		pk.Properties.SubscriptionIdentifier = o.subIDs
		pk.Mods.AllowResponseInfo = true
		if c.clientAlias > 0 {
			// Topic aliases towards the client [MQTT-3.3.2-10]: first use
			// carries the topic and the alias, later ones the alias alone.
			if a, ok := aliases[o.topic]; ok {
				pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = a, true
				pk.TopicName = ""
			} else if len(aliases) < int(c.clientAlias) {
				a := uint16(len(aliases) + 1)
				aliases[o.topic] = a
				pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = a, true
				newAlias = o.topic
			}
		}
	}
	if err := pk.PublishEncode(buf); err != nil {
		c.log.Error("encode publish", "err", err)
		return false
	}
	if c.clientMaxPkt > 0 && buf.Len() > c.clientMaxPkt {
		if newAlias != "" {
			delete(aliases, newAlias)
		}
		c.log.Debug("message over the client's maximum packet size dropped", "size", buf.Len())
		return false
	}
	return true
}

// onPuback completes an outbound QoS 1 delivery: the core lease is acked.
func (c *conn) onPuback(id uint16) {
	c.mu.Lock()
	o := c.inflight.get(id)
	if o != nil && o.qos == 1 {
		c.inflight.del(id)
		c.wakeLocked()
	} else {
		o = nil
	}
	c.mu.Unlock()
	if o != nil && o.d != nil {
		c.bufferAck(o.d)
	}
}

// bufferAck collects core acks on the reader: they are settled in one call
// per queue when the read buffer runs dry (flushAcks). A session has one
// queue plus one per shared subscription, so a short list beats a map.
func (c *conn) bufferAck(d *core.Delivery) {
	i := 0
	for i < len(c.ackBuf) && c.ackBuf[i].queue != d.Queue {
		i++
	}
	if i == len(c.ackBuf) {
		c.ackBuf = append(c.ackBuf, ackGroup{queue: d.Queue})
	}
	c.ackBuf[i].ids = append(c.ackBuf[i].ids, d.ID)
	c.ackN++
	if c.ackN >= 256 {
		c.flushAcks()
	}
}

type ackGroup struct {
	queue string
	ids   []uint64
}

func (c *conn) flushAcks() {
	if c.ackN == 0 {
		return
	}
	for i := range c.ackBuf {
		if g := &c.ackBuf[i]; len(g.ids) > 0 {
			c.h.b.Ack(g.queue, g.ids...)
			g.ids = g.ids[:0]
		}
	}
	c.ackN = 0
}

// onPubrec: the client owns the QoS 2 message now; the core lease is acked
// and the packet id stays in use until PUBCOMP [MQTT-4.3.3-4].
func (c *conn) onPubrec(pk *packets.Packet) {
	id := pk.PacketID
	c.mu.Lock()
	o := c.inflight.get(id)
	if o != nil && o.qos == 2 {
		c.inflight.del(id)
		if pk.ReasonCode < 0x80 {
			c.sess.mu.Lock()
			c.sess.outRel[id] = true
			c.sess.mu.Unlock()
		}
		c.wakeLocked()
	} else {
		o = nil
	}
	c.mu.Unlock()
	if o == nil {
		c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: id, ReasonCode: rcPacketIDNotFound})
		return
	}
	if pk.ReasonCode < 0x80 && c.sess.durable {
		// Stored before the core forgets the message: after a crash the
		// exchange resumes with PUBREL, not with the message again.
		q := ""
		if o.d != nil {
			q = o.d.Queue
		}
		c.h.storeOutRel(c.sess, id, relKey(q, o.msg.ID))
	}
	if o.d != nil {
		c.h.b.Ack(o.d.Queue, o.d.ID)
	}
	if pk.ReasonCode >= 0x80 {
		return // a failure PUBREC ends the exchange (MQTT 5 section 4.3.3)
	}
	c.send(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: id})
}

// onPubcomp releases the packet id of a finished QoS 2 delivery.
func (c *conn) onPubcomp(id uint16) {
	s := c.sess
	c.mu.Lock()
	s.mu.Lock()
	known := s.outRel[id]
	delete(s.outRel, id)
	s.mu.Unlock()
	c.wakeLocked()
	c.mu.Unlock()
	if known && s.durable {
		c.h.dropQoS2(s, 'o', id)
	}
}

// settleAll acks the core deliveries of out, one call per queue.
func settleAll(b *core.Broker, out []*outMsg) {
	var q string
	var ids []uint64
	for _, o := range out {
		if o.d == nil {
			continue
		}
		if o.d.Queue != q && len(ids) > 0 {
			b.Ack(q, ids...)
			ids = ids[:0]
		}
		q = o.d.Queue
		ids = append(ids, o.d.ID)
	}
	if len(ids) > 0 {
		b.Ack(q, ids...)
	}
}
