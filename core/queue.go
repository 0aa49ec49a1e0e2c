package core

import (
	"fmt"
	"sync"
	"time"
)

// Overflow is what a full queue does with a new message.
type Overflow string

// Overflow behaviours.
const (
	OverflowDropHead         Overflow = "drop-head"
	OverflowRejectPublish    Overflow = "reject-publish"
	OverflowRejectPublishDLX Overflow = "reject-publish-dlx"
)

// QueueConfig declares a queue. Zero values mean "no limit" / "off".
type QueueConfig struct {
	Name       string
	Durable    bool
	Exclusive  bool   // owned by Owner; deleted by ReleaseOwner
	Owner      string // connection identity for Exclusive
	AutoDelete bool   // deleted when its last consumer goes

	Expires              time.Duration // deleted after this long unused
	MessageTTL           time.Duration
	MaxLength            int64
	MaxBytes             int64
	Overflow             Overflow
	HasDeadLetter        bool // dead-letter to DeadLetterExchange ("" = default exchange)
	DeadLetterExchange   string
	DeadLetterRoutingKey string // "" = the message's own routing key
	MaxDeliveries        int    // dead-letter (or drop) after this many deliveries
	DeliveryDelay        time.Duration
	VisibilityTimeout    time.Duration // lease length for deliveries; 0 = until ack
	Retention            time.Duration // silently drop messages older than this
	MaxPriority          uint8         // 1..255 makes a priority queue
	SingleActiveConsumer bool
	FIFO                 bool          // message groups are delivered in order, one lease at a time
	DedupWindow          time.Duration // FIFO deduplication window
	MaxMessageSize       int

	// Args are the declaring protocol's arguments, compared on redeclare.
	Args Table
	// Attributes are free-form front-door attributes persisted with the queue.
	Attributes map[string]string
}

// QueueInfo is a snapshot of a queue.
type QueueInfo struct {
	Config    QueueConfig
	Ready     int
	Unacked   int
	Delayed   int
	Consumers int
	Bytes     int64
	CreatedAt time.Time
}

type entry struct {
	msg        *Message
	seq        uint64 // store sequence, 0 when not stored
	size       int
	pos        uint64 // arrival order in this queue; requeues go back to their place
	deliveries int
	lease      uint64 // current lease id, 0 when ready
	lastLease  uint64 // the lease that ended last without a settle (see AckExpired)
	owner      *Consumer
	enqueued   time.Time
	expires    time.Time // zero = never
	visible    time.Time // delayed until
	first      time.Time
	deadline   time.Time
	pri        uint8
	sub        uint16 // entry in a batch record of the store (seq)
	// dropExpired: expiry is retention: drop instead of dead-letter.
	dropExpired bool
	done        bool // acked/removed
	recov       bool // recovered from the store: may have been delivered before
	firstDUsed  bool
	// firstD is the Delivery of the entry's first lease, allocated with
	// the entry (one allocation less per message); later leases get their
	// own, since a handler may still hold an earlier one.
	firstD Delivery
}

type queue struct {
	b       *Broker
	key     string
	created time.Time

	mu          sync.Mutex
	cfg         QueueConfig
	ready       []deque // by priority level (index 0 = lowest)
	nready      int
	delayed     timeHeap
	leases      timeHeap
	unacked     leaseTable
	bytes       int64
	consumers   []*Consumer
	rr          int
	hadConsumer bool
	dispatching bool
	waiters     []chan struct{}
	timer       *time.Timer
	timerAt     time.Time
	lastUsed    time.Time
	groups      map[string]int // FIFO: in-flight leases per group
	dedup       map[string]time.Time
	fifoSeq     uint64
	nextPos     uint64
	deleted     bool
	bindings    []*Binding
	hasSelector bool
	warm        uint64 // sink of deque.touch
	leaseNext   uint64 // last lease id handed out from the block up to leaseEnd
	leaseEnd    uint64
	// order holds entries waiting for an earlier store append, so that a
	// queue takes messages in publish order (see drainOrderLocked).
	order []*orderSlot
	flow  Flow // publisher flow control (flow.go)
}

func (b *Broker) newQueue(cfg QueueConfig) *queue {
	levels := 1
	if cfg.MaxPriority > 0 {
		levels = int(cfg.MaxPriority) + 1
	}
	now := b.now()
	q := &queue{b: b, key: cfg.Name, created: now, cfg: cfg, ready: make([]deque, levels),
		lastUsed: now}
	q.flow.q = q
	return q
}

