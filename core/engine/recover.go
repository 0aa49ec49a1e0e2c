package engine

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Recover calls fn for every stored message, in stream order, with its
// record's sequence and its entry in a batch record (0 otherwise). fn
// returns false for a message that no longer belongs anywhere; such
// messages are deleted. Entries of batch records named by removal notes
// are not returned.
func (e *Engine) Recover(fn func(queue string, seq uint64, idx int, rec []byte) bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	info, err := e.stream.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return nil
	}
	// Pass 1: the removal notes, by queue subject and batch record.
	removed := map[string]map[uint64][]uint32{}
	type noteRef struct {
		subj string
		seqs []uint64
	}
	var notes = map[uint64]noteRef{}
	var orphans []uint64
	err = e.scan(ctx, subjPrefix+"*"+noteSuffix, func(subj string, seq uint64, data []byte) error {
		qs := strings.TrimSuffix(subj, noteSuffix)
		ref := noteRef{subj: qs}
		for len(data) > 0 {
			rs, k := binary.Uvarint(data)
			if k <= 0 {
				break
			}
			data = data[k:]
			n, k := binary.Uvarint(data)
			if k <= 0 {
				break
			}
			data = data[k:]
			if removed[qs] == nil {
				removed[qs] = map[uint64][]uint32{}
			}
			for ; n > 0 && len(data) > 0; n-- {
				i, k := binary.Uvarint(data)
				if k <= 0 {
					data = nil
					break
				}
				data = data[k:]
				removed[qs][rs] = append(removed[qs][rs], uint32(i))
			}
			ref.seqs = append(ref.seqs, rs)
		}
		notes[seq] = ref
		return nil
	})
	if err != nil {
		return err
	}
	// Pass 2: the records.
	err = e.scan(ctx, subjPrefix+"*", func(subj string, seq uint64, data []byte) error {
		q, ok := queueOf(subj)
		if !ok {
			orphans = append(orphans, seq)
			return nil
		}
		entries, err := splitBatch(data)
		if err != nil {
			e.log.Error("skipping corrupt stored record", "queue", q, "seq", seq, "err", err)
			orphans = append(orphans, seq)
			return nil
		}
		if entries == nil {
			if fn(q, seq, 0, data) {
				e.track(subj, seq, 1, false)
			} else {
				orphans = append(orphans, seq)
			}
			return nil
		}
		gone := removed[subj][seq]
		taken := 0
		for i, rec := range entries {
			if slices.Contains(gone, uint32(i)) {
				continue
			}
			if fn(q, seq, i, rec) {
				taken++
			}
		}
		if taken == 0 {
			orphans = append(orphans, seq)
			return nil
		}
		e.track(subj, seq, taken, true)
		return nil
	})
	if err != nil {
		return err
	}
	// Notes still naming stored records are kept and tracked; the others go.
	e.amu.Lock()
	for nseq, ref := range notes {
		a := e.queues[ref.subj]
		var live []uint64
		for _, rs := range ref.seqs {
			if a != nil && a.parts[rs] != nil && !slices.Contains(live, rs) {
				live = append(live, rs)
			}
		}
		if len(live) == 0 {
			orphans = append(orphans, nseq)
			continue
		}
		a.addNote(nseq, live)
	}
	e.amu.Unlock()
	e.deleteMany(ctx, orphans)
	return nil
}

// scan calls fn for every stored message on subjects matching filter, in
// stream order.
func (e *Engine) scan(ctx context.Context, filter string, fn func(subj string, seq uint64, data []byte) error) error {
	info, err := e.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return err
	}
	var total uint64
	for _, n := range info.State.Subjects {
		total += n
	}
	if total == 0 {
		return nil
	}
	cons, err := e.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubjects: []string{filter}})
	if err != nil {
		return err
	}
	var seen uint64
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			seen++
			if err := fn(m.Subject(), md.Sequence.Stream, m.Data()); err != nil {
				return err
			}
			if md.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if seen >= total || n == 0 {
			return nil
		}
	}
}

// MetaPut stores val under ns/key (synchronously).
func (e *Engine) MetaPut(ns, key string, val []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.kv.Put(ctx, metaKey(ns, key), val); err != nil {
		return err
	}
	if e.syncAlways {
		return e.syncNow()
	}
	return nil
}

// MetaDelete removes ns/key.
func (e *Engine) MetaDelete(ns, key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.kv.Purge(ctx, metaKey(ns, key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

// MetaLoad returns every namespace with its keys and values.
func (e *Engine) MetaLoad() (map[string]map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := map[string]map[string][]byte{}
	w, err := e.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	for entry := range w.Updates() {
		if entry == nil {
			break
		}
		ns, key, ok := splitMetaKey(entry.Key())
		if !ok {
			continue
		}
		if out[ns] == nil {
			out[ns] = map[string][]byte{}
		}
		out[ns][key] = entry.Value()
	}
	return out, nil
}

func metaKey(ns, key string) string {
	return ns + ".k" + base64.RawURLEncoding.EncodeToString([]byte(key))
}

func splitMetaKey(k string) (string, string, bool) {
	i := strings.LastIndexByte(k, '.')
	if i < 0 {
		return "", "", false
	}
	if i+1 >= len(k) || k[i+1] != 'k' {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(k[i+2:])
	if err != nil {
		return "", "", false
	}
	return k[:i], string(b), true
}

// Stats reports store usage.
type Stats struct {
	Messages uint64
	Bytes    uint64
}

// Stats returns the message stream's state.
func (e *Engine) Stats() (Stats, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := e.stream.Info(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("store stats: %w", err)
	}
	return Stats{Messages: info.State.Msgs, Bytes: info.State.Bytes}, nil
}
