package core

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// PublishResult says where a message went.
type PublishResult struct {
	// Routed is the number of queues that took the message; 0 = unroutable.
	Routed int
	// Busy, when not nil, is a queue that took the message with a backlog
	// over FlowHigh while its consumers are making progress: the publisher
	// should slow down (Busy.Wait, flow.go). Protocols may ignore it.
	Busy *Flow
}

// tracker calls done once every queue's copy is safe.
type tracker struct {
	pending atomic.Int32
	failed  atomic.Pointer[error]
	done    func(error)
	bdone   func(int, error) // PublishBatch: done(i, err) of message i
	i       int
}

func (t *tracker) finish(err error) {
	if t == nil {
		return
	}
	if err != nil {
		t.fail(err)
	}
	if t.pending.Add(-1) == 0 {
		var err error
		if p := t.failed.Load(); p != nil {
			err = *p
		}
		if t.done != nil {
			t.done(err)
		} else if t.bdone != nil {
			t.bdone(t.i, err)
		}
	}
}

// fail records the first error. It is apart from finish so that only a
// failure moves an error to the heap (taking &err in finish would allocate
// on every call, once per queue of every publish); noinline keeps it so.
//
//go:noinline
func (t *tracker) fail(err error) { t.failed.CompareAndSwap(nil, &err) }

var routePool = sync.Pool{New: func() any { s := make([]*queue, 0, 8); return &s }}

// Publish routes m through exchange with routing key key. It returns at once
// with the routing result; done (may be nil) runs once every durable copy
// is stored (or with the first error, for example ErrQuotaExceeded from a
// reject-publish queue). done may run before Publish returns, on the
// caller's goroutine, or later on another one; it runs exactly once when
// Publish returns a nil error, and never otherwise.
func (b *Broker) Publish(exchangeName, key string, m *Message, done func(error)) (PublishResult, error) {
	if b.closed.Load() {
		return PublishResult{}, fmt.Errorf("broker: %w", ErrClosed)
	}
	now := b.now()
	m.Exchange, m.RoutingKey = exchangeName, key
	if m.ID == "" {
		m.ID = newID()
	}
	if m.SentAt.IsZero() {
		m.SentAt = now
	}
	qsp := routePool.Get().(*[]*queue)
	qs := (*qsp)[:0]
	b.mu.RLock()
	x, ok := b.exchanges[exchangeName]
	if !ok {
		b.mu.RUnlock()
		routePool.Put(qsp)
		return PublishResult{}, fmt.Errorf("no exchange '%s' in vhost '/': %w", exchangeName, ErrNotFound)
	}
	qs = b.routeLocked(x, m, qs, 0)
	if len(qs) > containsScanMax && anyMultiBound(qs) {
		qs = dedupQueues(qs)
	}
	b.mu.RUnlock()
	b.stats.Published.Add(1)
	if len(qs) == 0 {
		b.stats.Unroutable.Add(1)
		routePool.Put(qsp)
		if done != nil {
			done(nil)
		}
		return PublishResult{}, nil
	}
	res := PublishResult{Routed: len(qs)}
	var t *tracker
	if done != nil {
		t = &tracker{done: done}
		t.pending.Store(int32(len(qs)) + 1)
	}
	start := 0 // qs[:start] are the queues whose dispatch this publish starts
	for i, q := range qs {
		mm := m
		if q.cfg.FIFO && i > 0 {
			mm = m.Clone()
		}
		qs[i] = nil
		if q.enqueue(mm, t, now) {
			qs[start] = q
			start++
		}
		if res.Busy == nil && q.flow.busy() {
			res.Busy = &q.flow
		}
	}
	// One pass over the dispatch pool for every queue of a fan-out.
	dispatchers.submit(qs[:start]...)
	clear(qs[:start])
	*qsp = qs[:0]
	routePool.Put(qsp)
	t.finish(nil)
	return res, nil
}