func validateQueue(cfg *QueueConfig) error {
	if len(cfg.Name) > 255 {
		return fmt.Errorf("queue name too long: %w", ErrInvalidName)
	}
	if cfg.Overflow == "" {
		cfg.Overflow = OverflowDropHead
	}
	switch cfg.Overflow {
	case OverflowDropHead, OverflowRejectPublish, OverflowRejectPublishDLX:
	default:
		return fmt.Errorf("invalid overflow %q: %w", cfg.Overflow, ErrInvalidArg)
	}
	if cfg.MaxLength < 0 || cfg.MaxBytes < 0 || cfg.MessageTTL < 0 || cfg.Expires < 0 || cfg.MaxDeliveries < 0 {
		return fmt.Errorf("negative limit: %w", ErrInvalidArg)
	}
	return nil
}

// DeclareQueue creates a queue or checks an existing one. An existing queue
// must be equivalent (durable, exclusive, auto-delete and Args equal) or
// ErrPrecondition is returned; an exclusive queue of another owner gives
// ErrLocked. The returned info counts its messages and consumers.
func (b *Broker) DeclareQueue(cfg QueueConfig) (QueueInfo, error) {
	if err := validateQueue(&cfg); err != nil {
		return QueueInfo{}, err
	}
	if cfg.Name == "" {
		return QueueInfo{}, fmt.Errorf("empty queue name: %w", ErrInvalidName)
	}
	b.mu.Lock()
	if q, ok := b.queues[cfg.Name]; ok {
		b.mu.Unlock()
		if err := q.checkOwner(cfg.Owner); err != nil {
			return QueueInfo{}, err
		}
		q.mu.Lock()
		old := q.cfg
		q.lastUsed = b.now()
		q.mu.Unlock()
		if old.Durable != cfg.Durable || old.Exclusive != cfg.Exclusive || old.AutoDelete != cfg.AutoDelete || tableKey(old.Args) != tableKey(cfg.Args) {
			return QueueInfo{}, fmt.Errorf("inequivalent arg for queue '%s': %w", cfg.Name, ErrPrecondition)
		}
		return q.info(), nil
	}
	if cfg.Durable && b.eng != nil {
		if err := b.persistQueue(cfg, b.now()); err != nil {
			b.mu.Unlock()
			return QueueInfo{}, err
		}
	}
	q := b.newQueue(cfg)
	b.queues[cfg.Name] = q
	b.mu.Unlock()
	q.mu.Lock()
	q.scheduleLocked(q.nextDeadlineLocked())
	q.mu.Unlock()
	return q.info(), nil
}

// Queue returns a snapshot of a queue or ErrNotFound. owner is checked
// against exclusive queues (ErrLocked); pass "" to skip the check.
func (b *Broker) Queue(name, owner string) (QueueInfo, error) {
	q, err := b.queue(name)
	if err != nil {
		return QueueInfo{}, err
	}
	if owner != "" {
		if err := q.checkOwner(owner); err != nil {
			return QueueInfo{}, err
		}
	}
	return q.info(), nil
}

// Queues lists every queue.
func (b *Broker) Queues() []QueueInfo {
	b.mu.RLock()
	qs := make([]*queue, 0, len(b.queues))
	for _, q := range b.queues {
		qs = append(qs, q)
	}
	b.mu.RUnlock()
	out := make([]QueueInfo, 0, len(qs))
	for _, q := range qs {
		out = append(out, q.info())
	}
	return out
}

// UpdateQueue changes a queue's settings in place (attribute changes
// after creation). fn must not change Name, Durable or FIFO.
func (b *Broker) UpdateQueue(name string, fn func(*QueueConfig) error) error {
	q, err := b.queue(name)
	if err != nil {
		return err
	}
	q.mu.Lock()
	cfg := q.cfg
	cfg.Attributes = cloneAttrs(cfg.Attributes)
	if err := fn(&cfg); err != nil {
		q.mu.Unlock()
		return err
	}
	if err := validateQueue(&cfg); err != nil {
		q.mu.Unlock()
		return err
	}
	cfg.Name, cfg.Durable, cfg.FIFO, cfg.MaxPriority = q.cfg.Name, q.cfg.Durable, q.cfg.FIFO, q.cfg.MaxPriority
	q.cfg = cfg
	q.mu.Unlock()
	if cfg.Durable && b.eng != nil {
		if err := b.persistQueue(cfg, q.created); err != nil {
			return err
		}
	}
	q.kick()
	return nil
}

func cloneAttrs(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (b *Broker) queue(name string) (*queue, error) {
	b.mu.RLock()
	q, ok := b.queues[name]
	b.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("no queue '%s': %w", name, ErrNotFound)
	}
	return q, nil
}

