package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure the engine.
type Options struct {
	Dir        string // store directory (required)
	SyncAlways bool   // fsync every write before acknowledging it
	Logger     *slog.Logger
	// Window is the number of outstanding async publishes (default 1024,
	// 64 with SyncAlways).
	Window int
}

const (
	streamName  = "MSGS"
	bucketName  = "META"
	subjPrefix  = "q."
	flushPeriod = 20 * time.Millisecond
)

// Engine is an embedded JetStream store.
type Engine struct {
	log    *slog.Logger
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue

	inbox    string // reply subject prefix of Append acknowledgements
	window   chan struct{}
	pmu      sync.Mutex
	nextID   uint64
	pending  map[uint64]pendingAppend
	subjs    map[string]*subjAppends // pmu: per subject, records awaiting acks and held appends (merge.go)
	subjects sync.Map                // queue name -> subject

	cmu   sync.Mutex
	ccond *sync.Cond
	comps []completion
	cdone chan struct{}

	amu     sync.Mutex
	queues  map[string]*acks // by subject
	removed int

	syncAlways bool   // fsync (group commit) before running completions
	dir        string // store directory, synced with syncfs
	syncFD     int    // open descriptor of dir for syncfs; -1 when closed
	syncs      atomic.Uint64

	stop     chan struct{}
	flushed  chan struct{}
	closeMu  sync.Once
	closeErr error
}

type completion struct {
	done func(uint64, int, error)
	seq  uint64
	base int
	err  error
}

// acks tracks, per queue subject, the stored sequences still live (in
// append order) and those removed but not yet purged.
//
// A batch record (AppendBatch) holds several entries and stays stored
// until every one of them is removed. Entries removed while others of
// their record are still live are written, once per flush, to a note
// record on the queue's note subject (subject + ".n") so a restart does
// not bring them back; a note is deleted once every batch record it names
// is gone from the store.
type acks struct {
	live    []uint64
	head    int
	removed map[uint64]bool
	aged    map[uint64]bool // removed out of order for at least one flush

	parts  map[uint64]*part    // batch records with entries still live
	dirty  []uint64            // parts with removals not yet in a note
	noteOf map[uint64][]uint64 // batch record -> notes naming it
	notes  map[uint64]int      // note -> batch records it names still stored
}

// part is a stored batch record with some entries still live.
type part struct {
	left  int      // live entries
	fresh []uint32 // entries removed since the last note
}

func newAcks() *acks {
	return &acks{removed: map[uint64]bool{}, aged: map[uint64]bool{}}
}

// Open starts the embedded server on dir and opens (or creates) the stream
// and the metadata bucket.
func Open(o Options) (*Engine, error) {
	if o.Logger == nil {
		return nil, errors.New("engine: Logger is required")
	}
	if err := checkDir(o.Dir); err != nil {
		return nil, err
	}
	if o.Window <= 0 {
		o.Window = 1024
		if o.SyncAlways && !groupSyncSupported {
			o.Window = 64
		}
	}
	sopts := &server.Options{
		ServerName: "broker-store",
		JetStream:  true,
		StoreDir:   o.Dir,
		DontListen: true,
		NoLog:      true,
		NoSigs:     true,
		// sync: always is a group commit done by the engine (see
		// groupSync), not JetStream's one fsync per write.
		SyncAlways:         o.SyncAlways && !groupSyncSupported,
		JetStreamMaxMemory: 1 << 30,
		// Records up to the stream's MaxMsgSize: the default 1 MB payload
		// limit refuses a 1 MiB body once the record header is added.
		MaxPayload: 8 << 20,
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("node.data_dir %s: start store: %w", o.Dir, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("node.data_dir %s: store did not start", o.Dir)
	}
	e := &Engine{log: o.Logger, srv: srv, syncAlways: o.SyncAlways && groupSyncSupported, dir: o.Dir, pending: map[uint64]pendingAppend{}, subjs: map[string]*subjAppends{},
		window: make(chan struct{}, o.Window), inbox: "_ENG." + nats.NewInbox()[len(nats.InboxPrefix):] + ".",
		queues: map[string]*acks{}, stop: make(chan struct{}), flushed: make(chan struct{}), cdone: make(chan struct{})}
	e.ccond = sync.NewCond(&e.cmu)
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("broker-engine"), nats.MaxReconnects(-1))
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("store connect: %w", err)
	}
	e.nc = nc
	if _, err := nc.Subscribe(e.inbox+"*", e.onReply); err != nil {
		e.shutdown()
		return nil, fmt.Errorf("store: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		e.shutdown()
		return nil, fmt.Errorf("store: %w", err)
	}
	e.js = js
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        streamName,
		Subjects:    []string{subjPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		AllowDirect: true,
		Duplicates:  0,
		MaxMsgSize:  8 << 20,
	})
	if err != nil {
		e.shutdown()
		return nil, fmt.Errorf("store stream: %w", err)
	}
	e.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucketName, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		e.shutdown()
		return nil, fmt.Errorf("store metadata bucket: %w", err)
	}
	if e.syncAlways {
		if e.syncFD, err = openSyncFD(o.Dir); err != nil {
			e.shutdown()
			return nil, fmt.Errorf("node.data_dir %s: %w", o.Dir, err)
		}
	}
	go e.completions()
	go e.flusher()
	return e, nil
}