// routeLocked appends the queues m reaches from x (b.mu read-held),
// following exchange-to-exchange bindings and alternate exchanges.
func (b *Broker) routeLocked(x *exchange, m *Message, qs []*queue, depth int) []*queue {
	if depth > 8 {
		return qs
	}
	start := len(qs)
	if x.cfg.Name == "" {
		if q, ok := b.queues[m.RoutingKey]; ok {
			return append(qs, q)
		}
		return qs
	}
	var buf [8]*Binding
	for _, bd := range x.route(m, buf[:0]) {
		if bd.filter != nil && !bd.filter.Match(m) {
			continue
		}
		if bd.destQueue != nil {
			if !containsQueue(qs, bd.destQueue) {
				qs = append(qs, bd.destQueue)
			}
		} else if bd.destExchange != nil {
			qs = b.routeLocked(bd.destExchange, m, qs, depth+1)
		}
	}
	if len(qs) == start && x.cfg.AlternateExchange != "" {
		if ae, ok := b.exchanges[x.cfg.AlternateExchange]; ok {
			qs = b.routeLocked(ae, m, qs, depth+1)
		}
	}
	return qs
}

// containsScanMax bounds the linear duplicate check during routing; past
// it, Publish removes duplicates once with a set (a queue bound twice with
// matching keys still gets one copy).
const containsScanMax = 64

// anyMultiBound reports whether some queue has several bindings (b.mu
// held): only then can routing reach it twice.
func anyMultiBound(qs []*queue) bool {
	for _, q := range qs {
		if len(q.bindings) > 1 {
			return true
		}
	}
	return false
}

func dedupQueues(qs []*queue) []*queue {
	seen := make(map[*queue]struct{}, len(qs))
	out := qs[:0]
	for _, q := range qs {
		if _, ok := seen[q]; !ok {
			seen[q] = struct{}{}
			out = append(out, q)
		}
	}
	clear(qs[len(out):])
	return out
}

func containsQueue(qs []*queue, q *queue) bool {
	if len(qs) > containsScanMax {
		return false // Publish dedups large fan-outs with a set
	}
	for _, x := range qs {
		if x == q {
			return true
		}
	}
	return false
}

// enqueue adds m to q, storing it first when q is durable and m persistent.
// It reports whether the caller must start q's dispatch (q.startDispatch).
func (q *queue) enqueue(m *Message, t *tracker, now time.Time) bool {
	q.mu.Lock()
	if ok, dl, err := q.admitLocked(m, now); !ok {
		q.mu.Unlock()
		if dl != nil {
			q.b.flushDeadLetters([]*deadLetter{dl})
		}
		t.finish(err)
		return false
	}
	e := &entry{msg: m, size: len(m.Body), enqueued: now}
	q.setTimesLocked(e, now)
	if q.cfg.Durable && m.Props.Persistent && q.b.eng != nil {
		slot := &orderSlot{e: e, t: t}
		q.order = append(q.order, slot)
		q.mu.Unlock()
		rec := EncodeMessage(make([]byte, 0, len(m.Body)+128), m)
		q.b.eng.Append(q.key, rec, func(seq uint64, base int, err error) {
			q.mu.Lock()
			if err != nil {
				slot.state = slotFailed
			} else {
				e.seq, e.sub = seq, uint16(base)
				slot.state = slotReady
			}
			q.drainOrderLocked()
			if err != nil {
				t.finish(fmt.Errorf("store: %w: %v", ErrUnavailable, err))
			}
		})
		return false
	}
	if len(q.order) > 0 {
		// An earlier persistent message is still being stored: queue
		// behind it rather than overtake it.
		q.order = append(q.order, &orderSlot{e: e, t: t, state: slotReady})
		q.mu.Unlock()
		return false
	}
	return q.insertLocked(e, t)
}

