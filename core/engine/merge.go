package engine

import (
	"encoding/binary"
	"strconv"
)

// Merging appends: while a record of a queue awaits the store's
// acknowledgement, further appends to that queue are held, and the next
// acknowledgement of the queue sends them all as one batch record (group
// commit). Under load this turns many small records into few larger ones
// (one store write, one acknowledgement and one pass through the embedded
// server each); an append to an idle queue is sent at once, as before.
//
// Order: records are published under pmu, so the store's order is the
// order in which appends were submitted (held appends go before any later
// one), and the callbacks of a merged record run in that order too.
//
// Each append keeps its own window slot until its record is acknowledged,
// so Window still bounds the appends outstanding (Close waits for them).

// held is an append waiting for the next record of its queue.
type held struct {
	rec  []byte
	n    int
	done func(uint64, int, error)
	base int // its first entry in the merged record
}

// subjAppends is the merging state of one queue subject (pmu).
type subjAppends struct {
	inflight int // records sent and not yet acknowledged
	held     []held
	heldN    int // entries held
	heldSize int // bytes held
}

const (
	// mergeMaxBytes bounds a merged record (the stream takes 8 MiB), so
	// a merge never makes a record the store refuses; larger appends are
	// sent on their own.
	mergeMaxBytes = 1 << 20
	// mergeMaxEntries: entries are numbered with 16 bits (core entry.sub).
	mergeMaxEntries = 1<<16 - 1
)

// submit sends rec (n entries, a batch record when n > 1) for subj, or
// holds it for the next record of subj.
func (e *Engine) submit(subj string, rec []byte, n int, done func(uint64, int, error)) {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	st := e.subjs[subj]
	if st == nil {
		st = &subjAppends{}
		e.subjs[subj] = st
	}
	if st.inflight > 0 && len(rec) <= mergeMaxBytes && n <= mergeMaxEntries {
		if st.heldSize+len(rec) > mergeMaxBytes || st.heldN+n > mergeMaxEntries {
			e.sendHeldLocked(subj, st)
		}
		st.held = append(st.held, held{rec: rec, n: n, done: done})
		st.heldN += n
		st.heldSize += len(rec)
		return
	}
	if len(st.held) > 0 {
		e.sendHeldLocked(subj, st) // they were submitted first
	}
	e.sendLocked(subj, st, pendingAppend{subj: subj, n: n, done: done}, rec)
}

// ackedLocked notes that a record of subj was acknowledged and sends what
// was held for it meanwhile.
func (e *Engine) ackedLocked(subj string) {
	st := e.subjs[subj]
	if st == nil {
		return
	}
	st.inflight--
	if len(st.held) > 0 {
		e.sendHeldLocked(subj, st)
	} else if st.inflight == 0 {
		delete(e.subjs, subj)
	}
}

// sendHeldLocked sends the held appends of subj as one record: a lone one
// as it is, several as a batch record of all their entries.
func (e *Engine) sendHeldLocked(subj string, st *subjAppends) {
	hs := st.held
	st.held, st.heldN, st.heldSize = nil, 0, 0
	if len(hs) == 1 {
		e.sendLocked(subj, st, pendingAppend{subj: subj, n: hs[0].n, done: hs[0].done}, hs[0].rec)
		return
	}
	total, size := 0, 0
	for _, h := range hs {
		total += h.n
		size += len(h.rec)
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen64+4*len(hs)+size)
	b = append(b, batchMark)
	b = binary.AppendUvarint(b, uint64(total))
	base := 0
	for i := range hs {
		h := &hs[i]
		h.base = base
		base += h.n
		if h.n == 1 {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(h.rec)))
			b = append(b, h.rec...)
		} else { // a batch record: its entries, as they are (length-prefixed)
			_, k := binary.Uvarint(h.rec[1:])
			b = append(b, h.rec[1+k:]...)
		}
		h.rec = nil // the merged record has the bytes now
	}
	e.sendLocked(subj, st, pendingAppend{subj: subj, n: total, group: hs}, b)
}

// sendLocked publishes one record; the store's acknowledgement arrives in
// onReply.
func (e *Engine) sendLocked(subj string, st *subjAppends, p pendingAppend, rec []byte) {
	e.nextID++
	id := e.nextID
	e.pending[id] = p
	st.inflight++
	if err := e.nc.PublishRequest(subj, e.inbox+strconv.FormatUint(id, 36), rec); err != nil {
		delete(e.pending, id)
		st.inflight--
		e.finish(p, 0, err)
	}
}

// finish returns the window slots of a record's appends and queues their
// callbacks: with the record's sequence and each one's first entry, or
// with err.
func (e *Engine) finish(p pendingAppend, seq uint64, err error) {
	if p.group == nil {
		<-e.window
		e.complete(completion{done: p.done, seq: seq, err: err})
		return
	}
	for _, h := range p.group {
		<-e.window
		e.complete(completion{done: h.done, seq: seq, base: h.base, err: err})
	}
}
