package core

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// Metadata namespaces of the core itself.
const (
	nsExchanges = "_exchanges"
	nsQueues    = "_queues"
	nsBindings  = "_bindings"
)

type exchangeRecord struct {
	Name, Kind        string
	AutoDelete        bool   `json:",omitempty"`
	Internal          bool   `json:",omitempty"`
	AlternateExchange string `json:",omitempty"`
	Args              []byte `json:",omitempty"`
}

type queueRecord struct {
	Config  QueueConfig
	Args    []byte `json:",omitempty"`
	Created time.Time
}

type bindingRecord struct {
	Source, Destination string
	ToExchange          bool `json:",omitempty"`
	Key                 string
	Args                []byte `json:",omitempty"`
}

// EncodeTable returns the binary form of a table (see codec.go).
func EncodeTable(t Table) []byte { return appendTable(nil, t) }

// DecodeTable parses EncodeTable output.
func DecodeTable(b []byte) (Table, error) {
	if len(b) == 0 {
		return nil, nil
	}
	d := decoder{b: b}
	t := d.table(0)
	return t, d.err
}

func (b *Broker) persistExchange(cfg ExchangeConfig) error {
	if b.eng == nil {
		return nil
	}
	v, _ := json.Marshal(exchangeRecord{Name: cfg.Name, Kind: string(cfg.Kind), AutoDelete: cfg.AutoDelete,
		Internal: cfg.Internal, AlternateExchange: cfg.AlternateExchange, Args: EncodeTable(cfg.Args)})
	return b.Meta(nsExchanges).Put(cfg.Name, v)
}

func (b *Broker) unpersistExchange(name string) {
	if b.eng != nil {
		if err := b.Meta(nsExchanges).Delete(name); err != nil {
			b.log.Error("forget exchange", "exchange", name, "err", err)
		}
	}
}

func (b *Broker) persistQueue(cfg QueueConfig, created time.Time) error {
	if b.eng == nil {
		return nil
	}
	rec := queueRecord{Config: cfg, Args: EncodeTable(cfg.Args), Created: created}
	rec.Config.Args = nil
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode queue: %w", err)
	}
	return b.Meta(nsQueues).Put(cfg.Name, v)
}

func (b *Broker) unpersistQueue(name string) {
	if err := b.Meta(nsQueues).Delete(name); err != nil {
		b.log.Error("forget queue", "queue", name, "err", err)
	}
}

func bindingKey(bd *Binding) string { return hex.EncodeToString([]byte(bd.id())) }

func (b *Broker) persistBinding(bd *Binding) error {
	if b.eng == nil {
		return nil
	}
	v, _ := json.Marshal(bindingRecord{Source: bd.Source, Destination: bd.Destination, ToExchange: bd.ToExchange, Key: bd.Key, Args: EncodeTable(bd.Args)})
	return b.Meta(nsBindings).Put(bindingKey(bd), v)
}

func (b *Broker) unpersistBinding(bd *Binding) {
	if b.eng == nil {
		return
	}
	if _, err := b.Meta(nsBindings).Get(bindingKey(bd)); err != nil {
		return
	}
	if err := b.Meta(nsBindings).Delete(bindingKey(bd)); err != nil {
		b.log.Error("forget binding", "err", err)
	}
}

// recoverTopology rebuilds exchanges, queues and bindings from metadata.
func (b *Broker) recoverTopology() error {
	for name, v := range b.Meta(nsExchanges).List() {
		var r exchangeRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("recover exchange %q: %w", name, err)
		}
		args, _ := DecodeTable(r.Args)
		b.exchanges[r.Name] = newExchange(ExchangeConfig{Name: r.Name, Kind: ExchangeKind(r.Kind), Durable: true,
			AutoDelete: r.AutoDelete, Internal: r.Internal, AlternateExchange: r.AlternateExchange, Args: args})
	}
	for name, v := range b.Meta(nsQueues).List() {
		var r queueRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("recover queue %q: %w", name, err)
		}
		r.Config.Args, _ = DecodeTable(r.Args)
		if r.Config.Exclusive {
			// Exclusive queues die with their connection.
			b.unpersistQueue(name)
			continue
		}
		q := b.newQueue(r.Config)
		if !r.Created.IsZero() {
			q.created = r.Created
		}
		b.queues[name] = q
	}
	for key, v := range b.Meta(nsBindings).List() {
		var r bindingRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("recover binding: %w", err)
		}
		args, _ := DecodeTable(r.Args)
		bd := &Binding{Source: r.Source, Destination: r.Destination, ToExchange: r.ToExchange, Key: r.Key, Args: args}
		if err := b.bindLocked(bd, false); err != nil {
			b.log.Warn("dropping binding that no longer resolves", "source", r.Source, "dest", r.Destination, "err", err)
			_ = b.Meta(nsBindings).Delete(key)
		}
	}
	return nil
}

// recoverMessages reloads every stored message into its queue. Recovered
// messages are flagged redelivered: they may have been delivered before.
func (b *Broker) recoverMessages() error {
	now := b.now()
	n := 0
	err := b.eng.Recover(func(queueName string, seq uint64, idx int, rec []byte) bool {
		q, ok := b.queues[queueName]
		if !ok {
			return false
		}
		m, err := DecodeMessage(rec)
		if err != nil {
			b.log.Error("skipping corrupt stored message", "queue", queueName, "seq", seq, "err", err)
			return false
		}
		e := &entry{msg: m, seq: seq, sub: uint16(idx), size: len(m.Body), enqueued: m.SentAt, recov: true}
		q.setTimesLocked(e, m.SentAt)
		if q.cfg.FIFO && m.Sequence > q.fifoSeq {
			q.fifoSeq = m.Sequence
		}
		q.bytes += int64(e.size)
		q.nextPos++
		e.pos = q.nextPos
		if !e.visible.IsZero() && e.visible.After(now) {
			q.delayed.push(timed{at: e.visible, e: e})
		} else {
			e.visible = time.Time{}
			q.pushReadyLocked(e, false)
		}
		n++
		return true
	})
	if err != nil {
		return fmt.Errorf("recover messages: %w", err)
	}
	for _, q := range b.queues {
		q.mu.Lock()
		if q.cfg.FIFO {
			// Sequence numbers keep growing across restarts even when the
			// messages that carried the highest ones are gone: resume from
			// the clock in microseconds if that is higher (FIFO queues take
			// far fewer than a million messages a second).
			q.fifoSeq = max(q.fifoSeq, uint64(now.UnixMicro()))
		}
		q.scheduleLocked(q.nextDeadlineLocked())
		q.mu.Unlock()
	}
	if n > 0 {
		b.log.Info("recovered messages", "count", n, "queues", len(b.queues))
	}
	return nil
}

// newID returns a random UUID (version 4) string.
func newID() string {
	var buf [36]byte
	PutID(&buf)
	return string(buf[:])
}

// PutID writes a random (version 4) UUID into buf, for callers that keep
// ids in memory they allocate together.
func PutID(buf *[36]byte) {
	var u [16]byte
	a, c := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(c >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
}

// NewID returns a random UUID string, as used for message ids.
func NewID() string { return newID() }