// admitLocked applies the checks a message passes before it joins q (q.mu
// held): q deleted, size limit, FIFO deduplication (and sequence number),
// reject-publish overflow. When m is not admitted (!ok), err (nil for a
// silent drop) is what its publisher is told and dl, if not nil, must be
// dead-lettered once q.mu is released.
func (q *queue) admitLocked(m *Message, now time.Time) (ok bool, dl *deadLetter, err error) {
	if q.deleted {
		return false, nil, nil
	}
	if q.cfg.MaxMessageSize > 0 && len(m.Body) > q.cfg.MaxMessageSize {
		return false, nil, fmt.Errorf("message of %d bytes over the %d byte limit of queue '%s': %w", len(m.Body), q.cfg.MaxMessageSize, q.cfg.Name, ErrTooLarge)
	}
	if q.cfg.FIFO {
		if m.DedupID != "" && q.cfg.DedupWindow > 0 {
			if q.dedup == nil {
				q.dedup = map[string]time.Time{}
			}
			if exp, ok := q.dedup[m.DedupID]; ok && now.Before(exp) {
				return false, nil, nil
			}
			if len(q.dedup) > 4096 {
				for k, exp := range q.dedup {
					if !now.Before(exp) {
						delete(q.dedup, k)
					}
				}
			}
			q.dedup[m.DedupID] = now.Add(q.cfg.DedupWindow)
		}
		q.fifoSeq++
		m.Sequence = q.fifoSeq
	}
	if q.rejectFullLocked(len(m.Body)) {
		if q.cfg.Overflow == OverflowRejectPublishDLX {
			dl = &deadLetter{q: q, e: &entry{msg: m, size: len(m.Body)}, reason: "maxlen"}
		}
		return false, dl, fmt.Errorf("queue '%s' is full: %w", q.cfg.Name, ErrQuotaExceeded)
	}
	return true, nil, nil
}

// batchRecordBytes bounds the bodies stored in one batch record.
const batchRecordBytes = 1 << 20

// enqueueBatch adds ms (with their trackers ts) to q in order. When q is
// durable and every message persistent, the store gets one batch record
// per batchRecordBytes of bodies instead of one record per message. It
// reports whether the caller must start q's dispatch.
func (q *queue) enqueueBatch(ms []*Message, ts []*tracker, now time.Time) bool {
	batch := len(ms) > 1 && q.cfg.Durable && q.b.eng != nil
	for _, m := range ms {
		batch = batch && m.Props.Persistent
	}
	if !batch {
		start := false
		for i, m := range ms {
			start = q.enqueue(m, ts[i], now) || start
		}
		return start
	}
	type refused struct {
		t   *tracker
		err error
	}
	var refusals []refused
	var dls []*deadLetter
	// One allocation each for the batch's entries and order slots.
	es := make([]entry, len(ms))
	ss := make([]orderSlot, len(ms))
	slots := make([]*orderSlot, 0, len(ms))
	q.mu.Lock()
	for i, m := range ms {
		if ok, dl, err := q.admitLocked(m, now); !ok {
			refusals = append(refusals, refused{ts[i], err})
			if dl != nil {
				dls = append(dls, dl)
			}
			continue
		}
		e := &es[i]
		*e = entry{msg: m, size: len(m.Body), enqueued: now}
		q.setTimesLocked(e, now)
		slot := &ss[i]
		*slot = orderSlot{e: e, t: ts[i]}
		q.order = append(q.order, slot)
		slots = append(slots, slot)
	}
	q.mu.Unlock()
	q.b.flushDeadLetters(dls)
	for _, r := range refusals {
		r.t.finish(r.err)
	}
	for len(slots) > 0 {
		n, size := 0, 0
		for n < len(slots) && n < 1<<16 && (n == 0 || size+slots[n].e.size <= batchRecordBytes) {
			size += slots[n].e.size
			n++
		}
		group := slots[:n]
		slots = slots[n:]
		q.b.eng.AppendBatch(q.key, len(group), size+128*len(group), func(dst []byte, i int) []byte {
			return EncodeMessage(dst, group[i].e.msg)
		}, func(seq uint64, base int, err error) {
			q.mu.Lock()
			for i, sl := range group {
				if err != nil {
					sl.state = slotFailed
				} else {
					sl.e.seq, sl.e.sub = seq, uint16(base+i)
					sl.state = slotReady
				}
			}
			q.drainOrderLocked()
			if err != nil {
				for _, sl := range group {
					sl.t.finish(fmt.Errorf("store: %w: %v", ErrUnavailable, err))
				}
			}
		})
	}
	return false
}

