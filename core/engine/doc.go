// Package engine is the store of the broker: an embedded NATS JetStream
// server, connected in-process (no TCP port). It is the only package that
// imports nats-server or nats.go.
//
// Layout (see shared/jetstream-measurements.md for why):
//   - one shared stream MSGS with one subject per durable queue
//     (q.<base64url(queue)>) and no JetStream consumers: the core keeps
//     delivery state and leases in memory;
//   - acks fold into a purge of the queue's subject up to the lowest live
//     sequence when they arrive in order, and into DeleteMsg otherwise;
//   - metadata in one key-value bucket META, keys <namespace>.<base64url(key)>.
//
// Publishes are pipelined (PublishAsync with a bounded window); the done
// callback of Append runs once JetStream has acknowledged the write, in
// append order, on the engine's completion goroutine.
package engine