func checkDir(dir string) error {
	if dir == "" {
		return errors.New("node.data_dir: empty")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("node.data_dir %s: %w", dir, err)
	}
	probe := filepath.Join(dir, ".write-probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return fmt.Errorf("node.data_dir %s: not writable: %w", dir, err)
	}
	return os.Remove(probe)
}

// Close flushes pending removals and stops the server.
func (e *Engine) Close() error {
	e.closeMu.Do(func() {
		close(e.stop)
		<-e.flushed
		// Let outstanding appends be acknowledged.
		for deadline := time.Now().Add(5 * time.Second); len(e.window) > 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		e.cmu.Lock()
		e.comps = append(e.comps, completion{}) // sentinel: nil done ends the loop
		e.ccond.Signal()
		e.cmu.Unlock()
		<-e.cdone
		if e.syncAlways {
			closeSyncFD(e.syncFD)
		}
		e.shutdown()
	})
	return e.closeErr
}

func (e *Engine) shutdown() {
	if e.nc != nil {
		e.nc.Close()
	}
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

func subject(queue string) string {
	return subjPrefix + base64.RawURLEncoding.EncodeToString([]byte(queue))
}

func queueOf(subj string) (string, bool) {
	if !strings.HasPrefix(subj, subjPrefix) {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(subj[len(subjPrefix):])
	return string(b), err == nil
}

// Append stores rec for queue. done runs with the stream sequence once the
// write is acknowledged (after fsync with SyncAlways), or with an error.
// base is rec's entry in that record: appends to a queue made while an
// earlier record of the queue awaits its acknowledgement are stored
// together as one batch record (see merge.go), and rec is later removed
// with Remove(queue, seq, base). Callbacks run in acknowledgement order
// (the store's order) on one goroutine and may call Append.
//
// Appends are pipelined: at most Window are outstanding, further calls wait
// (up to stallWait, then fail) for the store to catch up. Each record is a
// plain publish with its own reply subject under the engine's inbox; the
// store's acknowledgement is parsed in onReply (no per-message futures or
// JSON decoding).
func (e *Engine) Append(queue string, rec []byte, done func(seq uint64, base int, err error)) {
	e.append(queue, rec, 1, done)
}

// batchMark starts a batch record; records given to Append must not start
// with it (the core's start with their codec version).
const batchMark = 0xFE

// AppendBatch stores n entries for queue as one record: one store write
// and one acknowledgement for all of them. enc appends entry i to dst;
// size (a capacity hint) is their total length. done runs as for Append,
// with the record's sequence; entry i is later removed with
// Remove(queue, seq, base+i) and Recover returns each live entry on its own.
func (e *Engine) AppendBatch(queue string, n, size int, enc func(dst []byte, i int) []byte, done func(seq uint64, base int, err error)) {
	if n == 1 {
		e.append(queue, enc(make([]byte, 0, size), 0), 1, done)
		return
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen64+4*n+size)
	b = append(b, batchMark)
	b = binary.AppendUvarint(b, uint64(n))
	for i := 0; i < n; i++ {
		at := len(b)
		b = enc(append(b, 0, 0, 0, 0), i)
		binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	}
	e.append(queue, b, n, done)
}

// splitBatch returns the entries of a batch record (batchMark, the count
// as a uvarint, then each entry as a 4-byte little-endian length and its
// bytes), or nil for a single record.
func splitBatch(rec []byte) ([][]byte, error) {
	if len(rec) == 0 || rec[0] != batchMark {
		return nil, nil
	}
	d := rec[1:]
	n, k := binary.Uvarint(d)
	if k <= 0 || n == 0 || n > uint64(len(d)) {
		return nil, fmt.Errorf("store: corrupt batch record")
	}
	d = d[k:]
	out := make([][]byte, n)
	for i := range out {
		if len(d) < 4 {
			return nil, fmt.Errorf("store: corrupt batch record")
		}
		l := binary.LittleEndian.Uint32(d)
		if uint64(l) > uint64(len(d)-4) {
			return nil, fmt.Errorf("store: corrupt batch record")
		}
		out[i] = d[4 : 4+l]
		d = d[4+l:]
	}
	return out, nil
}

func (e *Engine) append(queue string, rec []byte, n int, done func(seq uint64, base int, err error)) {
	select {
	case e.window <- struct{}{}:
	default:
		t := time.NewTimer(stallWait)
		select {
		case e.window <- struct{}{}:
			t.Stop()
		case <-t.C:
			e.complete(completion{done: done, err: fmt.Errorf("store: %d writes outstanding for %v", cap(e.window), stallWait)})
			return
		}
	}
	e.submit(e.subjectOf(queue), rec, n, done)
}

// pendingAppend is a record awaiting the store's acknowledgement.
type pendingAppend struct {
	subj  string
	n     int // entries in the record: a batch record when more than one
	done  func(uint64, int, error)
	group []held // instead of done: the appends merged into the record
}

// stallWait bounds how long Append waits for a free window slot.
const stallWait = 30 * time.Second

// subjectOf returns (and caches) the store subject of a queue.
func (e *Engine) subjectOf(queue string) string {
	if s, ok := e.subjects.Load(queue); ok {
		return s.(string)
	}
	s := subject(queue)
	e.subjects.Store(queue, s)
	return s
}

// onReply handles the store's acknowledgement of one Append.
func (e *Engine) onReply(m *nats.Msg) {
	id, err := strconv.ParseUint(m.Subject[len(e.inbox):], 36, 64)
	if err != nil {
		return
	}
	e.pmu.Lock()
	p, ok := e.pending[id]
	if ok {
		delete(e.pending, id)
		e.ackedLocked(p.subj) // sends the appends held meanwhile
	}
	e.pmu.Unlock()
	if !ok {
		return
	}
	seq, err := parsePubAck(m)
	if err == nil {
		e.track(p.subj, seq, p.n, p.n > 1)
	}
	e.finish(p, seq, err)
}

// parsePubAck reads a JetStream publish acknowledgement:
// {"stream":"MSGS","seq":N} or {"error":{"code":C,"err_code":E,"description":"..."}}.
// A reply without a body is a status (503: no responders).
func parsePubAck(m *nats.Msg) (uint64, error) {
	d := m.Data
	if len(d) == 0 {
		status := ""
		if m.Header != nil {
			status = m.Header.Get("Status") + " " + m.Header.Get("Description")
		}
		return 0, fmt.Errorf("store unavailable: status %s", strings.TrimSpace(status))
	}
	if bytes.Contains(d, []byte(`"error"`)) {
		var r struct {
			Error struct {
				Code        int    `json:"code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(d, &r); err != nil {
			return 0, fmt.Errorf("store: bad acknowledgement %q", d)
		}
		return 0, fmt.Errorf("store: %s (%d)", r.Error.Description, r.Error.Code)
	}
	i := bytes.Index(d, []byte(`"seq":`))
	if i < 0 {
		return 0, fmt.Errorf("store: bad acknowledgement %q", d)
	}
	digits := d[i+len(`"seq":`):]
	n := 0
	for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
		n++
	}
	seq, err := strconv.ParseUint(string(digits[:n]), 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("store: bad acknowledgement %q", d)
	}
	return seq, nil
}

func (e *Engine) complete(c completion) {
	e.cmu.Lock()
	e.comps = append(e.comps, c)
	e.ccond.Signal()
	e.cmu.Unlock()
}

// completions runs done callbacks off the NATS ack goroutine, in order.
func (e *Engine) completions() {
	defer close(e.cdone)
	var batch []completion
	for {
		e.cmu.Lock()
		for len(e.comps) == 0 {
			e.ccond.Wait()
		}
		batch, e.comps = e.comps, batch[:0]
		e.cmu.Unlock()
		if e.syncAlways {
			// Group commit: one syncfs makes every write acknowledged so
			// far durable before any of them is confirmed; appends that
			// arrive meanwhile wait for the next round.
			e.syncs.Add(1)
			if err := e.syncNow(); err != nil {
				e.log.Error("store fsync failed; confirming none of this batch", "err", err)
				for i := range batch {
					if batch[i].done != nil && batch[i].err == nil {
						batch[i].err = err
					}
				}
			}
		}
		for i, c := range batch {
			if c.done == nil {
				return
			}
			c.done(c.seq, c.base, c.err)
			batch[i] = completion{}
		}
	}
}

// track records a stored record with left live entries; a batch record
// stays stored until each of them is removed.
func (e *Engine) track(subj string, seq uint64, left int, batch bool) {
	e.amu.Lock()
	a := e.queues[subj]
	if a == nil {
		a = newAcks()
		e.queues[subj] = a
	}
	a.live = append(a.live, seq)
	if batch {
		if a.parts == nil {
			a.parts = map[uint64]*part{}
		}
		a.parts[seq] = &part{left: left}
	}
	e.amu.Unlock()
}

// Remove marks a stored message of queue as acknowledged: seq is the
// record's sequence and idx its entry in a batch record (0 otherwise). The
// store drops the record within a flush period once all of its entries
// are removed (in-order acks fold into one purge).
func (e *Engine) Remove(queue string, seq uint64, idx int) {
	subj := e.subjectOf(queue)
	e.amu.Lock()
	a := e.queues[subj]
	if a == nil {
		a = newAcks()
		e.queues[subj] = a
	}
	if p := a.parts[seq]; p != nil {
		p.left--
		if p.left > 0 {
			if len(p.fresh) == 0 {
				a.dirty = append(a.dirty, seq)
			}
			p.fresh = append(p.fresh, uint32(idx))
			e.removed++
			e.amu.Unlock()
			return
		}
		delete(a.parts, seq)
	}
	a.removed[seq] = true
	e.removed++
	e.amu.Unlock()
}

// Purge deletes every stored message of queue (queue deleted).
func (e *Engine) Purge(queue string) {
	subj := e.subjectOf(queue)
	e.subjects.Delete(queue)
	e.amu.Lock()
	delete(e.queues, subj)
	e.amu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.stream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		e.log.Error("store purge", "dest", queue, "err", err)
	}
	if err := e.stream.Purge(ctx, jetstream.WithPurgeSubject(subj+noteSuffix)); err != nil {
		e.log.Error("store purge notes", "dest", queue, "err", err)
	}
}

func (e *Engine) flusher() {
	defer close(e.flushed)
	t := time.NewTicker(flushPeriod)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			e.flush(true)
			return
		case <-t.C:
			e.flush(false)
		}
	}
}

type purgeOp struct {
	subj string
	upTo uint64 // purge seq < upTo
}

// flush writes the notes of partly removed batch records, then turns
// removals into purges (contiguous from the oldest live message) and
// deletes (out of order, once they have waited one period), and finally
// deletes the notes no stored record needs any more.
func (e *Engine) flush(final bool) {
	e.amu.Lock()
	if e.removed == 0 {
		e.amu.Unlock()
		return
	}
	type noteOp struct {
		subj string
		data []byte
		seqs []uint64
	}
	var writes []noteOp
	for subj, a := range e.queues {
		if len(a.dirty) == 0 {
			continue
		}
		var op noteOp
		for _, seq := range a.dirty {
			p := a.parts[seq]
			if p == nil || len(p.fresh) == 0 {
				continue // every entry removed since: the record goes
			}
			op.data = binary.AppendUvarint(op.data, seq)
			op.data = binary.AppendUvarint(op.data, uint64(len(p.fresh)))
			for _, i := range p.fresh {
				op.data = binary.AppendUvarint(op.data, uint64(i))
			}
			p.fresh = p.fresh[:0]
			op.seqs = append(op.seqs, seq)
		}
		a.dirty = a.dirty[:0]
		if len(op.seqs) > 0 {
			op.subj = subj
			writes = append(writes, op)
		}
	}
	e.amu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, w := range writes {
		ack, err := e.js.Publish(ctx, w.subj+noteSuffix, w.data)
		if err != nil {
			// Only a restart before the records go would bring these
			// entries back (at-least-once, as acks within a flush period).
			e.log.Error("store removal note", "err", err)
			continue
		}
		e.amu.Lock()
		if a := e.queues[w.subj]; a != nil {
			a.addNote(ack.Sequence, w.seqs)
		}
		e.amu.Unlock()
	}

	e.amu.Lock()
	var purges []purgeOp
	var deletes, notes []uint64
	e.removed = 0
	for subj, a := range e.queues {
		// Removals of batch entries that arrived after the notes above
		// were taken keep the next flush due.
		e.removed += len(a.dirty)
		if len(a.removed) == 0 {
			continue
		}
		start := a.head
		for a.head < len(a.live) && a.removed[a.live[a.head]] {
			seq := a.live[a.head]
			delete(a.removed, seq)
			delete(a.aged, seq)
			notes = a.gone(seq, notes)
			a.head++
		}
		if a.head > start {
			purges = append(purges, purgeOp{subj: subj, upTo: a.live[a.head-1] + 1})
		}
		if a.head > 4096 && a.head*2 > len(a.live) {
			a.live = append(a.live[:0:0], a.live[a.head:]...)
			a.head = 0
		}
		for seq := range a.removed {
			if a.aged[seq] || final {
				deletes = append(deletes, seq)
				delete(a.removed, seq)
				delete(a.aged, seq)
				notes = a.gone(seq, notes)
				a.live = dropSeq(a.live, a.head, seq)
			} else {
				a.aged[seq] = true
				e.removed++
			}
		}
	}
	e.amu.Unlock()
	for _, p := range purges {
		if err := e.stream.Purge(ctx, jetstream.WithPurgeSubject(p.subj), jetstream.WithPurgeSequence(p.upTo)); err != nil {
			e.log.Error("store purge acked", "err", err)
		}
	}
	e.deleteMany(ctx, deletes)
	e.deleteMany(ctx, notes)
}

// noteSuffix ends the subject of a queue's removal notes.
const noteSuffix = ".n"

// addNote records that note names the batch records seqs.
func (a *acks) addNote(note uint64, seqs []uint64) {
	if a.noteOf == nil {
		a.noteOf, a.notes = map[uint64][]uint64{}, map[uint64]int{}
	}
	for _, seq := range seqs {
		a.noteOf[seq] = append(a.noteOf[seq], note)
	}
	a.notes[note] += len(seqs)
}

// gone forgets a record leaving the store, appending the notes that no
// longer name any stored record to free.
func (a *acks) gone(seq uint64, free []uint64) []uint64 {
	for _, n := range a.noteOf[seq] {
		if a.notes[n]--; a.notes[n] <= 0 {
			delete(a.notes, n)
			free = append(free, n)
		}
	}
	delete(a.noteOf, seq)
	return free
}

func dropSeq(live []uint64, head int, seq uint64) []uint64 {
	lo, hi := head, len(live)
	for lo < hi {
		mid := (lo + hi) / 2
		if live[mid] < seq {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(live) && live[lo] == seq {
		return append(live[:lo], live[lo+1:]...)
	}
	return live
}

func (e *Engine) deleteMany(ctx context.Context, seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	const workers = 16
	ch := make(chan uint64)
	var wg sync.WaitGroup
	for i := 0; i < min(workers, len(seqs)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range ch {
				if err := e.stream.DeleteMsg(ctx, seq); err != nil && !alreadyGone(err) {
					e.log.Error("store delete acked", "seq", seq, "err", err)
				}
			}
		}()
	}
	for _, s := range seqs {
		ch <- s
	}
	close(ch)
	wg.Wait()
}

// alreadyGone reports a delete of a message that is no longer stored (its
// queue was purged or deleted meanwhile): not an error.
func alreadyGone(err error) bool {
	return errors.Is(err, jetstream.ErrMsgNotFound) || strings.Contains(err.Error(), "no message found")
}