// PublishBatch publishes ms through one exchange with one routing key, as
// Publish would one after the other, except that the messages a durable
// queue takes are stored as one record (see enqueueBatch): one store write
// and acknowledgement instead of one per message. done(i, err) runs once
// for each message i as Publish's done would; results[i] is its routing
// result.
func (b *Broker) PublishBatch(exchangeName, key string, ms []*Message, done func(i int, err error)) ([]PublishResult, error) {
	if b.closed.Load() {
		return nil, fmt.Errorf("broker: %w", ErrClosed)
	}
	now := b.now()
	for _, m := range ms {
		m.Exchange, m.RoutingKey = exchangeName, key
		if m.ID == "" {
			m.ID = newID()
		}
		if m.SentAt.IsZero() {
			m.SentAt = now
		}
	}
	routes := make([][]*queue, len(ms))
	b.mu.RLock()
	x, ok := b.exchanges[exchangeName]
	if !ok {
		b.mu.RUnlock()
		return nil, fmt.Errorf("no exchange '%s' in vhost '/': %w", exchangeName, ErrNotFound)
	}
	for i, m := range ms {
		if i > 0 && exchangeName == "" {
			routes[i] = routes[0] // the default exchange routes by key alone
			continue
		}
		qs := b.routeLocked(x, m, nil, 0)
		if len(qs) > containsScanMax && anyMultiBound(qs) {
			qs = dedupQueues(qs)
		}
		routes[i] = qs
	}
	b.mu.RUnlock()
	// Group the copies by queue, keeping publish order within each.
	type group struct {
		q  *queue
		ms []*Message
		ts []*tracker
	}
	var groups []group
	index := map[*queue]int{} // used past a few groups
	results := make([]PublishResult, len(ms))
	trackers := make([]*tracker, len(ms))
	var tblock []tracker
	if done != nil {
		tblock = make([]tracker, len(ms))
	}
	for i, m := range ms {
		b.stats.Published.Add(1)
		qs := routes[i]
		results[i].Routed = len(qs)
		if len(qs) == 0 {
			b.stats.Unroutable.Add(1)
			if done != nil {
				done(i, nil)
			}
			continue
		}
		var t *tracker
		if done != nil {
			t = &tblock[i]
			t.bdone, t.i = done, i
			t.pending.Store(int32(len(qs)) + 1)
		}
		trackers[i] = t
		for k, q := range qs {
			mm := m
			if q.cfg.FIFO && k > 0 {
				mm = m.Clone()
			}
			g := -1
			if len(groups) <= 8 {
				for j := range groups {
					if groups[j].q == q {
						g = j
						break
					}
				}
			} else if j, ok := index[q]; ok {
				g = j
			}
			if g < 0 {
				// Sized for the rest of the batch: one allocation each
				// when every message goes to the same queues.
				groups = append(groups, group{q: q, ms: make([]*Message, 0, len(ms)-i), ts: make([]*tracker, 0, len(ms)-i)})
				g = len(groups) - 1
				if g == 8 {
					for j := range groups {
						index[groups[j].q] = j
					}
				} else if g > 8 {
					index[q] = g
				}
			}
			groups[g].ms = append(groups[g].ms, mm)
			groups[g].ts = append(groups[g].ts, t)
		}
	}
	var start []*queue
	for _, g := range groups {
		if g.q.enqueueBatch(g.ms, g.ts, now) {
			start = append(start, g.q)
		}
	}
	dispatchers.submit(start...)
	for _, t := range trackers {
		t.finish(nil)
	}
	return results, nil
}