func (q *queue) checkOwner(owner string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cfg.Exclusive && q.cfg.Owner != owner {
		return fmt.Errorf("cannot obtain exclusive access to locked queue '%s'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration: %w", q.cfg.Name, ErrLocked)
	}
	return nil
}

func (q *queue) info() QueueInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	return QueueInfo{Config: q.cfg, Ready: q.nready, Unacked: q.unacked.len(), Delayed: q.delayed.Len(),
		Consumers: len(q.consumers), Bytes: q.bytes, CreatedAt: q.created}
}

// DeleteQueue deletes a queue and its messages, cancelling its consumers.
// ifUnused fails with ErrInUse while it has consumers; ifEmpty fails with
// ErrNotEmpty while it has ready messages. It returns the number of
// messages deleted.
func (b *Broker) DeleteQueue(name string, ifUnused, ifEmpty bool) (int, error) {
	q, err := b.queue(name)
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	if ifUnused && len(q.consumers) > 0 {
		q.mu.Unlock()
		return 0, fmt.Errorf("queue '%s' in use: %w", name, ErrInUse)
	}
	if ifEmpty && q.nready+q.delayed.Len() > 0 {
		q.mu.Unlock()
		return 0, fmt.Errorf("queue '%s' not empty: %w", name, ErrNotEmpty)
	}
	q.mu.Unlock()
	return b.deleteQueue(q), nil
}

func (b *Broker) deleteQueue(q *queue) int {
	b.mu.Lock()
	if b.queues[q.cfg.Name] != q {
		b.mu.Unlock()
		return 0
	}
	delete(b.queues, q.cfg.Name)
	for _, bd := range append([]*Binding(nil), q.bindings...) {
		if src, ok := b.exchanges[bd.Source]; ok {
			b.removeBindingLocked(src, bd)
		}
	}
	if q.cfg.Durable && b.eng != nil {
		b.unpersistQueue(q.cfg.Name)
	}
	b.mu.Unlock()

	q.mu.Lock()
	n := q.nready + q.delayed.Len()
	q.deleted = true
	consumers := q.consumers
	q.consumers = nil
	q.dropAllLocked()
	q.wakeWaitersLocked()
	if q.timer != nil {
		q.timer.Stop()
	}
	q.mu.Unlock()
	if b.eng != nil && q.cfg.Durable {
		b.eng.Purge(q.key)
	}
	for _, c := range consumers {
		c.serverCancel()
	}
	return n
}

// dropAllLocked forgets every message (ready, delayed and leased).
func (q *queue) dropAllLocked() {
	for i := range q.ready {
		q.ready[i].clear()
	}
	q.nready = 0
	q.delayed = nil
	q.leases = nil
	for _, sl := range q.unacked.appendTo(nil) {
		sl.e.done = true
	}
	q.unacked.reset()
	q.bytes = 0
	q.groups = nil
	q.flowCheckLocked()
}

// PurgeQueue deletes the ready messages of a queue and returns how many.
// Leased (unacked) messages are kept.
func (b *Broker) PurgeQueue(name, owner string) (int, error) {
	q, err := b.queue(name)
	if err != nil {
		return 0, err
	}
	if err := q.checkOwner(owner); err != nil && owner != "" {
		return 0, err
	}
	q.mu.Lock()
	n := 0
	for i := range q.ready {
		for _, e := range q.ready[i].clear() {
			q.forgetLocked(e)
			n++
		}
	}
	q.nready = 0
	q.flowCheckLocked()
	for q.delayed.Len() > 0 {
		t := q.delayed.pop()
		if !t.e.done && t.e.lease == 0 {
			q.forgetLocked(t.e)
			n++
		}
	}
	q.mu.Unlock()
	return n, nil
}

// ReleaseOwner deletes every exclusive queue owned by owner (a closing connection).
func (b *Broker) ReleaseOwner(owner string) {
	b.mu.RLock()
	var qs []*queue
	for _, q := range b.queues {
		if q.cfg.Exclusive && q.cfg.Owner == owner {
			qs = append(qs, q)
		}
	}
	b.mu.RUnlock()
	for _, q := range qs {
		b.deleteQueue(q)
	}
}

func (q *queue) stop() {
	q.mu.Lock()
	if q.timer != nil {
		q.timer.Stop()
	}
	q.deleted = true
	consumers := q.consumers
	q.consumers = nil
	q.wakeWaitersLocked()
	q.flowCheckLocked()
	q.mu.Unlock()
	for _, c := range consumers {
		c.serverCancel()
	}
}
