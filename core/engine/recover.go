package engine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Recover calls fn for every stored message, in stream order. fn returns
// false for a message that no longer belongs anywhere; such messages are
// deleted.
func (e *Engine) Recover(fn func(queue string, seq uint64, rec []byte) bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	info, err := e.stream.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return nil
	}
	last := info.State.LastSeq
	cons, err := e.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return err
	}
	var orphans []uint64
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return err
		}
		n := 0
		var seq uint64
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			seq = md.Sequence.Stream
			q, ok := queueOf(m.Subject())
			if ok && fn(q, seq, m.Data()) {
				e.track(m.Subject(), seq)
			} else {
				orphans = append(orphans, seq)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if seq >= last || n == 0 {
			break
		}
	}
	e.deleteMany(ctx, orphans)
	return nil
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