// orderSlot is a message waiting in queue.order.
type orderSlot struct {
	e     *entry
	t     *tracker
	state uint8
}

const (
	slotStoring = iota // store append in flight
	slotReady          // may enter the queue
	slotFailed         // store failed; the publisher is told by the caller
)

// drainOrderLocked moves the ready head of q.order into the queue in
// publish order, then unlocks q. Each entry is inserted under q.mu, so
// concurrent drainers cannot reorder them.
func (q *queue) drainOrderLocked() {
	for len(q.order) > 0 && q.order[0].state != slotStoring {
		s := q.order[0]
		q.order[0] = nil
		q.order = q.order[1:]
		if len(q.order) == 0 {
			q.order = nil
		}
		if s.state == slotFailed {
			continue
		}
		if q.deleted {
			q.mu.Unlock()
			s.t.finish(nil)
			q.mu.Lock()
			continue
		}
		if q.insertLocked(s.e, s.t) { // unlocks
			q.startDispatch()
		}
		q.mu.Lock()
	}
	q.mu.Unlock()
}

// insertLocked adds e and unlocks q. It reports whether the caller must
// start q's dispatch.
func (q *queue) insertLocked(e *entry, t *tracker) bool {
	var dl []*deadLetter
	if q.rejectFullLocked(e.size) {
		q.mu.Unlock()
		if e.seq != 0 {
			q.b.eng.Remove(q.key, e.seq, int(e.sub))
		}
		t.finish(fmt.Errorf("queue '%s' is full: %w", q.cfg.Name, ErrQuotaExceeded))
		return false
	}
	q.bytes += int64(e.size)
	q.nextPos++
	e.pos = q.nextPos
	if !e.visible.IsZero() {
		q.delayed.push(timed{at: e.visible, e: e})
		q.scheduleLocked(e.visible)
	} else {
		q.pushReadyLocked(e, false)
		if !e.expires.IsZero() && q.nready == 1 {
			q.scheduleLocked(e.expires)
		}
	}
	dl = q.dropHeadLocked(dl)
	q.wakeWaitersLocked()
	start := q.wantDispatchLocked()
	q.mu.Unlock()
	t.finish(nil)
	q.b.flushDeadLetters(dl)
	return start
}

func (q *queue) setTimesLocked(e *entry, now time.Time) {
	m := e.msg
	if mp := m.Props.Priority; q.cfg.MaxPriority > 0 && m.Props.HasPriority {
		e.pri = min(mp, q.cfg.MaxPriority)
	}
	ttl := q.cfg.MessageTTL
	if m.Props.Expiration > 0 && (ttl == 0 || m.Props.Expiration < ttl) {
		ttl = m.Props.Expiration
	}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	if r := q.cfg.Retention; r > 0 {
		if exp := m.SentAt.Add(r); e.expires.IsZero() || exp.Before(e.expires) {
			e.expires = exp
			e.dropExpired = true
		}
	}
	delay := m.Delay
	if delay == 0 {
		delay = q.cfg.DeliveryDelay
	}
	if delay > 0 {
		e.visible = now.Add(delay)
	}
}

func (q *queue) rejectFullLocked(size int) bool {
	if q.cfg.Overflow != OverflowRejectPublish && q.cfg.Overflow != OverflowRejectPublishDLX {
		return false
	}
	n := int64(q.nready + q.delayed.Len())
	return (q.cfg.MaxLength > 0 && n >= q.cfg.MaxLength) || (q.cfg.MaxBytes > 0 && q.bytes+int64(size) > q.cfg.MaxBytes)
}

