// Package core is the protocol-neutral heart of the broker: the message
// model, exchanges, queues, bindings, routing, delivery with leases and
// credit, acknowledgements, dead-lettering, limits, users and metadata.
//
// Every front door (listeners/*, bridge/*) turns its frames into calls on a
// *Broker and never touches storage. Durable state is kept by core/engine
// (embedded NATS JetStream); transient queues never touch it.
//
// # Model
//
//   - Exchanges route (direct, fanout, topic, headers); "" is the default
//     exchange that routes to the queue named by the routing key.
//   - Queues hold messages; consumers receive them under leases and credit
//     (prefetch); Ack deletes, Nack requeues or dead-letters; lease expiry
//     redelivers with Redelivered set and DeliveryCount incremented.
//   - Publish routes synchronously in memory and reports through a callback
//     when every durable copy is stored.
//
// # Lock order
//
// Broker.mu (topology, RWMutex) may be held while taking queue.mu; never the
// reverse. queue.mu is never held across a handler call, a store call that
// waits, a channel send, or a call into another queue. Consumer handlers
// and publish callbacks run without any core lock held, so adapters may call
// back into the core from them.
package core
