package core

import (
	"time"
)

// Table is a typed header table. Values are one of: nil, string, []byte,
// bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32,
// float64, time.Time, Decimal, Table, []any (whose elements follow the same
// rules). Adapters map their wire types onto these and back; the encoding in
// codec.go preserves each Go type exactly so that a table published on one
// protocol reads back with the same types on another.
type Table map[string]any

// Decimal is a fixed-point number: Value * 10^-Scale.
type Decimal struct {
	Scale uint8
	Value int32
}

// Properties are the publisher-set properties of a message (see
// ARCHITECTURE.md "Message properties across protocols").
type Properties struct {
	ContentType     string
	ContentEncoding string
	CorrelationID   string
	ReplyTo         string
	MessageID       string
	Type            string
	UserID          string
	AppID           string
	Timestamp       time.Time     // zero = unset
	Expiration      time.Duration // per-message TTL; 0 = none
	Priority        uint8
	HasPriority     bool
	Persistent      bool
	Headers         Table
}

// Message is the protocol-neutral message. Fields below Props are set by
// the broker unless documented otherwise.
type Message struct {
	Body  []byte
	Props Properties

	// Publisher-set delivery controls.
	Delay   time.Duration // delivery delay; 0 = the queue's default
	GroupID string        // FIFO message group (also accepted on plain queues)
	DedupID string        // FIFO deduplication id

	// Private carries an adapter's own delivery state through the core and
	// the store (EncodeMessage); adapters never render it to clients and
	// routing never reads it. Keys are prefixed with the adapter's name.
	// Like Headers, it is immutable once published.
	Private Table

	// BodyMD5 is the hex MD5 of Body when the publishing adapter computed
	// it, so that a receiver reporting it need not hash the body again.
	// Set before Publish, never changed after; not stored, so it is empty
	// after a restart or when the publisher did not compute it.
	BodyMD5 string

	// Broker-set.
	ID         string    // unique id, UUID-formatted, assigned by Publish when empty
	Exchange   string    // exchange it was published to
	RoutingKey string    // routing key it was published with
	SentAt     time.Time // when Publish accepted it
	Sequence   uint64    // per-queue sequence number (FIFO queues), set on delivery copies
}

// Clone returns a shallow copy whose Headers table is shared (tables are
// immutable once published).
func (m *Message) Clone() *Message {
	c := *m
	return &c
}

// Delivery is one lease of one message to a consumer or a Get caller.
type Delivery struct {
	Queue         string
	ID            uint64 // lease id: unique within the queue, new on every delivery
	Message       *Message
	Redelivered   bool
	DeliveryCount int       // 1 on the first delivery
	FirstDelivery time.Time // when the message was first delivered
	EnqueuedAt    time.Time // when the message entered this queue
	Deadline      time.Time // lease deadline; zero = held until ack/nack/cancel
	MessageCount  int       // ready messages left in the queue after this one (Get only)
}