// dropHeadLocked enforces max-length/max-bytes by dropping the oldest ready messages.
func (q *queue) dropHeadLocked(dl []*deadLetter) []*deadLetter {
	if q.cfg.Overflow != OverflowDropHead {
		return dl
	}
	for (q.cfg.MaxLength > 0 && int64(q.nready) > q.cfg.MaxLength) || (q.cfg.MaxBytes > 0 && q.bytes > q.cfg.MaxBytes && q.nready > 0) {
		var e *entry
		for lvl := 0; lvl < len(q.ready) && e == nil; lvl++ {
			e = q.ready[lvl].popFront()
		}
		if e == nil {
			break
		}
		q.nready--
		q.b.stats.Dropped.Add(1)
		dl = q.deadLetterLocked(e, "maxlen", dl)
	}
	return dl
}

// expireLocked handles an entry whose TTL or retention ran out.
func (q *queue) expireLocked(e *entry, dl []*deadLetter) []*deadLetter {
	q.b.stats.Expired.Add(1)
	if e.dropExpired {
		q.forgetLocked(e)
		return dl
	}
	return q.deadLetterLocked(e, "expired", dl)
}

// deadLetterLocked removes e and, when the queue has a dead-letter target,
// schedules its republish (done by flushDeadLetters without locks).
func (q *queue) deadLetterLocked(e *entry, reason string, dl []*deadLetter) []*deadLetter {
	if !q.cfg.HasDeadLetter {
		q.forgetLocked(e)
		return dl
	}
	dl = append(dl, &deadLetter{q: q, e: e, reason: reason})
	return dl
}

// flushDeadLetters republishes dead letters with an x-death record, then
// removes the originals once the copies are safe.
func (b *Broker) flushDeadLetters(dl []*deadLetter) {
	for _, d := range dl {
		q, e := d.q, d.e
		q.mu.Lock()
		cfg := q.cfg
		q.mu.Unlock()
		m := e.msg.Clone()
		m.Props.Headers = addDeath(m.Props.Headers, cfg.Name, d.reason, e.msg, b.now())
		m.Props.Expiration = 0
		m.Delay = 0
		m.ID = e.msg.ID
		key := cfg.DeadLetterRoutingKey
		if key == "" {
			key = e.msg.RoutingKey
		}
		b.stats.DeadLetters.Add(1)
		finish := func(error) {
			q.mu.Lock()
			q.forgetLocked(e)
			q.mu.Unlock()
		}
		if _, err := b.Publish(cfg.DeadLetterExchange, key, m, finish); err != nil {
			finish(err)
		}
	}
}

// addDeath returns headers with the x-death list (the de-facto dead-letter record) updated.
func addDeath(h Table, queue, reason string, orig *Message, now time.Time) Table {
	out := make(Table, len(h)+3)
	for k, v := range h {
		out[k] = v
	}
	var deaths []any
	if old, ok := h["x-death"].([]any); ok {
		deaths = append(deaths, old...)
	}
	for i, d := range deaths {
		t, ok := d.(Table)
		if ok && t["queue"] == queue && t["reason"] == reason {
			nt := make(Table, len(t))
			for k, v := range t {
				nt[k] = v
			}
			cnt, _ := nt["count"].(int64)
			nt["count"] = cnt + 1
			nt["time"] = now
			deaths = append(deaths[:i:i], deaths[i+1:]...)
			deaths = append([]any{nt}, deaths...)
			out["x-death"] = deaths
			return out
		}
	}
	rec := Table{"count": int64(1), "reason": reason, "queue": queue, "time": now,
		"exchange": orig.Exchange, "routing-keys": []any{orig.RoutingKey}}
	if orig.Props.Expiration > 0 {
		rec["original-expiration"] = fmt.Sprint(orig.Props.Expiration.Milliseconds())
	}
	out["x-death"] = append([]any{rec}, deaths...)
	if _, ok := out["x-first-death-queue"]; !ok {
		out["x-first-death-queue"] = queue
		out["x-first-death-reason"] = reason
		out["x-first-death-exchange"] = orig.Exchange
	}
	out["x-last-death-queue"] = queue
	out["x-last-death-reason"] = reason
	out["x-last-death-exchange"] = orig.Exchange
	return out
}
